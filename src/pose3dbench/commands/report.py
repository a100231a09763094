"""``pose3dbench report --out DIR``: rebuild report.md / report.html / results.csv / PNGs from DIR."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report", help="rebuild the report from DIR/results.json and DIR/predictions",
        description="Rebuild report.md, report.html (self-contained), results.csv and the PNG figures in DIR "
                    "from DIR/results.json and DIR/predictions/*.npz. The qualitative panel needs the "
                    "dataset and is drawn by `pose3dbench run`; a rebuild skips it.")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="the output folder of `pose3dbench run` (holds results.json)")
    parser.add_argument("--resamples", type=int, default=None, metavar="N",
                        help="bootstrap resamples for the confidence intervals (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="bootstrap seed (default fixed)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..report.build import build_report
    from ..report.schema import ResultsError
    from ..report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED

    n = DEFAULT_RESAMPLES if args.resamples is None else args.resamples
    if n < 100:
        raise ResultsError(f"--resamples {n} is too few for a 95% interval; use 1000 or more")
    paths = build_report(args.out, n_resamples=n, seed=DEFAULT_SEED if args.seed is None else args.seed)
    for key in ("report_html", "report_md", "results_csv"):
        print(f"{key.replace('_', '.')}: {paths[key]}")
    print(f"{len(paths) - 3} figure(s) in {args.out}")
    return 0
