"""Planning a run's models: what each ``--model`` spec is, then building, placing and freeing it in its turn.

Models are resolved first only to learn their family, display name and input size (``probe_model``: a
registry name is read from its config without building anything); each is built or loaded again when its
turn comes (``load_planned``, untrained weights from a seed fixed by the spec) and freed after it
(``free_model``), so one model is in memory at a time. ``choose_backend`` settles ``--backend auto``;
``choose_crop_mode`` the crop store's tier; ``model_identity`` / ``input_entry`` / ``cost_entry`` are
what results.json records of a model.
"""
from __future__ import annotations

import json
import warnings
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..allocator import release_free_memory
from ..errors import Pose3DBenchError, RunError
from ..models.codecs import codec_for
from ..models.info import ModelInfo
from ..models.input import describe_input_convention, input_convention
from .inference import crop_keys
from .options import RunOptions

def input_entry(cfg, info: ModelInfo) -> dict:
    """The results.json ``input`` block: the model's input convention and whether it was assumed."""
    conv = input_convention(cfg)
    onnx_assumed = any("input:" in a for a in (info.onnx or {}).get("assumed", []))
    return {"pixel_range": conv["pixel_range"], "channel_order": conv["channel_order"], "mean": conv["mean"],
            "std": conv["std"], "flip_mirror": conv["flip_mirror"], "text": describe_input_convention(cfg),
            "assumed": bool(conv["defaulted"]) or onnx_assumed}


#: published figures of an architecture, whatever weights it runs with
ARCHITECTURE_FIGURES = ("params_m", "gmacs", "paper_model", "comparable")


def published_of(cfg, info: ModelInfo) -> dict:
    """The published numbers a run shows beside a model: its variant's paper numbers, and those of the released
    file it runs with (a ``NAME:TAG`` weights entry); a file trained on another dataset keeps only its own numbers
    and the architecture's cost figures (``weights.registry.Entry.variant_numbers``)."""
    pub = dict(getattr(cfg, "published", {}) or {})
    if info.weights_entry:
        from ..weights.registry import get_entry

        entry = get_entry(info.weights_entry)
        if not entry.variant_numbers:
            pub = {k: v for k, v in pub.items() if k in ARCHITECTURE_FIGURES}
        pub.update(entry.published)
    return pub


def model_identity(info: ModelInfo, model) -> dict:
    """What must be equal for a previous result of this model to be re-used (JSON-normalised)."""
    ident = {"spec": info.spec, "weights_sha256": info.sha256,
             "config": model.config.to_dict() if hasattr(model.config, "to_dict") else None}
    return json.loads(json.dumps(ident, default=str))


def cost_entry(model, opts: RunOptions, device: torch.device) -> dict | None:
    """The results.json ``cost`` block of one model, from the profiler's full report."""
    from ..perf.profile import profile_model

    prof = profile_model(model, device=device.type, input_size=tuple(model.config.input_size),
                         batch_sizes=(1, opts.profile_batch or opts.batch_size), iters=opts.profile_iters or 5,
                         warmup=max(1, min(3, opts.profile_iters or 5)))
    mem = prof.get("peak_memory") or {}
    mem_mb = mem.get("increase_mb", mem.get("peak_mb"))
    source = getattr(model, "source", None)  # an onnxruntime wrapper: params/MACs of its eager model
    if source is not None:
        eager = profile_model(source, device=device.type, input_size=tuple(model.config.input_size),
                              batch_sizes=(1,), iters=1, warmup=0, measure_memory=False)
        prof.update({k: eager[k] for k in ("params", "params_m", "macs", "flops", "gmacs")})
    return {
        "params": int(prof["params"]), "params_m": float(prof["params_m"]),
        "macs": int(prof["macs"]), "flops": int(prof["flops"]), "gmacs": float(prof["gmacs"]),
        "latency_ms": {"batch": 1, "median": float(prof["latency"]["median_ms"]),
                       "p90": float(prof["latency"]["p90_ms"])},
        "throughput_ips": {"batch": int(prof["throughput"]["batch_size"]),
                           "value": float(prof["throughput"]["images_per_s"])},
        "peak_memory_mb": None if mem_mb is None else float(mem_mb),
        "peak_memory_kind": mem.get("method", "not measured"),
        "device": device.type, "dtype": "float32",
        "method": {"complexity": prof.get("complexity_method"), "timing": prof.get("timing_method")},
    }


