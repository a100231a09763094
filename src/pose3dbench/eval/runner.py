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
import dataclasses
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
from ..data.loader import release_free_memory, unwrap_worker_error  # noqa: F401 (unwrap: re-exported)
from ..models.input import describe_input_convention, input_convention, normalize_crops

ROOT_SOURCES = ("gt", "rootnet", "rootnet-model")
# The demo run (`pose3dbench run` with no --data and no --model: every variant, untrained, on the
# synthetic set) evaluates the first DEMO_PER_ACTION samples of every (subject, action) of each split
# (all 15 actions of each test subject) and profiles lightly, so that all 15 variants finish in minutes
# on 2 CPU cores. Any explicit --limit / --limit-per-action / --profile-iters wins.
DEMO_PER_ACTION = 1
# ... at batch 1, the flip test's mirrored pass as its own call (split_flip) and a cost profile at batch 1:
# the heaviest variant
# (MobileHumanPose-LPRES, full-resolution dense concatenation) holds ~1 GB of activations per crop (measured:
# the demo peaked at 10.6 GB resident with batch 4 + flip), so one crop at a time keeps the demo under 2 GB.
DEMO_BATCH = 1
DEFAULT_BATCH = 16
DEMO_PROFILE_ITERS = 2
DEMO_PROFILE_BATCH = 1
RESULTS_FILE = "results.json"
#: where ``--force`` computes (inside --out) before it replaces the previous results
FORCE_STAGING = ".force-staging"


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
    #: inference backend: "auto" (onnxruntime on CPU when installed and its first batch matches eager, see
    #: ``_choose_backend``), "eager" (PyTorch) or "onnxruntime" (exported graph, soft-argmax inside)
    backend: str = "auto"
    #: torch.compile the eager models (see benchmarks/RESULTS.md for whether it pays on CPU)
    compile: bool = False
    #: the crop store (data.crop_store): auto | memory | disk | off; auto = memory within crop_budget_mb, else disk
    crop_cache: str = "auto"
    crop_budget_mb: float = 1024.0
    #: half-precision inference (torch.autocast): None (float32), "fp16" or "bf16"; eager models only
    amp: str | None = None
    #: the flip test's mirrored pass as its own forward call instead of one [2B] call (half the activation
    #: memory of a batch; the demo run sets it: MobileHumanPose-LPRES holds ~1 GB per crop)
    split_flip: bool = False
    #: image corruptions of the crops (data.corruptions): a set name ("none", "common") or comma-separated names
    corruptions: str = "none"
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    #: the model whose errors normalise the mean corruption error (mCE); None: the first pose model
    mce_reference: str | None = None


def validate_options(opts: RunOptions) -> None:
    """RunError for option values out of range (the CLI checks them when parsing; this guards the Python API)."""
    def need(name: str, value, lo: int, note: str = "", optional: bool = False):
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise RunError(f"{name} must be an integer >= {lo}{f' ({note})' if note else ''}, got {value!r}")

    need("--batch-size (batch_size)", opts.batch_size, 1, optional=True)  # None: the default (demo: DEMO_BATCH)
    need("--workers (workers)", opts.workers, 0, "0 = in-process")
    need("--threads (threads)", opts.threads, 1, optional=True)
    need("--limit (limit)", opts.limit, 0, "0 = all samples", optional=True)
    need("--limit-per-action (limit_per_action)", opts.limit_per_action, 0, "0 = all samples", optional=True)
    need("--profile-iters (profile_iters)", opts.profile_iters, 1, optional=True)
    need("--profile-batch (profile_batch)", opts.profile_batch, 1, optional=True)
    need("chunk_size", opts.chunk_size, 1)


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

    from ..outdir import waiting_lock

    target = cache_dir() / "synthetic" / f"{size}-seed{seed}"
    if target.is_dir():  # complete: it is renamed into place only after generation finished
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with waiting_lock(target.parent / f".{target.name}.lock"):  # two runs at once: one generates, one waits
        if target.is_dir():
            return target
        log(f"generating the synthetic Human3.6M set ({size}, seed {seed}) into {target} (once)")
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(tmp, seed=seed, size=size)
        os.replace(tmp, target)
    return target


# ----------------------------------------------------------------------------------------------
# inference


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
        "broken_link": ("broken symbolic links", "point the links at the extracted images (or replace them with "
                                                 "the files)"),
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
def writing(path: str | Path, out: Path, kept: Path | None = None):
    """Turn an OSError while writing ``path`` (full disk, quota, read-only mount) into a RunError.

    ``kept``: the file of the previous run that stays as it was (``--force`` computes into a staging folder).
    """
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        what = (f"the previous {kept} and everything else of the previous run are unchanged (--force computes into "
                f"{Path(path).parent} and replaces them only when it finished)" if kept is not None else
                f"finished work in {out} is kept and the previous file at that path is unchanged")
        raise RunError(f"cannot write {path} ({reason}); free disk space or pass --out to a writable folder with "
                       f"room, then re-run: {what}") from None


_AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
#: --amp: how many samples of each split are also run in float32 to report what half precision costs
AMP_CHECK_SAMPLES = 64


