"""Read released checkpoints safely, infer the architecture from their keys, and load them.

Reading: ``.pth``, ``.pth.tar`` and torch zip archives under any name, legacy (pre-1.6, non-zip)
torch files; the state dict may sit under ``network`` (3DMPPE / ConvNeXtPose), ``state_dict``,
``model`` or be the whole file. ``module.`` (DataParallel) prefixes are stripped. Files are always
opened with ``torch.load(weights_only=True)`` first; full unpickling only with ``trust_checkpoint``.

Inference works on bare ``key -> shape`` mappings (no tensors needed): the family from the key
layout, the architecture from conv shapes and block counts, joints x depth bins from the final
layer's channel count. Coordinates are not touched here: a loaded model outputs heatmap units.
"""
from __future__ import annotations

import functools
import io
import pickletools
import re
import shlex
import tarfile
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, Pose3DBenchError
from ..suggest import did_you_mean
from ..io import sha256_file
from .config import ModelConfig
from .keys import factor_channels  # noqa: F401 (part of this module's API)

STATE_DICT_KEYS = ("network", "state_dict", "model", "model_state_dict", "net")
# Arch entries that say how keys are named, not what the network computes: ignored when naming a variant.
LAYOUT_ARCH_KEYS = frozenset({"head_layout"})
TRUST_HINT = ("If you trust where this file came from, load it with full unpickling: "
              "--trust-checkpoint (CLI) or trust_checkpoint=True (Python). Never do that for files of unknown origin.")
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


class CheckpointWarning(UserWarning):
    """The file disagrees with what was asked for (e.g. a different variant); the file's config is used."""


# ---------------------------------------------------------------------------------------------------
# Reading




def _foreign_kind(head: bytes) -> str | None:
    """Name the file type for common non-checkpoint files (from the first bytes)."""
    text = head.lstrip().lower()
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")):
        return "an HTML page (e.g. a Google Drive quota or virus-scan warning page saved instead of the file)"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive (unpack it first)"
    if head.startswith(b"ustar", 257) or (len(head) > 262 and head[257:262] == b"ustar"):
        return "a tar archive (unpack it first)"
    if text.startswith((b"{", b"[")):
        return "a JSON/text file"
    return None


_CHECKPOINT_SUFFIXES = (".pth", ".pth.tar", ".pt", ".ckpt", ".bin", ".tar")
_OLD_TORCH_TAR = {"pickle", "storages", "tensors"}


def _tar_members(path: Path, gz: bool, limit: int = 8) -> list[tarfile.TarInfo] | None:
    """The first members of a (gzip-compressed) tar archive, reading headers only; None when it is no tar."""
    members = []
    try:
        with tarfile.open(path, "r|gz" if gz else "r|") as tf:
            for m in tf:
                members.append(m)
                if len(members) >= limit or (m.isfile() and m.name.lower().endswith(_CHECKPOINT_SUFFIXES)):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        return members or None
    return members or None


def _refuse_tar(path: Path, members: list[tarfile.TarInfo], gz: bool) -> None:
    """CheckpointError explaining that ``path`` is an archive and how to get the checkpoint out of it."""
    names = {m.name for m in members}
    if not gz and _OLD_TORCH_TAR <= names:
        raise CheckpointError(f"{path} is a checkpoint in PyTorch's pre-0.4 tar format, which safe loading cannot "
                              "read; load it with an old torch and save the state dict again with torch.save.")
    files = [m for m in members if m.isfile()]
    ckpts = [m.name for m in files if m.name.lower().endswith(_CHECKPOINT_SUFFIXES)]
    listing = ", ".join(f"{m.name} ({m.size} bytes)" for m in files[:5]) or "no files"
    inner = ckpts[0] if ckpts else "the .pth file inside"
    cmd = f"tar -x{'z' if gz else ''}f {shlex.quote(str(path))} -C DIR"
    raise CheckpointError(
        f"{path} is a {'gzip-compressed ' if gz else ''}tar archive, not a checkpoint itself; it holds {listing}. "
        f"Extract it first ({cmd}, or Python's tarfile module) and pass the checkpoint inside: "
        f"--model NAME=DIR/{inner}.")


