"""Codecs: the one home of what a network's output means, from raw logits to camera millimetres.

A codec is built from a model's ``ModelConfig`` (``codec_for(model_or_config)``) and answers, for the rest of
the tool, everything that depends on the kind of network without anyone outside ``models/`` asking for its
family:

- ``output_kind``: ``"pose"`` (coordinates [B, J, 3] of every joint) or ``"root"`` (RootNet: [B, 3], one
  root per crop); ``takes_k_value`` / ``input_names`` / ``example_inputs(img)`` / ``forward_inputs(img, focal,
  bbox)``: the arguments of the model's ``forward`` (RootNet also takes k [B, 1] mm); ``output_shape(B)``.
- ``VolumetricCodec`` (pose models): soft-argmax of a volumetric heatmap, the flip-test merge, heatmap units
  -> image pixels -> camera mm and back.
- ``RootCodec`` (RootNet): k from the focal length and the box, and its output -> root in camera mm.

Frames and units (3DMPPE conventions, 0-based):

- heatmap units: (x, y, z) with x in [0, W_hm - 1] over the crop width, y in [0, H_hm - 1] over the crop
  height, z in [0, depth_bins - 1] over a ``depth_range_mm`` cube centred on the root depth;
  ``heatmap_size`` = (H_hm, W_hm). RootNet's output is (x, y in heatmap units, depth in mm).
- image pixels: (x, y) in the original image; ``bbox`` = (x, y, w, h) pixels is the crop box.
- camera mm: (X, Y, Z), X right, Y down, Z forward, millimetres; ``focal``, ``princpt`` [N, 2] pixels.

The array functions work on numpy arrays and torch tensors (the result has the type, dtype and device of
the first argument) and broadcast per-sample arrays ([N, 4] boxes, [N, 3] roots, [N, 2] cameras) over the
joints of ``coords`` [N, J, 3].
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import DatasetError
from ..geometry import as_floats, image_to_camera, per_sample, project_to_image, stack_last
from ..joints import JOINT_SET_BY_COUNT, get_joint_set
from .config import DEFAULT_DEPTH_RANGE_MM

#: What a model's forward gives: every joint (``pose``) or one root per crop (``root``, RootNet).
OUTPUT_KINDS = ("pose", "root")
#: RootNet's assumed real-world box (mm), the authors' ``cfg.bbox_real`` = (2000, 2000).
BBOX_REAL_MM = (2000.0, 2000.0)
#: RootNet's k (mm) for example inputs (export, profiling, checks): sqrt(f_x * f_y * A_real / A_img) of a
#: ~2 m x 2 m person seen at a typical Human3.6M distance.
DEFAULT_K_VALUE = 3000.0

__all__ = [
    "OUTPUT_KINDS", "BBOX_REAL_MM", "DEFAULT_K_VALUE", "DEFAULT_DEPTH_RANGE_MM",
    "soft_argmax_3d", "soft_argmax_2d", "VolumetricPoseModel", "flip_permutation", "flip_merge",
    "heatmap_to_image", "heatmap_to_camera", "camera_to_heatmap", "rootnet_k_value",
    "VolumetricCodec", "RootCodec", "codec_for",
]


# --------------------------------------------------------------------------- soft-argmax (heatmap units)


def soft_argmax_3d(heatmaps: torch.Tensor, joint_num: int, depth_bins: int) -> torch.Tensor:
    """[B, J*D, H, W] logits (channel = joint * depth_bins + z) -> [B, J, 3] expected (x, y, z) in heatmap units.

    One softmax over the whole D*H*W volume of each joint, then marginal expectations with 0-based ramps.
    """
    b, c, h, w = heatmaps.shape
    if c != joint_num * depth_bins:
        raise ValueError(f"heatmap has {c} channels, expected joint_num*depth_bins = {joint_num}*{depth_bins}")
    prob = torch.softmax(heatmaps.reshape(b, joint_num, depth_bins * h * w).float(), dim=2)
    prob = prob.reshape(b, joint_num, depth_bins, h, w)
    px = prob.sum(dim=(2, 3))  # [B, J, W]
    py = prob.sum(dim=(2, 4))  # [B, J, H]
    pz = prob.sum(dim=(3, 4))  # [B, J, D]
    x = (px * torch.arange(w, device=prob.device, dtype=prob.dtype)).sum(dim=2)
    y = (py * torch.arange(h, device=prob.device, dtype=prob.dtype)).sum(dim=2)
    z = (pz * torch.arange(depth_bins, device=prob.device, dtype=prob.dtype)).sum(dim=2)
    return torch.stack((x, y, z), dim=2)


def soft_argmax_2d(heatmap: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] logits -> [B, 2] expected (x, y) in heatmap units (RootNet)."""
    b, _, h, w = heatmap.shape
    prob = torch.softmax(heatmap.reshape(b, h * w).float(), dim=1).reshape(b, h, w)
    x = (prob.sum(dim=1) * torch.arange(w, device=prob.device, dtype=prob.dtype)).sum(dim=1)
    y = (prob.sum(dim=2) * torch.arange(h, device=prob.device, dtype=prob.dtype)).sum(dim=1)
    return torch.stack((x, y), dim=1)