def _amp_context(device: torch.device, amp: str | None):
    """``torch.autocast`` for ``amp`` (fp16 | bf16) on ``device``; a no-op for None / ""."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AMP_DTYPES[amp])


def _store_for(opts: RunOptions, device: torch.device, mode: str | None = None):
    """A crop store for ``opts`` (``mode`` overrides ``opts.crop_cache``; ``auto`` alone means memory)."""
    from ..data.crop_store import CropStore

    mode = mode or opts.crop_cache
    return CropStore("memory" if mode == "auto" else mode, workers=opts.workers, pin_memory=device.type == "cuda")


def _crop_keys(samples, rows) -> list[tuple]:
    return [(int(samples.image_id[r]), tuple(np.round(samples.bbox[r], 3).tolist())) for r in rows]


class PoseInference:
    """Batched, resumable, flip-tested inference of one pose model over dataset splits.

    Results are cached per crop (image id + box) so that splits sharing crops (Protocol 1's S11
    inside Protocol 2) are computed once per run.
    """

    def __init__(self, model: torch.nn.Module, opts: RunOptions, device: torch.device, progress_label: str,
                 dist=None, identity: dict | None = None, store=None, log: Callable[[str], None] | None = None):
        from ..distributed import DistContext

        self.dist = dist if dist is not None else DistContext()
        self.store = store if store is not None else _store_for(opts, device)
        self.model = model
        self.opts = opts
        self.device = device
        self.label = progress_label
        self.identity = identity  # the model's identity in results.json: chunks of another model are not re-used
        self.log = log  # where resuming from (or discarding) saved chunks is said
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
        from ..data.fingerprint import comparable, split_fingerprint

        return json.loads(json.dumps({
            "model": self.identity,
            "samples": _array_digest(samples.image_id, np.round(np.asarray(samples.bbox, dtype=np.float64), 3)),
            "data": comparable(split_fingerprint(samples)),  # file contents and images: a fix is never resumed over
            "flip": bool(o.flip), "channels_last": bool(o.channels_last), "device": self.device.type,
            "backend": getattr(self.model, "backend", "eager"), "compile": bool(getattr(o, "compile", False)),
            "amp": o.amp, "corruption": list(getattr(self, "_corruption", None) or []),
        }, default=str))

    def _forward(self, x: torch.Tensor, amp: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        from .geometry import flip_merge

        with _amp_context(self.device, amp if amp is not None else self.opts.amp):
            if not self.opts.flip:
                c = self.model(x).float()
                return c, c
            if self.opts.split_flip:  # two [B] calls: half the activation memory of one [2B] call
                c, cf = self.model(x).float(), self.model(torch.flip(x, dims=[3])).float()
            else:
                both = self.model(torch.cat([x, torch.flip(x, dims=[3])], dim=0)).float()
                c, cf = both[: x.shape[0]], both[x.shape[0]:]
        pairs = self.joint_set.flip_pairs if self.joint_set is not None else ()
        return flip_merge(c, cf, self.heatmap_w, pairs, mirror=self.flip_mirror, input_w=self.input_hw[1]), c

    def reference_float32(self, samples, rows) -> np.ndarray:
        """coords_hm [n,J,3] of ``rows`` in float32 (no autocast), for the --amp accuracy check; not cached."""
        out = []
        with torch.inference_mode():
            for _, patches in self.store.batches(samples.image_path, samples.bbox, rows, batch_size=self.opts.batch_size,
                                                 out_hw=self.input_hw, image_size=samples.image_size):
                x = normalize_crops(patches, self.model.config, self.device, channels_last=self.opts.channels_last)
                out.append(self._forward(x, amp="")[0].cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def run(self, samples, partial_dir: Path, corruption: tuple[str, int] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """(coords_hm [N,J,3] final (flip-averaged if flip), coords_hm_noflip [N,J,3]).

        ``corruption`` = (name, severity): the crops corrupted (``data.corruptions``) before normalisation.

        Sharded (``self.dist`` enabled): rank 0's list of rows still to compute is split in whole
        batches across the ranks, each rank saves its own chunks, and the rows are gathered; ranks
        other than 0 return (None, None).
        """
        n = len(samples)
        if corruption is not None and int(corruption[1]) == 0:
            corruption = None
        keys = [k + (tuple(corruption) if corruption else ()) for k in _crop_keys(samples, range(n))]
        self._corruption = corruption
        coords: list[np.ndarray | None] = [None] * n
        noflip: list[np.ndarray | None] = [None] * n
        for i, k in enumerate(keys):
            if k in self.cache:
                coords[i], noflip[i] = self.cache[k]
        fresh = _prepare_partial(partial_dir, self._fingerprint(samples), self.log) if self.dist.is_main else True
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
                    crops = self.store.batches(samples.image_path, samples.bbox, mine, batch_size=self.opts.batch_size,
                                               out_hw=self.input_hw, image_size=samples.image_size,
                                               corruption=corruption, image_ids=samples.image_id)
                    for rows, x in device_batches(crops, cfg, self.device, self.opts.channels_last):
                        c, cn = self._forward(x)
                        pending_rows.append(rows.numpy())
                        pending_c.append(c)  # stays on the device until the chunk is written: no sync per batch
                        pending_n.append(cn)
                        done += len(rows)
                        bar.update(len(rows))
                        if sum(len(r) for r in pending_rows) >= self.opts.chunk_size:
                            pending_c, pending_n = _host(pending_c), _host(pending_n)
                            with writing(partial_dir, self.opts.out):
                                _save_chunk(partial_dir, pending_rows, pending_c, pending_n)
                            _fill(coords, noflip, pending_rows, pending_c, pending_n)
                            pending_rows, pending_c, pending_n = [], [], []
                        _raise_if_stop_requested()
            except KeyboardInterrupt:
                if pending_rows:  # keep the finished batches: the re-run resumes after them
                    with contextlib.suppress(OSError):
                        _save_chunk(partial_dir, pending_rows, _host(pending_c), _host(pending_n))
                bar.close()
                raise
            if pending_rows:
                pending_c, pending_n = _host(pending_c), _host(pending_n)
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


def _host(tensors: list) -> list[np.ndarray]:
    """Device tensors -> numpy arrays (one synchronisation for the whole list)."""
    return [t.cpu().numpy() if isinstance(t, torch.Tensor) else t for t in tensors]


def device_batches(crops, config, device: torch.device, channels_last: bool = False):
    """``(rows, uint8 crops)`` -> ``(rows, network input on device)`` through ``normalize_crops``.

    On CUDA the next batch is copied (from pinned memory) and normalised on a side stream while the
    current one is computed, so the copy and the normalisation overlap the model's kernels.
    """
    if device.type != "cuda":
        for rows, patches in crops:
            yield rows, normalize_crops(patches, config, device, channels_last=channels_last)
        return
    side = torch.cuda.Stream(device=device)

    def stage(item):
        rows, patches = item
        with torch.cuda.stream(side):
            x = normalize_crops(patches, config, device, channels_last=channels_last)
            ready = torch.cuda.Event()
            ready.record(side)
        return rows, x, ready

    it = iter(crops)
    item = next(it, None)
    staged = stage(item) if item is not None else None
    while staged is not None:
        rows, x, ready = staged
        item = next(it, None)
        staged = stage(item) if item is not None else None  # queued before the current batch's kernels
        current = torch.cuda.current_stream(device)
        current.wait_event(ready)
        x.record_stream(current)
        yield rows, x


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


_FINGERPRINT_PARTS = {"model": "the model", "samples": "the samples or boxes", "data": "the data files or images"}


def _prepare_partial(partial_dir: Path, fingerprint: dict, log: Callable[[str], None] | None = None) -> bool:
    """Make ``partial_dir`` hold only chunks computed for ``fingerprint``; True when it starts empty.

    Chunks left by a run of another model, checkpoint, dataset, split or inference setting are
    deleted (their rows would be silently wrong), then the fingerprint is recorded beside the chunks.
    What is resumed or discarded, and why, goes to ``log``.
    """
    meta = partial_dir / "fingerprint.json"
    if partial_dir.is_dir():
        try:
            recorded = json.loads(meta.read_text())
        except (OSError, ValueError):
            recorded = None
        chunks = len(list(partial_dir.glob("chunk_*.npz")))
        if recorded == fingerprint:
            if log is not None and chunks:
                log(f"resuming from {chunks} saved chunk(s) in {partial_dir} (same model, samples, data and "
                    "inference settings)")
            return False
        if log is not None and chunks:
            differs = [_FINGERPRINT_PARTS.get(k, k) for k in fingerprint
                       if not isinstance(recorded, dict) or recorded.get(k) != fingerprint[k]]
            log(f"discarding {chunks} saved chunk(s) in {partial_dir}: computed for other "
                f"{', '.join(differs) or 'inputs'} (changed since); recomputing")
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
                cache: dict | None = None, store=None):
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
        store = store if store is not None else _store_for(opts, device)
        crops = store.batches(samples.image_path, samples.bbox, mine, batch_size=opts.batch_size,
                              out_hw=tuple(cfg.input_size), image_size=samples.image_size)
        for rows, x in device_batches(crops, cfg, device, opts.channels_last):
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
    from ..outdir import claim_run_folder, exclusive

    validate_options(opts)
    dist = distributed.setup(opts.device)
    previous_handlers = _install_stop_handlers()
    try:
        with contextlib.ExitStack() as owned:
            if dist.is_main:  # one run per --out folder, and only in a folder of pose3dbench's own
                claim_run_folder(Path(opts.out), log, prepare=check_writable)
                owned.enter_context(exclusive(Path(opts.out), "run"))
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


def _swap_in(stage: Path, out: Path, log: Callable[[str], None]) -> None:
    """Replace the previous run in ``out`` by the complete one computed in ``stage`` (``--force``).

    ``predictions/`` is swapped by two renames and ``results.json`` by an atomic replace, after which the old
    predictions and the previous run's resume chunks are deleted; nothing old is removed before the new state
    is complete and in place.
    """
    old = out / f".predictions.old-{os.getpid()}"
    with writing(out / RESULTS_FILE, out, kept=out / RESULTS_FILE):
        if (stage / "predictions").is_dir():
            if (out / "predictions").exists():
                os.replace(out / "predictions", old)
            os.replace(stage / "predictions", out / "predictions")
        os.replace(stage / RESULTS_FILE, out / RESULTS_FILE)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(out / "partial", ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)
    log(f"--force: the recomputed results replace the previous ones in {out}")


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
                               profile_batch=batch, batch_size=batch_size, split_flip=opts.split_flip or demo)


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
    from ..report.schema import RESULTS_SCHEMA_VERSION, validate_results
    from ..data.fingerprint import describe_change, split_fingerprint, summary
    from .geometry import heatmap_to_camera
    from .metrics import evaluate_pose, root_errors
    from .predictions import save_predictions

    final_out = Path(opts.out)
    # --force computes into a staging folder and swaps it in at the end: the previous results stay whole until then
    out = final_out / FORCE_STAGING if opts.force else final_out
    if dist.is_main:
        shutil.rmtree(final_out / FORCE_STAGING, ignore_errors=True)  # an unfinished --force (the lock is ours)
        check_writable(out)
    else:
        check_writable(final_out)
    for r in opts.roots:
        if r not in ROOT_SOURCES:
            raise RunError(f"unknown --root {r!r}; choose from {', '.join(ROOT_SOURCES)}")
    for p in opts.protocols:
        if p not in (1, 2):
            raise RunError(f"unknown --protocol {p!r}; Human3.6M protocols are 1 (S11, PA-MPJPE) and 2 (S9+S11, MPJPE)")
    if opts.threads is not None:
        torch.set_num_threads(int(opts.threads))
    device = dist.device if dist.enabled else pick_device(opts.device)
    if not dist.is_main:
        dist.barrier()  # rank 0 finds (or generates) the data first
    data_dir, synthetic_meta = resolve_data(opts.data, opts.synthetic_size, log)
    if dist.is_main:
        dist.barrier()
    opts = _apply_demo_defaults(opts, synthetic_meta is not None and not opts.models, log)

    specs = list(opts.models) or available()
    # Models are resolved here only to learn their family, name and input size (registry names without
    # building anything); each is built or loaded again when its turn comes and freed after it, so one
    # model is in memory at a time.
    plan: list[ModelPlan] = []
    names: set[str] = set()
    run_warnings: list[dict] = []  # every warning of the run, into results.json and the report's Notes
    for spec in specs:
        probe = _probe_model(spec, opts, log, run_warnings)
        name = probe.name
        while name in names:
            name += "'"
        names.add(name)
        plan.append(dataclasses.replace(probe, name=name))
    rootnets = [m for m in plan if m.family == "rootnet"]
    poses = [m for m in plan if m.family != "rootnet"]
    if "rootnet-model" in opts.roots and not rootnets:
        raise RunError("--root rootnet-model needs a RootNet model in the run (e.g. --model rootnet-r50=CKPT)")
    if "rootnet-model" in opts.roots and len(rootnets) > 1:
        raise RunError("--root rootnet-model is ambiguous with several RootNet models in one run; keep one")

    previous = dist.broadcast(_prune_missing_predictions(_load_previous(out, opts.force), out) if dist.is_main else None)
    settings = {
        "batch_size": opts.batch_size, "flip": opts.flip, "dtype": "float32", "workers": opts.workers,
        "backend": opts.backend, "compile": bool(opts.compile), "amp": opts.amp,
        "corruptions": _corruption_settings(opts),
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
        "corruption_evaluations": [],
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
            with writing(out / RESULTS_FILE, final_out, kept=final_out / RESULTS_FILE if opts.force else None):
                atomic_write_json(out / RESULTS_FILE, results)

    fingerprints: dict[tuple[int, str], dict] = {}

    def data_fingerprint(protocol: int, box_source: str) -> dict:
        """What the numbers of a split depend on in the dataset (files read, image list): see data.fingerprint."""
        key = (protocol, box_source)
        if key not in fingerprints:
            fingerprints[key] = split_fingerprint(split(protocol, box_source))
        return fingerprints[key]

    def reuse(kind: str, name: str, protocol: int, root: str, box_source: str) -> dict | None:
        """The previous evaluation to re-use, when model, settings and data are the same (rank 0 decides)."""
        decision = None
        if reusable and dist.is_main:
            prev_models = previous.get("models", {})
            same_model = name in prev_models and prev_models[name].get("_identity") == results["models"][name]["_identity"]
            for ev in (previous.get(kind, []) if same_model else []):
                if ev["model"] == name and ev["protocol"] == protocol and ev.get("root") == root:
                    # previous evaluations without their predictions file were pruned
                    fp = data_fingerprint(protocol, box_source)
                    changed = describe_change(ev.get("data"), fp)
                    what = f"[{name}] P{protocol} {'boxes' if kind == 'root_evaluations' else 'root'}={root}"
                    if changed:
                        log(f"{what}: recomputing, the data changed since the evaluation in {final_out / RESULTS_FILE}: "
                            f"{changed}")
                    else:
                        log(f"{what}: re-using the evaluation in {final_out / RESULTS_FILE} (same model, settings and "
                            f"data: {summary(fp)}); --force recomputes it")
                        decision = {**ev, "data": fp}  # where and when the same content is now
                    break
        return dist.broadcast(decision)

    root_predictions: dict[tuple[int, str], np.ndarray] = {}

    corruption_names = _corruption_plan(opts, poses, provider.get, log)
    crop_mode = _choose_crop_mode(opts, plan, provider.get)  # the splits' sizes only: images are checked per split
    store = _store_for(opts, device, crop_mode)
    settings["crop_cache"] = {"requested": opts.crop_cache, "mode": crop_mode, "budget_mb": float(opts.crop_budget_mb)}
    if crop_mode != "off":
        log(f"crop store: {crop_mode}" + (f" ({store.root})" if crop_mode == "disk" else "")
            + f" (--crop-cache {opts.crop_cache}): each (image, box, input size) is decoded once for all models")

    queue = rootnets + poses
    t_models = time.perf_counter()
    for k, entry in enumerate(queue, 1):
        name = entry.name
        log(model_progress(k, len(queue), name, time.perf_counter() - t_models))
        model, info = _load_planned(entry, opts, device, log, run_warnings)
        info["name"] = name
        model, backend = _choose_backend(model, info, opts, device, entry, split, provider.get, store, log)
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
            "backend": backend["backend"],
            "backend_choice": backend,
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
                    prev = reuse("root_evaluations", name, protocol, box_source, box_source)
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
                                                             cache=root_cache, store=store)
                    if not dist.is_main:
                        continue
                    _refuse_non_finite(name, root_cam, samples, opts)
                    errs = root_errors(root_cam, samples.joints_cam[:, 0])
                    with writing(out / fname, final_out, kept=final_out / RESULTS_FILE if opts.force else None):
                        save_predictions(out / fname, image_id=samples.image_id, root_cam=root_cam, root_hm=root_hm,
                                         bbox=samples.bbox,
                                         meta={"model": name, "protocol": protocol, "root": box_source,
                                               "kind": "root"})
                    root_predictions[(protocol, box_source)] = root_cam
                    results["root_evaluations"].append({
                        "model": name, "protocol": protocol, "root": box_source, **errs, "predictions": fname,
                        "data": data_fingerprint(protocol, box_source),
                        "timing": {"images_per_s": len(samples) / seconds if seconds else 0.0,
                                   "seconds": seconds, "device": device.type, "batch_size": opts.batch_size},
                    })
                    write_results()
            _free_model(model)
            continue

        engine = PoseInference(model, opts, device, name, dist=dist, identity=ident, store=store, log=log)
        for protocol in opts.protocols:
            for root in opts.roots:
                fname = f"predictions/{_safe_name(name)}__p{protocol}__{root}.npz"
                box_source = "gt" if root == "gt" else "rootnet"
                samples = split(protocol, box_source)
                prev = reuse("evaluations", name, protocol, root, box_source)
                if prev is not None:
                    log(f"[{name}] P{protocol} root={root}: reused from the previous run in {out} "
                        "(--force recomputes)")
                    results["evaluations"].append(prev)
                    continue
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
                _refuse_non_finite(name, coords, samples, opts)
                pred_cam = heatmap_to_camera(coords, samples.bbox, root_cam, samples.focal, samples.princpt,
                                             heatmap_size=tuple(cfg.heatmap_size), depth_bins=cfg.depth_bins)
                metrics = evaluate_pose(pred_cam, samples, protocol, joint_set=cfg.joint_set)
                metrics["root"] = root
                if opts.amp:
                    metrics["amp"] = _amp_check(engine, samples, root_cam, pred_cam, protocol, cfg, opts.amp)
                    log(f"[{name}] P{protocol} root={root}: {opts.amp} vs float32 on the first "
                        f"{metrics['amp']['check_samples']} samples: joints move {metrics['amp']['mean_joint_shift_mm']:.3f} mm "
                        f"on average, error {metrics['amp']['error_change_mm']:+.3f} mm")
                per_sample = np.asarray(metrics.pop("per_sample_mm"))
                with writing(out / fname, final_out, kept=final_out / RESULTS_FILE if opts.force else None):
                    save_predictions(out / fname, image_id=samples.image_id, coords_hm=coords,
                                     coords_hm_noflip=coords_noflip, bbox=samples.bbox, root_cam=root_cam,
                                     pred_cam=pred_cam, per_sample_mm=per_sample,
                                     meta={"model": name, "protocol": protocol, "root": root,
                                           "heatmap_size": list(cfg.heatmap_size), "depth_bins": cfg.depth_bins,
                                           "joint_set": cfg.joint_set, "flip": opts.flip})
                results["evaluations"].append({
                    "model": name, **_jsonable(metrics), "predictions": fname,
                    "data": data_fingerprint(protocol, box_source),
                    "timing": {"images_per_s": float(engine.images_per_s or 0.0), "seconds": engine.seconds,
                               "device": device.type, "batch_size": opts.batch_size,
                               "computed_images": engine.computed,
                               "note": "images_per_s: end-to-end (decode, crop, forward incl. flip) on the "
                                       "crops this model computed in this run; crops shared with an earlier "
                                       "split are reused, not recomputed"},
                })
                write_results()
        if corruption_names and dist.is_main:
            _run_corruptions(engine, name, cfg, opts, corruption_names, split, root_predictions, results,
                             previous if reusable else None, out, write_results, log)
        # partial chunks of this model are no longer needed once its predictions files exist
        for p in (out / "partial").glob(f"{_safe_name(name)}__*"):
            shutil.rmtree(p, ignore_errors=True)
        del engine
        _free_model(model)
        del model

    results["crop_cache"] = store.stats()
    results["complete"] = True
    write_results()
    if opts.force and dist.is_main:
        _swap_in(out, final_out, log)
    out = final_out
    if opts.report and dist.is_main:
        from ..report import build_report

        with writing(out / "report.html", out):
            build_report(out, samples_by_split={(p, r): split(p, "gt" if r == "gt" else "rootnet")
                                                for p in opts.protocols for r in opts.roots})
    return results


@dataclass(frozen=True)
class ModelPlan:
    """A ``--model`` spec as the run plans it: display name, family, input size (H, W pixels)."""

    spec: str
    name: str
    family: str
    input_size: tuple[int, int]


def _resolve_seeded(spec: str, opts: RunOptions, *, replay_warnings: bool, log: Callable[[str], None] | None = None,
                    run_warnings: list | None = None):
    """``resolve_model_spec`` with untrained weights drawn from a seed fixed by the spec (identical across
    runs, resumes, ranks and the two resolutions of a run). With ``replay_warnings`` (once per model) the
    loader's warnings become one readable log line each and an entry of ``run_warnings`` (results.json
    ``warnings``, the report's Notes); its dtype conversions are said in the log."""
    from ..models.spec import resolve_model_spec

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(zlib.crc32(str(spec).encode("utf-8")))
        model, info = resolve_model_spec(spec, trust_checkpoint=opts.trust_checkpoint)
    _check_named_family(spec, model, info)  # refuses before the loader's "using the file's ..." warning shows
    if replay_warnings:
        notes = (info.get("checkpoint_info") or {}).get("dtype_notes") or []
        for note in notes:
            if log is not None:
                log(f"[{info['name']}] {note}")
        for w in caught:
            if str(w.message) in notes:
                continue
            if run_warnings is not None:
                run_warnings.append({"source": info["name"], "category": w.category.__name__,
                                     "message": str(w.message)})
            if log is not None:
                log(f"warning: [{info['name']}] {w.message}")
    return model, info


