"""Weights for backend parity checks (tests and benchmarks/onnx_speed.py).

Untrained heads give near-uniform heatmaps, so every coordinate is the grid centre and an eager-vs-ONNX
comparison would pass trivially. ``make_input_dependent`` fixes that without training.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.codecs import codec_for


def make_input_dependent(model: nn.Module, x: torch.Tensor, logit_std: float = 1.0) -> nn.Module:
    """Batch-norm statistics from ``x`` (images [B,3,H,W]), last conv rescaled so the heatmap logits have
    std ``logit_std``; returns ``model`` in eval mode (modified in place)."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # cumulative average: one pass sets the statistics of x
            m.reset_running_stats()
    with torch.no_grad():
        model(*codec_for(model).example_inputs(x))  # RootNet: with the example k
    model.eval()
    last = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
    with torch.no_grad():
        scale = logit_std / model.forward_heatmaps(x).std().clamp_min(1e-8)
        last.weight.mul_(scale)
        if last.bias is not None:
            last.bias.mul_(scale)
    return model
