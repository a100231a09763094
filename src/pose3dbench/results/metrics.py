"""Human3.6M metrics, identical to the 3DMPPE authors' evaluation, vectorised over samples.

All inputs and outputs are camera-frame millimetres. Scoring is root-relative: the root joint
(Pelvis) is subtracted from prediction and ground truth; errors are Euclidean distances over
Human3.6M joints 0..16 (the Pelvis counts, with its zero error under Protocol 2).

- Protocol 2: MPJPE.
- Protocol 1: PA-MPJPE as the authors compute it: a rigid fit (rotation + translation, no scale,
  Kabsch with the reflection fixed by negating the last singular vector, centroids = joint means)
  of the prediction onto the ground truth, fitted on all 18 joints (Thorax included) for ``h36m18``
  (on the 17 mapped joints for other sets), Thorax dropped afterwards.
  ``pa_mpjpe_scaled_mm`` / ``pa_mpjpe_scaled`` (total, per action, per joint) add the similarity
  (scaled: rotation + translation + scale) Procrustes of VideoPose3D/MMPose, fitted on the 17 scored
  joints, for both protocols' images (S11; S9+S11).
"""
from __future__ import annotations

import numpy as np

from ..data.samples import H36MSamples
from ..errors import DatasetError, PredictionsError
from ..joints import H36M_ACTIONS, H36M_JOINT_NAMES, get_joint_set
from ..protocols import PROTOCOLS

__all__ = [
    "rigid_align", "similarity_align", "protocol1_errors", "joint_errors", "summarize_errors",
    "evaluate_pose", "root_errors",
]

NUM_EVAL_JOINTS = 17


def _centre(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a - centroid, centroid [N,1,3]) for points a [N,J,3]; the centroid is the mean over joints."""
    mean = (np.full(a.shape[-2], 1.0 / a.shape[-2]) @ a)[..., None, :]  # matmul: much faster than mean(axis=1)
    return a - mean, mean


def _cofactor_det(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cofactor matrices [N,3,3] (rows r1 x r2, r2 x r0, r0 x r1) and determinants [N] of x [N,3,3].

    ``cof / det`` is the inverse transpose of x.
    """
    (a, b, c), (d, e, f), (g, h, i) = np.moveaxis(x, 0, -1)
    cof = np.empty_like(x)
    cof[:, 0, 0] = e * i - f * h
    cof[:, 0, 1] = f * g - d * i
    cof[:, 0, 2] = d * h - e * g
    cof[:, 1, 0] = h * c - i * b
    cof[:, 1, 1] = i * a - g * c
    cof[:, 1, 2] = g * b - h * a
    cof[:, 2, 0] = b * f - c * e
    cof[:, 2, 1] = c * d - a * f
    cof[:, 2, 2] = a * e - b * d
    return cof, a * cof[:, 0, 0] + b * cof[:, 0, 1] + c * cof[:, 0, 2]


def _svd_rotation(h: np.ndarray) -> np.ndarray:
    """The authors' rigid_transform_3D rotation for H = A^T B [N,3,3]: R = V U^T, with the last
    row of V^T negated where det(R) < 0."""
    u, _, vt = np.linalg.svd(h)
    r = np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)
    flip = np.linalg.det(r) < 0
    if np.any(flip):
        vt = vt.copy()
        vt[flip, 2, :] *= -1.0
        r[flip] = np.swapaxes(vt[flip], -1, -2) @ np.swapaxes(u[flip], -1, -2)
    return r


