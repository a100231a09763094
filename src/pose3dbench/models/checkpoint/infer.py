"""Inferring a checkpoint's network from its bare ``key -> shape`` mapping (no tensors needed).

The family from the key layout (each family's ``claims`` hook, most specific layout first), the architecture
from conv shapes and block counts (the family's ``infer_arch`` hook), joints x depth bins from the final
layer's channel count, and the registered variant the file matches (``infer_config``), with warnings when
the file contradicts what was asked for. Coordinates are not touched here.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from ...errors import CheckpointError, Pose3DBenchError
from ...suggest import did_you_mean
from ..config import ModelConfig
from .state import state_dict_shapes

# Arch entries that say how keys are named, not what the network computes: ignored when naming a variant.
LAYOUT_ARCH_KEYS = frozenset({"head_layout"})


def infer_family(shapes: Mapping[str, Any], *, source: str = "checkpoint") -> str:
    """Family from the key layout (bare keys): the first registered family whose ``claims(keys)`` hook says
    so (``registry.key_layouts``). PoseNet-layout heads come out as ``posenet`` (the Integral
    re-implementation shares that layout; ask for ``integral`` to get it)."""
    from .. import registry

    keys = list(shapes)
    for family in registry.key_layouts():
        if family.claims(keys):
            return family.name
    prefixes = sorted(Counter(".".join(k.split(".")[:2]) for k in keys))[:12]
    raise CheckpointError(
        f"{source}: cannot tell the network family from the key layout (prefixes: {prefixes}). "
        f"Pass the family or variant explicitly (one of {', '.join(registry.families())}).")


def infer_architecture(shapes: Mapping[str, Any], family: str | None = None, *, joint_num: int | None = None,
                       depth_bins: int | None = None, upsample_layers: int | None = None,
                       source: str = "checkpoint") -> dict[str, Any]:
    """What a state dict says about its network, from bare ``key -> shape`` only.

    Returns ``{"family", "joint_num", "depth_bins", "arch": {...}}``; joint_num/depth_bins are None
    where the file cannot tell (RootNet). ``family`` forces a family (``integral`` accepts the
    PoseNet key layout as head_layout ``3dmppe``). ConvNeXtPose's ``upsample_layers`` is not in the
    keys: default 3 when the file has 64 depth bins, else 2.
    """
    from .. import registry

    shapes = state_dict_shapes(shapes)
    layout = infer_family(shapes, source=source)
    fam = family or layout
    if fam not in registry.families():
        raise CheckpointError(f"unknown family {fam!r}; known: {', '.join(registry.families())}")
    if layout in registry.get_family(fam).also_reads:
        layout = fam  # e.g. Integral with 3DMPPE-style keys, the widely used re-implementation
    if fam != layout:
        fam = layout  # callers warn; the file decides
    found = registry.get_family(fam).infer_arch(shapes, joint_num=joint_num, depth_bins=depth_bins,
                                                upsample_layers=upsample_layers, source=source)
    return {"family": fam, "joint_num": found.get("joint_num"), "depth_bins": found.get("depth_bins"),
            "arch": found["arch"]}


def _identity(config: ModelConfig, arch_keys, with_bins: bool) -> dict[str, Any]:
    """The architecture-defining part of a config, restricted to ``arch_keys`` (for variant matching)."""
    ident = {k: config.arch.get(k) for k in arch_keys if k not in LAYOUT_ARCH_KEYS}
    if with_bins:
        ident["depth_bins"] = config.depth_bins
    return ident


def _diff_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in a if a[k] != b.get(k)]


def infer_config(shapes: Mapping[str, Any], model: str | None = None, *, source: str = "checkpoint",
                 **overrides: Any) -> tuple[ModelConfig, list[str]]:
    """Complete ``ModelConfig`` for a state dict (bare ``key -> shape``) -> (config, warnings).

    model: family name, registered variant name, or None (family from the keys). The variant name
    of the result is the registered variant whose architecture the file matches (joint count and
    key layout aside), else ``<family>-custom``. A named variant the file contradicts gives a
    warning naming what the file really is; the file's config wins. Overrides: ``upsample_layers``,
    ``joint_num``, ``depth_dim``/``depth_bins`` and any other ModelConfig field.
    """
    from .. import registry

    overrides = dict(overrides)
    if "depth_dim" in overrides:
        overrides["depth_bins"] = overrides.pop("depth_dim")
    named_variant = None
    named_family = None
    if model is not None:
        if model in registry.available():
            named_variant = model
            named_family = registry.get_config(model).family
        elif model in registry.families():
            named_family = model
        else:
            raise CheckpointError(f"unknown model {model!r}:{did_you_mean(model, registry.names())} give a family "
                                  f"({', '.join(registry.families())}) or a variant "
                                  f"({', '.join(registry.available())}), or leave it out to infer it from {source}.")
    upsample = overrides.pop("upsample_layers", None)
    facts = infer_architecture(shapes, named_family, joint_num=overrides.pop("joint_num", None),
                               depth_bins=overrides.pop("depth_bins", None), upsample_layers=upsample, source=source)
    family = facts["family"]
    if upsample is not None and family != "convnextpose":
        raise CheckpointError(f"{source}: unknown override 'upsample_layers' for a {family} network "
                              "(it sets ConvNeXtPose's head only).")
    warns: list[str] = []
    if named_family is not None and named_family != family:
        warns.append(f"{source}: you asked for {model!r} ({named_family}) but the key layout is a {family} network; "
                     f"using the file's architecture ({family}).")
        named_variant = None
    candidates = registry.available(family)
    if not candidates:
        raise CheckpointError(f"{source}: no registered variants of family {family!r} to build from.")

    def apply(base: ModelConfig, name: str) -> ModelConfig:
        cfg = base.copy()
        cfg.variant = name
        cfg.arch.update(facts["arch"])
        if facts["joint_num"] is not None:
            cfg.joint_num = int(facts["joint_num"])
        if facts["depth_bins"] is not None:
            cfg.depth_bins = int(facts["depth_bins"])
        return registry.get_family(family).finalize(cfg)

    def cfg_of(name: str) -> ModelConfig:
        # the variant the user named, with the head override they gave (e.g. the authors' released
        # ConvNeXtPose-M file runs with upsample_layers=2): still that variant, with its paper numbers
        if name == named_variant and upsample is not None and "upsample_layers" in registry.get_config(name).arch:
            return registry.get_config(name, upsample_layers=upsample)
        return registry.get_config(name)

    keys = list(facts["arch"])
    inferred_ident = {k: v for k, v in facts["arch"].items() if k not in LAYOUT_ARCH_KEYS}
    with_bins = facts["depth_bins"] is not None
    if with_bins:
        inferred_ident["depth_bins"] = facts["depth_bins"]
    matches = [n for n in candidates if _identity(cfg_of(n), keys, with_bins) == inferred_ident]

    def closeness(name: str) -> int:
        ident = _identity(cfg_of(name), keys, with_bins)
        return -len(_diff_fields(inferred_ident, ident))

    if named_variant in matches:
        variant = named_variant
    elif matches:
        variant = matches[0]
    else:
        variant = None
    base_name = variant or named_variant or max(candidates, key=closeness)
    try:
        config = apply(cfg_of(base_name), variant or f"{family}-custom")
    except Pose3DBenchError as exc:  # shapes that form no valid config: let the strict-load diff explain
        warns.append(f"{source}: the file's shapes do not form a valid {family} configuration ({exc}); "
                     f"comparing it with {base_name}.")
        return cfg_of(base_name), warns
    if variant is None:  # the base variant's paper numbers do not describe this network
        config.published = {}
        config.description = (
            f"{family} network inferred from a checkpoint's shapes (closest registered variant: "
            f"{base_name}; differs in "
            f"{', '.join(_diff_fields(inferred_ident, _identity(cfg_of(base_name), keys, with_bins)))})")
    if named_variant is not None and variant != named_variant:
        asked = _identity(cfg_of(named_variant), keys, with_bins)
        diffs = ", ".join(f"{k}={inferred_ident.get(k)!r} (not {asked.get(k)!r})"
                          for k in _diff_fields(inferred_ident, asked))
        real = variant or f"{family}-custom (closest registered: {max(candidates, key=closeness)})"
        warns.append(f"{source}: you asked for {named_variant} but the file is {real}: {diffs}; "
                     "using the file's configuration.")
    elif named_variant is not None and facts["joint_num"] is not None \
            and facts["joint_num"] != cfg_of(named_variant).joint_num:
        warns.append(f"{source}: the file predicts {facts['joint_num']} joints, {named_variant} has "
                     f"{cfg_of(named_variant).joint_num}; using {facts['joint_num']}.")
    if overrides:
        try:
            config = registry.get_family(family).finalize(config.with_overrides(**overrides))
        except TypeError as exc:
            raise CheckpointError(f"{source}: {exc}") from None
    return config, warns