def _probe_model(spec: str, opts: RunOptions, log: Callable[[str], None] | None = None,
                 run_warnings: list | None = None) -> ModelPlan:
    """Name, family and input size of a spec; a registry name is read from its config without building."""
    from ..models import registry

    if spec in registry.available():
        cfg = registry.get_config(spec)
        return ModelPlan(spec, spec, cfg.family, tuple(int(v) for v in cfg.input_size))
    model, info = _resolve_seeded(spec, opts, replay_warnings=True, log=log, run_warnings=run_warnings)
    plan = ModelPlan(spec, info["name"], model.config.family, tuple(int(v) for v in model.config.input_size))
    del model, info
    release_free_memory()
    return plan


def _load_planned(entry: ModelPlan, opts: RunOptions, device: torch.device, log: Callable[[str], None] | None = None,
                  run_warnings: list | None = None):
    """Build or load a planned model onto ``device`` (eval mode, channels_last if asked); a registry name's
    warnings are said here (a file's were said when it was planned)."""
    from ..models import registry

    model, info = _resolve_seeded(entry.spec, opts, replay_warnings=entry.spec in registry.available(), log=log,
                                  run_warnings=run_warnings)
    model.eval().to(device)
    if opts.channels_last:
        model.to(memory_format=torch.channels_last)
    return model, info


