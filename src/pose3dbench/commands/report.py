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
                        help="the output folder of `pose3dbench run` (holds results.json)")
    parser.add_argument("--no-dataset", dest="dataset", action="store_false",
                        help="do not read the dataset (no qualitative panel, no MRPE CI)")
    parser.add_argument("--resamples", type=int, default=None, metavar="N",
                        help="bootstrap resamples for the confidence intervals (default 2000)")
    parser.add_argument("--seed", type=int_range(0, 2**32 - 1), default=None, help="bootstrap seed (default fixed)")
    parser.set_defaults(func=run)
    return parser


def load_samples_for(results: dict) -> tuple[dict | None, str | None]:
    """The splits of a run, re-read from its dataset folder exactly as ``run`` read them (its
    ``--bbox-root`` file and ``--limit``, ``data.splits.SplitProvider.from_settings``):
    ({(protocol, root): H36MSamples}, None), or (None, reason) when the dataset cannot be read."""
    from ..data.splits import SplitProvider
    from ..errors import Pose3DBenchError

    st = results["settings"]
    path = Path(st["dataset"]["path"])
    if not path.exists():
        return None, f"dataset folder {path} no longer exists"
    bbox_root = st.get("bbox_root")
    if bbox_root and not Path(bbox_root).exists():
        return None, f"the run's --bbox-root file {bbox_root} no longer exists"
    provider = SplitProvider.from_settings(st)
    try:
        out = {(protocol, root): provider.for_root(protocol, root)
               for protocol in st["protocols"] for root in st["roots"]}
    except Pose3DBenchError as exc:
        return None, f"cannot read the dataset {path}: {exc}"
    from ..data.fingerprint import describe_change, split_fingerprint

    for ev in results.get("evaluations", []) + results.get("root_evaluations", []):
        if "data" in ev and ev.get("protocol") in st["protocols"]:  # runs of older versions record no fingerprint
            changed = describe_change(ev["data"], split_fingerprint(provider.for_root(ev["protocol"], ev["root"])))
            if changed:
                return None, (f"the dataset {path} changed since the run ({changed}), so its ground truth no longer "
                              "belongs to the numbers; re-run `pose3dbench run` with this --out to score the current "
                              "data")
    return out, None


def run(args: argparse.Namespace) -> int:
    from ..report.build import build_report, load_results
    from ..report.schema import ResultsError
    from ..report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED

    n = DEFAULT_RESAMPLES if args.resamples is None else args.resamples
    if n < 100:
        raise ResultsError(f"--resamples {n} is too few for a 95% interval; use 1000 or more")
    from ..outdir import exclusive

    results = load_results(args.out)  # a folder without a results.json of pose3dbench's is refused here
    with exclusive(args.out, "report"):  # not while a run writes the same folder
        samples = None
        if args.dataset:
            samples, why = load_samples_for(results)
            if why:
                print(f"pose3dbench report: {why}; building without the qualitative panel", file=sys.stderr)
        try:
            paths = build_report(args.out, samples_by_split=samples, n_resamples=n,
                                 seed=DEFAULT_SEED if args.seed is None else args.seed)
        except OSError as exc:
            raise ResultsError(f"cannot write the report into {args.out} ({exc.strerror or exc}); free disk space "
                               "and re-run (each report file is replaced only once its new version is complete)") from None
    for key in ("report_html", "report_md", "results_csv"):
        print(f"{key.replace('_', '.')}: {paths[key]}")
    print(f"{len(paths) - 3} figure(s) in {args.out}")
    return 0
