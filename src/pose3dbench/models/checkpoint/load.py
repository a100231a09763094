"""Loading a checkpoint strictly into the network it was trained as, and saying precisely why not.

``load_model`` (read -> infer the config -> build -> strict load -> eval mode), ``inspect_checkpoint`` (what
``pose3dbench inspect`` reports), ``check_checkpoint`` (a released file against the variant it claims to
be). A strict load that fails lists the missing / unexpected keys by module and the shape mismatches
(``state_dict_diff``, ``format_diff``) and names the closest registered variant (``closest_variant``);
dtypes that would change the network are refused (``check_dtypes``).
"""
from __future__ import annotations

import functools
import warnings
from collections import Counter
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import CheckpointError
from ..config import ModelConfig
from .infer import infer_config
from .read import read_checkpoint
from .state import state_dict_shapes


class CheckpointWarning(UserWarning):
    """The file disagrees with what was asked for (e.g. a different variant); the file's config is used."""


def _group(keys: list[str], examples: int = 3) -> list[str]:
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(".".join(k.split(".")[:2]), []).append(k)
    return [f"{p}: {len(ks)} ({', '.join(ks[:examples])}{', ...' if len(ks) > examples else ''})"
            for p, ks in groups.items()]


def state_dict_diff(expected: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    """Missing / unexpected keys and shape mismatches between a model's and a file's state dicts.

    BatchNorm ``num_batches_tracked`` missing from old files is not reported (torch fills it in).
    """
    exp, got = state_dict_shapes(expected), state_dict_shapes(found)
    missing = [k for k in exp if k not in got and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in got if k not in exp]
    mismatched = [(k, exp[k], got[k]) for k in exp if k in got and exp[k] != got[k]]
    return {"missing": missing, "unexpected": unexpected, "shape_mismatch": mismatched}


def format_diff(diff: Mapping[str, Any], limit: int = 8) -> str:
    lines = []
    for what in ("missing", "unexpected"):
        if diff[what]:
            lines.append(f"  {what} keys ({len(diff[what])}), by module:")
            groups = _group(diff[what])
            lines += [f"    {g}" for g in groups[:limit]] + ([f"    ... {len(groups) - limit} more modules"]
                                                            if len(groups) > limit else [])
    if diff["shape_mismatch"]:
        lines.append(f"  shape mismatches ({len(diff['shape_mismatch'])}):")
        for k, e, g in diff["shape_mismatch"][:limit]:
            lines.append(f"    {k}: model {list(e)}, file {list(g)}")
        if len(diff["shape_mismatch"]) > limit:
            lines.append(f"    ... {len(diff['shape_mismatch']) - limit} more")
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def _variant_shapes(name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    from .. import registry

    cfg = registry.get_config(name)
    try:
        with torch.device("meta"):
            model = registry.build_from_config(cfg)
    except Exception:  # noqa: BLE001 - an init that cannot run on meta: build for real
        model = registry.build_from_config(cfg)
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


def closest_variant(shapes: Mapping[str, Any]) -> tuple[str | None, float]:
    """Registered variant whose state dict shares the most (key, shape) pairs -> (name, Jaccard score)."""
    from .. import registry

    got = set(state_dict_shapes(shapes).items())
    best, score = None, 0.0
    for name in registry.available():
        ref = set(_variant_shapes(name))
        s = len(ref & got) / max(len(ref | got), 1)
        if s > score:
            best, score = name, s
    return best, score


def _prepare(checkpoint, model, trust_checkpoint, overrides):
    state, info = read_checkpoint(checkpoint, trust_checkpoint=trust_checkpoint)
    source = info["path"] or "the given state dict"
    config, warns = infer_config(state_dict_shapes(state), model, source=source, **overrides)
    return state, info, config, warns, source


#: float dtypes a checkpoint may store that load into a float32 model without changing the network
_LOWER_PRECISION = (torch.float16, torch.bfloat16, torch.float64)


def check_dtypes(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], source: str) -> list[str]:
    """CheckpointError when a file tensor's dtype cannot stand for the model's (integer/bool data for float
    weights, floats for integer buffers): load_state_dict would convert it silently into another network.
    Returns notes for the conversions that are allowed (float16/bfloat16/float64 -> float32)."""
    bad, converted = [], Counter()
    for key, ref in expected.items():
        t = found.get(key)
        if not isinstance(t, torch.Tensor) or t.dtype == ref.dtype:
            continue
        if ref.is_floating_point() and t.is_floating_point():
            converted[str(t.dtype).replace("torch.", "")] += 1
        elif key.endswith("num_batches_tracked") and not t.is_floating_point() and not t.is_complex():
            continue  # a BatchNorm counter: any integer type, unused in eval mode
        else:
            bad.append(f"{key} ({str(t.dtype).replace('torch.', '')} in the file, "
                       f"{str(ref.dtype).replace('torch.', '')} in the model)")
    if bad:
        raise CheckpointError(
            f"{source} has {len(bad)} tensor(s) of a dtype the model cannot take without changing the network: "
            f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}. Weights stored as integers or booleans are not "
            "this network's weights (a conversion would load different numbers); use the original float "
            "checkpoint, or convert the tensors yourself if you know what they hold.")
    return [f"{source}: {n} tensor(s) stored as {dt} are converted to float32 (the model runs in float32)"
            for dt, n in sorted(converted.items())]