def _free_model(model) -> None:
    """Drop a finished model's memory now: its tensors, the allocator's cache and the heap's free pages."""
    import gc

    modules = [model] + ([model.source] if isinstance(getattr(model, "source", None), torch.nn.Module) else [])
    for m in modules:
        for p in list(m.parameters()) + list(m.buffers()):
            p.data = torch.empty(0, dtype=p.dtype, device=p.device)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    release_free_memory()


def _choose_crop_mode(opts: RunOptions, plan: list[ModelPlan], split) -> str:
    """``--crop-cache auto``: memory when every crop of the run fits ``crop_budget_mb``, else disk."""
    from ..data.crop_store import choose_mode, crop_bytes
    from ..data.splits import box_source

    if opts.crop_cache != "auto":
        return choose_mode(opts.crop_cache, 0)
    sources = {box_source(r) for r in opts.roots}
    if "rootnet-model" in opts.roots:
        sources.add("rootnet")
    keys: set[tuple] = set()
    for protocol in opts.protocols:
        for source in sources:
            s = split(protocol, source)
            keys.update(_crop_keys(s, range(len(s))))
    sizes = {m.input_size for m in plan}
    needed = len(keys) * sum(crop_bytes(hw) for hw in sizes)
    return choose_mode("auto", needed, opts.crop_budget_mb)


