"""Human3.6M scoring, identical to the 3DMPPE authors' evaluation, over the dataset-free ``pose3dbench.metrics``.

All inputs and outputs are camera-frame millimetres. Scoring is root-relative: the root joint (Pelvis) is
subtracted from prediction and ground truth; errors are Euclidean distances over Human3.6M joints 0..16
(the Pelvis counts, with its zero error under Protocol 2).

- Protocol 2 (``p2``): MPJPE (``alignment="root"``).
- Protocol 1 (``p1``): PA-MPJPE as the authors compute it: a rigid fit (rotation + translation, no scale)
  of the prediction onto the ground truth, fitted on all 18 joints (Thorax included) for ``h36m18`` (on the
  17 mapped joints for other sets), Thorax dropped afterwards.
  ``pa_mpjpe_scaled_mm`` / ``pa_mpjpe_scaled`` (total, per action, per joint) add the similarity (scaled:
  rotation + translation + scale) Procrustes of VideoPose3D/MMPose, fitted on the 17 scored joints, for both
  protocols' images (S11; S9+S11).
Totals are sample-weighted; per action = mean over that action's samples; ``action_mean_mm`` = the mean of
the per-action means (the papers' "Avg" column).
"""
from __future__ import annotations

import numpy as np

from ...errors import DatasetError, PredictionsError
from ...joints import H36M_JOINT_NAMES, get_joint_set
from ...jsonspec import BOOL, INT, NUM, STR, Enum, MapOf, Opt, check
from ...metrics import aligned_errors, group_means, joint_errors
from ..dataset import PosePredictions, Scored, Scoring
from ..samples import Samples
from .protocols import ACTION_SHORT, ACTIONS, METRICS, PROTOCOL_METRIC, PROTOCOLS, protocol_of

NUM_EVAL_JOINTS = 17

__all__ = ["H36MScoring", "evaluate_pose", "summarize_errors", "NUM_EVAL_JOINTS"]


def _pose_arrays(pred_cam, samples: Samples, js) -> tuple[np.ndarray, np.ndarray]:
    """Validated (pred, gt) camera mm in the layout used for fitting: [N,18,3] for ``h36m18``
    (Thorax kept for the Protocol-1 fit), else [N,17,3] mapped with ``to_h36m17``; index 0 is the root."""
    pred = np.asarray(pred_cam, dtype=np.float64)
    n = len(samples)
    if n == 0:
        raise DatasetError(f"the split has no samples (sources: {samples.source}); nothing to evaluate")
    if pred.ndim != 3 or pred.shape[0] != n or pred.shape[1:] != (js.num_joints, 3):
        raise PredictionsError(
            f"predictions have shape {tuple(pred.shape)} but the split has {n} samples and joint set "
            f"{js.name!r} has {js.num_joints} joints: expected ({n}, {js.num_joints}, 3); "
            "check --split/--root and the predictions' joint set")
    if not np.isfinite(pred).all():
        bad = np.flatnonzero(~np.isfinite(pred).all(axis=(1, 2)))
        raise PredictionsError(
            f"{bad.size} predictions contain NaN/inf (e.g. image ids {samples.image_id[bad[:5]].tolist()}); "
            "re-run the model or drop those samples")
    gt = np.asarray(samples.joints_cam, dtype=np.float64)
    if js.name == "h36m18":
        return pred, gt
    if js.to_h36m17 is None or js.to_h36m17[0] != js.root:
        raise PredictionsError(f"joint set {js.name!r}: its root must map to the Human3.6M Pelvis")
    return pred[:, list(js.to_h36m17)], gt[:, :NUM_EVAL_JOINTS]


def summarize_errors(err: np.ndarray, action_idx: np.ndarray) -> dict:
    """Totals from per-joint errors ``err`` [N,17] mm and the samples' action indices (2..16).

    total = mean over all samples x joints (sample-weighted); per action = mean over that action's
    samples (only actions present, in the authors' order); action_mean = mean of per-action means.
    """
    n = err.shape[0]
    per_sample = err.mean(axis=1)
    action_idx = np.asarray(action_idx)
    unknown = np.setdiff1d(np.unique(action_idx), list(ACTIONS))
    if unknown.size:
        raise DatasetError(f"unknown Human3.6M action indices {unknown.tolist()} in the split (expected 2..16); "
                           "check the annotation files' action_idx")
    by_index = group_means(per_sample, action_idx, order=sorted(ACTIONS))
    per_action = {ACTIONS[int(k)]: v for k, v in by_index.items()}
    per_joint = dict(zip(H36M_JOINT_NAMES[:NUM_EVAL_JOINTS], (float(v) for v in err.mean(axis=0))))
    return {
        "total_mm": float(err.mean()) if n else float("nan"),
        "action_mean_mm": float(np.mean(list(per_action.values()))) if per_action else float("nan"),
        "per_action_mm": per_action,
        "per_joint_mm": per_joint,
        "per_sample_mm": per_sample,
    }


