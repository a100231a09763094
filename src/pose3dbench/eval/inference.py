"""Inference: crops -> network input -> coordinates, for pose models (flip test) and RootNet.

``PoseInference.run(samples, partial_dir)`` -> (coords_hm [N,J,3], coords_hm_noflip [N,J,3]) in heatmap units
(x, y in [0, W-1] / [0, H-1] of the heatmap, z in depth bins), batched, resumable (``eval.resume``), cached
per crop (image id + box) so that splits sharing crops (e.g. one protocol's images inside another's) are computed
once per run. ``infer_roots`` -> RootNet's root_cam [N,3] (camera mm). Crops come from the run's crop store
(``data.crop_store``, uint8 HxWx3 RGB) and become network input in ``models.input.normalize_crops``.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.fingerprint import comparable, split_fingerprint
from ..distributed import DistContext
from ..errors import RunError
from ..models.codecs import codec_for
from ..models.input import normalize_crops
from ..results.store import writing
from .options import RunOptions
from .resume import array_digest, load_chunks, prepare_partial, save_chunk
from .stop import StopController

_AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
#: --amp: how many samples of each split are also run in float32 to report what half precision costs
AMP_CHECK_SAMPLES = 64


def amp_context(device: torch.device, amp: str | None):
    """``torch.autocast`` for ``amp`` (fp16 | bf16) on ``device``; a no-op for None / ""."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AMP_DTYPES[amp])


def store_for(opts: RunOptions, device: torch.device, mode: str | None = None):
    """A crop store for ``opts`` (``mode`` overrides ``opts.crop_cache``; ``auto`` alone means memory)."""
    from ..data.crop_store import CropStore

    mode = mode or opts.crop_cache
    return CropStore("memory" if mode == "auto" else mode, workers=opts.workers, pin_memory=device.type == "cuda")


def crop_keys(samples, rows) -> list[tuple]:
    return [(int(samples.image_id[r]), tuple(np.round(samples.bbox[r], 3).tolist())) for r in rows]