#: ``--backend auto`` leaves a model on eager below this many images: exporting it costs more than it saves.
AUTO_ONNX_MIN_IMAGES = 256
#: ``--backend auto``: the largest |onnxruntime - eager| (heatmap units) on the first batch that is accepted.
AUTO_PARITY_HM = 1e-3


def _choose_backend(model, info: dict, opts: RunOptions, device: torch.device, entry: ModelPlan, split, sizes,
                    store, log: Callable[[str], None]):
    """The model wrapped for its backend, and what was chosen and why (``models[name].backend_choice``).

    ``auto``: onnxruntime on CPU when it is installed, the model has at least ``AUTO_ONNX_MIN_IMAGES`` crops
    to compute and its output on the run's first batch of real crops matches eager within
    ``AUTO_PARITY_HM`` heatmap units (RootNet depth: 1e-5 relative); else eager. CUDA: eager.
    ``split`` gives a checked split (its images read before inference), ``sizes`` an unchecked one.
    """
    from ..models.input import normalize_crops

    if "onnx" in info:  # a foreign .onnx file runs on onnxruntime whatever --backend says
        return model, {"requested": opts.backend, "backend": "onnxruntime", "reason": "an ONNX file"}
    if opts.amp and opts.backend == "onnxruntime":
        raise RunError(f"--amp {opts.amp} runs the eager model under torch.autocast; onnxruntime does not take it: "
                       "drop --amp or use --backend eager/auto")
    if opts.backend != "auto":
        wrapped = _apply_backend(model, opts)
        return wrapped, {"requested": opts.backend, "backend": opts.backend, "reason": "asked for"}
    def eager(reason):
        return (compile_model(model) if opts.compile else model), {"requested": "auto", "backend": "eager",
                                                                   "reason": reason}
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
    from ..data.splits import box_source

    sources = sorted({box_source(r) for r in opts.roots} | ({"rootnet"} if "rootnet-model" in opts.roots else set()))
    n_images = sum(len(sizes(p, s)) for p in opts.protocols for s in sources)
    if n_images < AUTO_ONNX_MIN_IMAGES:
        return eager(f"{n_images} images: fewer than {AUTO_ONNX_MIN_IMAGES}, exporting would cost more than it saves")
    first = split(opts.protocols[0], sources[0])
    try:
        ort_model = wrap_model(model, "onnxruntime", threads=opts.threads)
    except Pose3DBenchError as exc:
        return eager(f"onnxruntime export failed: {exc}")
    rows = np.arange(min(len(first), opts.batch_size))
    _, patches = next(iter(store.batches(first.image_path, first.bbox, rows, batch_size=len(rows),
                                         out_hw=entry.input_size, image_size=first.image_size)))
    x = normalize_crops(patches, model.config, device)
    with torch.inference_mode():
        if model.config.family == "rootnet":
            from ..models.resnet_pose import rootnet_k_value

            k = torch.from_numpy(rootnet_k_value(first.focal[rows], first.bbox[rows]).astype(np.float32).reshape(-1, 1))
            a, b = model(x, k).float(), ort_model(x, k).float()
            parity = float((a[:, :2] - b[:, :2]).abs().max())
            ok = parity <= AUTO_PARITY_HM and bool(((a[:, 2] - b[:, 2]).abs() <= 1e-5 * a[:, 2].abs()).all())
        else:
            a, b = model(x).float(), ort_model(x).float()
            parity = float((a - b).abs().max())
            ok = parity <= AUTO_PARITY_HM
    if not ok:
        log(f"[{entry.name}] onnxruntime differs from eager by {parity:.2e} heatmap units on the first batch: eager")
        return eager(f"onnxruntime parity {parity:.2e} > {AUTO_PARITY_HM} heatmap units on the first batch")
    return ort_model, {"requested": "auto", "backend": "onnxruntime", "parity_hm": parity,
                       "reason": f"parity {parity:.1e} heatmap units on the first batch ({len(rows)} crops)"}