def check_named_family(spec: str, model, info: ModelInfo) -> None:
    """NAME=CKPT where the file is another family's network: refuse instead of mislabelling results."""
    from ..models import registry

    ck = info.checkpoint_info or {}
    requested = ck.get("requested")
    if info.weights != "checkpoint" or not requested:
        return
    asked = registry.get_config(requested).family if requested in registry.available() else requested
    found = model.config.family
    if asked != found:
        raise RunError(f"--model {spec}: {info.checkpoint} holds a {found} network "
                       f"({model.config.variant}), not a {asked} one; name it as what it is "
                       f"(--model {model.config.variant}={info.checkpoint}) or pass the file alone "
                       f"(--model {info.checkpoint}) to infer the model from its keys")


@dataclass(frozen=True)
class ModelPlan:
    """A ``--model`` spec as the run plans it: display name, family, input size (H, W pixels) and what its
    output is (``output_kind``: ``pose`` or ``root``, from ``models.codecs.codec_for``)."""

    spec: str
    name: str
    family: str
    input_size: tuple[int, int]
    output_kind: str = "pose"


def resolve_seeded(spec: str, opts: RunOptions, *, replay_warnings: bool, log: Callable[[str], None] | None = None,
                    run_warnings: list | None = None):
    """``resolve_model_spec`` with untrained weights drawn from a seed fixed by the spec (identical across
    runs, resumes, ranks and the two resolutions of a run). With ``replay_warnings`` (once per model) the
    loader's warnings become one readable log line each and an entry of ``run_warnings`` (results.json
    ``warnings``, the report's Notes); its dtype conversions are said in the log."""
    from ..specs import resolve_model_spec

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(zlib.crc32(str(spec).encode("utf-8")))
        model, info = resolve_model_spec(spec, trust_checkpoint=opts.trust_checkpoint)
    check_named_family(spec, model, info)  # refuses before the loader's "using the file's ..." warning shows
    if replay_warnings:
        notes = (info.checkpoint_info or {}).get("dtype_notes") or []
        for note in notes:
            if log is not None:
                log(f"[{info.name}] {note}")
        for w in caught:
            if str(w.message) in notes:
                continue
            if run_warnings is not None:
                run_warnings.append({"source": info.name, "category": w.category.__name__,
                                     "message": str(w.message)})
            if log is not None:
                log(f"warning: [{info.name}] {w.message}")
    return model, info


def probe_model(spec: str, opts: RunOptions, log: Callable[[str], None] | None = None,
                 run_warnings: list | None = None) -> ModelPlan:
    """Name, family and input size of a spec; a registry name is read from its config without building."""
    from ..models import registry

    if spec in registry.available():
        cfg = registry.get_config(spec)
        return ModelPlan(spec, spec, cfg.family, tuple(int(v) for v in cfg.input_size), codec_for(cfg).output_kind)
    model, info = resolve_seeded(spec, opts, replay_warnings=True, log=log, run_warnings=run_warnings)
    plan = ModelPlan(spec, info.name, model.config.family, tuple(int(v) for v in model.config.input_size),
                     codec_for(model).output_kind)
    _PROBED.clear()
    _PROBED[spec] = (model, info)  # the last one probed: load_planned takes it instead of loading the file again
    return plan


#: the model last built by ``probe_model`` (one slot), kept only for the model that runs first (``keep_probed``)
_PROBED: dict = {}


def keep_probed(first_spec: str | None) -> None:
    """Drop the probed model unless it is the one that runs first (memory holds one network at a time)."""
    if first_spec not in _PROBED:
        _PROBED.clear()
        release_free_memory()


def load_planned(entry: ModelPlan, opts: RunOptions, device: torch.device, log: Callable[[str], None] | None = None,
                  run_warnings: list | None = None):
    """Build or load a planned model onto ``device`` (eval mode, channels_last if asked); a registry name's
    warnings are said here (a file's were said when it was planned)."""
    from ..models import registry

    if entry.spec in _PROBED:  # built a moment ago from the same spec, weights and seed
        model, info = _PROBED.pop(entry.spec)
    else:
        _PROBED.clear()
        release_free_memory()
        model, info = resolve_seeded(entry.spec, opts, replay_warnings=entry.spec in registry.available(), log=log,
                                      run_warnings=run_warnings)
    model.eval().to(device)
    if opts.channels_last:
        model.to(memory_format=torch.channels_last)
    return model, info