def _polar_rotation(m: np.ndarray, max_iter: int = 40, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Orthogonal polar factor of m [N,3,3] (det > 0) by Newton iteration with determinant scaling
    (Higham): X <- (g X + X^-T / g) / 2, g = |det X|^(-1/3) until close, then g = 1.

    For m = H^T = V S U^T this is V U^T, the Kabsch rotation. The step size delta estimates the
    error of X; with quadratic convergence the returned X is within ~delta^2 of the limit.
    Works on a [9,N] component layout (contiguous rows). Returns (R [N,3,3], converged mask [N]).
    """
    n = m.shape[0]
    x = m.reshape(n, 9).T.copy()
    x /= np.sqrt(np.einsum("in,in->n", x, x))
    cof = np.empty_like(x)
    scaled = True
    delta = np.full(n, np.inf)
    for _ in range(max_iter):
        a, b, c, d, e, f, g, h, i = x
        np.multiply(e, i, out=cof[0]); cof[0] -= f * h  # noqa: E702  cofactors: X^-T = cof / det
        np.multiply(f, g, out=cof[1]); cof[1] -= d * i  # noqa: E702
        np.multiply(d, h, out=cof[2]); cof[2] -= e * g  # noqa: E702
        np.multiply(h, c, out=cof[3]); cof[3] -= i * b  # noqa: E702
        np.multiply(i, a, out=cof[4]); cof[4] -= g * c  # noqa: E702
        np.multiply(g, b, out=cof[5]); cof[5] -= h * a  # noqa: E702
        np.multiply(b, f, out=cof[6]); cof[6] -= c * e  # noqa: E702
        np.multiply(c, d, out=cof[7]); cof[7] -= a * f  # noqa: E702
        np.multiply(a, e, out=cof[8]); cof[8] -= b * d  # noqa: E702
        det = a * cof[0] + b * cof[1] + c * cof[2]
        if scaled:
            gamma = 1.0 / np.cbrt(np.abs(det))
            nxt = (0.5 * gamma) * x + cof * (0.5 / (gamma * det))
        else:
            nxt = 0.5 * x + cof * (0.5 / det)
        diff = nxt - x
        delta = np.sqrt(np.einsum("in,in->n", diff, diff))
        x = nxt
        worst = delta.max()
        scaled = scaled and worst > 1e-2
        if worst < tol:
            break
    return x.T.reshape(n, 3, 3), delta < tol


def _kabsch_rotation(h: np.ndarray) -> np.ndarray:
    """Batched rotation R [N,3,3] maximising trace(R H) for H = sum_j a_j b_j^T [N,3,3] (a, b centred).

    Same result as the authors' rigid_transform_3D (SVD, R = V U^T, the last row of V^T negated
    where det(R) < 0, i.e. the best proper rotation). Fast path: Newton polar iteration where
    det(H) > 0 (sign det(V U^T) = sign det H, so no reflection fix is needed); SVD elsewhere.
    """
    m = np.swapaxes(h, -1, -2)
    _, det = _cofactor_det(m)
    size = np.einsum("nij,nij->n", h, h) ** 1.5
    fast = det > 1e-10 * size
    if fast.all():
        r, ok = _polar_rotation(m)
        if ok.all():
            return r
        fast = ok
    else:
        r = np.empty_like(h)
        if fast.any():
            r_fast, ok = _polar_rotation(m[fast])
            r[fast] = r_fast
            fast[np.flatnonzero(fast)[~ok]] = False
    r[~fast] = _svd_rotation(h[~fast])
    return r


def _apply(r: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Rotate points a [N,J,3] by r [N,3,3]: (r @ a_j) for every joint."""
    return a @ np.swapaxes(r, -1, -2)


