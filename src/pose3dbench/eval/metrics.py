"""Human3.6M metrics, identical to the 3DMPPE authors' evaluation, vectorised over samples.

All inputs and outputs are camera-frame millimetres. Scoring is root-relative: the root joint
(Pelvis) is subtracted from prediction and ground truth; errors are Euclidean distances over
Human3.6M joints 0..16 (the Pelvis counts, with its zero error under Protocol 2).

- Protocol 2: MPJPE.
- Protocol 1: PA-MPJPE as the authors compute it: a rigid fit (rotation + translation, no scale,
  Kabsch with the reflection fixed by negating the last singular vector, centroids = joint means)
  of the prediction onto the ground truth, fitted on all 18 joints (Thorax included) for ``h36m18``
  (on the 17 mapped joints for other sets), Thorax dropped afterwards.
  ``pa_mpjpe_scaled_mm`` adds the similarity (scaled) Procrustes of VideoPose3D/MMPose, fitted on
  the 17 scored joints.
"""
from __future__ import annotations

import numpy as np

from ..data.samples import H36MSamples
from ..errors import DatasetError, PredictionsError
from ..joints import H36M_ACTIONS, H36M_JOINT_NAMES, get_joint_set

__all__ = [
    "rigid_align", "similarity_align", "joint_errors", "summarize_errors", "evaluate_pose",
    "root_errors", "prepare_pose_pair",
]

NUM_EVAL_JOINTS = 17


