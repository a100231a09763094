"""The benchmark runner behind ``pose3dbench run``.

Data flows one way: dataset split -> model (batched crops, flip test) -> raw predictions (heatmap
units, saved as .npz) -> back-projection to camera mm -> metrics -> results.json -> report.

Resumability: every finished (model, protocol, root) evaluation is recorded in ``results.json``
(written atomically after each one) and re-used on the next run with the same ``--out`` unless
``--force``; inference itself is saved in chunks under ``<out>/partial/`` so a killed run resumes
mid-split.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import threading
import time
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import __version__
from ..errors import Pose3DBenchError
from ..io import atomic_write_json
from ..joints import get_joint_set
from ..models.input import describe_input_convention, input_convention, normalize_crops

ROOT_SOURCES = ("gt", "rootnet", "rootnet-model")
# The demo run (`pose3dbench run` with no --data and no --model: every variant, untrained, on the
# synthetic set) evaluates the first DEMO_PER_ACTION samples of every (subject, action) of each split
# (all 15 actions of each test subject) and profiles lightly, so that all 15 variants finish in minutes
# on 2 CPU cores. Any explicit --limit / --limit-per-action / --profile-iters wins.
DEMO_PER_ACTION = 1
# ... at batch 4 (8 crops with the flip test): the heaviest variant (MobileHumanPose-LPRES, full-resolution
# dense concatenation) holds ~0.6 GB of activations per crop, ~18 GB at the default batch 16 + flip.
DEMO_BATCH = 4
DEFAULT_BATCH = 16
DEMO_PROFILE_ITERS = 2
DEMO_PROFILE_BATCH = 4
RESULTS_FILE = "results.json"


class RunError(Pose3DBenchError):
    """A run cannot start or continue because of its inputs (flags, folders, models)."""


@dataclass
class RunOptions:
    """Everything a run depends on. Paths are folders; ``models`` holds model specs."""

    data: Path | None = None
    models: list[str] = field(default_factory=list)
    protocols: tuple[int, ...] = (1, 2)
    roots: tuple[str, ...] = ("gt", "rootnet")
    flip: bool = True
    device: str = "auto"
    batch_size: int | None = DEFAULT_BATCH  # None: DEFAULT_BATCH, or DEMO_BATCH in the demo run
    workers: int = 1
    threads: int | None = None
    out: Path = Path("pose3dbench-out")
    force: bool = False
    trust_checkpoint: bool = False
    profile: bool = True
    profile_iters: int | None = None  # None: 5, or DEMO_PROFILE_ITERS in the demo run
    profile_batch: int | None = None  # throughput batch of the cost profile; None: batch_size (demo: 4)
    synthetic_size: str = "tiny"
    limit: int | None = None  # first N samples of each split; None: all; 0: all
    #: first N samples of every (subject, action) of each split; None: all (demo run: DEMO_PER_ACTION); 0: all
    limit_per_action: int | None = None
    bbox_root: Path | None = None  # RootNet output file to use instead of the one found below ``data``
    report: bool = True
    #: rows per resumable chunk under <out>/partial (env POSE3DBENCH_CHUNK_SIZE overrides the default)
    chunk_size: int = field(default_factory=lambda: _env_int("POSE3DBENCH_CHUNK_SIZE", 256))
    channels_last: bool = False
    progress: bool = True
    #: inference backend: "eager" (PyTorch) or "onnxruntime" (exported graph, soft-argmax inside)
    backend: str = "eager"
    #: torch.compile the eager models (see benchmarks/RESULTS.md for whether it pays on CPU)
    compile: bool = False


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise RunError(f"environment variable {name}={value!r} must be a positive integer; unset it or fix it")
    return n


# ----------------------------------------------------------------------------------------------
# environment and inputs


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("--device cuda was requested but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def environment(device: torch.device) -> dict:
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = _cpu_name()
    return {
        "device": device.type,
        "device_name": device_name,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "numpy_version": np.__version__,
        "allocator": _allocator_mode(),
    }


def _allocator_mode() -> str:
    from ..data.loader import tune_allocator

    return {"heap": "glibc heap only (M_MMAP_MAX=0, no trim)", "default": "glibc default (mmap above threshold)",
            "unavailable": "platform default"}[tune_allocator()]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or "cpu"


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"  # per process: torchrun ranks probe the same folder
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"output folder {out} is not writable ({exc.strerror}); pass --out to a folder you can write to") from None


def resolve_data(data: Path | None, synthetic_size: str, log: Callable[[str], None]) -> tuple[Path, dict | None]:
    """The dataset folder to use and its synthetic metadata (None for real data).

    No ``--data``: a Kaggle input folder holding Human3.6M if there is one, else the built-in
    synthetic set, generated once into the cache.
    """
    if data is not None:
        data = Path(data)
        if not data.exists():
            raise RunError(f"--data {data} does not exist; point it at a Human3.6M folder (3DMPPE format) "
                           "or leave it out to use the built-in synthetic data")
        return data, synthetic_metadata(data)
    from ..data.kaggle import find_kaggle_dataset

    kaggle = find_kaggle_dataset()
    if kaggle is not None:
        log(f"using the Human3.6M dataset found in the Kaggle inputs: {kaggle}")
        return kaggle, synthetic_metadata(kaggle)
    path = ensure_synthetic(synthetic_size, log)
    return path, synthetic_metadata(path)


def synthetic_metadata(data: Path) -> dict | None:
    """The generator's metadata when ``data`` is a synthetic set made by pose3dbench, else None."""
    from ..data.layout import find_dataset

    return find_dataset(data).synthetic