def _sniff_format(path: Path) -> str:
    """``zip`` or ``legacy`` from the file's bytes; CheckpointError for anything else."""
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): the download or copy failed; fetch the file again.")
    with open(path, "rb") as f:
        head = f.read(512)
    # a tar archive first: one holding a zip-format .pth ends with that zip's directory, so it passes is_zipfile
    if len(head) >= 262 and head[257:262] == b"ustar" or (not head.startswith((b"PK", b"\x80", b"\x1f\x8b"))
                                                          and tarfile.is_tarfile(path)):
        _refuse_tar(path, _tar_members(path, gz=False) or [], gz=False)
    if head.startswith(b"\x1f\x8b"):
        members = _tar_members(path, gz=True)
        if members:
            _refuse_tar(path, members, gz=True)
    if head.startswith(b"PK\x03\x04") or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            raise CheckpointError(
                f"{path} is a truncated or corrupt zip archive (its central directory is missing or broken); the "
                "download was probably cut short: fetch the file again.") from None
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise CheckpointError(f"{path} is a zip archive but not a PyTorch checkpoint (no data.pkl inside); "
                                  "pass the .pth/.pth.tar file the authors released.")
        if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
            raise CheckpointError(f"{path} is a TorchScript archive, not a state-dict checkpoint; save "
                                  "model.state_dict() with torch.save and pass that file.")
        return "zip"
    if head[:1] == b"\x80" and _LEGACY_MAGIC in head[:32]:
        return "legacy"
    kind = _foreign_kind(head)
    what = (f"it is {kind}" if kind
            else f"it starts with bytes {head[:8].hex(' ')}, neither a torch zip archive nor a legacy torch file")
    raise CheckpointError(f"{path} is not a PyTorch checkpoint: {what}. Pass the .pth/.pth.tar file itself "
                          f"({size} bytes here).")


def _pickle_complete(path: Path, fmt: str) -> bool:
    """Walk the pickle opcodes (nothing is executed) to tell a truncated file from an unsafe one."""
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                name = next(n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl"))
                streams = [io.BytesIO(zf.read(name))]
                count = 1
        else:
            streams = [open(path, "rb")]
            count = 5  # magic, protocol, sys_info, the object, the storage keys
        try:
            for _ in range(count):
                for _op in pickletools.genops(streams[0]):
                    pass
        finally:
            streams[0].close()
    except (ValueError, EOFError, zipfile.BadZipFile, KeyError, OSError):
        return False
    return True


def _refusal_reason(exc: Exception) -> str:
    msg = str(exc)
    m = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\s+Please use|\n|$)", msg)
    reason = (m.group(1) if m else msg.splitlines()[0] if msg else type(exc).__name__).strip()
    return reason.rstrip(".")


