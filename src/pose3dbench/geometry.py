"""Coordinate conversions between heatmap units, image pixels, camera and world millimetres (one home).

Frames (3DMPPE conventions):
- heatmap units: (x, y, z) with x in [0, W-1] over the crop width, y in [0, H-1] over the crop
  height and z in [0, depth_bins-1] over a ``depth_range_mm`` cube centred on the root depth.
- image pixels: (x, y) in the original image; ``bbox`` = (x, y, w, h) pixels is the crop box.
- camera mm: (X, Y, Z), X right, Y down, Z forward, millimetres.

Every function works on numpy arrays and on torch tensors (the result has the type, dtype and
device of the first argument) and broadcasts over leading batch dimensions: per-sample arrays
(``bbox [N,4]``, ``root_cam [N,3]``, ``focal [N,2]``, ...) pair with ``coords [N,J,3]``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = [
    "heatmap_to_camera", "camera_to_heatmap", "world_to_camera", "project_to_image",
    "image_to_camera", "flip_merge", "flip_permutation",
]


def _like(x, ref):
    """``x`` as the array type of ``ref`` (torch tensor on ref's device/dtype, or float numpy)."""
    if isinstance(ref, torch.Tensor):
        return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.result_type(np.asarray(ref).dtype, np.float32))


def _floats(a):
    if isinstance(a, torch.Tensor):
        return a if a.is_floating_point() else a.double()
    a = np.asarray(a)
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float64)


def _stack(parts, ref):
    return torch.stack(parts, dim=-1) if isinstance(ref, torch.Tensor) else np.stack(parts, axis=-1)


def _per_sample(a, ref, width: int, name: str):
    """``a`` ([..., width]) converted like ``ref`` and given a joint axis: [..., 1, width]."""
    a = _like(a, ref)
    if a.shape[-1] != width:
        raise ValueError(f"{name} must have {width} values in its last axis, got shape {tuple(a.shape)}")
    return a[..., None, :]


def heatmap_to_camera(coords_hm, bbox, root_cam, focal, princpt, heatmap_size: Sequence[int],
                      depth_bins: int, depth_range_mm: float = 2000.0):
    """Heatmap units [N,J,3] -> camera mm [N,J,3] (the authors' test-time back-projection).

    x_img = x / W * box_w + box_x, y_img = y / H * box_h + box_y (pixels);
    Z = (z / depth_bins * 2 - 1) * depth_range_mm / 2 + root_Z (mm);
    X = (x_img - c_x) / f_x * Z, Y = (y_img - c_y) / f_y * Z.
    ``heatmap_size`` = (H, W); ``bbox`` [N,4] pixels; ``root_cam`` [N,3] mm (only Z is used);
    ``focal``, ``princpt`` [N,2] pixels.
    """
    coords = _floats(coords_hm)
    h, w = int(heatmap_size[0]), int(heatmap_size[1])
    box = _per_sample(bbox, coords, 4, "bbox")
    root = _per_sample(root_cam, coords, 3, "root_cam")
    f = _per_sample(focal, coords, 2, "focal")
    c = _per_sample(princpt, coords, 2, "princpt")
    x_img = coords[..., 0] / w * box[..., 2] + box[..., 0]
    y_img = coords[..., 1] / h * box[..., 3] + box[..., 1]
    z = (coords[..., 2] / depth_bins * 2.0 - 1.0) * (depth_range_mm / 2.0) + root[..., 2]
    return _stack([(x_img - c[..., 0]) / f[..., 0] * z, (y_img - c[..., 1]) / f[..., 1] * z, z], coords)


def camera_to_heatmap(joints_cam, bbox, root_cam, focal, princpt, heatmap_size: Sequence[int],
                      depth_bins: int, depth_range_mm: float = 2000.0):
    """Camera mm [N,J,3] -> heatmap units [N,J,3]; the exact inverse of :func:`heatmap_to_camera`.

    Joints are projected with the pinhole model, placed in the crop ``bbox`` (pixels) scaled to
    ``heatmap_size`` = (H, W), and their depth relative to ``root_cam`` Z (mm) is mapped to bins.
    Values outside the crop or the depth cube are returned as is (not clipped).
    """
    cam = _floats(joints_cam)
    h, w = int(heatmap_size[0]), int(heatmap_size[1])
    box = _per_sample(bbox, cam, 4, "bbox")
    root = _per_sample(root_cam, cam, 3, "root_cam")
    img = project_to_image(cam, focal, princpt)
    x = (img[..., 0] - box[..., 0]) / box[..., 2] * w
    y = (img[..., 1] - box[..., 1]) / box[..., 3] * h
    z = ((cam[..., 2] - root[..., 2]) / (depth_range_mm / 2.0) + 1.0) / 2.0 * depth_bins
    return _stack([x, y, z], cam)


