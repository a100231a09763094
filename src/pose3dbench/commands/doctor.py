"""``pose3dbench doctor``: what a Human3.6M folder holds, what is missing, which protocols can run.

Checks the test split (every 64th frame of S9 and S11): annotation files, images on disk, image
sizes against the annotation (JPEG header only, no decoding), truncated JPEGs, bbox_root coverage.
"""
from __future__ import annotations

import json

from ..data.health import diagnose


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check a Human3.6M folder: counts, missing images, size mismatches, bbox_root coverage",
        description="Report what was found below --data and what is missing. Exits 1 when a protocol cannot run "
        "(with --strict also when RootNet boxes/roots are missing or incomplete).",
    )
    p.add_argument("--data", required=True, help="Human3.6M folder (searched recursively)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--strict", action="store_true", help="also fail when a protocol can run only with GT boxes/roots")
    p.set_defaults(func=run)


def _print(rep: dict) -> None:
    print(f"Human3.6M folder: {rep['data_dir']}")
    if rep["synthetic"]:
        print(f"  SYNTHETIC data (pose3dbench synth, size {rep['synthetic'].get('size')}, "
              f"seed {rep['synthetic'].get('seed')})"
              + ("" if rep["synthetic"].get("complete", True)
                 else " -- generation did not finish: run pose3dbench synth again"))
    print(f"  image sequence folders: {rep['sequence_folders']} (under {rep['image_root']})")
    have = [s for s, f in rep["annotation_files"].items() if all(f.values())]
    print(f"  subjects with all annotation files: {', '.join(have) or 'none'}")
    for s, d in rep["subjects"].items():
        print(f"  S{s}: {d['test_images']} test images; missing {d['images_missing']}, broken links "
              f"{d['images_broken_link']}, unreadable {d['images_unreadable']}, "
              f"size mismatch {d['images_size_mismatch']}")
        print("    by action: " + ", ".join(f"{k}: {v}" for k, v in d["by_action"].items()))
        print("    by camera: " + ", ".join(f"{k}: {v}" for k, v in d["by_camera"].items()))
    for path, d in rep["bbox_root"].items():
        if "error" in d:
            print(f"  bbox_root {path}: ERROR {d['error']}")
        else:
            cov = ", ".join(f"P{p} {c}" for p, c in d["coverage"].items())
            print(f"  bbox_root {path}: {d['entries']} entries; covers {cov}")
    if not rep["bbox_root"]:
        print("  bbox_root: none found")
    for proto, d in rep["protocols"].items():
        for src in ("gt", "rootnet"):
            st = d[src]
            print(f"  Protocol {proto} ({'+'.join('S' + str(s) for s in d['subjects'])}, "
                  f"{d['test_images']} test images) "
                  f"with {src} boxes/roots: {'OK' if st['ok'] else 'CANNOT RUN'}")
            for msg in st["problems"]:
                print(f"    - {msg}")
            for msg in st.get("warnings", []):
                print(f"    - warning: {msg}")


def run(args) -> int:
    rep = diagnose(args.data)
    failing = [p for p, d in rep["protocols"].items() if not (d["gt"]["ok"] or d["rootnet"]["ok"])]
    if args.strict:
        failing += [p for p, d in rep["protocols"].items() if d["gt"]["ok"] and not d["rootnet"]["ok"]]
    rep["ok"] = not failing
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        _print(rep)
        if failing:
            print(f"pose3dbench doctor: protocol(s) {', '.join(sorted(set(failing)))} cannot run; "
                  "fix the problems listed above")
        else:
            print("pose3dbench doctor: all protocols can run")
    return 1 if failing else 0