def ensure_synthetic(size: str, log: Callable[[str], None], seed: int = 0) -> Path:
    """Generate (once) and return the cached synthetic dataset of ``size``."""
    from ..data.synthetic import generate
    from ..paths import cache_dir

    target = cache_dir() / "synthetic" / f"{size}-seed{seed}"
    if target.is_dir():  # complete: it is renamed into place only after generation finished
        return target
    log(f"generating the synthetic Human3.6M set ({size}, seed {seed}) into {target} (once)")
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    generate(tmp, seed=seed, size=size)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


# ----------------------------------------------------------------------------------------------
# inference


def unwrap_worker_error(exc: Pose3DBenchError) -> Pose3DBenchError:
    """The original error of a DataLoader worker, without the worker traceback torch folds into the message.

    torch re-raises a worker's exception as ``type(exc)("Caught X in DataLoader worker process k.\n
    Original Traceback ...\nmodule.X: <message>")``; this returns ``type(exc)(<message>)``.
    """
    msg = str(exc)
    if "Original Traceback" not in msg:
        return exc
    marker = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    i = msg.rfind(marker)
    if i < 0:
        return exc
    try:
        return type(exc)(msg[i + len(marker):].rstrip("\n"))
    except Exception:  # noqa: BLE001 - an exception class with another signature: keep the wrapped one
        return exc


def iterate_crops_clean(*args, **kwargs):
    """``data.loader.iterate_crops`` whose worker-side Pose3DBenchErrors reach the caller unwrapped."""
    from ..data.loader import iterate_crops

    clean = None
    try:
        yield from iterate_crops(*args, **kwargs)
    except Pose3DBenchError as exc:
        clean = unwrap_worker_error(exc)
        if clean is exc:
            raise
    if clean is not None:
        # Raised outside the except block and dropped from this frame: no reference cycle keeps the wrapped
        # error's traceback, and with it the DataLoader iterator, alive until interpreter exit (where its
        # pin-memory thread would die noisily); the iterator is shut down as soon as the error is handled.
        try:
            raise clean
        finally:
            clean = None


def check_images(samples, checked: set[str] | None = None) -> None:
    """Fail before inference on missing, truncated or wrongly sized images of a split.

    Reads JPEG headers and the last bytes only (no decoding). ``checked``: paths already found good,
    skipped and extended in place. Raises DatasetError listing examples, counts and the fix.
    """
    from ..commands.doctor import _check_images
    from ..errors import DatasetError

    paths = list(samples.image_path)
    sizes = np.asarray(samples.image_size)
    if checked is not None:
        todo = [i for i, p in enumerate(paths) if p not in checked]
        paths = [paths[i] for i in todo]
        sizes = sizes[todo]
    if not paths:
        return
    found = _check_images(paths, sizes)
    # non-JPEG files (no header to read) are left to the decoder, which names them if they are broken
    found["unreadable"] = [b for b in found.get("unreadable", []) if "not a readable JPEG" not in b]
    problems = []
    fixes = {
        "missing": ("missing", "extract the Human3.6M images so that these files are present"),
        "unreadable": ("unreadable or truncated", "re-extract them from the dataset archive"),
        "size_mismatch": ("of another size than their annotation says",
                          "these files are not the annotated frames: replace them with the real Human3.6M frames"),
    }
    for key, (what, fix) in fixes.items():
        bad = found.get(key) or []
        if bad:
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            problems.append(f"{len(bad)} image(s) {what}: {'; '.join(bad[:3])}{more}; {fix}")
    if problems:
        raise DatasetError(f"{len(samples)} images of the Protocol-{samples.protocol} test split were checked before "
                           "inference and some are not usable:\n  " + "\n  ".join(problems)
                           + "\n  (`pose3dbench doctor --data DIR` lists every problem of a dataset folder)")
    if checked is not None:
        checked.update(paths)


