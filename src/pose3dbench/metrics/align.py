"""Procrustes alignment of predicted onto ground-truth poses, batched over samples (pure numpy, camera mm).

``rigid_align`` (rotation + translation, no scale: the 3DMPPE ``rigid_align``, Kabsch with the reflection
fixed by negating the last singular vector), ``similarity_align`` (+ isotropic scale: Umeyama's optimal scale,
the VideoPose3D/MMPose ``p_mpjpe``) and ``aligned_errors`` (both fits sharing one batched rotation solve).
The rotation is a Newton polar iteration where det(H) > 0 (same result as the SVD, faster) and the SVD
elsewhere. Nothing here knows a dataset.
"""
from __future__ import annotations

import numpy as np

__all__ = ["rigid_align", "similarity_align", "aligned_errors"]


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


def aligned_errors(pred: np.ndarray, gt: np.ndarray, scored: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint errors [N, scored] mm after two Procrustes fits of pred onto gt [N,J,3] (root-relative, mm):
    (rigid: rotation + translation fitted on all J joints; similarity: + scale, fitted on the first ``scored``
    joints). The 3DMPPE Protocol-1 PA-MPJPE is the first with J = 18 (Thorax in the fit) and scored = 17.

    Both fits share the moments, one batched rotation solve and a homogeneous copy of pred, so
    each fitted pose is one batched matmul: [a_j, 1] @ [[s R^T], [mean_b - s R mean_a]].
    """
    n, k = pred.shape[:2]
    e = int(scored)
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
