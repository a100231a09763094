"""The one grammar of model specs (``--model SPEC``, ``profile``, the Python API) -> (module, ``ModelInfo``).

SPEC forms, tried in this order:

- ``NAME=CKPT``: checkpoint file loaded as NAME (a family or registered variant), see ``load_model``.
- ``NAME``: a registered variant with untrained weights (``convnextpose-s``).
- ``module:function`` or ``path/to/file.py:function``: bring your own model; ``function()`` returns an
  ``nn.Module`` with the zoo interface (``forward(img [B,3,H,W]) -> [B,J,3]`` in heatmap units and a
  ModelConfig-like ``config``).
- ``CKPT``: a checkpoint path; family and variant inferred from its keys.
- ``NAME:pretrained`` / ``NAME:TAG``: the authors' released weights from the weights registry
  (``pose3dbench weights list``), fetched and cached, loaded with the entry's overrides.

Any spec may end in ``@key=value,key=value`` to pass architecture overrides that a state dict
cannot tell, e.g. ``convnextpose-m=ConvNeXtPose_M.tar@upsample_layers=2``.

Any spec may start with ``LABEL:=`` to name its row (``ep24:=convnextpose-s=snapshot_24.pth.tar``): the
label is the model's name everywhere (results.json, predictions files, report, CLI summary) instead of
the name derived from the variant. ``:=`` appears in no other spec form.

``.onnx`` files go to the ONNX backend (``_resolve_onnx``, the one dispatch point for it).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelSpecError, Pose3DBenchError
from .io import sha256_file
from .models.info import ModelInfo
from .suggest import close_names, did_you_mean

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_CONFIG_FIELDS = ("family", "variant", "joint_num", "depth_bins", "heatmap_size", "input_size", "mean", "std")


def _info(name: str, spec: str, weights: str, checkpoint: str | None, sha256: str | None, model: nn.Module,
          **extra: Any) -> ModelInfo:
    cfg = model.config
    return ModelInfo(name=name, spec=spec, weights=weights, checkpoint=checkpoint, sha256=sha256,
                     family=getattr(cfg, "family", None), variant=getattr(cfg, "variant", None), **extra)


def _resolve_onnx(spec: str, path: str, overrides: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Dispatch point for ONNX models (``*.onnx``): handled by the ONNX backend, not here.

    ``overrides`` (``file.onnx@input_pixel_range=0-1``) state config fields the file cannot tell.
    """
    from .backends.foreign import load_onnx_model
    from .errors import BackendError

    name = spec.split("@", 1)[0].split("=", 1)[0].strip() if "=" in spec.split("@", 1)[0] else None
    try:
        return load_onnx_model(path, spec=spec, name=name, overrides=overrides)
    except BackendError as exc:
        raise ModelSpecError(f"{spec!r}: the onnx backend cannot use {path}: {exc}") from None


def _is_onnx(path: str) -> bool:
    return path.lower().endswith(".onnx")


def _load_checkpoint(spec: str, name: str | None, path: str, trust_checkpoint: bool,
                     overrides: dict[str, Any] | None = None):
    """A checkpoint file (loaded as ``name`` if given, else as what its keys say), with ``overrides``."""
    from .models.checkpoint import load_model

    model = load_model(path, name, trust_checkpoint=trust_checkpoint, **(overrides or {}))
    ck = model.checkpoint_info
    real = model.config.variant
    if name and (name == real or name == model.config.family):
        display = name
    elif name and not real.endswith("-custom"):
        display = real  # the user named another variant: label the results with what the file really is
    elif name:
        display = f"{name} ({Path(path).name})"
    else:
        display = real if not real.endswith("-custom") else Path(path).name
    return model, _info(display, spec, "checkpoint", ck["path"], ck["sha256"], model, checkpoint_info=ck)


def _import_target(spec: str, target: str) -> tuple[Any, str | None]:
    """Import ``module`` or ``path/to/file.py`` -> (module object, path of the .py file or None)."""
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise ModelSpecError(f"{spec!r}: {path} does not exist; give an existing .py file or an importable module.")
        mod_name = "pose3dbench_user_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ModelSpecError(f"{spec!r}: cannot import {path} as a Python module.")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise ModelSpecError(f"{spec!r}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
        return module, str(path)
    try:
        return importlib.import_module(target), None
    except ImportError as exc:
        from .models import registry

        close = close_names(target, registry.available())
        tag = spec.rsplit(":", 1)[-1]
        hint = f" If you meant a registered model: --model {close[0]}:{tag}." if close else ""
        raise ModelSpecError(f"{spec!r}: cannot import module {target!r} ({exc}); make it importable (PYTHONPATH) "
                             f"or give the path of its .py file (path/to/file.py:function).{hint}") from exc
    except Exception as exc:
        raise ModelSpecError(f"{spec!r}: importing {target!r} failed: {type(exc).__name__}: {exc}") from exc


