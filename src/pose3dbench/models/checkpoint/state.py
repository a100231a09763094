"""Finding the state dict inside a loaded checkpoint object, and what it says about itself.

A checkpoint is a bare state dict or a dict holding one under ``network`` (3DMPPE / ConvNeXtPose),
``state_dict``, ``model``, ``model_state_dict`` or ``net`` (or a whole ``nn.Module``). ``module.``
(DataParallel) prefixes are stripped; NaN/Inf weights are refused. ``state_dict_shapes`` gives the bare
``key -> shape`` mapping the architecture inference works on (no tensors needed).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ...errors import CheckpointError

STATE_DICT_KEYS = ("network", "state_dict", "model", "model_state_dict", "net")


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def find_state_dict(obj: Any, where: str) -> tuple[Mapping[str, torch.Tensor], str | None]:
    """The state dict inside a loaded checkpoint object and the top-level key it sat under."""
    if isinstance(obj, nn.Module):
        return obj.state_dict(), "<module>"
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{where} holds a {type(obj).__name__}, not a dict of tensors; expected a state dict "
                              "or {'network': state_dict, ...}.")
    if _is_tensor_dict(obj):
        return obj, None
    for key in STATE_DICT_KEYS:
        if key in obj:
            inner = obj[key]
            if isinstance(inner, nn.Module):
                return inner.state_dict(), key
            if _is_tensor_dict(inner):
                return inner, key
            if isinstance(inner, Mapping):
                bad = [k for k, v in inner.items() if not isinstance(v, torch.Tensor)][:5]
                raise CheckpointError(f"{where}: {key!r} is not a plain state dict (non-tensor entries: {bad}).")
    keys = [str(k) for k in obj.keys()][:20]
    raise CheckpointError(f"{where}: no state dict found; top-level keys are {keys}. Expected a bare state dict or "
                          f"one under {', '.join(repr(k) for k in STATE_DICT_KEYS[:3])}.")


def epoch_of(obj: Any) -> int | None:
    """The ``epoch`` a checkpoint dict records (an integer), else None."""
    if not isinstance(obj, Mapping) or "epoch" not in obj:
        return None
    e = obj["epoch"]
    if isinstance(e, torch.Tensor) and e.numel() == 1:
        e = e.item()
    if isinstance(e, bool):
        return None
    if isinstance(e, (int, float)) and float(e).is_integer():
        return int(e)
    return None


def check_finite(state: Mapping[str, torch.Tensor], where: str) -> None:
    """CheckpointError naming the tensors that hold NaN/Inf weights."""
    bad = []
    for key, t in state.items():
        if t.is_floating_point() or t.is_complex():
            finite = torch.isfinite(t)
            if not bool(finite.all()):
                bad.append(f"{key} ({int((~finite).sum())} of {t.numel()})")
    if bad:
        raise CheckpointError(f"{where} has NaN/Inf weights in {len(bad)} tensors: {', '.join(bad[:5])}"
                              f"{' ...' if len(bad) > 5 else ''}. Training diverged or the file is corrupt; "
                              "use another checkpoint (e.g. an earlier epoch).")


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str | None]:
    """(state without DataParallel's ``module.`` prefixes, ``"module."`` or None when there were none)."""
    if any(k.startswith("module.") for k in state):
        return {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}, "module."
    return dict(state), None


def state_dict_shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a state dict (tensors) or pass-through of a shape mapping."""
    return {k: tuple(int(s) for s in (v.shape if isinstance(v, torch.Tensor) else v)) for k, v in state.items()}