def _strict_load(net: nn.Module, state: Mapping[str, torch.Tensor], source: str, config: ModelConfig) -> list[str]:
    """Load ``state`` strictly into ``net``; CheckpointError listing every difference. Returns dtype notes."""
    diff = state_dict_diff(net.state_dict(), state)
    if any(diff.values()):
        best, score = closest_variant(state)
        closest = (f"\n  closest registered variant: {best} ({score:.0%} of (key, shape) pairs shared)"
                   if best else "\n  no registered variant shares any (key, shape) pair with the file")
        raise CheckpointError(
            f"{source} does not load strictly into {config.variant} ({config.family}, arch {config.arch}, "
            f"joint_num {config.joint_num}, depth_bins {config.depth_bins}):\n{format_diff(diff)}{closest}")
    notes = check_dtypes(net.state_dict(), state, source)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{source} does not load strictly into {config.variant}: {exc}") from None
    return notes


def load_model(checkpoint: str | PathLike | Mapping, model: str | None = None, *, trust_checkpoint: bool = False,
               **overrides: Any) -> nn.Module:
    """Build the network a checkpoint was trained as, load its weights strictly, return it in eval mode.

    checkpoint: path (.pth, .pth.tar, zip or legacy torch file) or a state dict / checkpoint dict.
    model: family (convnextpose, posenet, rootnet, mobilehumanpose, integral), registered variant, or
    None to infer the family from the keys. Overrides for what the keys cannot tell:
    ``upsample_layers`` (ConvNeXtPose; default 3 with 64 depth bins else 2), ``joint_num``,
    ``depth_dim``. The model outputs heatmap units; ``model.checkpoint_info`` records path, sha256,
    format, top_level_keys, epoch, config (dict), variant and warnings.
    """
    from .. import registry

    state, info, config, warns, source = _prepare(checkpoint, model, trust_checkpoint, overrides)
    net = registry.build_from_config(config)
    notes: list[str] = []
    try:
        notes = _strict_load(net, state, source, config)
    finally:
        for w in warns + notes:
            warnings.warn(w, CheckpointWarning, stacklevel=3)
    net.eval()
    info.update(config=net.config.to_dict(), variant=net.config.variant, family=net.config.family,
                requested=model, warnings=list(warns) + notes, dtype_notes=notes)
    net.checkpoint_info = info
    return net


def inspect_checkpoint(checkpoint: str | PathLike | Mapping, model: str | None = None, *,
                       trust_checkpoint: bool = False, **overrides: Any) -> dict[str, Any]:
    """Everything ``pose3dbench inspect`` reports, as a JSON-serialisable dict.

    Unreadable files raise CheckpointError; a file that reads but does not load strictly is
    reported (``strict_load`` False, ``load_error``) rather than raised.
    """
    from .. import registry

    state, info, config, warns, source = _prepare(checkpoint, model, trust_checkpoint, overrides)
    out = dict(info)
    out.update(family=config.family, variant=config.variant, config=config.to_dict(), requested=model,
               warnings=list(warns), dtypes=dict(Counter(str(t.dtype).replace("torch.", "") for t in state.values())))
    net = registry.build_from_config(config)
    out["params"] = int(sum(p.numel() for p in net.parameters() if p.requires_grad))
    out["params_m"] = round(out["params"] / 1e6, 3)
    try:
        out["warnings"] += _strict_load(net, state, source, config)
        out.update(strict_load=True, load_error=None)
    except CheckpointError as exc:
        out.update(strict_load=False, load_error=str(exc))
    name = config.variant if config.variant in registry.available() else (model or config.family)
    out["run_name"] = name
    return out


_CONFIG_FIELDS = ("family", "joint_num", "depth_bins", "heatmap_size", "input_size", "arch")


def _config_diff(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    out = []
    for key in _CONFIG_FIELDS:
        e, a = expected.get(key), actual.get(key)
        if key == "arch":
            for k in sorted(set(e or {}) | set(a or {})):
                if (e or {}).get(k) != (a or {}).get(k):
                    out.append(f"arch.{k}: expected {(e or {}).get(k)!r}, file gives {(a or {}).get(k)!r}")
        elif e != a:
            out.append(f"{key}: expected {e!r}, file gives {a!r}")
    return out


def check_checkpoint(path: Path, variant: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Load ``path`` strictly (as ``variant`` if given) and compare the loaded config with the variant's."""
    from ..registry import get_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(str(path), variant, **overrides)
    info = dict(getattr(model, "checkpoint_info", {}) or {})
    cfg = model.config.to_dict()
    params = int(sum(p.numel() for p in model.parameters()))
    result: dict[str, Any] = {
        "variant": info.get("variant", cfg.get("variant")),
        "family": cfg.get("family"),
        "joint_num": cfg.get("joint_num"),
        "depth_bins": cfg.get("depth_bins"),
        "heatmap_size": cfg.get("heatmap_size"),
        "params": params,
        "format": info.get("format"),
        "epoch": info.get("epoch"),
        "warnings": list(dict.fromkeys([str(w.message) for w in caught]
                                       + [str(w) for w in info.get("warnings", []) or []])),
    }
    diffs: list[str] = []
    if variant is not None:
        expected = get_config(variant, **overrides).to_dict()
        expected["heatmap_size"] = list(expected["heatmap_size"])
        cfg["heatmap_size"] = list(cfg["heatmap_size"])
        diffs = _config_diff(expected, cfg)
        result["claimed"] = variant + "".join(f", {k}={v}" for k, v in overrides.items())
    result["config_differences"] = diffs
    result["ok"] = not diffs
    return result