def _fit(pred: np.ndarray, gt: np.ndarray, with_scale: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Procrustes fit of pred onto gt [N,J,3] mm on all J joints.

    Returns (fitted centred pred, centred gt, gt centroid): fitted = s R (pred - mean pred), with
    s = 1 (authors' rigid fit) or Umeyama's optimal scale trace(DS)/|a|^2 = sum_j b_j.(R a_j)/|a|^2.
    """
    a_c, _ = _centre(pred)
    b_c, b_mean = _centre(gt)
    fitted = _apply(_kabsch_rotation(np.swapaxes(a_c, -1, -2) @ b_c), a_c)
    if with_scale:
        norm_a = np.einsum("nji,nji->n", a_c, a_c)
        scale = np.einsum("nji,nji->n", fitted, b_c) / np.where(norm_a > 0, norm_a, 1.0)
        fitted *= scale[:, None, None]
    return fitted, b_c, b_mean


def rigid_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Rigidly align ``pred`` [N,J,3] onto ``gt`` [N,J,3] (rotation + translation, no scale), mm.

    Batched version of the authors' ``rigid_align``: the fit uses all J joints given.
    """
    fitted, _, b_mean = _fit(pred, gt, with_scale=False)
    return fitted + b_mean


def similarity_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Scaled Procrustes (rotation, translation and isotropic scale) of ``pred`` onto ``gt``, mm.

    The VideoPose3D/MMPose ``p_mpjpe`` convention (Umeyama's optimal scale), batched over [N,J,3].
    """
    fitted, _, b_mean = _fit(pred, gt, with_scale=True)
    return fitted + b_mean


def protocol1_errors(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protocol-1 per-joint errors [N,17] mm: (authors' rigid PA fitted on all J joints, scaled
    Procrustes fitted on the 17 scored joints), for root-relative pred, gt [N,J,3], J = 18 or 17.

    Both fits share the moments, one batched rotation solve and a homogeneous copy of pred, so
    each fitted pose is one batched matmul: [a_j, 1] @ [[s R^T], [mean_b - s R mean_a]].
    """
    n, k = pred.shape[:2]
    e = NUM_EVAL_JOINTS
    m_all = np.swapaxes(pred, -1, -2) @ gt
    sum_a, sum_b = np.ones(k) @ pred, np.ones(k) @ gt                  # [N,3]
    fits = [(k, m_all, sum_a / k, sum_b / k)]
    if k > e:  # the 17-joint fit: drop the extra joints' terms
        m17 = m_all - np.swapaxes(pred[:, e:], -1, -2) @ gt[:, e:]
        fits.append((e, m17, (sum_a - pred[:, e:].sum(axis=1)) / e, (sum_b - gt[:, e:].sum(axis=1)) / e))
    else:
        fits.append(fits[0])
    hs = [m - kk * ma[:, :, None] * mb[:, None, :] for kk, m, ma, mb in fits]
    rot = _kabsch_rotation(np.concatenate(hs))
    homog = np.empty((n, e, 4))
    homog[..., :3] = pred[:, :e]
    homog[..., 3] = 1.0
    out = []
    for (kk, _, ma, mb), h, r, with_scale in zip(fits, hs, (rot[:n], rot[n:]), (False, True)):
        if with_scale:
            a = pred[:, :kk]
            norm_a = np.einsum("nji,nji->n", a, a) - kk * np.einsum("ni,ni->n", ma, ma)
            r = r * (np.einsum("nij,nji->n", r, h) / np.where(norm_a > 0, norm_a, 1.0))[:, None, None]
        affine = np.empty((n, 4, 3))
        affine[:, :3] = np.swapaxes(r, -1, -2)
        affine[:, 3] = mb - np.einsum("nij,nj->ni", r, ma)
        err = homog @ affine
        err -= gt[:, :e]
        out.append(np.sqrt(np.einsum("nji,nji->nj", err, err)))
    return out[0], out[1]


def _pose_arrays(pred_cam, samples: H36MSamples, js) -> tuple[np.ndarray, np.ndarray]:
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
            "check --protocol/--root and the predictions' joint set")
    if not np.isfinite(pred).all():
        bad = np.flatnonzero(~np.isfinite(pred).all(axis=(1, 2)))
        raise PredictionsError(
            f"{bad.size} predictions contain NaN/inf (e.g. image ids {samples.image_id[bad[:5]].tolist()}); "
            "re-run the model or drop those samples")
    gt = np.asarray(samples.joints_cam, dtype=np.float64)
    if js.name == "h36m18":
        return pred, gt
    if js.to_h36m17[0] != js.root:
        raise PredictionsError(f"joint set {js.name!r}: its root must map to the Human3.6M Pelvis")
    return pred[:, list(js.to_h36m17)], gt[:, :NUM_EVAL_JOINTS]


def joint_errors(pred: np.ndarray, gt: np.ndarray, root: int = 0) -> np.ndarray:
    """Root-relative Euclidean error per sample and joint [N,17] mm (MPJPE terms) of [N,J,3] poses."""
    d = pred - gt
    d -= d[:, root:root + 1]
    d = d[:, :NUM_EVAL_JOINTS]
    return np.sqrt(np.einsum("nji,nji->nj", d, d))


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


def evaluate_pose(pred_cam, samples: H36MSamples, protocol: int, joint_set: str = "h36m18", *,
                  scaled_per_sample: bool = False) -> dict:
    """Score absolute (or root-relative) camera-mm predictions [N,J,3] against ``samples``.

    ``protocol`` 2 -> MPJPE, 1 -> PA-MPJPE (authors' rigid fit: rotation + translation, no scale); both plus
    the scaled variant (similarity fit: rotation + translation + scale): ``pa_mpjpe_scaled_mm`` and
    ``pa_mpjpe_scaled`` = {total_mm, action_mean_mm, per_action_mm, per_joint_mm}.
    Returns the keys protocol, root, metric, total_mm, action_mean_mm, per_action_mm,
    per_joint_mm, num_samples, [pa_mpjpe_scaled_mm, pa_mpjpe_scaled], skipped, joint_set,
    approximate_joint_mapping and per_sample_mm (numpy [N], not meant for JSON); with
    ``scaled_per_sample`` also ``per_sample_scaled_mm`` (numpy [N], for the report's bootstrap CI).
    """
    if int(protocol) not in PROTOCOLS:
        raise PredictionsError(f"protocol must be 1 or 2, got {protocol!r}")
    protocol = int(protocol)
    js = get_joint_set(joint_set)
    pred, gt = _pose_arrays(pred_cam, samples, js)
    extra = {}
    if protocol == 1:
        # root-relative as the authors do; the fit uses all joints of the layout (18 incl. Thorax)
        err, scaled = protocol1_errors(pred - pred[:, :1], gt - gt[:, :1])
    else:
        err = joint_errors(pred, gt)
        # the scaled variant on the Protocol-2 images too (S9+S11: the "P-MPJPE" of VideoPose3D/MMPose tables)
        scaled = protocol1_errors(pred - pred[:, :1], gt - gt[:, :1])[1]
    extra["pa_mpjpe_scaled_mm"] = float(scaled.mean())
    sc = summarize_errors(scaled, samples.action_idx)
    extra["pa_mpjpe_scaled"] = {k: sc[k] for k in ("total_mm", "action_mean_mm", "per_action_mm", "per_joint_mm")}
    if scaled_per_sample:
        extra["per_sample_scaled_mm"] = sc["per_sample_mm"]
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
