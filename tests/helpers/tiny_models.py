"""Tiny deterministic models for the robustness, resume and sharding tests (bring-your-own specs).

Loaded by path (``--model tests/helpers/tiny_models.py:build_slow``, see ``paths.tiny_spec``): the file is imported
as a module of its own, so it imports ``TinyPose`` from the ``tests`` package: importable with the repository root
on ``sys.path`` (pytest's ``pythonpath``; subprocess runs get it on PYTHONPATH from ``runs.child_env``).

``build_slow``: a pose model that sleeps in every forward, so a run can be interrupted mid-inference.
``build_rootnet``: a RootNet-interface model (forward(img, k_value [B,1]) -> [B,3] = x_hm, y_hm, depth mm).
``build_very_slow``: 0.5 s per forward (two runs meeting on one --out folder).
``build_interrupting``: Ctrl-C in forward number $ROBUST_INTERRUPT_AT (resume chunks are left behind).
"""
import os
import time

import torch
from torch import nn

from pose3dbench.models import ModelConfig
from tests.helpers.byo_model import TinyPose

DELAY_S = 0.08


class SlowTinyPose(TinyPose):
    """TinyPose that sleeps ``delay_s`` in every forward."""

    def __init__(self, delay_s: float = DELAY_S):
        super().__init__()
        self.delay_s = delay_s

    def forward(self, img):
        time.sleep(self.delay_s)
        return super().forward(img)


def _slow(delay_s: float, variant: str) -> SlowTinyPose:
    torch.manual_seed(0)
    model = SlowTinyPose(delay_s)
    model.config.variant = variant
    return model


def build_slow():
    return _slow(DELAY_S, "tiny-slow")


class TinyRoot(nn.Module):
    """Soft-argmax over a 32x32 map for x, y (heatmap units); depth = gamma * k_value (mm)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=8, padding=1), nn.ReLU())
        self.xy = nn.Conv2d(4, 1, 1)
        self.gamma = nn.Linear(4, 1)
        self.config = ModelConfig(family="rootnet", variant="tiny-root", joint_num=1, depth_bins=1,
                                  heatmap_size=(32, 32))

    def forward(self, img, k_value):
        f = self.features(img)
        logits = self.xy(f).flatten(1)
        prob = torch.softmax(logits, dim=1).view(-1, 32, 32)
        ramp = torch.arange(32, dtype=prob.dtype, device=prob.device)
        x = (prob.sum(1) * ramp).sum(1)
        y = (prob.sum(2) * ramp).sum(1)
        gamma = 1.0 + 0.1 * torch.tanh(self.gamma(f.mean((2, 3)))).squeeze(1)
        return torch.stack([x, y, gamma * k_value.view(-1)], dim=1)


def build_rootnet():
    torch.manual_seed(1)
    return TinyRoot()


def build_very_slow():
    """0.5 s per forward: a run that holds its --out folder long enough for a second one to meet it."""
    return _slow(0.5, "tiny-very-slow")


class InterruptingTinyPose(TinyPose):
    """Raises KeyboardInterrupt (as Ctrl-C would) in forward number $ROBUST_INTERRUPT_AT when that is set."""

    calls = 0

    def forward(self, img):
        InterruptingTinyPose.calls += 1
        at = os.environ.get("ROBUST_INTERRUPT_AT")
        if at and InterruptingTinyPose.calls == int(at):
            raise KeyboardInterrupt
        return super().forward(img)


def build_interrupting():
    torch.manual_seed(0)
    InterruptingTinyPose.calls = 0
    model = InterruptingTinyPose()
    model.config.variant = "tiny-interrupting"
    return model
