"""Reading architectures from state-dict keys: the helpers every family's ``infer_arch`` hook uses.

Keys are bare (no ``module.`` prefix); shapes are tuples of ints.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import CheckpointError

JOINT_CANDIDATES = (18, 17, 21)
DEPTH_CANDIDATES = (64, 32)


def has_prefix(keys, prefix: str) -> bool:
    """Some key starts with ``prefix``."""
    return any(k.startswith(prefix) for k in keys)


def need(shapes: Mapping[str, tuple], key: str, source: str, family: str) -> tuple[int, ...]:
    if key not in shapes:
        raise CheckpointError(f"{source}: key {key!r} is missing, so this is not a {family} state dict in the "
                              "authors' layout.")
    return tuple(shapes[key])


def indices(shapes: Mapping[str, Any], prefix: str) -> list[int]:
    """Sorted distinct integer components right after ``prefix`` (block indices)."""
    out = set()
    for k in shapes:
        if k.startswith(prefix):
            head = k[len(prefix):].split(".", 1)[0]
            if head.isdigit():
                out.add(int(head))
    return sorted(out)


def factor_channels(channels: int, *, joint_num: int | None = None, depth_bins: int | None = None,
                    source: str = "checkpoint") -> tuple[int, int]:
    """Final-layer channels = joint_num * depth_bins -> (joint_num, depth_bins).

    Without hints, searches joints {18, 17, 21} x bins {64, 32}; hints pin either factor.
    """
    hint = "pass joint_num=... and/or depth_dim=... (overrides) to say how to split them"
    if joint_num and depth_bins:
        if joint_num * depth_bins != channels:
            raise CheckpointError(f"{source}: final layer has {channels} channels but joint_num*depth_bins = "
                                  f"{joint_num}*{depth_bins} = {joint_num * depth_bins}; fix the overrides.")
        return joint_num, depth_bins
    if joint_num or depth_bins:
        known = joint_num or depth_bins
        if channels % known:
            raise CheckpointError(f"{source}: final layer has {channels} channels, not divisible by "
                                  f"{'joint_num' if joint_num else 'depth_dim'}={known}; fix the override.")
        return (joint_num, channels // joint_num) if joint_num else (channels // depth_bins, depth_bins)
    pairs = [(j, d) for j in JOINT_CANDIDATES for d in DEPTH_CANDIDATES if j * d == channels]
    if len(pairs) != 1:
        raise CheckpointError(f"{source}: final layer has {channels} channels, which is "
                              f"{'not' if not pairs else 'ambiguously'} joints x depth bins for joints in "
                              f"{{17, 18, 21}} and bins in {{32, 64}}; {hint}.")
    return pairs[0]


def resnet_depth(shapes: Mapping[str, tuple], source: str) -> int:
    counts = tuple(len(indices(shapes, f"backbone.layer{i}.")) for i in range(1, 5))
    if counts[0] == 0:
        raise CheckpointError(f"{source}: no 'backbone.layer1.N' keys; not a ResNet backbone in torchvision naming.")
    bottleneck = "backbone.layer1.0.conv3.weight" in shapes
    table = {True: {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152},
             False: {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34}}[bottleneck]
    if counts in table:
        return table[counts]
    by_layer3 = {True: {6: 50, 23: 101, 36: 152}, False: {2: 18, 6: 34}}[bottleneck]
    if counts[2] in by_layer3:
        return by_layer3[counts[2]]
    raise CheckpointError(f"{source}: ResNet block counts {list(counts)} ({'bottleneck' if bottleneck else 'basic'} "
                          "blocks) match no ResNet-18/34/50/101/152.")
