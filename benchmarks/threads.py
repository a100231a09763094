"""Thread defaults on this CPU: torch intra-op threads versus DataLoader workers for `run`.

Usage: python benchmarks/threads.py [--models mobilehumanpose-lpski posenet-r50] [--size small]
       [--limit 48] [--batch-size 16] [--configs 2x0 2x1 1x1 1x0] [--json OUT.json]

Each config THREADSxWORKERS runs the runner's inference engine (flip on) on the same images and prints
images/s, plus the forward-only images/s at that thread count; the best config per model is the
default to pick. Configs are interleaved per model so that load from other processes hits all alike.
Nothing is asserted about time.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from pipeline import precrop, time_forward, time_run  # benchmarks/pipeline.py (same folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mobilehumanpose-lpski", "posenet-r50"])
    ap.add_argument("--size", default="small", choices=["tiny", "small", "full"])
    ap.add_argument("--limit", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--configs", nargs="+", default=["2x0", "2x1", "1x1", "1x0"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from pose3dbench.data.h36m import Human36M, load_split
    from pose3dbench.data.sources import ensure_synthetic
    from pose3dbench.devices import environment
    from pose3dbench.eval.options import RunOptions
    from pose3dbench.models import registry

    device = torch.device("cpu")
    samples = load_split(ensure_synthetic(Human36M, args.size, print), 2, "gt").subset(slice(0, args.limit))
    print(f"device: {environment(device)['device_name']}; os.cpu_count {os.cpu_count()}; torch default threads "
          f"{torch.get_num_threads()}; {len(samples)} images ({args.size}); batch {args.batch_size}; flip on")
    default_threads = torch.get_num_threads()
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        model = registry.create(name).eval()
        batches = precrop(samples, model, args.batch_size, device, False)
        for cfg in args.configs:
            threads, workers = (int(v) for v in cfg.split("x"))
            torch.set_num_threads(threads)
            opts = RunOptions(batch_size=args.batch_size, workers=workers, threads=threads, flip=True, progress=False)
            fwd = time_forward(model, batches, device, "none")
            run = time_run(model, samples, opts, device, "none")
            rows.append({"model": name, "threads": threads, "workers": workers, "run_ips": run, "forward_ips": fwd})
            print(f"{name:24s} threads {threads} workers {workers}:  run {run:7.2f} img/s   forward {fwd:7.2f} img/s"
                  f"   run/forward {run / fwd:.3f}", flush=True)
        torch.set_num_threads(default_threads)
        best = max((r for r in rows if r["model"] == name), key=lambda r: r["run_ips"])
        print(f"{name:24s} best: threads {best['threads']} workers {best['workers']} ({best['run_ips']:.2f} img/s)")
    if args.json:
        args.json.write_text(json.dumps({"environment": environment(device), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
