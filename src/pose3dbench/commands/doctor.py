"""``pose3dbench doctor``: what a dataset folder holds, what is missing, which splits can run.

The dataset is recognised from the folder (or named with ``--dataset``); its own check (``Dataset.diagnose``)
reads the annotation files, checks the images on disk (JPEG header and end marker only, no decoding) and the
RootNet bbox_root coverage, and says per split and box source whether it can run and why not.
"""
from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    from ..data.dataset import available_datasets

    p = subparsers.add_parser(
        "doctor",
        help="check a dataset folder: counts, missing images, size mismatches, bbox_root coverage",
        description="Report what was found below --data and what is missing. Exits 1 when a split cannot run "
        "(with --strict also when RootNet boxes/roots are missing or incomplete).",
    )
    p.add_argument("--data", required=True, help="dataset folder (searched recursively)")
    p.add_argument("--dataset", default=None, choices=available_datasets(),
                   help="what the folder holds (default: recognised from its content)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="also fail when a split can run only with GT boxes/roots")
    p.set_defaults(func=run)


def _print(rep: dict, title: str) -> None:
    print(f"{title} folder: {rep['data_dir']}")
    syn = rep.get("synthetic")
    if syn:
        print(f"  SYNTHETIC data (pose3dbench synth, size {syn.get('size')}, seed {syn.get('seed')})"
              + ("" if syn.get("complete", True) else " -- generation did not finish: run pose3dbench synth again"))
    for line in rep.get("lines", []):
        print(f"  {line}")
    for split, d in rep["splits"].items():
        for src in ("gt", "rootnet"):
            if src not in d:
                continue
            st = d[src]
            print(f"  {d.get('label', split)} with {src} boxes/roots: {'OK' if st['ok'] else 'CANNOT RUN'}")
            for msg in st["problems"]:
                print(f"    - {msg}")
            for msg in st.get("warnings", []):
                print(f"    - warning: {msg}")


def run(args) -> int:
    from ..data.dataset import available_datasets, dataset_class, detect_dataset
    from ..errors import DatasetError

    if args.dataset:
        cls = dataset_class(args.dataset)
    else:
        try:
            cls = detect_dataset(args.data)
        except DatasetError as exc:  # nothing recognisable: say what the first known dataset would need
            cls = dataset_class(available_datasets()[0])
            print(f"pose3dbench doctor: {exc}; checking it as {cls.title} (--dataset NAME for another)")
    rep = cls(args.data).diagnose()
    rep["dataset"] = cls.name
    splits = rep["splits"]
    failing = [s for s, d in splits.items() if not any(d.get(b, {}).get("ok") for b in ("gt", "rootnet"))]
    if args.strict:
        failing += [s for s, d in splits.items() if d.get("gt", {}).get("ok") and not d.get("rootnet", {}).get("ok")]
    rep["ok"] = not failing
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        _print(rep, cls.title)
        if failing:
            print(f"pose3dbench doctor: split(s) {', '.join(sorted(set(failing)))} cannot run; "
                  "fix the problems listed above")
        else:
            print("pose3dbench doctor: all splits can run")
    return 1 if failing else 0