def validate_custom_model(model: Any, where: str, *, check_forward: bool = True) -> nn.Module:
    """Check that a user model follows the zoo interface; returns it in eval mode.

    Requires an ``nn.Module`` with a ``config`` having family, variant, joint_num, depth_bins,
    heatmap_size (H, W heatmap pixels), input_size (H, W input pixels), mean, std, and optionally
    input_pixel_range (``"0-255"`` default, or ``"0-1"``) and input_channel_order (``"RGB"``/``"BGR"``). With
    ``check_forward`` one zero image [1, 3, H, W] must give [1, joint_num, 3] (heatmap units);
    a RootNet-family model (``codec_for(model).takes_k_value``) is called as (img, k_value [1, 1]) and
    must give [1, 3].
    """
    if not isinstance(model, nn.Module):
        raise ModelSpecError(f"{where} returned {type(model).__name__}, not a torch.nn.Module; "
                             "return the model itself.")
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise ModelSpecError(f"{where}: the model has no `config` attribute; set model.config = "
                             "pose3dbench.models.ModelConfig(family=..., variant=..., joint_num=..., depth_bins=..., "
                             "heatmap_size=(H, W), input_size=(H, W)).")
    missing = [f for f in _CONFIG_FIELDS if not hasattr(cfg, f)]
    if missing:
        raise ModelSpecError(f"{where}: model.config lacks {', '.join(missing)}; use pose3dbench.models.ModelConfig.")
    try:
        h, w = (int(v) for v in cfg.input_size)
        hh, hw = (int(v) for v in cfg.heatmap_size)
        joints, bins = int(cfg.joint_num), int(cfg.depth_bins)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"{where}: model.config has malformed sizes ({exc}); input_size and heatmap_size are "
                             "(H, W) pairs of ints, joint_num and depth_bins ints.") from None
    if min(h, w, hh, hw, joints, bins) <= 0 or len(tuple(cfg.mean)) != 3 or len(tuple(cfg.std)) != 3:
        raise ModelSpecError(f"{where}: model.config needs positive sizes and 3-channel mean/std "
                             f"(got input {cfg.input_size}, heatmap {cfg.heatmap_size}, joints {joints}, bins {bins}).")
    from .models.input import input_convention

    try:
        input_convention(cfg)  # input_pixel_range / input_channel_order (default 0-255, RGB when absent)
    except Pose3DBenchError as exc:
        raise ModelSpecError(f"{where}: {exc}") from None
    model.eval()
    if check_forward:
        from .models.codecs import codec_for

        codec = codec_for(model)  # RootNet: forward(img, k_value) -> [B, 3]
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        img = torch.zeros(1, 3, h, w, device=device)
        try:
            with torch.inference_mode():
                out = model(*codec.example_inputs(img))
        except Exception as exc:
            raise ModelSpecError(f"{where}: forward on a [1, 3, {h}, {w}] image failed: {type(exc).__name__}: {exc}. "
                                 "The zoo interface is forward(img [B,3,H,W]) -> [B, joint_num, 3].") from exc
        want = codec.output_shape(1)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ModelSpecError(f"{where}: forward returned {got}, expected a tensor of shape {list(want)} "
                                 "((x, y, z) per joint in heatmap units).")
    return model


def _load_custom(spec: str, target: str, func_name: str):
    module, py_path = _import_target(spec, target)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ModelSpecError(f"{spec!r}: {target} has no callable {func_name!r}.")
    try:
        model = func()
    except Exception as exc:
        raise ModelSpecError(f"{spec!r}: calling {target}:{func_name}() failed: {type(exc).__name__}: {exc}") from exc
    model = validate_custom_model(model, f"{spec!r} ({target}:{func_name}())")
    sha = sha256_file(Path(py_path)) if py_path else None
    name = getattr(model.config, "variant", None) or func_name
    return model, _info(str(name), spec, "custom", None, sha, model, source=py_path or target)


def _split_custom(spec: str) -> tuple[str, str] | None:
    """``module:function`` / ``file.py:function`` -> (target, function), else None."""
    if ":" not in spec:
        return None
    target, func = spec.rsplit(":", 1)
    if not _IDENT.match(func):
        return None
    if target.endswith(".py") or _DOTTED.match(target):
        return target, func
    return None


def _split_overrides(spec: str) -> tuple[str, dict[str, Any]]:
    """``SPEC@k=v,k=v`` -> (SPEC, {k: v}) with values parsed as int/float/bool where they look so."""
    if "@" not in spec:
        return spec, {}
    base, _, tail = spec.rpartition("@")
    if not tail or "=" not in tail:
        return spec, {}
    overrides: dict[str, Any] = {}
    for item in tail.split(","):
        key, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or not _IDENT.match(key):
            raise ModelSpecError(f"{spec!r}: overrides after '@' must look like key=value,key=value")
        low = raw.lower()
        if low in ("true", "false"):
            value: Any = low == "true"
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        overrides[key] = value
    return base, overrides


_PRETRAINED = re.compile(r"^([a-z0-9][a-z0-9.-]*):([a-z0-9][a-z0-9.-]*)$")


