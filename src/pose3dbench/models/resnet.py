"""ResNet backbone with torchvision's parameter names (no torchvision import).

Layout as torchvision: ``conv1``, ``bn1``, ``layer1``-``layer4`` of ``BasicBlock`` (depth 18/34)
or ``Bottleneck`` (50/101/152) with the stride on the 3x3 conv ("ResNet v1.5"), projection
shortcut ``downsample.0`` (1x1 conv, no bias) / ``downsample.1`` (BN); no ``fc``. All convs are
bias-free, BatchNorm eps 1e-5. Output: feature map [B, C, H/32, W/32] (C = 512 or 2048), i.e.
stride 32 in input pixels.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelConfigError


class BasicBlock(nn.Module):
    """Two 3x3 convs (stride on the first) plus identity/projection shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand (x4), plus shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


# depth -> (block class, blocks per stage)
RESNET_SPECS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def resnet_out_channels(depth: int) -> int:
    """Channels of the stride-32 feature map of ResNet-``depth`` (512 or 2048)."""
    block, _ = _spec(depth)
    return 512 * block.expansion


def _spec(depth: int) -> tuple[type[nn.Module], tuple[int, int, int, int]]:
    try:
        return RESNET_SPECS[int(depth)]
    except (KeyError, TypeError, ValueError):
        raise ModelConfigError(
            f"unsupported ResNet depth {depth!r}; use one of {', '.join(map(str, sorted(RESNET_SPECS)))}"
        ) from None


class ResNetBackbone(nn.Module):
    """ResNet-``depth`` trunk: image [B, 3, H, W] -> features [B, out_channels, H/32, W/32].

    Initialised as the 3DMPPE / Integral code does when no ImageNet weights are loaded:
    conv weights normal(0, 0.001), BN weight 1, bias 0.
    """

    def __init__(self, depth: int = 50, in_channels: int = 3):
        super().__init__()
        block, layers = _spec(depth)
        self.depth = int(depth)
        self.out_channels = 512 * block.expansion
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            stage, inplanes = _make_stage(block, inplanes, planes, n, stride)
            setattr(self, f"layer{i + 1}", stage)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, mean=0.0, std=0.001)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)


def _make_stage(block: type[nn.Module], inplanes: int, planes: int, blocks: int,
                stride: int) -> tuple[nn.Sequential, int]:
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out
