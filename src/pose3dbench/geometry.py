"""Frame conversions that are not model facts: world mm -> camera mm -> image pixels and back.

Frames (3DMPPE conventions):
- image pixels: (x, y) in the original image; ``bbox`` = (x, y, w, h) pixels is a crop box.
- camera mm: (X, Y, Z), X right, Y down, Z forward, millimetres.
- world mm: the dataset's world frame (``R``, ``t`` of its camera files).

What a network's output means (heatmap units, the depth cube, the flip test, RootNet's k) is a fact of the
model and lives in ``pose3dbench.models.codecs``, which builds on the frame functions here.

Every function works on numpy arrays and on torch tensors (the result has the type, dtype and
device of the first argument) and broadcasts over leading batch dimensions: per-sample arrays
(``bbox [N,4]``, ``root_cam [N,3]``, ``focal [N,2]``, ...) pair with ``coords [N,J,3]``.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["world_to_camera", "project_to_image", "image_to_camera", "like", "as_floats", "per_sample",
           "stack_last"]


def like(x, ref):
    """``x`` as the array type of ``ref`` (torch tensor on ref's device/dtype, or float numpy)."""
    if isinstance(ref, torch.Tensor):
        return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.result_type(np.asarray(ref).dtype, np.float32))


def as_floats(a):
    """``a`` as a floating array (float64 when it holds integers); numpy or torch, kept as given."""
    if isinstance(a, torch.Tensor):
        return a if a.is_floating_point() else a.double()
    a = np.asarray(a)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


def stack_last(parts, ref):
    """Stack ``parts`` on a new last axis, as torch or numpy like ``ref``."""
    return torch.stack(parts, dim=-1) if isinstance(ref, torch.Tensor) else np.stack(parts, axis=-1)


def per_sample(a, ref, width: int, name: str):
    """``a`` ([..., width]) converted like ``ref`` and given a joint axis: [..., 1, width]."""
    a = like(a, ref)
    if a.shape[-1] != width:
        raise ValueError(f"{name} must have {width} values in its last axis, got shape {tuple(a.shape)}")
    return a[..., None, :]


def world_to_camera(joints_world, R, t, t_is_camera_centre: bool = False):
    """World mm [..., J, 3] -> camera mm [..., J, 3]: X_cam = R @ X_world + t.

    ``R`` [..., 3, 3], ``t`` [..., 3] mm as stored in the released 3DMPPE ``*_camera.json`` files
    (t is the world origin in camera coordinates; checked on a real S11 frame). Older annotation
    releases stored the camera centre instead: pass ``t_is_camera_centre=True`` for
    X_cam = R @ (X_world - t).
    """
    pts = as_floats(joints_world)
    R = like(R, pts)
    t = like(t, pts)[..., None, :]
    x = pts - t if t_is_camera_centre else pts
    if isinstance(pts, torch.Tensor):  # (R @ x^T)^T == x @ R^T, broadcast over leading dims
        rotated = x @ R.transpose(-1, -2)
    else:
        rotated = np.einsum("...ij,...kj->...ki", R, x)
    return rotated if t_is_camera_centre else rotated + t


def project_to_image(joints_cam, focal, princpt):
    """Camera mm [..., J, 3] -> [..., J, 3] = (x pixels, y pixels, Z mm) by the pinhole model.

    ``focal``, ``princpt`` [..., 2] pixels. Z keeps its millimetre value (the authors' cam2pixel).
    """
    cam = as_floats(joints_cam)
    f = per_sample(focal, cam, 2, "focal")
    c = per_sample(princpt, cam, 2, "princpt")
    z = cam[..., 2]
    return stack_last([cam[..., 0] / z * f[..., 0] + c[..., 0], cam[..., 1] / z * f[..., 1] + c[..., 1], z], cam)


def image_to_camera(joints_img, focal, princpt):
    """(x pixels, y pixels, Z mm) [..., J, 3] -> camera mm [..., J, 3]; inverse of :func:`project_to_image`."""
    img = as_floats(joints_img)
    f = per_sample(focal, img, 2, "focal")
    c = per_sample(princpt, img, 2, "princpt")
    z = img[..., 2]
    return stack_last([(img[..., 0] - c[..., 0]) / f[..., 0] * z, (img[..., 1] - c[..., 1]) / f[..., 1] * z, z], img)
