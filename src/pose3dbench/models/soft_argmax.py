"""The one soft-argmax used by every model (integral regression of heatmaps).

All ramps are 0-based: x in [0, W-1], y in [0, H-1], z in [0, D-1], in heatmap units.
Channel layout of a volumetric heatmap: channel = joint * depth_bins + z.
"""
from __future__ import annotations

import torch
from torch import nn


def soft_argmax_3d(heatmaps: torch.Tensor, joint_num: int, depth_bins: int) -> torch.Tensor:
    """[B, J*D, H, W] logits -> [B, J, 3] expected (x, y, z) in heatmap units.

    One softmax over the whole D*H*W volume of each joint, then marginal expectations.
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
    """Base of every pose network here: ``forward_heatmaps`` (subclass) -> soft-argmax -> [B, J, 3].

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