def _corruption_settings(opts: RunOptions) -> dict | None:
    from ..data.corruptions import resolve_corruptions

    try:
        names = resolve_corruptions(opts.corruptions)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if not names:
        return None
    return {"set": opts.corruptions, "names": list(names), "severities": [int(s) for s in opts.severities],
            "root": _corruption_root(opts), "mce_reference": opts.mce_reference}


def _corruption_root(opts: RunOptions) -> str:
    """The root choice corrupted runs are scored with: the run's first (gt before RootNet roots)."""
    return "gt" if "gt" in opts.roots else opts.roots[0]


def _corruption_plan(opts: RunOptions, poses: list, sizes, log: Callable[[str], None]) -> tuple[str, ...]:
    """Validate ``--corruptions`` / ``--severities`` and say how many forward passes they cost."""
    from ..data.corruptions import SEVERITIES, resolve_corruptions
    from ..data.splits import box_source

    try:
        names = resolve_corruptions(opts.corruptions)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if not names:
        return ()
    bad = [s for s in opts.severities if s not in SEVERITIES]
    if bad or not opts.severities:
        raise RunError(f"--severities {list(opts.severities)}: each must be one of 1..5")
    if opts.mce_reference is not None and opts.mce_reference not in {m.name for m in poses}:
        raise RunError(f"--mce-reference {opts.mce_reference!r} is not a pose model of this run "
                       f"({', '.join(m.name for m in poses)})")
    root = _corruption_root(opts)
    images = sum(len(sizes(p, box_source(root))) for p in opts.protocols)
    passes = len(poses) * images * len(names) * len(opts.severities) * (2 if opts.flip else 1)
    log(f"corruptions: {len(names)} x {len(opts.severities)} severities on {images} images per pose model "
        f"({', '.join(f'P{p}' for p in opts.protocols)}, root {root}): {passes} forward passes in all "
        f"({len(poses)} model(s){', flip test doubles them' if opts.flip else ''}); corrupted crops are made once "
        "and shared by every model")
    return names


