"""``pose3dbench evaluate``: re-score saved predictions against a Human3.6M split, without a model.

Pose predictions are scored from ``pred_cam`` (camera mm); scoring is root-relative, so which root
was used for back-projection does not change the numbers. Root-only files (RootNet) are scored
with MRPE against the GT pelvis.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import PredictionsError
from ..protocols import BOX_SOURCES, PROTOCOLS, ROOT_SOURCES, box_source, is_protocol


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="re-score saved predictions (.npz or the authors' result json) without a model",
        description="Re-score saved predictions on a Human3.6M split: MPJPE (Protocol 2) or the authors' "
                    "PA-MPJPE (Protocol 1; rigid alignment: rotation + translation, no scale), "
                    "per action and per joint; MRPE for root-only (RootNet) files.")
    p.add_argument("--data", type=Path, required=True, help="Human3.6M folder in the 3DMPPE format")
    p.add_argument("--predictions", type=Path, required=True,
                   help="predictions written by `pose3dbench run` (.npz), the authors' "
                        "bbox_root_pose_human36m_output.json, or a RootNet bbox_root json")
    p.add_argument("--protocol", type=int, choices=list(PROTOCOLS), default=None,
                   help="1: S11, PA-MPJPE (rigid alignment: rotation + translation, no scale); 2: S9+S11, MPJPE "
                        "(default: the file's, else 2)")
    p.add_argument("--root", choices=list(BOX_SOURCES), default=None,
                   help="which split to match: gt boxes (degenerate boxes skipped) or the bbox_root file "
                        "(default: the file's, else gt)")
    p.add_argument("--joint-set", default=None,
                   help="joint layout of the predictions (default: the file's, else from the joint count)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object instead of tables")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file (atomically)")
    p.set_defaults(func=main)


def _defaults(args, meta: dict) -> tuple[int, str, str | None]:
    protocol = args.protocol if args.protocol is not None else int(meta.get("protocol", 2))
    if not is_protocol(protocol):
        raise PredictionsError(f"{args.predictions}: protocol {protocol!r} in the file; pass --protocol 1 or 2")
    label = meta.get("root", "gt") if args.root is None else args.root
    if label not in ROOT_SOURCES:
        raise PredictionsError(f"{args.predictions}: root {label!r} in the file is unknown; pass --root gt|rootnet")
    split_root = box_source(label)
    return protocol, split_root, (label if args.root is None else None)


def _joint_set(args, preds) -> str:
    from ..joints import get_joint_set

    name = args.joint_set or preds.meta.get("joint_set") or preds.num_joints
    try:
        js = get_joint_set(name)
    except KeyError as exc:
        raise PredictionsError(f"{args.predictions}: {exc.args[0]}; pass --joint-set") from None
    if js.num_joints != preds.num_joints:
        raise PredictionsError(f"{args.predictions}: predictions have {preds.num_joints} joints but joint set "
                               f"{js.name!r} has {js.num_joints}; pass the right --joint-set")
    return js.name


def evaluate_file(args) -> dict:
    """Load, match and score; returns the result dict (with ``per_sample_mm`` for pose files)."""
    from ..data.splits import SplitProvider
    from ..results.metrics import evaluate_pose, root_errors
    from ..results.predictions import load_predictions, match_to_samples

    preds = load_predictions(args.predictions)
    protocol, split_root, label = _defaults(args, preds.meta)
    samples = SplitProvider(args.data).get(protocol, split_root)
    preds = match_to_samples(preds, samples.image_id)
    if preds.kind == "root":
        res = {"protocol": protocol, "root": label or samples.root_source, "metric": "MRPE",
               **root_errors(preds.root_cam, samples.joints_cam[:, 0]), "skipped": dict(samples.skipped)}
    else:
        res = evaluate_pose(preds.pred_cam, samples, protocol, joint_set=_joint_set(args, preds))
        if label:
            res["root"] = label
    return res


def format_table(res: dict, source: str = "") -> str:
    """Readable summary: header, per-action and per-joint errors (mm)."""
    head = f"Protocol {res['protocol']}, root {res['root']}"
    if res["metric"] == "MRPE":
        return "\n".join([
            f"{head}: MRPE {res['mrpe_mm']:.2f} mm over {res['num_samples']} samples{source}",
            f"  |dX| {res['x_mm']:.2f} mm   |dY| {res['y_mm']:.2f} mm   |dZ| {res['z_mm']:.2f} mm",
        ])
    lines = [f"{head}: {res['metric']} {res['total_mm']:.2f} mm (sample-weighted), "
             f"action mean {res['action_mean_mm']:.2f} mm, {res['num_samples']} samples{source}"]
    if "pa_mpjpe_scaled_mm" in res:
        lines.append(f"  PA-MPJPE with scale (similarity alignment: rotation + translation + scale, VideoPose3D/"
                     f"MMPose): {res['pa_mpjpe_scaled_mm']:.2f} mm")
    if res.get("approximate_joint_mapping"):
        lines.append(f"  note: joint set {res['joint_set']} is mapped to Human3.6M approximately")
    if res.get("skipped"):
        lines.append("  skipped: " + ", ".join(f"{k} {v}" for k, v in res["skipped"].items()))
    for title, table in (("action", res["per_action_mm"]), ("joint", res["per_joint_mm"])):
        width = max(len(title), *(len(k) for k in table))
        lines += ["", f"{title:<{width}}  error (mm)", f"{'-' * width}  ----------"]
        lines += [f"{k:<{width}}  {v:10.2f}" for k, v in table.items()]
    width = max(len(k) for k in res["per_joint_mm"])
    lines += [f"{'-' * width}  ----------", f"{'total':<{width}}  {res['total_mm']:10.2f}"]
    return "\n".join(lines)


def _is_evaluate_output(obj) -> bool:
    return isinstance(obj, dict) and {"protocol", "metric", "num_samples"} <= set(obj)


def main(args) -> int:
    from ..io import atomic_write_json
    from ..outdir import refuse_foreign_file

    if args.out is not None:  # before any work: never replace e.g. an annotation file given by mistake
        refuse_foreign_file(args.out, "--out", _is_evaluate_output, "a result written by pose3dbench evaluate")
    res = evaluate_file(args)
    public = {k: v for k, v in res.items() if k != "per_sample_mm"}
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
