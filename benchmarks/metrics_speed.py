"""Time the vectorised Human3.6M scoring against a per-sample loop (the authors' structure).

Usage: python benchmarks/metrics_speed.py [--n 8695] [--repeats 5]
Prints seconds for Protocol 2 (MPJPE) + Protocol 1 (PA-MPJPE) on N synthetic samples (camera mm)
and the speed-up; checks both paths agree. Then the report's paired bootstrap (6 models, every pair,
2000 resamples on the N images). Nothing is asserted about time (the test
suite checks only numbers: timings depend on the machine).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from pose3dbench.data.h36m import evaluate_pose
from pose3dbench.data.samples import Samples
from pose3dbench.report.stats import group_bootstrap


def synthetic_split(n: int, seed: int = 0) -> Samples:
    rng = np.random.default_rng(seed)
    pelvis = rng.normal([0, 0, 5000], [400, 200, 500], (n, 1, 3))
    joints = pelvis + np.concatenate([np.zeros((n, 1, 3)), rng.normal(0, 300, (n, 16, 3))], axis=1)
    joints = np.concatenate([joints, (joints[:, 11:12] + joints[:, 14:15]) / 2], axis=1)
    groups = {"subject": np.full(n, 11), "action_idx": np.resize(np.arange(2, 17), n), "subaction_idx": np.ones(n, int),
              "cam_idx": np.ones(n, int), "frame_idx": np.arange(n) * 64}
    return Samples(
        dataset="h36m", split="p2", box="gt", sample_id=np.arange(n), image_id=np.arange(n), image_path=[""] * n,
        image_size=np.tile([1000, 1000], (n, 1)), bbox=np.tile([300.0, 200.0, 400.0, 400.0], (n, 1)),
        root_cam=joints[:, 0].copy(), joints_cam=joints, focal=np.full((n, 2), 1145.0),
        princpt=np.full((n, 2), 512.0), groups=groups,
    )


def loop_rigid_align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    r = vt.T @ u.T
    if np.linalg.det(r) < 0:
        vt[2] = -vt[2]
        r = vt.T @ u.T
    return (a - ca) @ r.T + cb


def loop_scaled_align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ca, cb = a.mean(0), b.mean(0)
    u, s, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = 1.0 if np.linalg.det(vt.T @ u.T) > 0 else -1.0
    vt[2] *= d
    s[2] *= d
    r = vt.T @ u.T
    return s.sum() / ((a - ca) ** 2).sum() * (a - ca) @ r.T + cb


def loop_score(pred: np.ndarray, gt: np.ndarray, protocol: int) -> tuple[float, ...]:
    """The same numbers as evaluate_pose, one sample at a time (P1: rigid PA and scaled PA)."""
    err = np.zeros((len(pred), 17))
    err_scaled = np.zeros((len(pred), 17))
    for i in range(len(pred)):
        p, g = pred[i] - pred[i, 0], gt[i] - gt[i, 0]
        if protocol == 1:
            q = loop_scaled_align(p[:17], g[:17])
            err_scaled[i] = np.sqrt(((q - g[:17]) ** 2).sum(1))
            p = loop_rigid_align(p, g)
        err[i] = np.sqrt(((p[:17] - g[:17]) ** 2).sum(1))
    return (float(err.mean()), float(err_scaled.mean())) if protocol == 1 else (float(err.mean()),)


def best_of(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall-clock and best CPU (process) seconds over ``repeats`` calls, and the last result."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8695, help="samples (8695 = Protocol-2 test set)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    s = synthetic_split(args.n)
    pred = s.joints_cam + np.random.default_rng(1).normal(0, 30, s.joints_cam.shape)

    def vec():
        p1 = evaluate_pose(pred, s, 1)
        return evaluate_pose(pred, s, 2)["total_mm"], p1["total_mm"], p1["pa_mpjpe_scaled_mm"]

    def loop():
        return loop_score(pred, s.joints_cam, 2) + loop_score(pred, s.joints_cam, 1)

    w_vec, c_vec, r_vec = best_of(vec, args.repeats)
    w_loop, c_loop, r_loop = best_of(loop, max(1, args.repeats // 2))
    if not np.allclose(r_vec, r_loop, rtol=1e-9):
        raise SystemExit(f"results differ: vectorised {r_vec} vs loop {r_loop}")
    print(f"samples: {args.n}  (P2 MPJPE {r_vec[0]:.3f} mm, P1 PA-MPJPE {r_vec[1]:.3f} mm, "
          f"scaled PA {r_vec[2]:.3f} mm; both paths agree)")
    print(f"vectorised, P2 + P1 (+scaled PA): wall {w_vec:.4f} s, cpu {c_vec:.4f} s (best of {args.repeats})")
    print(f"per-sample loop, same numbers:    wall {w_loop:.4f} s, cpu {c_loop:.4f} s")
    print(f"speed-up: {w_loop / w_vec:.1f}x wall, {c_loop / c_vec:.1f}x cpu "
          "(target >= 20x; the vectorised path should take well under 0.2 s)")
    ids = np.arange(args.n)
    rng = np.random.default_rng(9)
    per_sample = {f"m{k}": (ids, rng.gamma(4.0, 12.5, ids.size) + k) for k in range(6)}
    w_boot, _, _ = best_of(lambda: group_bootstrap(per_sample), max(1, args.repeats // 2))
    print(f"paired bootstrap, 6 models x 15 pairs x 2000 resamples: wall {w_boot:.3f} s "
          f"({w_boot / w_vec:.1f}x the vectorised scoring above; it runs once per report split)")
    if hasattr(os, "getloadavg"):
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (timings on a busy machine are noisy)")


if __name__ == "__main__":
    main()
