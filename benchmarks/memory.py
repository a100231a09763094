"""Peak memory of `pose3dbench run` versus dataset size (inference streams: crops are never all held).

Usage: python benchmarks/memory.py [--sizes 1000 4000] [--workers 1] [--batch-size 16] [--json OUT.json]

Runs `pose3dbench run` in a fresh subprocess per size on the first N Protocol-2 images of the synthetic
``full`` set (generated once into the cache; 8695 images) with a tiny stand-in network (``tiny_model``
below, zoo interface, ~0.1 GFLOP) so that the run is dominated by the data path, not by the model.
Samples the resident set size (VmRSS) of the run process and of its DataLoader workers every 50 ms and
prints the peaks in MiB. Growth of peak RSS with N means something holds per-image data.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def tiny_model():
    """A small zoo-interface network: img [B,3,256,256] -> [B,18,3] heatmap units (32x32 grid, 32 bins)."""
    import torch
    from torch import nn

    from pose3dbench.models import ModelConfig
    from pose3dbench.models.codecs import soft_argmax_3d

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), nn.ReLU(), nn.Conv2d(16, 18 * 32, 2, stride=2))
            self.config = ModelConfig(family="custom", variant="tiny-bench", joint_num=18, depth_bins=32,
                                      heatmap_size=(32, 32), input_size=(256, 256))

        def forward(self, img: torch.Tensor) -> torch.Tensor:
            return soft_argmax_3d(self.net(img), 18, 32)

    return Tiny()


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def measure(n: int, data: Path, workers: int, batch_size: int, crop_cache: str = "disk") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pose3dbench", "run", "--data", str(data), "--out", tmp, "--model",
               f"{HERE}:tiny_model", "--split", "p2", "--root", "gt", "--limit", str(n), "--workers", str(workers),
               "--batch-size", str(batch_size), "--no-profile", "--no-report", "--no-progress",
               "--crop-cache", crop_cache]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak_main = peak_tree = 0
        while proc.poll() is None:
            main = _rss_kib(proc.pid)
            tree = main + sum(_rss_kib(c) for c in _children(proc.pid))
            peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
            time.sleep(0.05)
        out = proc.stdout.read()
        if proc.returncode != 0:
            raise SystemExit(f"run failed for N={n}:\n{out}")
        return {"n": n, "seconds": time.perf_counter() - t0, "peak_rss_main_mib": peak_main / 1024,
                "peak_rss_with_workers_mib": peak_tree / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--crop-cache", default="disk", choices=["auto", "memory", "disk", "off"],
                    help="crop store mode (default disk: memory-mapped, flat in N; memory holds N crops by design)")
    args = ap.parse_args()
    from pose3dbench.data.h36m import Human36M
    from pose3dbench.data.sources import ensure_synthetic

    data = ensure_synthetic(Human36M, "full", print)
    rows = []
    for n in args.sizes:
        row = measure(n, data, args.workers, args.batch_size, args.crop_cache)
        rows.append(row)
        print(f"N={n:5d}: peak RSS run process {row['peak_rss_main_mib']:7.1f} MiB, with loader workers "
              f"{row['peak_rss_with_workers_mib']:7.1f} MiB ({row['seconds']:.0f} s)", flush=True)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"peak RSS growth {a['n']} -> {b['n']} images: run process "
              f"{b['peak_rss_main_mib'] - a['peak_rss_main_mib']:+.1f} "
              f"MiB, with workers {b['peak_rss_with_workers_mib'] - a['peak_rss_with_workers_mib']:+.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "python": sys.version}, indent=2))


if __name__ == "__main__":
    main()