def evaluate_pose(pred_cam, samples: Samples, protocol: int | None = None, joint_set: str = "h36m18", *,
                  scaled_per_sample: bool = False) -> dict:
    """Score absolute (or root-relative) camera-mm predictions [N,J,3] against ``samples``.

    ``protocol`` 2 -> MPJPE, 1 -> PA-MPJPE (authors' rigid fit: rotation + translation, no scale); None: the
    samples' split. Both get the scaled variant (similarity fit: rotation + translation + scale):
    ``pa_mpjpe_scaled_mm`` and ``pa_mpjpe_scaled`` = {total_mm, action_mean_mm, per_action_mm, per_joint_mm}.
    Returns the keys protocol, root, metric, total_mm, action_mean_mm, per_action_mm, per_joint_mm,
    num_samples, [pa_mpjpe_scaled_mm, pa_mpjpe_scaled], skipped, joint_set, approximate_joint_mapping and
    per_sample_mm (numpy [N], not meant for JSON); with ``scaled_per_sample`` also ``per_sample_scaled_mm``.
    """
    if protocol is None:
        protocol = protocol_of(samples.split)
    if isinstance(protocol, bool) or int(protocol) not in PROTOCOLS:
        raise PredictionsError(f"protocol must be 1 or 2, got {protocol!r}")
    protocol = int(protocol)
    js = get_joint_set(joint_set)
    pred, gt = _pose_arrays(pred_cam, samples, js)
    action_idx = samples.groups["action_idx"]
    rigid, scaled = aligned_errors(pred - pred[:, :1], gt - gt[:, :1], NUM_EVAL_JOINTS)
    err = rigid if protocol == 1 else joint_errors(pred, gt, 0, NUM_EVAL_JOINTS)
    extra = {"pa_mpjpe_scaled_mm": float(scaled.mean())}
    sc = summarize_errors(scaled, action_idx)
    extra["pa_mpjpe_scaled"] = {k: sc[k] for k in ("total_mm", "action_mean_mm", "per_action_mm", "per_joint_mm")}
    if scaled_per_sample:
        extra["per_sample_scaled_mm"] = sc["per_sample_mm"]
    summary = summarize_errors(err, action_idx)
    return {
        "protocol": protocol,
        "root": samples.box,
        "metric": PROTOCOL_METRIC[protocol],
        "total_mm": summary["total_mm"],
        "action_mean_mm": summary["action_mean_mm"],
        "per_action_mm": summary["per_action_mm"],
        "per_joint_mm": summary["per_joint_mm"],
        "num_samples": len(samples),
        **extra,
        "skipped": dict(samples.skipped),
        "joint_set": js.name,
        "approximate_joint_mapping": bool(js.approximate),
        "per_sample_mm": summary["per_sample_mm"],
    }


_BREAKDOWN = {"total_mm": NUM, "action_mean_mm": NUM, "per_action_mm": MapOf(NUM), "per_joint_mm": MapOf(NUM)}
#: a Human3.6M evaluation record in results.json (besides the fields every record has)
RECORD_SPEC = {
    "protocol": Enum(*PROTOCOLS), "metric": Enum(*METRICS), **_BREAKDOWN, "num_samples": INT,
    "skipped": MapOf(INT), "pa_mpjpe_scaled_mm": Opt(NUM),
    # the similarity-aligned (rotation + translation + scale) variant, broken down like the main metric
    "pa_mpjpe_scaled": Opt(_BREAKDOWN), "approximate_joint_mapping": BOOL, "joint_set": Opt(STR),
}


class H36MScoring(Scoring):
    """One protocol: MPJPE (``p2``) or the authors' PA-MPJPE (``p1``), in mm, lower is better."""

    unit = "mm"
    lower_is_better = True
    value = "total_mm"
    groups = {"per_action_mm": "action"}
    joints = "per_joint_mm"

    def __init__(self, split: str):
        self.protocol = protocol_of(split)
        self.metric = PROTOCOL_METRIC[self.protocol]

    def score(self, samples: Samples, pred: PosePredictions) -> Scored:
        res = evaluate_pose(pred.pred_cam, samples, self.protocol, joint_set=pred.joint_set, scaled_per_sample=True)
        per_sample = np.asarray(res.pop("per_sample_mm"))
        scaled = np.asarray(res.pop("per_sample_scaled_mm"))
        return Scored(record=res, per_sample=per_sample, arrays={"per_sample_scaled_mm": scaled})

    def check_record(self, record: dict, path: str) -> None:
        check(record, RECORD_SPEC, path)
        for field in ("total_mm", "action_mean_mm"):
            if record[field] < 0:
                raise ValueError(f"{path}.{field}: an error in mm cannot be negative ({record[field]})")
        for group in ("per_action_mm", "per_joint_mm"):
            for name, v in record[group].items():
                if v < 0:
                    raise ValueError(f"{path}.{group}.{name}: an error in mm cannot be negative ({v})")
        for reason, n in record["skipped"].items():
            if n < 0:
                raise ValueError(f"{path}.skipped.{reason}: must be >= 0, got {n}")
        if record["num_samples"] < 0:
            raise ValueError(f"{path}.num_samples: must be >= 0, got {record['num_samples']}")

    def declaration(self) -> dict:
        out = super().declaration()
        out.update({
            "group_short": {"per_action_mm": dict(ACTION_SHORT)},
            "group_order": {"per_action_mm": list(ACTIONS.values())},
            "group_mean": {"per_action_mm": "action_mean_mm"},
            "variants": {"pa_mpjpe_scaled": {"title": "PA-MPJPE with scale", "per_sample": "per_sample_scaled_mm"}},
            "short": f"P{self.protocol}",
            # the Procrustes fit removes the root: a PA-MPJPE does not depend on where the root came from
            "root_independent": self.protocol == 1,
            # where ModelConfig.published holds the papers' number of this split, per root source
            "published": ({"gt": "p1_pa_mpjpe_mm"} if self.protocol == 1 else
                          {"gt": "p2_mpjpe_mm", "rootnet": "p2_mpjpe_rootnet_mm",
                           "rootnet-model": "p2_mpjpe_rootnet_mm"}),
            "root_published": ({"MRPE": "mrpe_mm", "MRPE x": "mrpe_x_mm", "MRPE y": "mrpe_y_mm",
                                "MRPE z": "mrpe_z_mm"} if self.protocol == 2 else {}),
            "skipped_words": "as the protocol prescribes",
        })
        return out
