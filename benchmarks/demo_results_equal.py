"""Is the demo's results.json the same before and after a change (timings aside)?

Runs the README's main command (``pose3dbench run``, the demo) with this checkout and with another source
tree (``--ref SRC``, e.g. a ``git worktree`` of an older commit), each in a fresh child process and output
folder, and compares the two results.json documents field by field. Or compares two results.json files
given with ``--files A B``.

What is left out, and why: ``created_utc`` (the clock), ``environment`` (machine facts, which the probe may
describe in more or fewer keys), every ``timing`` block and the cost profile's ``latency_ms``,
``throughput_ips`` and ``peak_memory_mb`` (measured times and memory), and the ``mtime_ns`` of the data
fingerprints (file times). Everything else (accuracy in mm per action and joint, parameters, MACs, settings,
model configs, input conventions, backend choices and their parity, crop-cache hits, warnings) must be
equal; floats compare exactly unless ``--rtol`` is given.

    git worktree add /tmp/before <commit> && python benchmarks/demo_results_equal.py --ref /tmp/before/src
    python benchmarks/demo_results_equal.py --files before/results.json after/results.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VOLATILE_KEYS = {"created_utc", "environment", "timing", "latency_ms", "throughput_ips", "peak_memory_mb",
                 "mtime_ns"}
# parity of an onnxruntime choice is measured on the run's first batch: deterministic on one machine
# with one thread count, so it is compared like any other number


def differences(a, b, path: str = "", rtol: float = 0.0) -> list[str]:
    """Paths where ``a`` and ``b`` differ, volatile keys left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k in VOLATILE_KEYS:
                continue
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'the reference' if k in a else 'this checkout'}")
                continue
            out += differences(a[k], b[k], f"{path}.{k}", rtol)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]", rtol)]
    if isinstance(a, float) and isinstance(b, float) and rtol > 0:
        return [] if math.isclose(a, b, rel_tol=rtol, abs_tol=0.0) else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def run_demo(src: str, out: Path, extra: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "pose3dbench", "run", "--out", str(out), "--no-progress",
                           "--no-report", *extra], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"the demo failed with {src} (exit {proc.returncode})")
    return json.loads((out / "results.json").read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", help="the other source tree (its src/ folder)")
    ap.add_argument("--files", nargs=2, metavar=("REF_JSON", "NEW_JSON"), help="compare two results.json files")
    ap.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for floats (default: exact)")
    ap.add_argument("extra", nargs="*", help="extra `pose3dbench run` arguments (after --)")
    args = ap.parse_args()
    if args.files:
        ref, new = (json.loads(Path(f).read_text()) for f in args.files)
    elif args.ref:
        here = str(Path(__file__).resolve().parent.parent / "src")
        with tempfile.TemporaryDirectory() as tmp:
            ref = run_demo(args.ref, Path(tmp) / "ref", args.extra)
            new = run_demo(here, Path(tmp) / "new", args.extra)
    else:
        ap.error("give --ref SRC or --files A B")
    diffs = differences(ref, new, rtol=args.rtol)
    n_evals = len(new.get("evaluations", [])) + len(new.get("root_evaluations", []))
    print(f"{len(new.get('models', {}))} models, {n_evals} evaluations compared; "
          f"left out: {', '.join(sorted(VOLATILE_KEYS))}")
    if diffs:
        print(f"{len(diffs)} difference(s):")
        print("\n".join("  " + d for d in diffs[:50]))
        return 1
    print("results.json equal (timings aside)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
