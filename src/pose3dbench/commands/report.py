"""``pose3dbench report --out DIR``: rebuild report.md / report.html / results.csv / PNGs from DIR."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..argtypes import int_range


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report", help="rebuild the report from DIR/results.json and DIR/predictions",
        description="Rebuild report.md, report.html (self-contained), results.csv and the PNG figures in DIR "
                    "from DIR/results.json and DIR/predictions/*.npz. The qualitative panel and the MRPE "
                    "confidence intervals need the ground truth: the dataset named in results.json is read "
                    "when it is still there (skip with --no-dataset).")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="the output folder of `pose3dbench run` (holds results.json); with --merge, the "
                             "folder the merged leaderboard is written to")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="RUN_DIR", default=None,
                        help="merge several runs' folders (e.g. the Protocol-1, Protocol-2 and full-pipeline runs) "
                             "into one report in --out: one leaderboard, each row naming the run it comes from")
    parser.add_argument("--latex", action="store_true",
                        help="also write DIR/tables.tex: booktabs tables (leaderboard, per group, cost) for a paper")
    parser.add_argument("--threshold", type=float, default=None, metavar="MM",
                        help="practical threshold a paired difference must reach (in the split's unit: mm, "
                             "percentage points), besides a 95%% CI excluding 0, to be called significant "
                             "(default 0.5)")
    parser.add_argument("--no-dataset", dest="dataset", action="store_false",
                        help="do not read the dataset (no qualitative panel, no MRPE CI)")
    parser.add_argument("--resamples", type=int, default=None, metavar="N",
                        help="bootstrap resamples for the confidence intervals (default 2000)")
    parser.add_argument("--seed", type=int_range(0, 2**32 - 1), default=None, help="bootstrap seed (default fixed)")
    parser.set_defaults(func=run)
    return parser


def load_samples_for(results: dict) -> tuple[dict | None, str | None]:
    """The splits of a run, re-read from its dataset folders exactly as ``run`` read them (its ``--bbox-root``
    files and limits, ``data.splits.datasets_from_settings``): ({(dataset, split, root): Samples}, None), or
    (None, reason) when a dataset cannot be read or changed since the run."""
    from ..data.fingerprint import describe_change, split_fingerprint
    from ..data.splits import bbox_root_files, datasets_from_settings
    from ..errors import Pose3DBenchError

    if len(results.get("runs") or []) > 1:  # a merged report: each run's own splits, first run first
        merged: dict = {}
        for run in results["runs"]:
            try:
                from ..report.collect import load_results

                sub, why = load_samples_for(load_results(Path(run["path"])))
            except Pose3DBenchError as exc:
                sub, why = None, str(exc)
            if why:
                return None, f"run {run['label']}: {why}"
            for key, s in sub.items():
                merged.setdefault(key, s)
        return merged, None
    st = results["settings"]
    for d in st["datasets"]:
        if not Path(d["path"]).exists():
            return None, f"dataset folder {d['path']} no longer exists"
        for bbox_root in bbox_root_files(d.get("bbox_root")):
            if not Path(bbox_root).exists():
                return None, f"the run's --bbox-root file {bbox_root} no longer exists"
    out = {}
    try:
        for ds, entry in zip(datasets_from_settings(st), st["datasets"]):
            for split in entry["splits"]:
                for root in st["roots"]:
                    if ds.box_of(root) in ds.box_sources:
                        out[(ds.name, split, root)] = ds.samples(split, ds.box_of(root))
    except Pose3DBenchError as exc:
        return None, f"cannot read the dataset: {exc}"
    for ev in results.get("evaluations", []) + results.get("root_evaluations", []):
        key = (ev["dataset"], ev["split"], ev["root"])
        if "data" in ev and key in out:  # runs of older versions record no fingerprint
            changed = describe_change(ev["data"], split_fingerprint(out[key]))
            if changed:
                return None, (f"the dataset {dict(out[key].source).get('data_dir')} changed since the run "
                              f"({changed}), so its ground truth no longer belongs to the numbers; re-run "
                              "`pose3dbench run` with this --out to score the current data")
    return out, None


def run(args: argparse.Namespace) -> int:
    from ..report.build import build_report
    from ..report.collect import load_results
    from ..errors import ResultsError
    from ..report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED

    from ..report.tables import PRACTICAL_THRESHOLD_MM

    n = DEFAULT_RESAMPLES if args.resamples is None else args.resamples
    if n < 100:
        raise ResultsError(f"--resamples {n} is too few for a 95% interval; use 1000 or more")
    threshold = PRACTICAL_THRESHOLD_MM if args.threshold is None else args.threshold
    if not threshold >= 0:
        raise ResultsError(f"--threshold {args.threshold} must be a difference >= 0 (e.g. 0.5)")
    from ..outdir import exclusive

    if args.merge:
        from ..report.merge import write_merged

        merged = write_merged(args.merge, args.out)
        print(f"merged {len(merged['runs'])} runs ({', '.join(r['label'] for r in merged['runs'])}) into "
              f"{args.out / 'results.json'}")
    results = load_results(args.out)  # a folder without a results.json of pose3dbench's is refused here
    with exclusive(args.out, "report"):  # not while a run writes the same folder
        samples = None
        if args.dataset:
            samples, why = load_samples_for(results)
            if why:
                print(f"pose3dbench report: {why}; building without the qualitative panel", file=sys.stderr)
        try:
            paths = build_report(args.out, samples_by_split=samples, n_resamples=n,
                                 seed=DEFAULT_SEED if args.seed is None else args.seed, latex=args.latex,
                                 threshold_mm=threshold)
        except OSError as exc:
            raise ResultsError(f"cannot write the report into {args.out} ({exc.strerror or exc}); free disk space "
                               "and re-run (each report file is replaced only once its new "
                               "version is complete)") from None
    files = [k for k in ("report_html", "report_md", "results_csv", "tables_tex") if k in paths]
    for key in files:
        print(f"{key.replace('_', '.')}: {paths[key]}")
    print(f"{len(paths) - len(files)} figure(s) in {args.out}")
    return 0