class VolumetricPoseModel(nn.Module):
    """Base of every pose network here: ``forward_heatmaps`` (subclass) -> soft-argmax -> [B, J, 3] heatmap units.

    Subclasses set ``joint_num`` and ``depth_bins`` and define ``forward_heatmaps(img)`` returning the
    raw logits [B, J*D, Hm, Wm] (channel = joint * depth_bins + z). Adds no parameters or buffers.
    """

    joint_num: int
    depth_bins: int

    def forward_heatmaps(self, img: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def coords_from_heatmaps(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Logits [B, J*D, Hm, Wm] -> [B, J, 3] (x, y, z) in heatmap units."""
        return soft_argmax_3d(heatmaps, self.joint_num, self.depth_bins)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Normalised image batch [B, 3, H, W] -> coordinates [B, J, 3] in heatmap units."""
        return self.coords_from_heatmaps(self.forward_heatmaps(img))


# --------------------------------------------------------------------------- flip test (heatmap units)


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
    """Average a forward pass with the pass on the horizontally flipped crop (heatmap units in, heatmap units out).

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


# --------------------------------------------------------------------------- heatmap units <-> pixels <-> camera mm


def heatmap_to_image(coords_hm, bbox, heatmap_size: Sequence[int]):
    """Heatmap units [N,J,3] -> [N,J,3] = (x pixels, y pixels, third value unchanged) in the original image.

    x_img = x / W_hm * box_w + box_x, y_img = y / H_hm * box_h + box_y; ``bbox`` [N,4] = (x, y, w, h) pixels of
    the crop, ``heatmap_size`` = (H_hm, W_hm). The third value (depth bins, or RootNet's depth in mm) is kept.
    """
    coords = as_floats(coords_hm)
    h, w = int(heatmap_size[0]), int(heatmap_size[1])
    box = per_sample(bbox, coords, 4, "bbox")
    x_img = coords[..., 0] / w * box[..., 2] + box[..., 0]
    y_img = coords[..., 1] / h * box[..., 3] + box[..., 1]
    return stack_last([x_img, y_img, coords[..., 2]], coords)


def heatmap_to_camera(coords_hm, bbox, root_cam, focal, princpt, *, heatmap_size: Sequence[int], depth_bins: int,
                      depth_range_mm: float):
    """Heatmap units [N,J,3] -> camera mm [N,J,3] (the authors' test-time back-projection).

    x_img = x / W_hm * box_w + box_x, y_img = y / H_hm * box_h + box_y (pixels);
    Z = (z / depth_bins * 2 - 1) * depth_range_mm / 2 + root_Z (mm), each joint with its own Z;
    X = (x_img - c_x) / f_x * Z, Y = (y_img - c_y) / f_y * Z.
    ``heatmap_size`` = (H_hm, W_hm); ``bbox`` [N,4] pixels; ``root_cam`` [N,3] camera mm (only Z is used);
    ``focal``, ``princpt`` [N,2] pixels. ``depth_range_mm`` is the model's ``ModelConfig.depth_range_mm``.
    """
    coords = as_floats(coords_hm)
    img = heatmap_to_image(coords, bbox, heatmap_size)
    root = per_sample(root_cam, coords, 3, "root_cam")
    f = per_sample(focal, coords, 2, "focal")
    c = per_sample(princpt, coords, 2, "princpt")
    x_img, y_img = img[..., 0], img[..., 1]
    z = (coords[..., 2] / depth_bins * 2.0 - 1.0) * (depth_range_mm / 2.0) + root[..., 2]
    return stack_last([(x_img - c[..., 0]) / f[..., 0] * z, (y_img - c[..., 1]) / f[..., 1] * z, z], coords)


def camera_to_heatmap(joints_cam, bbox, root_cam, focal, princpt, *, heatmap_size: Sequence[int], depth_bins: int,
                      depth_range_mm: float):
    """Camera mm [N,J,3] -> heatmap units [N,J,3]; the exact inverse of :func:`heatmap_to_camera`.

    Joints are projected with the pinhole model (``focal``, ``princpt`` [N,2] pixels), placed in the crop
    ``bbox`` [N,4] (pixels) scaled to ``heatmap_size`` = (H_hm, W_hm), and their depth relative to ``root_cam``
    Z (mm) is mapped to bins of a ``depth_range_mm`` cube. Values outside the crop or the cube are returned as
    is (not clipped).
    """
    cam = as_floats(joints_cam)
    h, w = int(heatmap_size[0]), int(heatmap_size[1])
    box = per_sample(bbox, cam, 4, "bbox")
    root = per_sample(root_cam, cam, 3, "root_cam")
    img = project_to_image(cam, focal, princpt)
    x = (img[..., 0] - box[..., 0]) / box[..., 2] * w
    y = (img[..., 1] - box[..., 1]) / box[..., 3] * h
    z = ((cam[..., 2] - root[..., 2]) / (depth_range_mm / 2.0) + 1.0) / 2.0 * depth_bins
    return stack_last([x, y, z], cam)


# --------------------------------------------------------------------------- RootNet's k


def rootnet_k_value(focal, bbox, bbox_real_mm: tuple[float, float] = BBOX_REAL_MM):
    """RootNet's k = sqrt(A_real_x * A_real_y * f_x * f_y / (w * h)) in mm, shape [N, 1] float32.

    focal: [N, 2] (f_x, f_y) in pixels; bbox: [N, 4] (x, y, w, h) in original-image pixels of the
    *processed* box (aspect-ratio extended, as fed to the network); bbox_real_mm: the assumed
    real-world box size (2000 x 2000 mm). Accepts numpy arrays or torch tensors (returns the same kind).
    """
    is_torch = isinstance(focal, torch.Tensor) or isinstance(bbox, torch.Tensor)
    f = np.asarray(focal.detach().cpu() if isinstance(focal, torch.Tensor) else focal, dtype=np.float64)
    b = np.asarray(bbox.detach().cpu() if isinstance(bbox, torch.Tensor) else bbox, dtype=np.float64)
    f, b = np.atleast_2d(f), np.atleast_2d(b)
    if f.ndim != 2 or f.shape[1] != 2 or b.ndim != 2 or b.shape[1] != 4 or f.shape[0] != b.shape[0]:
        raise DatasetError(f"rootnet_k_value: expected focal [N, 2] and bbox [N, 4] with the same N, got "
                           f"{f.shape} and {b.shape}; check the camera and bounding-box arrays")
    area = b[:, 2] * b[:, 3]
    bad = ~(np.isfinite(area) & (area > 0) & np.isfinite(f).all(axis=1) & (f > 0).all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"rootnet_k_value: row {i} has focal {f[i].tolist()} and bbox {b[i].tolist()}; "
                           "focal lengths and box width/height must be positive and finite "
                           "(check the camera parameters and bounding boxes of the annotation / bbox_root file)")
    k = np.sqrt(float(bbox_real_mm[0]) * float(bbox_real_mm[1]) * f[:, 0] * f[:, 1] / area)
    k = k.astype(np.float32)[:, None]
    return torch.from_numpy(k) if is_torch else k


# --------------------------------------------------------------------------- the codecs


class _Codec:
    """What every codec has: the config it reads (a ``ModelConfig`` or a config-like object; fields are read
    when a method needs them, so a codec of an incomplete config still answers its capability questions)."""

    output_kind: str
    takes_k_value: bool = False
    input_names: tuple[str, ...] = ("img",)

    def __init__(self, config: Any = None):
        self.config = config

    def _field(self, name: str):
        if self.config is None or not hasattr(self.config, name):
            raise AttributeError(f"{type(self).__name__}: the model's config has no {name!r}")
        return getattr(self.config, name)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """(H_hm, W_hm): the output grid, heatmap units."""
        return tuple(int(v) for v in self._field("heatmap_size"))  # type: ignore[return-value]

    def example_inputs(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The forward's arguments for an image batch ``img`` [B, 3, H, W] with no dataset behind it
        (export, profiling, checks): ``(img,)``, plus k = ``DEFAULT_K_VALUE`` mm [B, 1] where the model takes k."""
        return (img,)

    def forward_inputs(self, img: torch.Tensor, focal=None, bbox=None) -> tuple[torch.Tensor, ...]:
        """The forward's arguments for crops of real samples: ``focal`` [B, 2] pixels, ``bbox`` [B, 4] pixels
        (the crop boxes) give k where the model takes one; pose models ignore them."""
        return (img,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self.config, 'variant', None)!r}, output_kind={self.output_kind!r})"


class VolumetricCodec(_Codec):
    """Pose models: volumetric heatmap -> (x, y, z) heatmap units -> image pixels -> camera mm.

    Built from a ``ModelConfig``: ``joint_num``, ``depth_bins``, ``heatmap_size`` (H_hm, W_hm), ``input_size``
    (crop pixels, for the MSRA flip mirror), ``flip_mirror`` and ``depth_range_mm`` (config objects without it,
    e.g. a bring-your-own model's, get the 3DMPPE 2000 mm).
    """

    output_kind = "pose"

    @property
    def joint_num(self) -> int:
        return int(self._field("joint_num"))

    @property
    def depth_bins(self) -> int:
        return int(self._field("depth_bins"))

    @property
    def depth_range_mm(self) -> float:
        """Depth (mm) the depth bins span, centred on the root."""
        return float(getattr(self.config, "depth_range_mm", DEFAULT_DEPTH_RANGE_MM))

    @property
    def flip_mirror(self) -> str:
        from .input import input_convention

        return input_convention(self.config)["flip_mirror"]

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """The left/right joint pairs of the model's joint set (none for a joint count no set has)."""
        j = self.joint_num
        return tuple(get_joint_set(j).flip_pairs) if j in JOINT_SET_BY_COUNT else ()

    def output_shape(self, batch_size: int) -> tuple[int, ...]:
        """(B, J, 3): (x, y, z) heatmap units per joint."""
        return (int(batch_size), self.joint_num, 3)

    def decode(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Raw logits [B, J*D, Hm, Wm] (or [B, J, D, Hm, Wm]) -> [B, J, 3] heatmap units (soft-argmax)."""
        if heatmaps.ndim == 5:
            heatmaps = heatmaps.reshape(heatmaps.shape[0], -1, heatmaps.shape[3], heatmaps.shape[4])
        return soft_argmax_3d(heatmaps, self.joint_num, self.depth_bins)

    def merge_flip(self, coords, coords_flipped):
        """The flip test: the plain pass and the pass on the mirrored crop ([..., J, 3] heatmap units) merged with
        the model's ``flip_mirror`` and its joint set's left/right pairs (see :func:`flip_merge`)."""
        w_in = int(self._field("input_size")[1])
        return flip_merge(coords, coords_flipped, self.heatmap_size[1], self.flip_pairs, mirror=self.flip_mirror,
                          input_w=w_in)

    def to_image(self, coords_hm, bbox):
        """Heatmap units [N,J,3] -> (x px, y px, z bins) [N,J,3] in the original image (``bbox`` [N,4] pixels)."""
        return heatmap_to_image(coords_hm, bbox, self.heatmap_size)

    def to_camera(self, coords_hm, bbox, root_cam, focal, princpt):
        """Heatmap units [N,J,3] -> camera mm [N,J,3]: ``bbox`` [N,4] pixels, ``root_cam`` [N,3] camera mm (its Z
        centres the depth cube), ``focal``/``princpt`` [N,2] pixels. See :func:`heatmap_to_camera`."""
        return heatmap_to_camera(coords_hm, bbox, root_cam, focal, princpt, heatmap_size=self.heatmap_size,
                                 depth_bins=self.depth_bins, depth_range_mm=self.depth_range_mm)

    def from_camera(self, joints_cam, bbox, root_cam, focal, princpt):
        """Camera mm [N,J,3] -> heatmap units [N,J,3]; the inverse of :meth:`to_camera`."""
        return camera_to_heatmap(joints_cam, bbox, root_cam, focal, princpt, heatmap_size=self.heatmap_size,
                                 depth_bins=self.depth_bins, depth_range_mm=self.depth_range_mm)


class RootCodec(_Codec):
    """RootNet: forward(img [B,3,H,W], k [B,1] mm) -> [B, 3] = (x, y heatmap units, depth mm) -> root camera mm.

    k = sqrt(bbox_real_x * bbox_real_y * f_x * f_y / (box_w * box_h)) mm (``rootnet_k_value``, 2000 x 2000 mm).
    """

    output_kind = "root"
    takes_k_value = True
    input_names = ("img", "k_value")
    bbox_real_mm = BBOX_REAL_MM
    default_k_value = DEFAULT_K_VALUE

    def output_shape(self, batch_size: int) -> tuple[int, ...]:
        """(B, 3): x, y heatmap units, depth mm."""
        return (int(batch_size), 3)

    def k_value(self, focal, bbox):
        """k [N, 1] float32 mm from ``focal`` [N,2] pixels and the processed crop ``bbox`` [N,4] pixels."""
        return rootnet_k_value(focal, bbox, self.bbox_real_mm)

    def example_inputs(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        k = torch.full((img.shape[0], 1), self.default_k_value, dtype=torch.float32, device=img.device)
        return img, k

    def forward_inputs(self, img: torch.Tensor, focal=None, bbox=None) -> tuple[torch.Tensor, ...]:
        if focal is None or bbox is None:
            raise ValueError("RootNet's forward needs k: give the crops' focal [B, 2] and bbox [B, 4] (pixels)")
        k = torch.from_numpy(np.asarray(self.k_value(focal, bbox), dtype=np.float32).reshape(-1, 1))
        return img, k.to(img.device)

    def to_image(self, output, bbox):
        """[N, 3] (x, y heatmap units, depth mm) -> [N, 3] (x px, y px, depth mm) in the original image."""
        return heatmap_to_image(as_floats(output)[:, None, :], bbox, self.heatmap_size)[:, 0]

    def to_camera(self, output, bbox, focal, princpt):
        """RootNet output [N, 3] (x, y heatmap units, depth mm) -> root [N, 3] camera mm: the point is placed in
        the crop ``bbox`` [N,4] (pixels) and back-projected at its depth with ``focal``/``princpt`` [N,2] pixels."""
        root_img = heatmap_to_image(as_floats(output)[:, None, :], bbox, self.heatmap_size)  # [N, 1, 3]
        return image_to_camera(root_img, focal, princpt)[:, 0]


_CODECS = {"pose": VolumetricCodec, "root": RootCodec}


def _family_output_kind(family: Any) -> str | None:
    """The output kind a registered family declares (``register_family(..., output_kind=)``), None if unknown."""
    from . import registry

    if not isinstance(family, str):
        return None
    try:
        return registry.get_family(family).output_kind
    except KeyError:
        return None


def codec_for(model_or_config: Any) -> VolumetricCodec | RootCodec:
    """The codec of a model (an ``nn.Module`` with a ``config``), a config (``ModelConfig`` or config-like) or a
    family name.

    The kind comes from the family's registration (``output_kind``: RootNet's is ``root``); a family the
    registry does not know (bring-your-own models, foreign ONNX files) is a pose model unless the model itself
    declares ``takes_k_value = True`` (RootNet-style: forward(img, k_value) -> [B, 3]).
    """
    if isinstance(model_or_config, str):
        model, config, family = None, None, model_or_config
    elif isinstance(model_or_config, nn.Module):
        model, config = model_or_config, getattr(model_or_config, "config", None)
        family = getattr(config, "family", None)
    else:
        model, config, family = None, model_or_config, getattr(model_or_config, "family", None)
    kind = _family_output_kind(family)
    if kind is None:
        kind = "root" if model is not None and getattr(model, "takes_k_value", False) is True else "pose"
    return _CODECS[kind](config)