@contextlib.contextmanager
def writing(path: str | Path, out: Path):
    """Turn an OSError while writing ``path`` (full disk, quota, read-only mount) into a RunError."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RunError(f"cannot write {path} ({reason}); free disk space or pass --out to a writable folder with "
                       f"room, then re-run: finished work in {out} is kept and the previous file at that path is "
                       "unchanged") from None


def _crop_keys(samples, rows) -> list[tuple]:
    return [(int(samples.image_id[r]), tuple(np.round(samples.bbox[r], 3).tolist())) for r in rows]


class PoseInference:
    """Batched, resumable, flip-tested inference of one pose model over dataset splits.

    Results are cached per crop (image id + box) so that splits sharing crops (Protocol 1's S11
    inside Protocol 2) are computed once per run.
    """

    def __init__(self, model: torch.nn.Module, opts: RunOptions, device: torch.device, progress_label: str,
                 dist=None, identity: dict | None = None):
        from ..distributed import DistContext

        self.dist = dist if dist is not None else DistContext()
        self.model = model
        self.opts = opts
        self.device = device
        self.label = progress_label
        self.identity = identity  # the model's identity in results.json: chunks of another model are not re-used
        cfg = model.config
        self.heatmap_w = int(cfg.heatmap_size[1])
        self.input_hw = tuple(int(v) for v in cfg.input_size)
        self.flip_mirror = input_convention(cfg)["flip_mirror"]
        self.joint_set = get_joint_set(cfg.joint_num) if cfg.joint_num in (17, 18, 21) else None
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.images_per_s: float | None = None  # of the model on computed crops, latest split that computed any
        self.seconds = 0.0
        self.computed = 0

    def _fingerprint(self, samples) -> dict:
        """What the saved chunks of a split depend on (JSON): model identity, samples, inference settings."""
        o = self.opts
        return json.loads(json.dumps({
            "model": self.identity,
            "samples": _array_digest(samples.image_id, np.round(np.asarray(samples.bbox, dtype=np.float64), 3)),
            "flip": bool(o.flip), "channels_last": bool(o.channels_last), "device": self.device.type,
            "backend": getattr(o, "backend", "eager"), "compile": bool(getattr(o, "compile", False)),
        }, default=str))

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from .geometry import flip_merge

        if not self.opts.flip:
            c = self.model(x).float()
            return c, c
        both = self.model(torch.cat([x, torch.flip(x, dims=[3])], dim=0)).float()
        c, cf = both[: x.shape[0]], both[x.shape[0]:]
        pairs = self.joint_set.flip_pairs if self.joint_set is not None else ()
        return flip_merge(c, cf, self.heatmap_w, pairs, mirror=self.flip_mirror, input_w=self.input_hw[1]), c

    def run(self, samples, partial_dir: Path) -> tuple[np.ndarray, np.ndarray]:
        """(coords_hm [N,J,3] final (flip-averaged if flip), coords_hm_noflip [N,J,3]).

        Sharded (``self.dist`` enabled): rank 0's list of rows still to compute is split in whole
        batches across the ranks, each rank saves its own chunks, and the rows are gathered; ranks
        other than 0 return (None, None).
        """
        n = len(samples)
        keys = _crop_keys(samples, range(n))
        coords: list[np.ndarray | None] = [None] * n
        noflip: list[np.ndarray | None] = [None] * n
        for i, k in enumerate(keys):
            if k in self.cache:
                coords[i], noflip[i] = self.cache[k]
        fresh = _prepare_partial(partial_dir, self._fingerprint(samples)) if self.dist.is_main else True
        for rows, c, cn in (() if fresh else _load_chunks(partial_dir, n)):
            for r, a, b in zip(rows, c, cn):
                coords[r], noflip[r] = a, b
        todo = np.array([i for i in range(n) if coords[i] is None], dtype=np.int64)
        dist = self.dist
        todo = dist.broadcast(todo)  # rank 0's view of the finished chunks decides for every rank
        if len(todo):
            partial_dir.mkdir(parents=True, exist_ok=True)
            mine = dist.shard(todo, self.opts.batch_size)
            cfg = self.model.config
            bar = _progress(len(mine), self.label, self.opts.progress and dist.is_main)
            pending_rows, pending_c, pending_n = [], [], []
            t0 = time.perf_counter()
            done = 0
            try:
                with torch.inference_mode(), _stops_at_batch_boundaries():
                    for rows, patches in iterate_crops_clean(
                        samples.image_path, samples.bbox, mine, batch_size=self.opts.batch_size,
                        out_hw=self.input_hw, workers=self.opts.workers, image_size=samples.image_size,
                        pin_memory=self.device.type == "cuda",
                    ):
                        x = normalize_crops(patches, cfg, self.device, channels_last=self.opts.channels_last)
                        c, cn = self._forward(x)
                        pending_rows.append(rows.numpy())
                        pending_c.append(c.cpu().numpy())
                        pending_n.append(cn.cpu().numpy())
                        done += len(rows)
                        bar.update(len(rows))
                        if sum(len(r) for r in pending_rows) >= self.opts.chunk_size:
                            with writing(partial_dir, self.opts.out):
                                _save_chunk(partial_dir, pending_rows, pending_c, pending_n)
                            _fill(coords, noflip, pending_rows, pending_c, pending_n)
                            pending_rows, pending_c, pending_n = [], [], []
                        _raise_if_stop_requested()
            except KeyboardInterrupt:
                if pending_rows:  # keep the finished batches: the re-run resumes after them
                    with contextlib.suppress(OSError):
                        _save_chunk(partial_dir, pending_rows, pending_c, pending_n)
                bar.close()
                raise
            if pending_rows:
                with writing(partial_dir, self.opts.out):
                    _save_chunk(partial_dir, pending_rows, pending_c, pending_n)
                _fill(coords, noflip, pending_rows, pending_c, pending_n)
            bar.close()
            if dist.enabled:
                j = int(cfg.joint_num)
                stack = lambda lst: (np.stack([lst[r] for r in mine]).astype(np.float32)  # noqa: E731
                                     if len(mine) else np.zeros((0, j, 3), np.float32))
                rows_all, c_all, n_all = dist.all_gather_rows(mine, stack(coords), stack(noflip))
                _fill(coords, noflip, [rows_all], [c_all], [n_all])
                done = len(rows_all)
            self.seconds = time.perf_counter() - t0
            self.images_per_s = done / self.seconds if self.seconds > 0 else None
            self.computed = done
        else:
            self.seconds, self.computed = 0.0, 0
        for i, k in enumerate(keys):
            if coords[i] is not None:
                self.cache[k] = (coords[i], noflip[i])
        if not dist.is_main:
            return None, None
        return np.stack(coords).astype(np.float32), np.stack(noflip).astype(np.float32)


def _fill(coords, noflip, rows_list, c_list, n_list):
    for rows, c, cn in zip(rows_list, c_list, n_list):
        for r, a, b in zip(rows, c, cn):
            coords[r], noflip[r] = a, b


def _array_digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _prepare_partial(partial_dir: Path, fingerprint: dict) -> bool:
    """Make ``partial_dir`` hold only chunks computed for ``fingerprint``; True when it starts empty.

    Chunks left by a run of another model, checkpoint, dataset, split or inference setting are
    deleted (their rows would be silently wrong), then the fingerprint is recorded beside the chunks.
    """
    meta = partial_dir / "fingerprint.json"
    if partial_dir.is_dir():
        try:
            same = json.loads(meta.read_text()) == fingerprint
        except (OSError, ValueError):
            same = False
        if same:
            return False
        shutil.rmtree(partial_dir, ignore_errors=True)
    from ..io import atomic_write_json

    atomic_write_json(meta, fingerprint)
    return True


def _save_chunk(partial_dir: Path, rows_list, c_list, n_list) -> None:
    from ..io import atomic_write

    rows = np.concatenate(rows_list)
    c = np.concatenate(c_list)
    cn = np.concatenate(n_list)
    name = f"chunk_{int(rows[0]):07d}_{int(rows[-1]):07d}.npz"
    atomic_write(partial_dir / name, lambda f: np.savez(f, rows=rows, coords=c, coords_noflip=cn))


def _load_chunks(partial_dir: Path, n: int):
    if not partial_dir.is_dir():
        return
    for path in sorted(partial_dir.glob("chunk_*.npz")):
        try:
            with np.load(path) as z:
                rows, c, cn = z["rows"], z["coords"], z["coords_noflip"]
        except Exception:  # a chunk cut short by a kill: recompute its rows
            path.unlink(missing_ok=True)
            continue
        if len(rows) and rows.max() < n:
            yield rows, c, cn


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, label: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    from tqdm.autonotebook import tqdm as chosen  # tqdm.notebook's class inside a Jupyter kernel

    # disable=None: no bar when stderr is not a terminal (a log file, CI); notebooks draw their widget
    notebook = chosen.__module__ == "tqdm.notebook"
    return tqdm(total=total, desc=label, unit="img", dynamic_ncols=True, leave=False, file=sys.stderr,
                disable=False if notebook else None)


def infer_roots(model: torch.nn.Module, samples, opts: RunOptions, device: torch.device, label: str, dist=None,
                cache: dict | None = None):
    """RootNet over a split: (root_cam [N,3] camera mm, root_hm [N,3] = x_hm, y_hm, depth mm, seconds).

    Sharded (``dist`` enabled): each rank computes whole batches of its share, all ranks get all rows.
    ``cache`` (crop key -> raw [3] output) lets splits that share crops (P1's S11 inside P2) compute them once.
    """
    from ..distributed import DistContext
    from ..models.resnet_pose import rootnet_k_value

    cfg = model.config
    n = len(samples)
    out = np.zeros((n, 3), dtype=np.float64)
    k_all = torch.from_numpy(rootnet_k_value(samples.focal, samples.bbox).astype(np.float32).reshape(n, 1))
    dist = dist if dist is not None else DistContext()
    keys = _crop_keys(samples, range(n))
    cache = {} if cache is None else cache
    cached = np.array([k in cache for k in keys], dtype=bool)
    for i in np.flatnonzero(cached):
        out[i] = cache[keys[i]]
    mine = dist.shard(np.flatnonzero(~cached), opts.batch_size)
    bar = _progress(len(mine), label, opts.progress and dist.is_main)
    t0 = time.perf_counter()
    with torch.inference_mode(), _stops_at_batch_boundaries():
        for rows, patches in iterate_crops_clean(samples.image_path, samples.bbox, mine, batch_size=opts.batch_size,
                                                 out_hw=tuple(cfg.input_size), workers=opts.workers,
                                                 image_size=samples.image_size, pin_memory=device.type == "cuda"):
            x = normalize_crops(patches, cfg, device, channels_last=opts.channels_last)
            k = k_all[rows].to(device)
            out[rows.numpy()] = model(x, k).float().cpu().numpy()
            bar.update(len(rows))
            _raise_if_stop_requested()
    bar.close()
    if dist.enabled:
        rows_all, out_all = dist.all_gather_rows(mine, out[mine])
        out[rows_all] = out_all
    for i, k in enumerate(keys):
        cache[k] = out[i].copy()
    seconds = time.perf_counter() - t0
    hm_h, hm_w = cfg.heatmap_size
    bbox = samples.bbox
    x_img = out[:, 0] / hm_w * bbox[:, 2] + bbox[:, 0]
    y_img = out[:, 1] / hm_h * bbox[:, 3] + bbox[:, 1]
    z = out[:, 2]
    root_cam = np.stack([(x_img - samples.princpt[:, 0]) / samples.focal[:, 0] * z,
                         (y_img - samples.princpt[:, 1]) / samples.focal[:, 1] * z, z], axis=1)
    return root_cam, out, seconds


# ----------------------------------------------------------------------------------------------
# results bookkeeping




def _input_entry(cfg, info: dict) -> dict:
    """The results.json ``input`` block: the model's input convention and whether it was assumed."""
    conv = input_convention(cfg)
    onnx_assumed = any("input:" in a for a in (info.get("onnx") or {}).get("assumed", []))
    return {"pixel_range": conv["pixel_range"], "channel_order": conv["channel_order"], "mean": conv["mean"],
            "std": conv["std"], "flip_mirror": conv["flip_mirror"], "text": describe_input_convention(cfg),
            "assumed": bool(conv["defaulted"]) or onnx_assumed}


def _model_identity(info: dict, model) -> dict:
    """What must be equal for a previous result of this model to be re-used (JSON-normalised)."""
    ident = {"spec": info["spec"], "weights_sha256": info.get("sha256"),
             "config": model.config.to_dict() if hasattr(model.config, "to_dict") else None}
    return json.loads(json.dumps(ident, default=str))


def _load_previous(out: Path, force: bool) -> dict | None:
    path = out / RESULTS_FILE
    if force or not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _cost_entry(model, opts: RunOptions, device: torch.device) -> dict | None:
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


# ----------------------------------------------------------------------------------------------
# the run


def run_benchmark(opts: RunOptions, log: Callable[[str], None] = print) -> dict:
    """Run every model on every (protocol, root) split; write results, predictions and the report.

    Started by torchrun (WORLD_SIZE > 1) the samples are sharded across the ranks (see
    ``pose3dbench.distributed``); only rank 0 logs and writes results, predictions and the report.
    """
    from .. import distributed

    dist = distributed.setup(opts.device)
    previous_handlers = _install_stop_handlers()
    try:
        return _run_benchmark(opts, log if dist.is_main else (lambda msg: None), dist)
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
        distributed.teardown(dist)


#: Stop requests (Ctrl-C, SIGTERM) during inference take effect between batches: ``defer`` is set while a
#: batch loop runs, ``pending`` once a signal arrived there.
_STOP = {"defer": False, "pending": False}


def _install_stop_handlers() -> dict:
    """Ctrl-C and SIGTERM (docker stop, SLURM preemption, notebook shutdown) stop a run cleanly.

    Outside batch loops they raise KeyboardInterrupt at once; inside, the batch in flight finishes
    first (so no DataLoader hand-over is cut in half) and is saved for the re-run; a second signal
    stops at once. Returns the previous handlers ({} when not in the main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    main_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != main_pid:  # the copy a DataLoader worker inherited: behave as the default would
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if _STOP["defer"] and not _STOP["pending"]:
            _STOP["pending"] = True
            return
        raise KeyboardInterrupt

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    return previous


@contextlib.contextmanager
def _stops_at_batch_boundaries():
    """Within: a stop signal is deferred to the next ``_raise_if_stop_requested`` (end of a batch)."""
    outer = _STOP["defer"]
    _STOP["defer"] = True
    try:
        yield
    finally:
        _STOP["defer"] = outer
        if not outer:
            _STOP["pending"] = False


def _raise_if_stop_requested() -> None:
    if _STOP["pending"]:
        _STOP["pending"] = False
        raise KeyboardInterrupt


def _check_named_family(spec: str, model, info: dict) -> None:
    """NAME=CKPT where the file is another family's network: refuse instead of mislabelling results."""
    from ..models import registry

    ck = info.get("checkpoint_info") or {}
    requested = ck.get("requested")
    if info.get("weights") != "checkpoint" or not requested:
        return
    asked = registry.get_config(requested).family if requested in registry.available() else requested
    found = model.config.family
    if asked != found:
        raise RunError(f"--model {spec}: {info.get('checkpoint')} holds a {found} network "
                       f"({model.config.variant}), not a {asked} one; name it as what it is "
                       f"(--model {model.config.variant}={info.get('checkpoint')}) or pass the file alone "
                       f"(--model {info.get('checkpoint')}) to infer the model from its keys")


def _prune_missing_predictions(previous: dict | None, out: Path) -> dict | None:
    """Drop previous evaluations whose predictions file is gone (they cannot be re-used)."""
    if previous is None:
        return None
    for kind in ("evaluations", "root_evaluations"):
        evs = previous.get(kind)
        if isinstance(evs, list):
            previous[kind] = [ev for ev in evs if isinstance(ev, dict) and isinstance(ev.get("predictions"), str)
                              and (out / ev["predictions"]).exists()]
    return previous


def _apply_demo_defaults(opts: RunOptions, demo: bool, log: Callable[[str], None]) -> RunOptions:
    """Resolve ``limit`` / profile settings left unset; the demo run gets light defaults."""
    import dataclasses

    limit, per_action = opts.limit, opts.limit_per_action
    if limit is None and per_action is None and demo:
        per_action = DEMO_PER_ACTION
    if limit == 0:
        limit = None
    if per_action == 0:
        per_action = None
    iters = opts.profile_iters or (DEMO_PROFILE_ITERS if demo else 5)
    batch = opts.profile_batch or (DEMO_PROFILE_BATCH if demo else None)
    batch_size = opts.batch_size or (DEMO_BATCH if demo else DEFAULT_BATCH)
    if demo:
        subset = (f"the first {per_action} sample(s) of every (subject, action)" if per_action else
                  f"the first {limit} samples" if limit else "all samples")
        log(f"demo run: every registered variant with untrained weights on the synthetic set; {subset} of each "
            f"split (--limit-per-action N or --limit N to change, --limit-per-action 0 for all) at batch "
            f"{batch_size}, cost profile at batch 1 and {batch or batch_size} over {iters} timed runs")
    return dataclasses.replace(opts, limit=limit, limit_per_action=per_action, profile_iters=iters,
                               profile_batch=batch, batch_size=batch_size)


def _warn_other_protocol_bbox_root(samples, log: Callable[[str], None]) -> None:
    """Say so when a Protocol-1 split takes its boxes and roots from a file that also covers S9.

    RootNet's released outputs differ per protocol (trained on S1,5,6,7,8 for P2; S1,5,6,7,8,9 for P1);
    a file with entries for S9 images is the Protocol-2 one, whose S11 boxes and roots are not those
    of the published Protocol-1 numbers.
    """
    from ..data.h36m import load_bbox_root

    path = samples.source.get("bbox_root")
    if samples.protocol != 1 or not path or samples.source.get("synthetic"):
        return  # the synthetic set ships one RootNet-like file for both protocols by design
    extra = int(np.isin(load_bbox_root(path).image_id, samples.image_id, invert=True).sum())
    if extra:
        log(f"warning: {path} also holds {extra} entries for images outside Protocol 1 (S11): it looks like "
            "RootNet's Protocol-2 output. Protocol-1 numbers with --root rootnet then use a RootNet trained "
            "without S9, unlike the published ones; pass the Protocol-1 file with --bbox-root "
            "(pose3dbench weights get bbox-root:h36m-p1).")


def _run_benchmark(opts: RunOptions, log: Callable[[str], None], dist) -> dict:
    from ..data.splits import SplitProvider, bbox_root_setting
    from ..models import available
    from ..models.spec import resolve_model_spec
    from ..report.schema import RESULTS_SCHEMA_VERSION, validate_results
    from .geometry import heatmap_to_camera
    from .metrics import evaluate_pose, root_errors
    from .predictions import save_predictions

    out = Path(opts.out)
    check_writable(out)
    for r in opts.roots:
        if r not in ROOT_SOURCES:
            raise RunError(f"unknown --root {r!r}; choose from {', '.join(ROOT_SOURCES)}")
    for p in opts.protocols:
        if p not in (1, 2):
            raise RunError(f"unknown --protocol {p!r}; Human3.6M protocols are 1 (S11, PA-MPJPE) and 2 (S9+S11, MPJPE)")
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    device = dist.device if dist.enabled else pick_device(opts.device)
    if not dist.is_main:
        dist.barrier()  # rank 0 finds (or generates) the data first
    data_dir, synthetic_meta = resolve_data(opts.data, opts.synthetic_size, log)
    if dist.is_main:
        dist.barrier()
    opts = _apply_demo_defaults(opts, synthetic_meta is not None and not opts.models, log)

    specs = list(opts.models) or available()
    resolved = []
    names = set()
    run_warnings: list[dict] = []  # every warning of the run, into results.json and the report's Notes
    for spec in specs:
        # untrained weights are drawn from a seed fixed by the spec: identical across runs (resume) and ranks
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.manual_seed(zlib.crc32(str(spec).encode("utf-8")))
            model, info = resolve_model_spec(spec, trust_checkpoint=opts.trust_checkpoint)
        _check_named_family(spec, model, info)  # refuses before the loader's "using the file's ..." warning shows
        name = info["name"]
        while name in names:
            name += "'"
        names.add(name)
        info["name"] = name
        for w in caught:  # one readable line each (not the raw "file.py:290: CheckpointWarning"), and recorded
            run_warnings.append({"source": name, "category": w.category.__name__, "message": str(w.message)})
            log(f"warning: [{name}] {w.message}")
        model.eval().to(device)
        if opts.channels_last:
            model.to(memory_format=torch.channels_last)
        model = _apply_backend(model, opts)
        resolved.append((model, info))
    rootnets = [(m, i) for m, i in resolved if m.config.family == "rootnet"]
    poses = [(m, i) for m, i in resolved if m.config.family != "rootnet"]
    if "rootnet-model" in opts.roots and not rootnets:
        raise RunError("--root rootnet-model needs a RootNet model in the run (e.g. --model rootnet-r50=CKPT)")
    if "rootnet-model" in opts.roots and len(rootnets) > 1:
        raise RunError("--root rootnet-model is ambiguous with several RootNet models in one run; keep one")

    if opts.force and dist.is_main:  # recompute everything: resume chunks too
        shutil.rmtree(out / "partial", ignore_errors=True)
    previous = dist.broadcast(_prune_missing_predictions(_load_previous(out, opts.force), out) if dist.is_main else None)
    settings = {
        "batch_size": opts.batch_size, "flip": opts.flip, "dtype": "float32", "workers": opts.workers,
        "backend": opts.backend, "compile": bool(opts.compile),
        "protocols": list(opts.protocols), "roots": list(opts.roots),
        "limit": opts.limit, "limit_per_action": opts.limit_per_action,
        "bbox_root": bbox_root_setting(opts.bbox_root),
        "dataset": {"path": str(Path(data_dir).resolve()), "synthetic": synthetic_meta is not None,
                    "synthetic_meta": synthetic_meta},
    }
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "pose3dbench_version": __version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(device),
        "settings": settings,
        "models": {},
        "evaluations": [],
        "root_evaluations": [],
        "warnings": run_warnings,
        "complete": False,  # True only in the final write: a killed or failed run leaves False
    }
    reusable = previous is not None and _same_settings(previous.get("settings", {}), settings)
    if previous is not None and not reusable:
        log(f"settings differ from the previous run in {out}: recomputing everything")

    provider = SplitProvider(data_dir, bbox_root=opts.bbox_root, limit=opts.limit,
                             limit_per_action=opts.limit_per_action)
    checked: set[tuple[int, str]] = set()
    checked_images: set[str] = set()

    def split(protocol: int, box_source: str):
        s = provider.get(protocol, box_source)
        if (protocol, box_source) not in checked:
            checked.add((protocol, box_source))
            if box_source == "rootnet":
                def warn(msg: str) -> None:
                    log(msg)
                    run_warnings.append({"source": f"P{protocol} bbox_root", "message": msg.removeprefix("warning: ")})

                _warn_other_protocol_bbox_root(s, warn)
            check_images(s, checked_images)  # fail before inference, not hours into it
        return s

    def write_results():
        validate_results(results)
        if dist.is_main:
            with writing(out / RESULTS_FILE, out):
                atomic_write_json(out / RESULTS_FILE, results)

    def reuse(kind: str, name: str, protocol: int, root: str) -> dict | None:
        if not reusable:
            return None
        prev_models = previous.get("models", {})
        if name not in prev_models or prev_models[name].get("_identity") != results["models"][name]["_identity"]:
            return None
        for ev in previous.get(kind, []):
            if ev["model"] == name and ev["protocol"] == protocol and ev["root"] == root:
                return ev  # previous evaluations without their predictions file were pruned
        return None

    root_predictions: dict[tuple[int, str], np.ndarray] = {}

    queue = rootnets + poses
    t_models = time.perf_counter()
    for k, (model, info) in enumerate(queue, 1):
        name = info["name"]
        log(model_progress(k, len(queue), name, time.perf_counter() - t_models))
        cfg = model.config
        ident = _model_identity(info, model)
        prev_entry = (previous or {}).get("models", {}).get(name) if reusable else None
        cost = None
        if prev_entry and prev_entry.get("_identity") == ident and prev_entry.get("cost") and \
                prev_entry["cost"].get("device") == device.type:
            cost = prev_entry["cost"]
            log(f"[{name}] cost profile reused from the previous run in {out} (--force recomputes)")
        elif opts.profile and dist.is_main:
            log(f"[{name}] profiling cost on {device.type}")
            cost = _cost_entry(model, opts, device)
        results["models"][name] = {
            "spec": info["spec"], "family": cfg.family, "variant": cfg.variant,
            "config": cfg.to_dict(),
            "weights": {"kind": info["weights"], "path": info.get("checkpoint"), "sha256": info.get("sha256"),
                        "epoch": (info.get("checkpoint_info") or {}).get("epoch")},
            **({"label": info["label"]} if info.get("label") else {}),
            "published": dict(getattr(cfg, "published", {}) or {}),
            "cost": cost,
            "input": _input_entry(cfg, info),
            # the runtime this model really ran on: a foreign .onnx file runs on onnxruntime whatever --backend says
            "backend": "onnxruntime" if ("onnx" in info or opts.backend == "onnxruntime") else "eager",
            "_identity": ident,
        }
        write_results()

        if cfg.family == "rootnet":
            root_cache: dict = {}
            for protocol in opts.protocols:
                box_sources = [r for r in opts.roots if r in ("gt", "rootnet")]
                if "rootnet-model" in opts.roots and "rootnet" not in box_sources:
                    box_sources.append("rootnet")
                for box_source in box_sources:
                    prev = reuse("root_evaluations", name, protocol, box_source)
                    fname = f"predictions/{_safe_name(name)}__p{protocol}__{box_source}.npz"
                    samples = split(protocol, box_source)
                    if prev is not None:
                        log(f"[{name}] P{protocol} boxes={box_source}: reused from the previous run in {out} "
                            "(--force recomputes)")
                        results["root_evaluations"].append(prev)
                        if dist.is_main:
                            with np.load(out / prev["predictions"]) as z:
                                root_predictions[(protocol, box_source)] = z["root_cam"]
                        continue
                    log(f"[{name}] P{protocol} boxes={box_source}: {len(samples)} images{_skipped_note(samples)}")
                    root_cam, root_hm, seconds = infer_roots(model, samples, opts, device,
                                                             f"{name} P{protocol} {box_source}", dist=dist,
                                                             cache=root_cache)
                    if not dist.is_main:
                        continue
                    errs = root_errors(root_cam, samples.joints_cam[:, 0])
                    with writing(out / fname, out):
                        save_predictions(out / fname, image_id=samples.image_id, root_cam=root_cam, root_hm=root_hm,
                                         bbox=samples.bbox,
                                         meta={"model": name, "protocol": protocol, "root": box_source,
                                               "kind": "root"})
                    root_predictions[(protocol, box_source)] = root_cam
                    results["root_evaluations"].append({
                        "model": name, "protocol": protocol, "root": box_source, **errs, "predictions": fname,
                        "timing": {"images_per_s": len(samples) / seconds if seconds else 0.0,
                                   "seconds": seconds, "device": device.type, "batch_size": opts.batch_size},
                    })
                    write_results()
            continue

        engine = PoseInference(model, opts, device, name, dist=dist, identity=ident)
        for protocol in opts.protocols:
            for root in opts.roots:
                fname = f"predictions/{_safe_name(name)}__p{protocol}__{root}.npz"
                prev = reuse("evaluations", name, protocol, root)
                if prev is not None:
                    log(f"[{name}] P{protocol} root={root}: reused from the previous run in {out} "
                        "(--force recomputes)")
                    results["evaluations"].append(prev)
                    continue
                box_source = "gt" if root == "gt" else "rootnet"
                samples = split(protocol, box_source)
                partial = out / "partial" / f"{_safe_name(name)}__p{protocol}__{box_source}__flip{int(opts.flip)}"
                if not dist.is_main:  # compute this rank's shard; rank 0 scores and writes
                    engine.run(samples, partial)
                    continue
                if root == "rootnet-model":
                    key = (protocol, "rootnet")
                    if key not in root_predictions:
                        raise RunError("internal: RootNet predictions missing for rootnet-model")
                    root_cam = root_predictions[key]
                else:
                    root_cam = samples.root_cam
                log(f"[{name}] P{protocol} root={root}: {len(samples)} images{_skipped_note(samples)}"
                    + (f" on {dist.world_size} ranks" if dist.enabled else ""))
                coords, coords_noflip = engine.run(samples, partial)
                pred_cam = heatmap_to_camera(coords, samples.bbox, root_cam, samples.focal, samples.princpt,
                                             heatmap_size=tuple(cfg.heatmap_size), depth_bins=cfg.depth_bins)
                metrics = evaluate_pose(pred_cam, samples, protocol, joint_set=cfg.joint_set)
                metrics["root"] = root
                per_sample = np.asarray(metrics.pop("per_sample_mm"))
                with writing(out / fname, out):
                    save_predictions(out / fname, image_id=samples.image_id, coords_hm=coords,
                                     coords_hm_noflip=coords_noflip, bbox=samples.bbox, root_cam=root_cam,
                                     pred_cam=pred_cam, per_sample_mm=per_sample,
                                     meta={"model": name, "protocol": protocol, "root": root,
                                           "heatmap_size": list(cfg.heatmap_size), "depth_bins": cfg.depth_bins,
                                           "joint_set": cfg.joint_set, "flip": opts.flip})
                results["evaluations"].append({
                    "model": name, **_jsonable(metrics), "predictions": fname,
                    "timing": {"images_per_s": float(engine.images_per_s or 0.0), "seconds": engine.seconds,
                               "device": device.type, "batch_size": opts.batch_size,
                               "computed_images": engine.computed,
                               "note": "images_per_s: end-to-end (decode, crop, forward incl. flip) on the "
                                       "crops this model computed in this run; crops shared with an earlier "
                                       "split are reused, not recomputed"},
                })
                write_results()
        # partial chunks of this model are no longer needed once its predictions files exist
        for p in (out / "partial").glob(f"{_safe_name(name)}__*"):
            shutil.rmtree(p, ignore_errors=True)

    results["complete"] = True
    write_results()
    if opts.report and dist.is_main:
        from ..report import build_report

        with writing(out / "report.html", out):
            build_report(out, samples_by_split={(p, r): split(p, "gt" if r == "gt" else "rootnet")
                                                for p in opts.protocols for r in opts.roots})
    return results


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def model_progress(k: int, n: int, name: str, elapsed: float) -> str:
    """``[k/N] name``, with the elapsed time and an ETA (mean time of the finished models) from the second on."""
    if k <= 1:
        return f"[{k}/{n}] {name}"
    eta = elapsed / (k - 1) * (n - k + 1)
    return f"[{k}/{n}] {name} (elapsed {_duration(elapsed)}, ETA {_duration(eta)})"