def _torch_load(path: Path, fmt: str, trust: bool) -> tuple[Any, bool]:
    """torch.load with weights_only first; returns (object, whether full unpickling was used)."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as exc:
        if not _pickle_complete(path, fmt):
            raise CheckpointError(f"{path} is truncated or corrupt ({fmt} format, its pickle data ends early); "
                                  "fetch the file again.") from None
        if not trust:
            raise CheckpointError(
                f"{path} was refused by the safe loader (torch.load weights_only=True): "
                f"{_refusal_reason(exc)}. The file contains Python objects besides tensors and plain "
                f"containers, and unpickling them can run arbitrary code. {TRUST_HINT}") from None
        reason = exc
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, KeyError) as exc:
        raise CheckpointError(f"{path} could not be read "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              "the file is probably truncated or corrupt: fetch it again.") from None
    try:  # trusted: full unpickling, only after the safe loader refused it
        return torch.load(path, map_location="cpu", weights_only=False), True
    except Exception as exc:  # noqa: BLE001 - any failure of an arbitrary pickle is a bad file
        raise CheckpointError(f"{path} could not be unpickled even with trust_checkpoint=True "
                              f"({type(exc).__name__}: {exc}); safe loader said: {_refusal_reason(reason)}.") from None


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _find_state_dict(obj: Any, where: str) -> tuple[Mapping[str, torch.Tensor], str | None]:
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


def _epoch(obj: Any) -> int | None:
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


def _check_finite(state: Mapping[str, torch.Tensor], where: str) -> None:
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


def read_checkpoint(checkpoint: str | PathLike | Mapping, *, trust_checkpoint: bool = False
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint file (or an in-memory dict) -> (bare state dict, info).

    info: path (str or None), sha256 (of the file, or None), format (``zip`` | ``legacy`` |
    ``state_dict`` for an in-memory dict), top_level_keys ([] for a bare state dict), epoch (int or
    None), container (key the state dict sat under, None when bare), stripped_prefix (``module.`` or None), trusted
    (full unpickling used), tensors, numel. Raises CheckpointError naming the file for anything unusable.
    """
    if isinstance(checkpoint, Mapping):
        path, sha, fmt, where, trusted = None, None, "state_dict", "the given state dict", False
        obj: Any = checkpoint
    elif isinstance(checkpoint, (str, PathLike)):
        p = Path(checkpoint).expanduser()
        if not p.exists():
            raise CheckpointError(f"checkpoint {p} does not exist; check the path.")
        if not p.is_file():
            raise CheckpointError(f"checkpoint {p} is not a file; pass the .pth/.pth.tar file inside it.")
        fmt = _sniff_format(p)
        sha = sha256_file(p)
        obj, trusted = _torch_load(p, fmt, trust_checkpoint)
        path, where = str(p), str(p)
    else:
        raise CheckpointError(f"checkpoint must be a path or a state dict, got {type(checkpoint).__name__}.")
    state, container = _find_state_dict(obj, where)
    stripped = None
    if any(k.startswith("module.") for k in state):
        stripped = "module."
        state = {(k[7:] if k.startswith("module.") else k): v for k, v in state.items()}
    else:
        state = dict(state)
    _check_finite(state, where)
    info = {
        "path": path, "sha256": sha, "format": fmt,
        "top_level_keys": [str(k) for k in obj.keys()] if isinstance(obj, Mapping) and container else [],
        "epoch": _epoch(obj), "container": container, "stripped_prefix": stripped, "trusted": trusted,
        "tensors": len(state), "numel": int(sum(t.numel() for t in state.values())),
    }
    return state, info


def state_dict_shapes(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of a state dict (tensors) or pass-through of a shape mapping."""
    return {k: tuple(int(s) for s in (v.shape if isinstance(v, torch.Tensor) else v)) for k, v in state.items()}


# ---------------------------------------------------------------------------------------------------
# Inference from key -> shape


def infer_family(shapes: Mapping[str, Any], *, source: str = "checkpoint") -> str:
    """Family from the key layout (bare keys): the first registered family whose ``claims(keys)`` hook says
    so (``registry.key_layouts``). PoseNet-layout heads come out as ``posenet`` (the Integral
    re-implementation shares that layout; ask for ``integral`` to get it)."""
    from . import registry

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
    from . import registry

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
    from . import registry

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


# ---------------------------------------------------------------------------------------------------
# Strict-load diff


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
    from . import registry

    cfg = registry.get_config(name)
    try:
        with torch.device("meta"):
            model = registry.build_from_config(cfg)
    except Exception:  # noqa: BLE001 - an init that cannot run on meta: build for real
        model = registry.build_from_config(cfg)
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


def closest_variant(shapes: Mapping[str, Any]) -> tuple[str | None, float]:
    """Registered variant whose state dict shares the most (key, shape) pairs -> (name, Jaccard score)."""
    from . import registry

    got = set(state_dict_shapes(shapes).items())
    best, score = None, 0.0
    for name in registry.available():
        ref = set(_variant_shapes(name))
        s = len(ref & got) / max(len(ref | got), 1)
        if s > score:
            best, score = name, s
    return best, score


# ---------------------------------------------------------------------------------------------------
# load_model


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
    from . import registry

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
    from . import registry

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


__all__ = [
    "CheckpointWarning", "closest_variant", "factor_channels", "format_diff", "infer_architecture", "infer_config",
    "infer_family", "inspect_checkpoint", "load_model", "read_checkpoint", "state_dict_diff", "state_dict_shapes",
]


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
    from .registry import get_config

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