def world_to_camera(joints_world, R, t, t_is_camera_centre: bool = False):
    """World mm [..., J, 3] -> camera mm [..., J, 3]: X_cam = R @ X_world + t.

    ``R`` [..., 3, 3], ``t`` [..., 3] mm as stored in the released 3DMPPE ``*_camera.json`` files
    (t is the world origin in camera coordinates; checked on a real S11 frame). Older annotation
    releases stored the camera centre instead: pass ``t_is_camera_centre=True`` for
    X_cam = R @ (X_world - t).
    """
    pts = _floats(joints_world)
    R = _like(R, pts)
    t = _like(t, pts)[..., None, :]
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
    cam = _floats(joints_cam)
    f = _per_sample(focal, cam, 2, "focal")
    c = _per_sample(princpt, cam, 2, "princpt")
    z = cam[..., 2]
    return _stack([cam[..., 0] / z * f[..., 0] + c[..., 0], cam[..., 1] / z * f[..., 1] + c[..., 1], z], cam)


def image_to_camera(joints_img, focal, princpt):
    """(x pixels, y pixels, Z mm) [..., J, 3] -> camera mm [..., J, 3]; inverse of :func:`project_to_image`."""
    img = _floats(joints_img)
    f = _per_sample(focal, img, 2, "focal")
    c = _per_sample(princpt, img, 2, "princpt")
    z = img[..., 2]
    return _stack([(img[..., 0] - c[..., 0]) / f[..., 0] * z, (img[..., 1] - c[..., 1]) / f[..., 1] * z, z], img)


def flip_permutation(num_joints: int, flip_pairs: Sequence[Sequence[int]]) -> np.ndarray:
    """Index array that swaps each left/right pair: ``joints[..., perm, :]`` is the mirrored order."""
    perm = np.arange(num_joints)
    for a, b in flip_pairs:
        if not (0 <= a < num_joints and 0 <= b < num_joints):
            raise ValueError(f"flip pair ({a}, {b}) out of range for {num_joints} joints")
        perm[a], perm[b] = b, a
    return perm


def flip_merge(coords, coords_flipped, heatmap_w: int, flip_pairs: Sequence[Sequence[int]],
               mirror: str = "heatmap", input_w: int | None = None):
    """Average a forward pass with the pass on the horizontally flipped crop (heatmap units).

    ``coords``, ``coords_flipped``: [..., J, 3] (x, y, z) in heatmap units, numpy or torch.
    The flipped pass is mirrored back, its left/right ``flip_pairs`` are swapped, and x, y, z are
    averaged with the unflipped pass: ``(coords + back) / 2``. ``mirror`` (the model's ``flip_mirror``):

    - ``heatmap``: ``x -> heatmap_w - x - 1`` in heatmap units, the 3DMPPE ``main/test.py`` expression
      (``cfg.output_shape[1] - x - 1``, evaluated in that order);
    - ``patch``: the MSRA Integral ``validNet``: in input-patch pixels ``x_px = x * input_w / heatmap_w``,
      ``x_px -> input_w - x_px - 1``, back to heatmap units (needs ``input_w``, the crop width in pixels).
    """
    if tuple(coords.shape) != tuple(coords_flipped.shape):
        raise ValueError(f"flip_merge: shapes differ: {tuple(coords.shape)} vs {tuple(coords_flipped.shape)}")
    perm = flip_permutation(coords.shape[-2], flip_pairs)
    if isinstance(coords, torch.Tensor):
        perm = torch.as_tensor(perm, device=coords.device)
        back = coords_flipped.index_select(-2, perm).clone()
    else:
        back = np.take(np.asarray(coords_flipped), perm, axis=-2).astype(np.result_type(coords, np.float32))
    if mirror == "heatmap":
        back[..., 0] = heatmap_w - back[..., 0] - 1
    elif mirror == "patch":
        if not input_w:
            raise ValueError("flip_merge: mirror='patch' needs input_w (the crop width in pixels)")
        px_per_unit = input_w / heatmap_w
        back[..., 0] = (input_w - back[..., 0] * px_per_unit - 1) / px_per_unit
    else:
        raise ValueError(f"flip_merge: mirror must be 'heatmap' or 'patch', got {mirror!r}")
    return (coords + back) / 2