def _skipped_note(samples) -> str:
    """`` (N skipped: reason)`` for samples the protocol leaves out (degenerate GT boxes), else ``""``."""
    skipped = {k: int(v) for k, v in (getattr(samples, "skipped", None) or {}).items() if v}
    if not skipped:
        return ""
    return " (" + ", ".join(f"{v} skipped: {k.replace('_', ' ')}" for k, v in skipped.items()) + ", as the protocol prescribes)"


def _apply_backend(model, opts: RunOptions):
    """``--backend onnxruntime`` / ``--compile``: the model wrapped for its inference backend."""
    if opts.backend == "eager" and not opts.compile:
        return model
    from ..backends import wrap_model, compile_model

    model = wrap_model(model, opts.backend, threads=opts.threads)
    return compile_model(model) if opts.compile else model


def _same_settings(a: dict, b: dict) -> bool:
    keys = ("flip", "dataset", "limit", "limit_per_action", "backend", "bbox_root")
    return all(a.get(k) == b.get(k) for k in keys)


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (np.floating, np.integer)):
            v = v.item()
        elif isinstance(v, dict):
            v = _jsonable(v)
        out[k] = v
    return out


def summary_table(results: dict) -> str:
    """A plain-text summary of a run's evaluations (mm) and costs."""
    lines = []
    header = f"{'model':28s} {'P':>2s} {'root':>13s} {'metric':>9s} {'mm':>9s} {'published':>9s} {'img/s':>8s}"
    lines.append(header)
    lines.append("-" * len(header))
    from ..report.tables import published_comparable, published_mrpe, published_value

    for ev in results["evaluations"]:
        m = results["models"][ev["model"]]
        published = published_value(m, (ev["protocol"], ev["root"], ev["metric"]))  # the report's own rule
        if published is not None and not published_comparable(m):
            published = f"({published:g})"  # another layout's paper number: a reference, not this network's
        ips = ev.get("timing", {}).get("images_per_s")
        lines.append(f"{ev['model']:28s} {ev['protocol']:>2d} {ev['root']:>13s} {ev['metric']:>9s} "
                     f"{ev['total_mm']:9.2f} {published if published is not None else '-':>9} "
                     f"{(f'{ips:.1f}' if ips else 'cached'):>8s}")
    for ev in results["root_evaluations"]:
        pub = published_mrpe(results["models"][ev["model"]], ev["protocol"])  # RootNet's paper: Protocol 2 only
        lines.append(f"{ev['model']:28s} {ev['protocol']:>2d} {ev['root']:>13s} {'MRPE':>9s} "
                     f"{ev['mrpe_mm']:9.2f} {pub if pub is not None else '-':>9} {'':>8s}")
    return "\n".join(lines)