def _centre(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = a.mean(axis=-2, keepdims=True)
    return a - mean, mean


def _kabsch_rotation(a_c: np.ndarray, b_c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched rotation R [N,3,3] with R @ a ~ b for centred point sets [N,J,3].

    Returns (R, s, d): singular values s [N,3] and the reflection sign d [N] (+1 or -1) applied
    to the last singular vector, as in the authors' rigid_transform_3D.
    """
    h = np.swapaxes(a_c, -1, -2) @ b_c                      # [N,3,3] = sum_j a_j b_j^T
    u, s, vt = np.linalg.svd(h)
    r = np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)    # V U^T
    d = np.where(np.linalg.det(r) < 0, -1.0, 1.0)
    if np.any(d < 0):
        vt = vt.copy()
        vt[..., 2, :] *= d[..., None]
        r = np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)
    return r, s, d


def rigid_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Rigidly align ``pred`` [N,J,3] onto ``gt`` [N,J,3] (rotation + translation, no scale), mm.

    Batched version of the authors' ``rigid_align``: the fit uses all J joints given.
    """
    a_c, a_mean = _centre(pred)
    b_c, b_mean = _centre(gt)
    r, _, _ = _kabsch_rotation(a_c, b_c)
    return a_c @ np.swapaxes(r, -1, -2) + b_mean


def similarity_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Scaled Procrustes (rotation, translation and isotropic scale) of ``pred`` onto ``gt``, mm.

    The VideoPose3D/MMPose ``p_mpjpe`` convention (Umeyama's optimal scale), batched over [N,J,3].
    """
    a_c, _ = _centre(pred)
    b_c, b_mean = _centre(gt)
    r, s, d = _kabsch_rotation(a_c, b_c)
    s = s.copy()
    s[..., 2] *= d
    norm_a = np.sum(a_c * a_c, axis=(-1, -2))
    scale = s.sum(axis=-1) / np.where(norm_a > 0, norm_a, 1.0)
    return scale[..., None, None] * (a_c @ np.swapaxes(r, -1, -2)) + b_mean


def prepare_pose_pair(pred_cam, samples: H36MSamples, joint_set: str = "h36m18"):
    """Root-relative (pred, gt) in the joint layout used for alignment, and the scored indices.

    Returns ``pred_rel [N,K,3]``, ``gt_rel [N,K,3]`` (mm) and ``eval_idx`` such that
    ``x[:, eval_idx]`` are Human3.6M joints 0..16: K = 18 for ``h36m18`` (Thorax kept for the
    Protocol-1 fit), K = 17 for every other set (mapped with ``JointSet.to_h36m17``).
    """
    js = get_joint_set(joint_set)
    pred = np.asarray(pred_cam, dtype=np.float64)
    n = len(samples)
    if n == 0:
        raise DatasetError(f"the split has no samples (sources: {samples.source}); nothing to evaluate")
    if pred.ndim != 3 or pred.shape[0] != n or pred.shape[1:] != (js.num_joints, 3):
        raise PredictionsError(
            f"predictions have shape {tuple(pred.shape)} but the split has {n} samples and joint set "
            f"{js.name!r} has {js.num_joints} joints: expected ({n}, {js.num_joints}, 3); "
            "check --protocol/--root and the predictions' joint set")
    if not np.all(np.isfinite(pred)):
        bad = np.flatnonzero(~np.isfinite(pred).all(axis=(1, 2)))
        raise PredictionsError(
            f"{bad.size} predictions contain NaN/inf (e.g. image ids {samples.image_id[bad[:5]].tolist()}); "
            "re-run the model or drop those samples")
    gt = np.asarray(samples.joints_cam, dtype=np.float64)
    pred = pred - pred[:, js.root:js.root + 1]
    gt = gt - gt[:, :1]
    if js.name == "h36m18":
        return pred, gt, np.arange(NUM_EVAL_JOINTS)
    return pred[:, list(js.to_h36m17)], gt[:, :NUM_EVAL_JOINTS], np.arange(NUM_EVAL_JOINTS)


def joint_errors(pred_rel: np.ndarray, gt_rel: np.ndarray, eval_idx=None) -> np.ndarray:
    """Euclidean error per sample and joint [N, len(eval_idx)] in mm."""
    if eval_idx is not None:
        pred_rel, gt_rel = pred_rel[:, eval_idx], gt_rel[:, eval_idx]
    return np.sqrt(np.sum((pred_rel - gt_rel) ** 2, axis=-1))


def summarize_errors(err: np.ndarray, action_idx: np.ndarray) -> dict:
    """Totals from per-joint errors ``err`` [N,17] mm and the samples' action indices (2..16).

    total = mean over all samples x joints (sample-weighted); per action = mean over that action's
    samples (only actions present, in the authors' order); action_mean = mean of per-action means.
    """
    n = err.shape[0]
    per_sample = err.mean(axis=1)
    action_idx = np.asarray(action_idx)
    unknown = np.setdiff1d(np.unique(action_idx), list(H36M_ACTIONS))
    if unknown.size:
        raise DatasetError(f"unknown Human3.6M action indices {unknown.tolist()} in the split (expected 2..16); "
                           "check the annotation files' action_idx")
    keys = np.array(sorted(H36M_ACTIONS))
    counts = np.bincount(np.searchsorted(keys, action_idx), minlength=keys.size)
    sums = np.bincount(np.searchsorted(keys, action_idx), weights=per_sample, minlength=keys.size)
    per_action = {H36M_ACTIONS[int(k)]: float(sums[i] / counts[i]) for i, k in enumerate(keys) if counts[i]}
    per_joint = dict(zip(H36M_JOINT_NAMES[:NUM_EVAL_JOINTS], (float(v) for v in err.mean(axis=0))))
    return {
        "total_mm": float(err.mean()) if n else float("nan"),
        "action_mean_mm": float(np.mean(list(per_action.values()))) if per_action else float("nan"),
        "per_action_mm": per_action,
        "per_joint_mm": per_joint,
        "per_sample_mm": per_sample,
    }


def evaluate_pose(pred_cam, samples: H36MSamples, protocol: int, joint_set: str = "h36m18") -> dict:
    """Score absolute (or root-relative) camera-mm predictions [N,J,3] against ``samples``.

    ``protocol`` 2 -> MPJPE, 1 -> PA-MPJPE (authors' rigid fit) plus ``pa_mpjpe_scaled_mm``.
    Returns the keys protocol, root, metric, total_mm, action_mean_mm, per_action_mm,
    per_joint_mm, num_samples, [pa_mpjpe_scaled_mm], skipped, joint_set,
    approximate_joint_mapping and per_sample_mm (numpy [N], not meant for JSON).
    """
    if int(protocol) not in (1, 2):
        raise PredictionsError(f"protocol must be 1 or 2, got {protocol!r}")
    protocol = int(protocol)
    js = get_joint_set(joint_set)
    pred, gt, eval_idx = prepare_pose_pair(pred_cam, samples, js.name)
    extra = {}
    if protocol == 1:
        err = joint_errors(rigid_align(pred, gt), gt, eval_idx)
        p17, g17 = pred[:, eval_idx], gt[:, eval_idx]
        extra["pa_mpjpe_scaled_mm"] = float(joint_errors(similarity_align(p17, g17), g17).mean())
    else:
        err = joint_errors(pred, gt, eval_idx)
    summary = summarize_errors(err, samples.action_idx)
    out = {
        "protocol": protocol,
        "root": samples.root_source,
        "metric": "PA-MPJPE" if protocol == 1 else "MPJPE",
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
    return out


def root_errors(pred_root, gt_root) -> dict:
    """RootNet accuracy: MRPE (mean Euclidean distance) and mean |dX|, |dY|, |dZ|, camera mm [N,3]."""
    p = np.asarray(pred_root, dtype=np.float64)
    g = np.asarray(gt_root, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 3:
        raise PredictionsError(f"root predictions {p.shape} and ground truth {g.shape} must both be (N, 3)")
    d = p - g
    return {
        "mrpe_mm": float(np.sqrt((d ** 2).sum(axis=1)).mean()),
        "x_mm": float(np.abs(d[:, 0]).mean()),
        "y_mm": float(np.abs(d[:, 1]).mean()),
        "z_mm": float(np.abs(d[:, 2]).mean()),
        "num_samples": int(p.shape[0]),
    }