def free_model(model, source: bool = True) -> None:
    """Drop a finished model's memory now: its tensors, the allocator's cache and the heap's free pages
    (``source``: also the eager model an onnxruntime wrapper was exported from)."""
    import gc

    modules = [model] + ([model.source] if source and isinstance(getattr(model, "source", None), torch.nn.Module)
                         else [])
    if hasattr(model, "session"):
        model.session = None
    for m in modules:
        for p in list(m.parameters()) + list(m.buffers()):
            p.data = torch.empty(0, dtype=p.dtype, device=p.device)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    release_free_memory()


def run_boxes(opts: RunOptions, run_splits) -> list[tuple[str, str, str]]:
    """(dataset, split, box source) of every split a run's models read crops of."""
    return [(ds.name, split, box) for ds, split in run_splits
            for box in dict.fromkeys(ds.box_of(r) for r in opts.roots) if box in ds.box_sources]


def choose_crop_mode(opts: RunOptions, plan: list[ModelPlan], run_splits, split) -> str:
    """``--crop-cache auto``: memory when every crop of the run fits ``crop_budget_mb``, else disk."""
    from ..data.crop_store import choose_mode, crop_bytes

    if opts.crop_cache != "auto":
        return choose_mode(opts.crop_cache, 0)
    keys: set[tuple] = set()
    for key in run_boxes(opts, run_splits):
        s = split(*key)
        keys.update(crop_keys(s, range(len(s))))
    sizes = {m.input_size for m in plan}
    needed = len(keys) * sum(crop_bytes(hw) for hw in sizes)
    return choose_mode("auto", needed, opts.crop_budget_mb)


#: ``--backend auto`` leaves a model on eager below this many images: exporting it costs more than it saves.
AUTO_ONNX_MIN_IMAGES = 256


