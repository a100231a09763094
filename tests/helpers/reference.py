"""Reference implementations, one sample at a time, written straight from the authors' description: what the
vectorised metrics are checked against."""
import numpy as np


def ref_rigid_align(a, b):
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    u, s, vt = np.linalg.svd((a - ca).T @ (b - cb))
    r = vt.T @ u.T
    if np.linalg.det(r) < 0:
        vt[2] = -vt[2]
        r = vt.T @ u.T
    t = -r @ ca + cb
    return (r @ a.T).T + t


def ref_scaled_align(a, b):
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ca, b - cb
    na, nb = np.linalg.norm(a0), np.linalg.norm(b0)
    u, s, vt = np.linalg.svd((b0 / nb).T @ (a0 / na))  # VideoPose3D: H = X0^T Y0 (target first)
    v = vt.T
    r = v @ u.T
    sign = np.sign(np.linalg.det(r))
    v[:, -1] *= sign
    s[-1] *= sign
    r = v @ u.T
    scale = s.sum() * nb / na
    return scale * a0 @ r + cb
