"""Load test: `pose3dbench run` over 20,000 Protocol-2 samples with flat memory (not run in CI: minutes).

Usage: python benchmarks/load_20k.py [--samples 20000] [--workers 1] [--batch-size 32] [--out DIR]
                                     [--model SPEC] [--json RSS.json]

Builds a synthetic Human3.6M set in the 3DMPPE format with ``--samples`` test images: the ``tiny``
generator's S9/S11 test records are repeated under new image ids and frame indices (multiples of 64,
so they stay in the test split), pointing at the same small JPEG files, with their 3D joints copied
to the new frames. Then runs ``pose3dbench run --split p2 --root gt`` in a subprocess with a small
model (default: tests/helpers/byo_model.py, so that the data path dominates) and samples, every second, the
resident set size (VmRSS, MiB) of the run process and of all its children (DataLoader workers),
together with the number of samples finished (from the resumable chunks under <out>/partial).

Prints min/median/max RSS per eighth of the samples, the peak, and the least-squares RSS trend
(MiB per 1,000 samples); a flat run grows by a small O(N) for the predictions only.

Measured once (2026-11-25, 2 shared CPU cores, --workers 1, batch 32, flip on, tiny-byo model):
20,000 samples in 379 s (52.8 samples/s); main-process RSS 342-511 MiB throughout (window maxima
496 MiB in the first 2,500 samples, 511 MiB in the last), trend +0.27 MiB per 1,000 samples;
main + worker peak 739 MiB.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
DEFAULT_MODEL = f"{REPO / 'tests' / 'helpers' / 'byo_model.py'}:build"
CHUNK = 256


def build_dataset(root: Path, samples: int, seed: int = 0) -> Path:
    """A synthetic set whose Protocol-2 test split has exactly ``samples`` images (see module docstring)."""
    from pose3dbench.data.h36m.synthetic import generate

    done = root / f"data-{samples}"
    if (done / "pose3dbench_load.json").exists():
        return done
    shutil.rmtree(done, ignore_errors=True)
    generate(done, seed=seed, size="tiny")
    ann = done / "annotations"
    per_subject = {9: samples // 2, 11: samples - samples // 2}
    next_id = 10_000_000
    for subject, want in per_subject.items():
        data_p = ann / f"Human36M_subject{subject}_data.json"
        joints_p = ann / f"Human36M_subject{subject}_joint_3d.json"
        data = json.loads(data_p.read_text())
        joints = json.loads(joints_p.read_text())
        ann_of = {a["image_id"]: a for a in data["annotations"]}
        base = [im for im in data["images"] if im["frame_idx"] % 64 == 0 and im["id"] in ann_of]
        base_ids = {im["id"] for im in base}
        images = [im for im in data["images"] if im["id"] not in base_ids]  # train-stride frames, kept as they are
        anns = [a for a in data["annotations"] if a["image_id"] not in base_ids]
        for k in range(want):
            im, rep = base[k % len(base)], k // len(base)
            frame = im["frame_idx"] + 64 * 1000 * rep  # still a test frame (multiple of 64), new per repetition
            act, sub = str(im["action_idx"]), str(im["subaction_idx"])
            joints[act][sub][str(frame)] = joints[act][sub][str(im["frame_idx"])]
            images.append(dict(im, id=next_id, frame_idx=frame))
            anns.append(dict(ann_of[im["id"]], id=next_id, image_id=next_id))
            next_id += 1
        data["images"], data["annotations"] = images, anns
        data_p.write_text(json.dumps(data))
        joints_p.write_text(json.dumps(joints))
    # RootNet output is not needed for --root gt; drop it so that the set stays consistent
    shutil.rmtree(done / "bbox_root", ignore_errors=True)
    (done / "pose3dbench_load.json").write_text(json.dumps({"samples": samples, "seed": seed}))
    return done


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _done_samples(out: Path) -> int:
    n = 0
    for p in (out / "partial").glob("*/chunk_*.npz"):
        a, b = p.stem.split("_")[1:3]
        n += int(b) - int(a) + 1  # rows are consecutive within a chunk of a single-process run
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--out", type=Path, default=Path("/tmp/pose3dbench-load"))
    ap.add_argument("--json", type=Path, default=None, help="write the RSS samples here")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data = build_dataset(args.out, args.samples)
    print(f"dataset: {data} ({args.samples} Protocol-2 test samples) in {time.perf_counter() - t0:.1f} s", flush=True)
    out = args.out / "run"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pose3dbench", "run", "--data", str(data), "--out", str(out), "--model", args.model,
           "--split", "p2", "--root", "gt", "--workers", str(args.workers), "--batch-size", str(args.batch_size),
           "--no-profile", "--no-report", "--no-progress", "--device", "cpu"]
    env = {**os.environ, "POSE3DBENCH_CHUNK_SIZE": str(CHUNK)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rows = []
    while proc.poll() is None:
        main_rss = _rss_mib(proc.pid)
        kids = _children(proc.pid)
        total = main_rss + sum(_rss_mib(k) for k in kids)
        rows.append({"t_s": round(time.perf_counter() - t0, 1), "done": _done_samples(out),
                     "rss_main_mib": round(main_rss, 1), "rss_total_mib": round(total, 1), "processes": 1 + len(kids)})
        time.sleep(1.0)
    log = proc.stdout.read()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(log)
        print(f"run failed with exit code {proc.returncode}")
        return 1
    results = json.loads((out / "results.json").read_text())
    (ev,) = results["evaluations"]
    print(log.strip().splitlines()[0])
    print(f"run: {ev['num_samples']} samples in {wall:.0f} s ({ev['num_samples'] / wall:.1f} samples/s end to end), "
          f"complete={results.get('complete')}")
    inference = [r for r in rows if 0 < r["done"] < args.samples]
    print(f"{'samples done':>15s} {'RSS main min / median / max (MiB)':>36s} {'RSS total max':>14s}")
    step = max(1, args.samples // 8)
    for lo in range(0, args.samples, step):
        win = [r for r in inference if lo <= r["done"] < lo + step]
        if win:
            main_rss = sorted(r["rss_main_mib"] for r in win)
            print(f"{lo:>7d}-{lo + step:<7d} {main_rss[0]:>12.1f} / {main_rss[len(main_rss) // 2]:>7.1f} / "
                  f"{main_rss[-1]:>7.1f} {max(r['rss_total_mib'] for r in win):>14.1f}")
    if rows:
        peak = max(rows, key=lambda r: r["rss_total_mib"])
        print(f"peak RSS: main {max(r['rss_main_mib'] for r in rows):.1f} MiB, total {peak['rss_total_mib']:.1f} MiB "
              f"({peak['processes']} processes) at t={peak['t_s']:.0f} s")
    if len(inference) >= 3:
        x = np.array([r["done"] for r in inference], dtype=np.float64) / 1000.0
        y = np.array([r["rss_main_mib"] for r in inference], dtype=np.float64)
        slope = np.polyfit(x, y, 1)[0]
        print(f"main-process RSS trend over inference: {slope:+.2f} MiB per 1,000 samples (least squares; "
              "batch-to-batch swings of tens of MiB are the allocator)")
    if args.json:
        args.json.write_text(json.dumps({"cmd": cmd, "wall_s": wall, "samples": args.samples, "rss": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