def choose_backend(model, info: ModelInfo, opts: RunOptions, device: torch.device, entry: ModelPlan, run_splits,
                   split, sizes, store, log: Callable[[str], None], warn: Callable[[str], None] | None = None):
    """The model wrapped for its backend, what was chosen and why (``models[name].backend_choice``), and the
    outputs the choice already computed (crop key -> (coords, noflip) for a pose model, raw [3] for RootNet) that
    the run re-uses instead of computing them again.

    ``auto``: onnxruntime on CPU when it is installed, the model has at least ``AUTO_ONNX_MIN_IMAGES`` crops to
    compute and both parity checks of ``eval.backend_gate`` pass (the first batch within a quarter of the bound,
    a second sample spread over every split within the bound); else eager. CUDA: eager.
    ``run_splits``: the run's (dataset, split) pairs; ``split(dataset, split, box)`` gives a checked split (its
    images read before inference), ``sizes`` an unchecked one.
    """
    from . import backend_gate as gate

    if info.is_onnx:  # a foreign .onnx file runs on onnxruntime whatever --backend says
        return model, {"requested": opts.backend, "backend": "onnxruntime", "reason": "an ONNX file"}, {}
    if opts.amp and opts.backend == "onnxruntime":
        raise RunError(f"--amp {opts.amp} runs the eager model under torch.autocast; onnxruntime does not take it: "
                       "drop --amp or use --backend eager/auto")
    if opts.backend != "auto":
        wrapped = apply_backend(model, opts, log=log, warn=warn)
        return wrapped, {"requested": opts.backend, "backend": opts.backend, "reason": "asked for"}, {}
    record: dict = {"requested": "auto"}

    def eager(reason, reuse=None):
        return ((compile_model(model) if opts.compile else model),
                {**record, "backend": "eager", "reason": reason}, reuse or {})
    from ..backends import compile_model, wrap_model

    if opts.compile:
        return eager("--compile runs the eager model through torch.compile")
    if opts.amp:
        return eager(f"--amp {opts.amp} runs under torch.autocast, which onnxruntime does not take")
    if device.type != "cpu":
        return eager(f"{device.type}: eager (onnxruntime-gpu is not used)")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return eager("onnxruntime is not installed (pip install 'pose3dbench[onnx]')")

    boxes = run_boxes(opts, run_splits)
    n_images = sum(len(sizes(*key)) for key in boxes)
    if n_images < AUTO_ONNX_MIN_IMAGES:
        return eager(f"{n_images} images: fewer than {AUTO_ONNX_MIN_IMAGES}, exporting would cost more than it saves")
    try:
        ort_model = wrap_model(model, "onnxruntime", threads=opts.threads, log=log, warn=warn)
    except Pose3DBenchError as exc:
        return eager(f"onnxruntime export failed: {exc}")
    kind = codec_for(model).output_kind
    bound, margin = gate.AUTO_PARITY_HM, gate.AUTO_PARITY_HM * gate.AUTO_GATE_FRACTION
    record.update({"bound_hm": bound, "gate_hm": margin, "compared": (
        "x, y in heatmap units (depth within %g relative)" % gate.ROOT_DEPTH_REL if kind == "root" else
        "x, y, z in heatmap units of both passes" + (" and the flip-merged coordinates" if opts.flip else ""))})
    first_key = min(boxes, key=lambda k: (k[0] != boxes[0][0], k[1] != boxes[0][1], k[2]))
    first = split(*first_key)
    first_rows = np.arange(min(len(first), opts.batch_size))

    def measure(m, rows_by_key):
        return [gate.sample_outputs(m, split(*key), rows, entry.input_size, store, opts, device)
                for key, rows in rows_by_key.items()]

    def reuse_of(results):
        out = {}
        for res in results:
            for i, key in enumerate(res.keys):
                out[key] = res.raw[i].double().numpy() if kind == "root" else (res.coords[i], res.noflip[i])
        return out

    def compare(refs, gots):
        values = [gate.parity(kind, r, g) for r, g in zip(refs, gots)]  # none: every crop was in the first batch
        return max((v[0] for v in values), default=0.0), all(v[1] for v in values)

    first_map = {first_key: first_rows}
    e1, o1 = measure(model, first_map), measure(ort_model, first_map)
    p1, ok1 = compare(e1, o1)
    record["first_batch"] = {"parity_hm": p1, "crops": int(len(first_rows)), "rows": gate.rows_text(first_map),
                             **({"depth_within_bound": ok1} if kind == "root" else {})}
    if not ok1 or p1 > margin:
        why = (f"onnxruntime differs from eager by {p1:.2e} heatmap units on the first batch, more than "
               f"{gate.AUTO_GATE_FRACTION:g} of the {bound:g} bound" if ok1 else
               f"onnxruntime's RootNet depth differs from eager by more than {gate.ROOT_DEPTH_REL:g} relative")
        log(f"[{entry.name}] {why}: eager")
        free_model(ort_model, source=False)
        return eager(why, reuse_of(e1))
    second = gate.second_sample(boxes, lambda *k: len(sizes(*k)), first_key, first_rows)
    e2, o2 = measure(model, second), measure(ort_model, second)
    p2, ok2 = compare(e2, o2)
    record["second_sample"] = {"parity_hm": p2, "crops": int(sum(len(v) for v in second.values())),
                               "seed": gate.AUTO_SAMPLE_SEED, "rows": gate.rows_text(second),
                               **({"depth_within_bound": ok2} if kind == "root" else {})}
    if not ok2 or p2 > bound:
        why = (f"the second parity check broke the bound: onnxruntime differs from eager by {p2:.2e} heatmap units "
               f"(bound {bound:g}) on {record['second_sample']['crops']} crops spread over the run's splits "
               f"(first batch: {p1:.2e})" if ok2 else
               "the second parity check broke the bound: onnxruntime's RootNet depth differs from eager by more "
               f"than {gate.ROOT_DEPTH_REL:g} relative")
        log(f"[{entry.name}] {why}: eager")
        free_model(ort_model, source=False)
        return eager(why, reuse_of(e1 + e2))
    parity = max(p1, p2)
    log(f"[{entry.name}] backend auto: onnxruntime, within {parity:.1e} heatmap units of eager (first batch "
        f"{p1:.1e} <= {margin:g}, second sample {p2:.1e} <= {bound:g})")
    return ort_model, {**record, "backend": "onnxruntime", "parity_hm": parity,
                       "reason": f"parity {p1:.1e} heatmap units on the first batch ({len(first_rows)} crops, "
                                 f"gate {margin:g}) and {p2:.1e} on a second sample of "
                                 f"{record['second_sample']['crops']} crops (bound {bound:g})"}, reuse_of(o1 + o2)


def apply_backend(model, opts: RunOptions, log: Callable[[str], None] | None = None,
                  warn: Callable[[str], None] | None = None):
    """``--backend onnxruntime`` / ``--compile``: the model wrapped for its inference backend."""
    if opts.backend == "eager" and not opts.compile:
        return model
    from ..backends import wrap_model, compile_model

    model = wrap_model(model, opts.backend, threads=opts.threads, log=log, warn=warn)
    return compile_model(model) if opts.compile else model
