"""N models on the same crops: `pose3dbench run` with the crop store versus without it (one invocation).

Runs the same models on the same split twice per repeat, interleaved: ``--crop-cache memory`` (each
crop decoded once, served to every model) and ``--crop-cache off`` (every model decodes every image
again), fresh output folders, no profile, no report, and prints wall times, the store's hit rate and
the ratio off/memory. Defaults: the small synthetic set, Protocol 2 with GT boxes, three fast models.

    python benchmarks/crop_store.py [--models A B C] [--limit 256] [--repeats 2] [--workers 0]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import torch

from pose3dbench.data.h36m import Human36M
from pose3dbench.data.sources import ensure_synthetic
from pose3dbench.eval.options import RunOptions
from pose3dbench.eval.runner import run_benchmark


def one_run(data: Path, models: list[str], mode: str, limit: int, workers: int, batch: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as out:
        opts = RunOptions(data=data, models=list(models), splits=("p2",), roots=("gt",), out=Path(out), workers=workers,
                          batch_size=batch, profile=False, report=False, progress=False, limit=limit,
                          crop_cache=mode, backend="eager")
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            res = run_benchmark(opts, log=lambda m: None)
        return time.perf_counter() - t0, res["crop_cache"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+",
                    default=["mobilehumanpose-lpski", "mobilehumanpose-lpski-s", "convnextpose-xs"])
    ap.add_argument("--size", default="small", choices=["tiny", "small", "full"])
    ap.add_argument("--limit", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    data = ensure_synthetic(Human36M, args.size, log=print)
    best = {"memory": float("inf"), "off": float("inf")}
    stats = {}
    for _ in range(args.repeats):
        for mode in ("memory", "off"):
            t, st = one_run(data, args.models, mode, args.limit, args.workers, args.batch_size)
            best[mode] = min(best[mode], t)
            stats[mode] = st
    print(f"{len(args.models)} models ({', '.join(args.models)}), {args.limit} images, P2 gt, "
          f"{torch.get_num_threads()} threads, workers {args.workers}; best of {args.repeats}")
    for mode in ("memory", "off"):
        print(f"  --crop-cache {mode:6s}: {best[mode]:7.1f} s  decoded {stats[mode]['misses']}, "
              f"served from store {stats[mode]['hits']} (hit rate {stats[mode]['hit_rate']:.2f})")
    print(f"speed-up with the store (off / memory): {best['off'] / best['memory']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
