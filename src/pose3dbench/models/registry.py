"""timm-style registry of model families and named variants.

A *family* knows how to build a module from a ``ModelConfig`` (``build``) and how to derive
dependent fields such as the heatmap size from the architecture arguments (``finalize``).
A *variant* is a named, complete ``ModelConfig``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ..suggest import did_you_mean
from .config import ModelConfig

FAMILY_MODULES = ("convnextpose", "resnet_pose", "mobilehumanpose")


def _no_claim(keys) -> bool:
    return False


def _no_arch(shapes, **kw) -> dict:
    raise NotImplementedError("this family cannot read an architecture from checkpoint keys")


@dataclass(frozen=True)
class Family:
    """A model family: ``build(config)`` and ``finalize(config)`` (derived fields), plus the checkpoint
    adapter that lives in the family's file: ``claims(keys)`` (is this state dict in my key layout?),
    ``infer_arch(shapes, joint_num=, depth_bins=, upsample_layers=, source=)`` -> {joint_num, depth_bins,
    arch}, and ``also_reads`` (other families' key layouts this one accepts when asked for by name).
    ``output_kind``: what its forward gives, ``pose`` ([B, J, 3] heatmap units) or ``root`` (RootNet's
    forward(img, k_value) -> [B, 3]); ``models.codecs.codec_for`` picks the family's codec from it."""

    name: str
    build: Callable[[ModelConfig], nn.Module]
    finalize: Callable[[ModelConfig], ModelConfig]
    claims: Callable[[list[str]], bool] = _no_claim
    infer_arch: Callable[..., dict] = _no_arch
    also_reads: tuple[str, ...] = ()
    key_priority: int = 100  # lower is asked first by ``key_layouts`` (more specific layouts first)
    output_kind: str = "pose"


_FAMILIES: dict[str, Family] = {}
_VARIANTS: dict[str, ModelConfig] = {}
_loaded = False


def register_family(name: str, build: Callable[[ModelConfig], nn.Module],
                    finalize: Callable[[ModelConfig], ModelConfig] | None = None, *,
                    claims: Callable[[list[str]], bool] | None = None, infer_arch: Callable[..., dict] | None = None,
                    also_reads: tuple[str, ...] = (), key_priority: int = 100, output_kind: str = "pose") -> None:
    """Register a family with its builder, for checkpoint loading its key-layout hooks, and the kind of output
    its forward gives (``pose`` or ``root``; see ``Family``)."""
    if output_kind not in ("pose", "root"):
        raise ValueError(f"family {name!r}: output_kind must be 'pose' or 'root', got {output_kind!r}")
    _FAMILIES[name] = Family(name, build, finalize or (lambda c: c), claims or _no_claim, infer_arch or _no_arch,
                             tuple(also_reads), key_priority, output_kind)


def register_variant(config: ModelConfig) -> None:
    if config.family not in _FAMILIES:
        raise ValueError(f"register family {config.family!r} before its variants")
    _VARIANTS[config.variant] = _FAMILIES[config.family].finalize(config.copy())


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for mod in FAMILY_MODULES:
            importlib.import_module(f"{__package__}.{mod}")
        _loaded = True


def key_layouts() -> list[Family]:
    """The families in the order checkpoint keys are matched against them (most specific layout first)."""
    _ensure_loaded()
    return sorted(_FAMILIES.values(), key=lambda f: (f.key_priority, f.name))


def families() -> list[str]:
    _ensure_loaded()
    return sorted(_FAMILIES)


def available(family: str | None = None) -> list[str]:
    """Names of the registered variants (optionally of one family), sorted."""
    _ensure_loaded()
    return sorted(n for n, c in _VARIANTS.items() if family is None or c.family == family)


def names() -> list[str]:
    """Every registered variant and family name (what close-name suggestions choose from)."""
    return available() + families()


def get_config(name: str, **overrides: Any) -> ModelConfig:
    """The full config of a variant, with overrides applied and derived fields recomputed."""
    _ensure_loaded()
    if name not in _VARIANTS:
        raise KeyError(f"unknown model {name!r};{did_you_mean(name, available())} available: {', '.join(available())}")
    config = _VARIANTS[name].with_overrides(**overrides) if overrides else _VARIANTS[name].copy()
    return _FAMILIES[config.family].finalize(config)


def get_family(name: str) -> Family:
    _ensure_loaded()
    if name not in _FAMILIES:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(families())}")
    return _FAMILIES[name]


def build_from_config(config: ModelConfig) -> nn.Module:
    """Build an untrained module (initialised as the authors do) for a complete config."""
    family = get_family(config.family)
    config = family.finalize(config.copy())
    model = family.build(config)
    model.config = config
    return model


def create(name: str, **overrides: Any) -> nn.Module:
    """Build variant ``name`` with untrained weights, e.g. ``create('posenet-r50', joint_num=21)``."""
    return build_from_config(get_config(name, **overrides))
