"""Pipeline overhead: `run` inference throughput versus the model's pure forward throughput.

Usage: python benchmarks/pipeline.py [--models posenet-r50 mobilehumanpose-lpski] [--size small]
       [--limit 64] [--batch-size 16] [--workers 1] [--threads N] [--device cpu|cuda]
       [--amp none|fp16|bf16] [--channels-last] [--repeats 2] [--json OUT.json]

For each model, on the same images, batch size and thread settings, flip test on:
- forward: the model alone on pre-cropped, pre-normalised tensors already on the device
  (one call per batch on [2B, 3, H, W] = crops + flipped crops), images/s;
- run: the runner's PoseInference.run on the split (decode + crop in DataLoader workers, uint8 ->
  float normalisation, flip concat, forward, flip merge, chunked .npz writes), images/s.
- loader: the DataLoader alone (decode + crop, same workers), images/s: the ceiling the data path puts
  on `run` whatever the model.
Prints run/forward (target >= 0.9). Repeats alternate forward and run and keep each one's best, so a
noisy shared machine penalises both alike. Nothing is asserted about time.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def autocast(device: torch.device, amp: str):
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if amp == "fp16" else torch.bfloat16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def precrop(samples, model, batch_size: int, device: torch.device, channels_last: bool) -> list[torch.Tensor]:
    """The split's crops as normalised float batches on ``device`` (decoded once, outside the timing)."""
    from pose3dbench.data.loader import iterate_crops
    from pose3dbench.models.input import normalize_crops

    cfg = model.config
    out = []
    for _, patches in iterate_crops(samples.image_path, samples.bbox, np.arange(len(samples)), batch_size=batch_size,
                                    out_hw=tuple(cfg.input_size), workers=0, image_size=samples.image_size):
        out.append(normalize_crops(patches, cfg, device, channels_last=channels_last))
    return out


def time_forward(model, batches, device, amp) -> float:
    """images/s of the model alone, flip test included (one [2B] call per batch)."""
    with torch.inference_mode(), autocast(device, amp):
        model(torch.cat([batches[0], torch.flip(batches[0], dims=[3])]))  # warm-up
        sync(device)
        t0 = time.perf_counter()
        for x in batches:
            model(torch.cat([x, torch.flip(x, dims=[3])])).float()
        sync(device)
        dt = time.perf_counter() - t0
    return sum(len(x) for x in batches) / dt


def time_loader(samples, model, opts) -> float:
    """images/s of decode + crop alone (iterate_crops with the run's workers and batch size)."""
    from pose3dbench.data.loader import iterate_crops

    t0 = time.perf_counter()
    for _ in iterate_crops(samples.image_path, samples.bbox, np.arange(len(samples)), batch_size=opts.batch_size,
                           out_hw=tuple(model.config.input_size), workers=opts.workers, image_size=samples.image_size,
                           pin_memory=False):
        pass
    return len(samples) / (time.perf_counter() - t0)


def time_run(model, samples, opts, device, amp) -> float:
    """images/s of the runner's inference engine on ``samples`` (fresh cache and partial folder)."""
    from pose3dbench.eval.inference import PoseInference

    with tempfile.TemporaryDirectory() as tmp, autocast(device, amp):
        engine = PoseInference(model, opts, device, "bench")
        sync(device)
        t0 = time.perf_counter()
        engine.run(samples, Path(tmp) / "partial")
        sync(device)
        dt = time.perf_counter() - t0
    return len(samples) / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["posenet-r50", "mobilehumanpose-lpski"])
    ap.add_argument("--size", default="small", choices=["tiny", "small", "full"])
    ap.add_argument("--limit", type=int, default=64, help="images of the Protocol-2 split")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=None, help="default: what `run` uses (commands.run.default_workers)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", default="none", choices=["none", "fp16", "bf16"])
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--backend", default="eager", choices=["eager", "onnxruntime"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from pose3dbench.data.h36m import Human36M, load_split
    from pose3dbench.data.sources import ensure_synthetic
    from pose3dbench.devices import environment
    from pose3dbench.eval.options import RunOptions
    from pose3dbench.models import registry

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.workers is None:
        from pose3dbench.commands.run import default_workers
        args.workers = default_workers(args.device)
    device = torch.device(args.device)
    data = ensure_synthetic(Human36M, args.size, print)
    samples = load_split(data, 2, "gt").subset(slice(0, args.limit))
    opts = RunOptions(batch_size=args.batch_size, workers=args.workers, threads=args.threads, flip=True,
                      channels_last=args.channels_last, progress=False, chunk_size=256)
    env = environment(device)
    print(f"device: {env['device_name']}; torch {env['torch_version']}; threads {torch.get_num_threads()}; "
          f"workers {args.workers}; batch {args.batch_size}; {len(samples)} images ({args.size}); amp {args.amp}; "
          f"channels_last {args.channels_last}; backend {args.backend}")
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        model = registry.create(name).eval().to(device)
        if args.channels_last:
            model.to(memory_format=torch.channels_last)
        if args.backend != "eager":
            from pose3dbench.backends import wrap_model
            model = wrap_model(model, args.backend, threads=args.threads)
        batches = precrop(samples, model, args.batch_size, device, args.channels_last)
        fwd, run = [], []
        for _ in range(args.repeats):
            fwd.append(time_forward(model, batches, device, args.amp))
            run.append(time_run(model, samples, opts, device, args.amp))
        loader = time_loader(samples, model, opts)
        row = {"model": name, "forward_ips": max(fwd), "run_ips": max(run), "ratio": max(run) / max(fwd),
               "loader_ips": loader, "forward_all": fwd, "run_all": run}
        rows.append(row)
        print(f"{name:24s} forward {row['forward_ips']:8.2f} img/s   run {row['run_ips']:8.2f} img/s   "
              f"run/forward {row['ratio']:.3f}   loader alone {loader:8.1f} img/s   "
              f"(all: fwd {[round(v, 2) for v in fwd]}, run {[round(v, 2) for v in run]})",
              flush=True)
        del batches
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