def _resolve_pretrained(spec: str, name: str, overrides: dict[str, Any], trust_checkpoint: bool):
    from .weights.verify import resolve_pretrained
    from .models.checkpoint import load_model

    path, entry = resolve_pretrained(name)
    model = load_model(path, entry.variant, trust_checkpoint=trust_checkpoint, **{**entry.overrides, **overrides})
    ck = model.checkpoint_info
    return model, _info(name, spec, "checkpoint", ck["path"], ck["sha256"], model,
                        checkpoint_info=ck, weights_entry=entry.name)


_LABEL_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+()\[\]#-]{0,63}$")


def split_label(spec: str) -> tuple[str | None, str]:
    """``LABEL:=SPEC`` -> (LABEL, SPEC); a spec without ``:=`` -> (None, spec).

    Raises ModelSpecError for a bad label.
    """
    text = str(spec).strip()
    if ":=" not in text:
        return None, text
    label, _, rest = text.partition(":=")
    label, rest = label.strip(), rest.strip()
    if not rest:
        raise ModelSpecError(f"{spec!r}: LABEL:=SPEC needs a model spec after ':=' "
                             "(e.g. ep24:=convnextpose-s=snapshot_24.pth.tar)")
    if not _LABEL_OK.match(label):
        raise ModelSpecError(f"{spec!r}: the row label {label!r} must be 1-64 characters, start with a letter or "
                             "digit, and use only letters, digits, spaces and . _ + - ( ) [ ] #")
    return label, rest


def resolve_model_spec(spec: str, *, trust_checkpoint: bool = False) -> tuple[nn.Module, ModelInfo]:
    """Resolve a ``--model`` spec (see the module docstring) -> (model in eval mode, info).

    ``LABEL:=SPEC``: info.name and info.label are LABEL; info.spec is SPEC.
    """
    label, full = split_label(spec)
    base, overrides = _split_overrides(full)
    model, info = _resolve_base(base, full, overrides, trust_checkpoint)
    if overrides:
        info.overrides = overrides
    if label:
        info.name = info.label = label
    return model, info


def _resolve_base(spec: str, full: str, overrides: dict[str, Any], trust_checkpoint: bool):
    """The one dispatcher of spec forms (the module docstring's order); ``overrides`` may be empty.

    ``spec``: the spec without label and overrides; ``full``: with its overrides (recorded as info.spec).
    """
    from .models import registry

    spec = str(spec).strip()
    if not spec:
        raise ModelSpecError("empty model spec; give NAME, NAME=CKPT, CKPT or module:function.")
    m = _PRETRAINED.match(spec)
    if m and m.group(1) in registry.available() and not Path(spec).exists():
        return _resolve_pretrained(full, spec, overrides, trust_checkpoint)
    if "=" in spec:
        name, path = (s.strip() for s in spec.split("=", 1))
        if not name or not path:
            raise ModelSpecError(f"{full!r}: NAME=CKPT needs both a model name and a checkpoint path.")
        if _is_onnx(path):
            return _resolve_onnx(full, path, overrides or None)
        known = set(registry.available()) | set(registry.families())
        if name not in known:
            raise ModelSpecError(f"{full!r}: unknown model {name!r}.{did_you_mean(name, registry.names())} "
                                 f"Use a family ({', '.join(registry.families())}) "
                                 f"or a variant ({', '.join(registry.available())}).")
        return _load_checkpoint(full, name, path, trust_checkpoint, overrides)
    if spec in registry.available():
        model = registry.create(spec, **overrides).eval()
        return model, _info(spec, full, "untrained", None, None, model)
    if _is_onnx(spec):
        return _resolve_onnx(full, spec, overrides or None)
    custom = _split_custom(spec)
    if custom is not None and not Path(spec).exists():
        if overrides:
            raise ModelSpecError(f"{full!r}: overrides apply to NAME, NAME=CKPT, CKPT, NAME:pretrained and .onnx "
                                 "specs only; a custom model sets its own config")
        return _load_custom(spec, *custom)
    if Path(spec).expanduser().exists():
        return _load_checkpoint(full, None, spec, trust_checkpoint, overrides)
    looks_like_path = "/" in spec or spec.endswith((".pth", ".tar", ".pt", ".ckpt", ".bin"))
    if looks_like_path:
        raise ModelSpecError(f"{full!r}: no such checkpoint file; check the path.")
    raise ModelSpecError(f"{full!r} is not a registered model, an existing checkpoint file, NAME=CKPT, or "
                         f"module:function.{did_you_mean(spec, registry.available())} "
                         f"Registered models: {', '.join(registry.available())}.")


def verify_weights(target, *, load: bool = True, relock: bool = False) -> dict[str, Any]:
    """``weights.verify`` of a registry entry or local file with the checkpoint content check of the models
    layer (loads strictly as its variant; see ``models.checkpoint.check_checkpoint``)."""
    from .models.checkpoint import check_checkpoint
    from .weights.verify import verify

    return verify(target, load=load, relock=relock, load_checkpoint=check_checkpoint)


__all__ = ["ModelInfo", "ModelSpecError", "resolve_model_spec", "split_label", "validate_custom_model",
           "verify_weights"]