class PoseInference:
    """Batched, resumable, flip-tested inference of one pose model over dataset splits.

    Results are cached per crop (image id + box) so that splits sharing crops (e.g. one protocol's images
    inside another's) are computed once per run.
    """

    def __init__(self, model: torch.nn.Module, opts: RunOptions, device: torch.device, progress_label: str,
                 dist=None, identity: dict | None = None, store=None, log: Callable[[str], None] | None = None,
                 stop: StopController | None = None, warn: Callable[[str], None] | None = None):
        self.dist = dist if dist is not None else DistContext()
        self.stop = stop if stop is not None else StopController()  # not installed: never stops
        self.store = store if store is not None else store_for(opts, device)
        self.model = model
        self.opts = opts
        self.device = device
        self.label = progress_label
        self.identity = identity  # the model's identity in results.json: chunks of another model are not re-used
        self.log = log  # where resuming from (or discarding) saved chunks is said
        self.warn = warn if warn is not None else log  # where a damaged chunk is said (the run's warnings)
        cfg = model.config
        self.input_hw = tuple(int(v) for v in cfg.input_size)
        self.codec = codec_for(cfg)  # the flip test: the model's mirror and its joint set's left/right pairs
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self.images_per_s: float | None = None  # of the model on computed crops, latest split that computed any
        self.seconds = 0.0
        self.computed = 0

    def _fingerprint(self, samples) -> dict:
        """What the saved chunks of a split depend on (JSON): model identity, samples, inference settings."""
        o = self.opts
        return json.loads(json.dumps({
            "model": self.identity,
            "samples": array_digest(samples.image_id, np.round(np.asarray(samples.bbox, dtype=np.float64), 3)),
            "data": comparable(split_fingerprint(samples)),  # file contents and images: a fix is never resumed over
            "flip": bool(o.flip), "channels_last": bool(o.channels_last), "device": self.device.type,
            "backend": getattr(self.model, "backend", "eager"), "compile": bool(getattr(o, "compile", False)),
            "amp": o.amp, "corruption": list(getattr(self, "_corruption", None) or []),
        }, default=str))

    def _forward(self, x: torch.Tensor, amp: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        with amp_context(self.device, amp if amp is not None else self.opts.amp):
            if not self.opts.flip:
                c = self.model(x).float()
                return c, c
            if self.opts.split_flip:  # two [B] calls: half the activation memory of one [2B] call
                c, cf = self.model(x).float(), self.model(torch.flip(x, dims=[3])).float()
            else:
                both = self.model(torch.cat([x, torch.flip(x, dims=[3])], dim=0)).float()
                c, cf = both[: x.shape[0]], both[x.shape[0]:]
        return self.codec.merge_flip(c, cf), c

    def reference_float32(self, samples, rows) -> np.ndarray:
        """coords_hm [n,J,3] of ``rows`` in float32 (no autocast), for the --amp accuracy check; not cached."""
        out = []
        with torch.inference_mode():
            for _, patches in self.store.batches(samples.image_path, samples.bbox, rows,
                                                 batch_size=self.opts.batch_size, out_hw=self.input_hw,
                                                 image_size=samples.image_size):
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
        keys = [k + (tuple(corruption) if corruption else ()) for k in crop_keys(samples, range(n))]
        self._corruption = corruption
        coords: list[np.ndarray | None] = [None] * n
        noflip: list[np.ndarray | None] = [None] * n
        for i, k in enumerate(keys):
            if k in self.cache:
                coords[i], noflip[i] = self.cache[k]
        fresh = prepare_partial(partial_dir, self._fingerprint(samples), self.log) if self.dist.is_main else True
        for rows, c, cn in (() if fresh else load_chunks(partial_dir, n, self.warn)):
            for r, a, b in zip(rows, c, cn):
                coords[r], noflip[r] = a, b
        todo = np.array([i for i in range(n) if coords[i] is None], dtype=np.int64)
        dist = self.dist
        todo = dist.broadcast(todo)  # rank 0's view of the finished chunks decides for every rank
        if len(todo):
            partial_dir.mkdir(parents=True, exist_ok=True)
            mine = dist.shard(todo, self.opts.batch_size)
            cfg = self.model.config
            bar = progress_bar(len(mine), self.label, self.opts.progress and dist.is_main)
            pending_rows, pending_c, pending_n = [], [], []
            t0 = time.perf_counter()
            done = 0
            try:
                with torch.inference_mode(), self.stop.batch_loop():
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
                            pending_c, pending_n = to_host(pending_c), to_host(pending_n)
                            with writing(partial_dir, self.opts.out):
                                save_chunk(partial_dir, pending_rows, pending_c, pending_n)
                            _fill(coords, noflip, pending_rows, pending_c, pending_n)
                            pending_rows, pending_c, pending_n = [], [], []
                        self.stop.check()
            except KeyboardInterrupt:
                if pending_rows:  # keep the finished batches: the re-run resumes after them
                    with contextlib.suppress(OSError):
                        save_chunk(partial_dir, pending_rows, to_host(pending_c), to_host(pending_n))
                bar.close()
                raise
            if pending_rows:
                pending_c, pending_n = to_host(pending_c), to_host(pending_n)
                with writing(partial_dir, self.opts.out):
                    save_chunk(partial_dir, pending_rows, pending_c, pending_n)
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


def to_host(tensors: list) -> list[np.ndarray]:
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


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def progress_bar(total: int, label: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    from tqdm.autonotebook import tqdm as chosen  # tqdm.notebook's class inside a Jupyter kernel

    # disable=None: no bar when stderr is not a terminal (a log file, CI); notebooks draw their widget
    notebook = chosen.__module__ == "tqdm.notebook"
    return tqdm(total=total, desc=label, unit="img", dynamic_ncols=True, leave=False, file=sys.stderr,
                disable=False if notebook else None)


def infer_roots(model: torch.nn.Module, samples, opts: RunOptions, device: torch.device, label: str, dist=None,
                cache: dict | None = None, store=None, stop: StopController | None = None):
    """RootNet over a split: (root_cam [N,3] camera mm, root_hm [N,3] = x_hm, y_hm, depth mm, seconds).

    Sharded (``dist`` enabled): each rank computes whole batches of its share, all ranks get all rows.
    ``cache`` (crop key -> raw [3] output) lets splits that share crops compute them once.
    """
    codec = codec_for(model)  # k from the crops' focal and box; output -> root camera mm
    stop = stop if stop is not None else StopController()
    cfg = model.config
    n = len(samples)
    out = np.zeros((n, 3), dtype=np.float64)
    k_all = torch.from_numpy(codec.k_value(samples.focal, samples.bbox).astype(np.float32).reshape(n, 1))
    dist = dist if dist is not None else DistContext()
    keys = crop_keys(samples, range(n))
    cache = {} if cache is None else cache
    cached = np.array([k in cache for k in keys], dtype=bool)
    for i in np.flatnonzero(cached):
        out[i] = cache[keys[i]]
    mine = dist.shard(np.flatnonzero(~cached), opts.batch_size)
    bar = progress_bar(len(mine), label, opts.progress and dist.is_main)
    t0 = time.perf_counter()
    with torch.inference_mode(), stop.batch_loop():
        store = store if store is not None else store_for(opts, device)
        crops = store.batches(samples.image_path, samples.bbox, mine, batch_size=opts.batch_size,
                              out_hw=tuple(cfg.input_size), image_size=samples.image_size)
        for rows, x in device_batches(crops, cfg, device, opts.channels_last):
            k = k_all[rows].to(device)
            out[rows.numpy()] = model(x, k).float().cpu().numpy()
            bar.update(len(rows))
            stop.check()
    bar.close()
    if dist.enabled:
        rows_all, out_all = dist.all_gather_rows(mine, out[mine])
        out[rows_all] = out_all
    for i, k in enumerate(keys):
        cache[k] = out[i].copy()
    seconds = time.perf_counter() - t0
    root_cam = codec.to_camera(out, samples.bbox, samples.focal, samples.princpt)
    return root_cam, out, seconds


def amp_check(engine: PoseInference, ds, samples, root_cam, coords, pred_cam, cfg, amp: str) -> dict:
    """What half precision costs: the first ``AMP_CHECK_SAMPLES`` samples run again in float32 and scored by the
    dataset. ``coords`` [N,J,3] heatmap units and ``pred_cam`` [N,J,3] camera mm: the half-precision output.
    Returns ``error_*`` in the split's metric and unit, and the mean joint shift in mm."""
    from ..data.dataset import PosePredictions

    rows = np.arange(min(len(samples), AMP_CHECK_SAMPLES))
    ref = engine.reference_float32(samples, rows)
    sub = samples.subset(rows)
    ref_cam = codec_for(cfg).to_camera(ref, sub.bbox, root_cam[rows], sub.focal, sub.princpt)
    shift = float(np.linalg.norm(np.asarray(pred_cam)[rows] - ref_cam, axis=-1).mean())
    scoring = ds.scoring(samples.split)
    pred_rows = np.asarray(pred_cam)[rows]
    amp_img = codec_for(cfg).to_image(np.asarray(coords)[rows], sub.bbox)[..., :2]
    ref_img = codec_for(cfg).to_image(ref, sub.bbox)[..., :2]
    e_amp = scoring.score(sub, PosePredictions(pred_rows, cfg.joint_set, amp_img)).record[scoring.value]
    e_ref = scoring.score(sub, PosePredictions(ref_cam, cfg.joint_set, ref_img)).record[scoring.value]
    return {"dtype": amp, "check_samples": int(len(rows)), "mean_joint_shift_mm": shift, "metric": scoring.metric,
            "unit": scoring.unit, "error_float32": float(e_ref), "error_amp": float(e_amp),
            "error_change": float(e_amp - e_ref)}


def refuse_non_finite(name: str, output: np.ndarray, samples, opts: RunOptions) -> None:
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


def skipped_note(samples) -> str:
    """`` (N skipped: reason)`` for samples the benchmark leaves out (e.g. degenerate GT boxes), else ``""``."""
    skipped = {k: int(v) for k, v in (getattr(samples, "skipped", None) or {}).items() if v}
    if not skipped:
        return ""
    return (" (" + ", ".join(f"{v} skipped: {k.replace('_', ' ')}" for k, v in skipped.items())
            + ", as the benchmark prescribes)")