def _run_corruptions(engine: "PoseInference", name: str, cfg, opts: RunOptions, names: tuple[str, ...], split,
                     root_predictions: dict, results: dict, previous: dict | None, out: Path, write_results,
                     log: Callable[[str], None]) -> None:
    """Every (protocol, corruption, severity) of one pose model: predictions, metrics, results entries."""
    from ..data.splits import box_source
    from .geometry import heatmap_to_camera
    from .metrics import evaluate_pose
    from .predictions import save_predictions

    root = _corruption_root(opts)
    ident = results["models"][name]["_identity"]
    prev_models = (previous or {}).get("models", {})
    old = [] if prev_models.get(name, {}).get("_identity") != ident else previous.get("corruption_evaluations", [])
    for protocol in opts.protocols:
        samples = split(protocol, box_source(root))
        if root == "rootnet-model":
            root_cam = root_predictions[(protocol, "rootnet")]
        else:
            root_cam = samples.root_cam
        for cname in names:
            for sev in opts.severities:
                match = [e for e in old if (e["model"], e["protocol"], e["root"], e["corruption"], e["severity"])
                         == (name, protocol, root, cname, int(sev)) and (out / e["predictions"]).is_file()]
                if match:
                    results["corruption_evaluations"].append(match[0])
                    continue
                fname = f"predictions/corrupted/{_safe_name(name)}__p{protocol}__{root}__{cname}__s{int(sev)}.npz"
                partial = out / "partial" / f"{_safe_name(name)}__p{protocol}__{cname}__s{int(sev)}"
                coords, coords_noflip = engine.run(samples, partial, corruption=(cname, int(sev)))
                pred_cam = heatmap_to_camera(coords, samples.bbox, root_cam, samples.focal, samples.princpt,
                                             heatmap_size=tuple(cfg.heatmap_size), depth_bins=cfg.depth_bins)
                metrics = evaluate_pose(pred_cam, samples, protocol, joint_set=cfg.joint_set)
                per_sample = np.asarray(metrics.pop("per_sample_mm"))
                (out / fname).parent.mkdir(parents=True, exist_ok=True)
                with writing(out / fname, out):
                    save_predictions(out / fname, image_id=samples.image_id, coords_hm=coords,
                                     coords_hm_noflip=coords_noflip, bbox=samples.bbox, root_cam=root_cam,
                                     pred_cam=pred_cam, per_sample_mm=per_sample,
                                     meta={"model": name, "protocol": protocol, "root": root,
                                           "heatmap_size": list(cfg.heatmap_size), "depth_bins": cfg.depth_bins,
                                           "joint_set": cfg.joint_set, "flip": opts.flip,
                                           "corruption": cname, "severity": int(sev)})
                results["corruption_evaluations"].append({
                    "model": name, "protocol": protocol, "root": root, "corruption": cname, "severity": int(sev),
                    "metric": metrics["metric"], "total_mm": metrics["total_mm"],
                    "action_mean_mm": metrics["action_mean_mm"], "per_action_mm": metrics["per_action_mm"],
                    "per_joint_mm": metrics["per_joint_mm"], "num_samples": metrics["num_samples"],
                    "predictions": fname,
                })
            log(f"[{name}] P{protocol} {cname}: " + ", ".join(
                f"s{e['severity']} {e['total_mm']:.1f}" for e in results["corruption_evaluations"]
                if (e["model"], e["protocol"], e["corruption"]) == (name, protocol, cname)) + " mm")
            write_results()


