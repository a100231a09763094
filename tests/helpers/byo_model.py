"""A bring-your-own model (the README's example): any module with the zoo interface can be benchmarked.

``pose3dbench run --model tests/helpers/byo_model.py:build`` (or ``tests.helpers.byo_model:build`` from the
repository root).

Interface: ``forward(img [B,3,H,W] normalised float32) -> [B,J,3]`` in heatmap units and a ``config``
(pose3dbench.models.ModelConfig) stating input size, mean/std, heatmap size, depth bins, joints.
"""
import torch
from torch import nn

from pose3dbench.models import ModelConfig
from pose3dbench.models.codecs import soft_argmax_3d


class TinyPose(nn.Module):
    def __init__(self, joint_num: int = 18, depth_bins: int = 8):
        super().__init__()
        self.joint_num, self.depth_bins = joint_num, depth_bins
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, joint_num * depth_bins, 1)
        self.config = ModelConfig(family="custom", variant="tiny-byo", joint_num=joint_num,
                                  depth_bins=depth_bins, heatmap_size=(32, 32))

    def forward_heatmaps(self, img):
        return self.head(self.features(img))

    def forward(self, img):
        return soft_argmax_3d(self.forward_heatmaps(img), self.joint_num, self.depth_bins)


def build():
    torch.manual_seed(0)
    return TinyPose()
