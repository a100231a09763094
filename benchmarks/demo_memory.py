"""Peak resident memory of the README's main command (`pose3dbench run`, the demo), read from the kernel.

Runs the demo (`python -m pose3dbench run`) in a child process (fresh output folder, shared
synthetic-data cache) and reports its maximum resident set size (``getrusage(RUSAGE_CHILDREN).ru_maxrss``
in a parent that ran nothing else: the kernel's peak, the figure ``/usr/bin/time -v`` prints). With ``--ref SRC``
the same demo also runs with another source tree first on ``PYTHONPATH`` (e.g. a ``git worktree`` of an older
commit) and the ratio of the two peaks is printed, both measured in this one invocation.

    python benchmarks/demo_memory.py                      # this checkout
    git worktree add /tmp/old 4f739b8 && python benchmarks/demo_memory.py --ref /tmp/old/src
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_of_demo(src: str | None, extra: list[str]) -> tuple[float, float, int]:
    """(peak RSS MiB, wall seconds, exit code) of one demo run (`python -m pose3dbench run`) in a fresh child.

    The peak is ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` read in a fresh intermediate process that runs only
    the demo (the kernel's maximum over its waited-for children, as ``/usr/bin/time -v`` reports it).
    """
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve()) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as out:
        probe = ("import resource, subprocess, sys\n"
                 "rc = subprocess.run([sys.executable, '-m', 'pose3dbench', 'run', '--out', sys.argv[1], "
                 "'--no-progress']"
                 " + sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
                 "sys.stderr.write(rc.stderr[-3000:] if rc.returncode else '')\n"
                 "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)\n"
                 "sys.exit(rc.returncode)")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", probe, out, *extra], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    peak = [line for line in proc.stdout.splitlines() if line.startswith("PEAK_KB")]
    if proc.returncode != 0 or not peak:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"the demo failed (exit {proc.returncode})")
    return int(peak[-1].split()[1]) / 1024, wall, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default=None, help="another source tree (its src/ folder) to measure beside this one")
    ap.add_argument("extra", nargs="*", help="extra `pose3dbench run` arguments (after --)")
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parent.parent / "src")
    rows = []
    if args.ref:
        rows.append(("ref " + args.ref, *peak_rss_of_demo(args.ref, args.extra)))
    rows.append(("this checkout", *peak_rss_of_demo(here, args.extra)))
    print(f"{'code':40s} {'peak RSS (MiB)':>15s} {'wall (s)':>9s}")
    for name, peak, wall, _ in rows:
        print(f"{name:40s} {peak:15.0f} {wall:9.1f}")
    if args.ref:
        print(f"peak RSS ratio this/ref: {rows[1][1] / rows[0][1]:.3f}")
    print(f"goal: < 2048 MiB -> {'met' if rows[-1][1] < 2048 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
