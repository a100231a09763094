"""``pose3dbench evaluate``: re-score saved predictions against a dataset split, without a model
(``eval.rescore``), and print the dataset's record as tables or one JSON object."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import PredictionsError
from ..roots import BOX_SOURCES


def add_parser(sub) -> None:
    from ..data.dataset import available_datasets

    p = sub.add_parser(
        "evaluate", help="re-score saved predictions (ours, or the authors' files) without a model",
        description="Re-score saved predictions on a dataset split with the dataset's own evaluation "
                    "(Human3.6M: MPJPE / the authors' PA-MPJPE per action and joint; RootNet files: MRPE).")
    p.add_argument("--data", type=Path, required=True, help="the dataset folder the predictions were made on")
    p.add_argument("--dataset", default=None, choices=available_datasets(),
                   help="what --data holds (default: the file's, else recognised from the folder)")
    p.add_argument("--predictions", type=Path, required=True,
                   help="predictions written by `pose3dbench run` (.npz), or the authors' result files (Human3.6M: "
                        "bbox_root_pose_human36m_output.json, a RootNet bbox_root json; MuPoTS-3D: the pair "
                        "preds_2d_kpt_mupots.mat + preds_3d_kpt_mupots.mat, the folder holding them or either file)")
    p.add_argument("--split", "--protocol", dest="split", default=None,
                   help="the split to score on (default: the file's, else the dataset's first default split; "
                        "Human3.6M: 1/p1 = S11 PA-MPJPE, 2/p2 = S9+S11 MPJPE)")
    p.add_argument("--root", choices=list(BOX_SOURCES), default=None,
                   help="which boxes to match: gt (degenerate boxes skipped) or the bbox_root file "
                        "(default: the file's, else gt)")
    p.add_argument("--joint-set", default=None,
                   help="joint layout of the predictions (default: the file's, else from the joint count)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object instead of tables")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file (atomically)")
    p.set_defaults(func=main)


def evaluate_file(args) -> dict:
    """``rescore`` with the command's arguments."""
    from ..eval.rescore import rescore

    return rescore(args.predictions, args.data, dataset=args.dataset, split=args.split, root=args.root,
                   joint_set=args.joint_set)


def format_table(res: dict, source: str = "") -> str:
    """Readable summary: header, then each per-group and per-joint table of the record."""
    from ..data.dataset import dataset_class

    head = f"{res['dataset']} {res['split']}, root {res['root']}"
    if res["metric"] == "MRPE":
        return "\n".join([
            f"{head}: MRPE {res['mrpe_mm']:.2f} mm over {res['num_samples']} samples{source}",
            f"  |dX| {res['x_mm']:.2f} mm   |dY| {res['y_mm']:.2f} mm   |dZ| {res['z_mm']:.2f} mm",
        ])
    decl = dataset_class(res["dataset"]).scoring(res["split"]).declaration()
    unit = decl.get("unit", "")
    means = [f"{(decl.get('groups') or {}).get(fld, 'group')} mean {res[mean]:.2f} {unit}"
             for fld, mean in (decl.get("group_mean") or {}).items() if isinstance(res.get(mean), (int, float))]
    lines = [f"{head}: {res['metric']} {res[decl['value']]:.2f} {unit}"
             + (f" (sample-weighted), {', '.join(means)}" if means else "") + f", {res['num_samples']} samples{source}"]
    for fld, v in (decl.get("variants") or {}).items():
        if isinstance(res.get(fld), dict):
            title = v["title"] if isinstance(v, dict) else v
            lines.append(f"  {title}: {res[fld][decl['value']]:.2f} {unit}")
    if res.get("approximate_joint_mapping"):
        lines.append(f"  note: joint set {res['joint_set']} is mapped to the dataset's joints approximately")
    if res.get("skipped"):
        lines.append("  skipped: " + ", ".join(f"{k} {v}" for k, v in res["skipped"].items()))
    titles = decl.get("group_titles") or {}
    tables = [(titles.get(fld, word), res[fld]) for fld, word in (decl.get("groups") or {}).items()
              if isinstance(res.get(fld), dict)]
    if decl.get("joints") and isinstance(res.get(decl["joints"]), dict):
        tables.append(("joint", res[decl["joints"]]))
    for title, table in tables:
        width = max(len(title), *(len(str(k)) for k in table))
        lines += ["", f"{title:<{width}}  {unit:>10s}", f"{'-' * width}  ----------"]
        lines += [f"{str(k):<{width}}  {v:10.2f}" for k, v in table.items()]
    if tables:  # the all-sample value under the last table, as its total
        width = max(len(tables[-1][0]), *(len(str(k)) for k in tables[-1][1]))
        lines += [f"{'-' * width}  ----------", f"{'total':<{width}}  {res[decl['value']]:10.2f}"]
    return "\n".join(lines)


def _is_evaluate_output(obj) -> bool:
    return isinstance(obj, dict) and {"metric", "num_samples"} <= set(obj) and ("split" in obj or "protocol" in obj)


def main(args) -> int:
    from ..io import atomic_write_json
    from ..outdir import refuse_foreign_file

    if args.out is not None:  # before any work: never replace e.g. an annotation file given by mistake
        refuse_foreign_file(args.out, "--out", _is_evaluate_output, "a result written by pose3dbench evaluate")
    res = evaluate_file(args)
    public = {k: v for k, v in res.items() if not k.startswith("per_sample")}
    for k, v in public.items():
        if isinstance(v, float) and not np.isfinite(v):
            raise PredictionsError(f"{args.predictions}: {k} is not finite; check the predictions")
    if args.out is not None:
        try:
            atomic_write_json(args.out, public)
        except OSError as exc:
            raise PredictionsError(f"cannot write --out {args.out} ({exc.strerror or exc}); pass a writable path "
                                   "(a previous file there is unchanged)") from None
    if args.json:
        sys.stdout.write(json.dumps(public, allow_nan=False) + "\n")
    else:
        print(format_table(public, f" ({args.predictions.name})"))
    return 0
