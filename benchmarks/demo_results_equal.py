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
                 "mtime_ns", "predictions", "_checksum", "predictions_sha256"}
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


def predictions_differences(ref: dict, new: dict, ref_dir: Path, new_dir: Path, rtol: float) -> list[str]:
    """Array differences between the predictions files of the same evaluation in both runs."""
    import numpy as np

    def by_key(doc):
        return {(kind, e["model"], e.get("dataset"), e.get("split"), e.get("root"), e.get("corruption"),
                 e.get("severity")): e["predictions"] for kind in ("evaluations", "root_evaluations",
                                                                  "corruption_evaluations")
                for e in doc.get(kind) or []}

    out, a_files, b_files = [], by_key(ref), by_key(new)
    for key in sorted(set(a_files) & set(b_files), key=str):
        with np.load(ref_dir / a_files[key]) as za, np.load(new_dir / b_files[key]) as zb:
            a = {("per_sample" if k == "per_sample_mm" else k): za[k] for k in za.files if k != "meta"}
            b = {("per_sample" if k == "per_sample_mm" else k): zb[k] for k in zb.files if k != "meta"}
        for name in sorted(set(a) & set(b)):
            x, y = a[name], b[name]
            same = x.shape == y.shape and (np.array_equal(x, y) if rtol == 0 else np.allclose(x, y, rtol=rtol, atol=0))
            if not same:
                out.append(f"predictions {key[1]} {key[2]} {key[3]} {key[4]}: array {name} differs")
    return out


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
    from pose3dbench.results.schema import upgrade_document

    if args.files:
        ref, new = (upgrade_document(json.loads(Path(f).read_text())) for f in args.files)
        diffs = differences(ref, new, rtol=args.rtol) + predictions_differences(
            ref, new, Path(args.files[0]).parent, Path(args.files[1]).parent, args.rtol)
    elif args.ref:
        here = str(Path(__file__).resolve().parent.parent / "src")
        with tempfile.TemporaryDirectory() as tmp:
            ref = upgrade_document(run_demo(args.ref, Path(tmp) / "ref", args.extra))
            new = upgrade_document(run_demo(here, Path(tmp) / "new", args.extra))
            diffs = differences(ref, new, rtol=args.rtol) + predictions_differences(
                ref, new, Path(tmp) / "ref", Path(tmp) / "new", args.rtol)
    else:
        ap.error("give --ref SRC or --files A B")
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
