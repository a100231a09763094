"""glibc allocator mode versus model speed: heap-only (pose3dbench's default) against glibc's default.

Usage: python benchmarks/allocator.py [--models mobilehumanpose-lpski posenet-r50] [--batch-size 16]
       [--repeats 3] [--threads 2]

Each measurement runs in a fresh subprocess (the allocator mode is process-wide and must be set before
the first tensor): ``POSE3DBENCH_ALLOCATOR=default`` (glibc maps every large tensor with mmap and unmaps
it on free, so each batch page-faults its working set again) versus the default ``heap`` mode set by
``pose3dbench.data.loader.tune_allocator``. Prints forward throughput (flip-test shaped [2B] batches),
kernel (sys) CPU seconds and peak RSS for both, and the heap/default throughput ratio measured in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
from pose3dbench.allocator import tune_allocator
mode = tune_allocator()
from pose3dbench.models import create
torch.set_num_threads(int(sys.argv[3]))
torch.manual_seed(0)
m = create(sys.argv[1]).eval()
x = torch.randn(2 * int(sys.argv[2]), 3, 256, 256)
reps = int(sys.argv[4])
with torch.inference_mode():
    m(x)
    r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
    for _ in range(reps):
        m(x)
    dt = time.perf_counter() - t0; r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"mode": mode, "img_per_s": reps * x.shape[0] / dt, "sys_s": r1.ru_stime - r0.ru_stime,
                  "user_s": r1.ru_utime - r0.ru_utime, "peak_rss_mib": r1.ru_maxrss / 1024}))
"""


def measure(model: str, batch: int, threads: int, reps: int, mode: str) -> dict:
    env = dict(os.environ, POSE3DBENCH_ALLOCATOR=mode)
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(batch), str(threads), str(reps)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mobilehumanpose-lpski", "posenet-r50"])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed forwards per process")
    args = ap.parse_args()
    print(f"forward of [2x{args.batch_size},3,256,256], {args.threads} threads, {args.repeats} timed calls, "
          "fresh process per row (modes interleaved)")
    print(f"{'model':24s} {'mode':8s} {'img/s':>8s} {'sys s':>7s} {'user s':>7s} {'peak MiB':>9s}")
    for model in args.models:
        rows = {}
        for mode in ("default", "heap"):
            r = measure(model, args.batch_size, args.threads, args.repeats, mode)
            rows[mode] = r
            print(f"{model:24s} {r['mode']:8s} {r['img_per_s']:8.2f} {r['sys_s']:7.1f} {r['user_s']:7.1f} "
                  f"{r['peak_rss_mib']:9.0f}")
        print(f"{model:24s} heap/default throughput ratio: "
              f"{rows['heap']['img_per_s'] / rows['default']['img_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