def _amp_check(engine: PoseInference, samples, root_cam, pred_cam, protocol: int, cfg, amp: str) -> dict:
    """What half precision costs: the first ``AMP_CHECK_SAMPLES`` samples run again in float32 (mm)."""
    from .geometry import heatmap_to_camera
    from .metrics import evaluate_pose

    rows = np.arange(min(len(samples), AMP_CHECK_SAMPLES))
    ref = engine.reference_float32(samples, rows)
    sub = samples.subset(rows)
    ref_cam = heatmap_to_camera(ref, sub.bbox, root_cam[rows], sub.focal, sub.princpt,
                                heatmap_size=tuple(cfg.heatmap_size), depth_bins=cfg.depth_bins)
    shift = float(np.linalg.norm(np.asarray(pred_cam)[rows] - ref_cam, axis=-1).mean())
    e_amp = evaluate_pose(np.asarray(pred_cam)[rows], sub, protocol, joint_set=cfg.joint_set)["total_mm"]
    e_ref = evaluate_pose(ref_cam, sub, protocol, joint_set=cfg.joint_set)["total_mm"]
    return {"dtype": amp, "check_samples": int(len(rows)), "mean_joint_shift_mm": shift,
            "error_float32_mm": float(e_ref), "error_amp_mm": float(e_amp), "error_change_mm": float(e_amp - e_ref)}


def _refuse_non_finite(name: str, output: np.ndarray, samples, opts: RunOptions) -> None:
    """RunError when a model's output holds NaN/inf (numbers from it would be meaningless), naming images."""
    bad = ~np.isfinite(np.asarray(output, dtype=np.float64).reshape(len(samples), -1)).all(axis=1)
    if bad.any():
        ids = samples.image_id[bad][:5].tolist()
        raise RunError(f"model {name} produced NaN/inf output for {int(bad.sum())} of {len(samples)} images "
                       f"(image ids {ids}); its weights, its config (input size, mean/std) or --channels-last/"
                       f"--backend {opts.backend} do not work together: check the model (`pose3dbench inspect`)")


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
    """Settings under which previous evaluations may be re-used. The dataset counts by its kind, not its path:
    each evaluation is re-used only for the same data content (its ``data`` fingerprint)."""
    keys = ("flip", "limit", "limit_per_action", "backend", "amp")  # corruptions: matched per evaluation
    kind = lambda st: {k: v for k, v in (st.get("dataset") or {}).items() if k != "path"}  # noqa: E731
    return all(a.get(k) == b.get(k) for k in keys) and kind(a) == kind(b)


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
