"""The network-input convention: how a uint8 crop becomes the tensor a model was trained on.

This is a property of the *model* (of its family and of the code its checkpoint was trained with),
not of the loader, so it lives in ``ModelConfig``:

- ``input_pixel_range``: the value range of the pixels *before* mean/std are applied.
  ``"0-255"``: the crop enters as float32 0..255. This is what every 3DMPPE-derived repository feeds
  (PoseNet, RootNet, ConvNeXtPose, MobileHumanPose, mks0601's Integral re-implementation): their
  ``generate_patch_image`` returns ``img_patch.astype(np.float32)`` and torchvision's ``ToTensor`` only
  rescales *uint8* arrays, so ``Normalize(pixel_mean, pixel_std)`` sees 0..255 and the network gets
  ``(p - 0.485) / 0.229`` (values up to ~1100). The MSRA Integral code (JimmySuen/integral-human-pose)
  also feeds 0..255 but with ``mean``/``std`` multiplied by 255 (``config_pytorch.py``), which its
  configs state as mean/std (123.675, ...), (58.395, ...).
  ``"0-1"``: the crop is divided by 255 first (torchvision ``ToTensor`` on a uint8 image), then
  ``(x - mean) / std``: the usual ImageNet convention of most other code.
- ``input_channel_order``: ``"RGB"`` (every family here: the 3DMPPE code flips OpenCV's BGR with
  ``img_patch[:, :, ::-1]``, MSRA with ``tensor[::-1]``) or ``"BGR"`` (some foreign exports).
  ``mean``/``std`` are given in the network's channel order.

``normalize_crops`` is the one place in the tool where crops are turned into network input (``run``,
RootNet inference, ``profile``, the ONNX parity checks and the benchmarks all call it). Its arithmetic
is the authors' one, in float32: ``(p - mean) / std`` with ``p`` float32 (0-255), or
``(p / 255 - mean) / std`` (0-1), so a crop equal to theirs gives a tensor equal to theirs, bit for bit.
"""
from __future__ import annotations

from typing import Any

import torch

PIXEL_RANGES = ("0-255", "0-1")
CHANNEL_ORDERS = ("RGB", "BGR")
#: How the flip test's mirrored pass is mapped back (see ``pose3dbench.models.codecs.flip_merge``).
FLIP_MIRRORS = ("heatmap", "patch")

#: What a config object without the fields (a bring-your-own model with its own config class) is taken to use.
DEFAULT_PIXEL_RANGE = "0-255"
DEFAULT_CHANNEL_ORDER = "RGB"
DEFAULT_FLIP_MIRROR = "heatmap"


def input_convention(config: Any) -> dict[str, Any]:
    """``{pixel_range, channel_order, mean, std, flip_mirror, defaulted}`` of a (ModelConfig-like) config.

    ``defaulted`` lists the fields the config does not have and that were taken from the defaults
    (only possible for bring-your-own config objects; ``ModelConfig`` always has them).
    """
    defaulted = [name for name in ("input_pixel_range", "input_channel_order") if not hasattr(config, name)]
    conv = {
        "pixel_range": str(getattr(config, "input_pixel_range", DEFAULT_PIXEL_RANGE)),
        "channel_order": str(getattr(config, "input_channel_order", DEFAULT_CHANNEL_ORDER)),
        "mean": [float(v) for v in config.mean],
        "std": [float(v) for v in config.std],
        "flip_mirror": str(getattr(config, "flip_mirror", DEFAULT_FLIP_MIRROR)),
        "defaulted": defaulted,
    }
    problem = convention_problem(conv["pixel_range"], conv["channel_order"], conv["mean"], conv["std"],
                                 conv["flip_mirror"])
    if problem:
        from ..errors import ModelConfigError

        raise ModelConfigError(f"{getattr(config, 'variant', 'model')}: {problem}")
    return conv


def convention_problem(pixel_range: Any, channel_order: Any, mean: Any, std: Any, flip_mirror: Any) -> str | None:
    """A sentence saying what is wrong with an input convention, or None when it is valid."""
    if pixel_range not in PIXEL_RANGES:
        return (f"input_pixel_range must be one of {', '.join(PIXEL_RANGES)} (the range of the crop's pixels before "
                f"mean/std), got {pixel_range!r}; e.g. --model FILE@input_pixel_range=0-1")
    if channel_order not in CHANNEL_ORDERS:
        return f"input_channel_order must be RGB or BGR, got {channel_order!r}"
    if flip_mirror not in FLIP_MIRRORS:
        return f"flip_mirror must be one of {', '.join(FLIP_MIRRORS)}, got {flip_mirror!r}"
    try:
        m, s = [float(v) for v in mean], [float(v) for v in std]
    except (TypeError, ValueError):
        return f"mean and std must be three numbers each, got {mean!r} and {std!r}"
    if len(m) != 3 or len(s) != 3 or not all(v > 0 for v in s):
        return f"mean and std must be three numbers each (std > 0), got {mean!r} and {std!r}"
    return None


def describe_input_convention(config: Any) -> str:
    """One line for logs and reports, e.g. ``RGB 0-255, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)``."""
    c = input_convention(config)
    fmt = lambda v: "(" + ", ".join(f"{x:g}" for x in v) + ")"  # noqa: E731
    text = f"{c['channel_order']} {c['pixel_range']}, mean {fmt(c['mean'])}, std {fmt(c['std'])}"
    if c["flip_mirror"] != DEFAULT_FLIP_MIRROR:
        text += f", flip test mirrored in {c['flip_mirror']} pixels"
    return text


def normalize_crops(patches: torch.Tensor, config: Any, device: torch.device | str = "cpu",
                    dtype: torch.dtype = torch.float32, channels_last: bool = False) -> torch.Tensor:
    """uint8 RGB crops [B, H, W, 3] -> the network's input [B, 3, H, W] on ``device``, in ``dtype``.

    ``0-255``: ``(p - mean) / std``; ``0-1``: ``(p / 255 - mean) / std``; both in float32 (the authors'
    arithmetic), then cast to ``dtype``. ``BGR`` models get the channels reversed first.
    """
    conv = input_convention(config)
    if patches.dim() != 4 or patches.shape[-1] != 3:
        raise ValueError(f"normalize_crops needs uint8 crops [B, H, W, 3], got shape {tuple(patches.shape)}")
    x = patches.to(device, non_blocking=True).permute(0, 3, 1, 2).to(torch.float32)
    if conv["channel_order"] == "BGR":
        x = x.flip(1)
    if conv["pixel_range"] == "0-1":
        x = x.div(255.0)
    m = torch.tensor(conv["mean"], device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(conv["std"], device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
    x = x.sub_(m).div_(s).to(dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def example_input(config: Any, batch_size: int = 1, seed: int = 0, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A deterministic input of the model's own convention (uniform uint8 noise crops, normalised)."""
    h, w = (int(v) for v in config.input_size)
    gen = torch.Generator().manual_seed(int(seed))
    patches = torch.randint(0, 256, (int(batch_size), h, w, 3), generator=gen, dtype=torch.uint8)
    return normalize_crops(patches, config, device, dtype=dtype)


__all__ = ["PIXEL_RANGES", "CHANNEL_ORDERS", "FLIP_MIRRORS", "input_convention", "convention_problem",
           "describe_input_convention", "normalize_crops", "example_input"]
