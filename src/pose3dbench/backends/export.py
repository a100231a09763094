"""Export zoo models to ONNX with the soft-argmax inside the graph.

The exported graph maps a normalised image crop ``img`` [B, 3, H, W] (float32: the crop after the
model's input convention, ``pose3dbench.models.input.normalize_crops``; the convention is written into
the graph input's doc string and into the ``pose3dbench.input`` metadata as JSON) to
``coords`` [B, J, 3] = (x, y, z) in heatmap units, exactly as the model's eager ``forward``; RootNet
takes a second input ``k_value`` [B, 1] (mm) and gives [B, 3] = (x_hm, y_hm, depth mm). The batch
axis is dynamic. The model's ``ModelConfig`` is stored as JSON in the file's metadata
(``pose3dbench.config``) so ``load_onnx_model`` restores it exactly.
"""
from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path

import torch

from . import require_onnx
from ..errors import BackendError
from ..models.codecs import codec_for
META_CONFIG = "pose3dbench.config"
META_OUTPUT = "pose3dbench.output"
META_INPUT = "pose3dbench.input"
DEFAULT_OPSET = 17


def export_onnx_bytes(model: torch.nn.Module, *, opset: int = DEFAULT_OPSET, output: str = "coords",
                      fixed_batch: int | None = None, metadata: bool = True) -> bytes:
    """Serialised ONNX model of ``model`` (eval mode, CPU float32 weights).

    output: ``coords`` (the whole forward, soft-argmax inside) or ``heatmaps`` (``forward_heatmaps``:
    raw volumetric logits [B, J*D, Hm, Wm], as most foreign exports ship). fixed_batch: export with
    that batch size baked in instead of a dynamic batch axis. metadata: store the config (without it
    the file looks like a foreign export).
    """
    onnx = require_onnx()
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise BackendError("ONNX export needs a zoo model with a `config` (pose3dbench.models.create(name))")
    if output not in ("coords", "heatmaps"):
        raise BackendError(f"unknown ONNX output kind {output!r}; choose coords or heatmaps")
    h, w = (int(v) for v in cfg.input_size)
    was_training = model.training
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    model.eval().cpu()
    dummy_batch = int(fixed_batch) if fixed_batch else 2
    img = torch.zeros(dummy_batch, 3, h, w)
    codec = codec_for(model)
    model_x = _for_export(model)
    if output == "heatmaps":
        if codec.output_kind != "pose":
            raise BackendError("heatmap export is for pose models; RootNet exports its coordinates only")
        target, args, names = _Heatmaps(model_x), (img,), ["img"]
    else:  # RootNet: a second input k_value [B, 1] mm (the codec's example k)
        target, args, names = model_x, codec.example_inputs(img), list(codec.input_names)
    axes = None if fixed_batch else {n: {0: "batch"} for n in names + [output]}
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings on shape checks; deprecation of the TorchScript exporter
            torch.onnx.export(target, args, buf, input_names=names, output_names=[output], dynamic_axes=axes,
                              opset_version=int(opset), do_constant_folding=True, dynamo=False)
    except Exception as exc:
        raise BackendError(f"ONNX export of {cfg.variant} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        model.to(device).train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    cfg_dict = cfg.to_dict() if hasattr(cfg, "to_dict") else None
    if metadata and cfg_dict is not None:
        _set_meta(proto, META_CONFIG, json.dumps(cfg_dict))
    if metadata:
        _set_meta(proto, META_OUTPUT, output)
        from ..models.input import describe_input_convention, input_convention

        conv = input_convention(cfg)
        conv.pop("defaulted", None)
        _set_meta(proto, META_INPUT, json.dumps(conv))
        for graph_input in proto.graph.input:
            if graph_input.name == "img":
                graph_input.doc_string = ("uint8 RGB crop [B, H, W, 3] -> permute -> " + describe_input_convention(cfg)
                                          + ": x = (p - mean) / std" + (" with p = pixel / 255"
                                                                        if conv["pixel_range"] == "0-1" else
                                                                        " with p = pixel (0..255)"))
    return proto.SerializeToString()


class _PReLUAffine(torch.nn.Module):
    """PReLU as ``(1 - a) * relu(x) + a * x`` for onnxruntime's CPU provider.

    Equal to ``max(x, 0) + a * min(x, 0)`` in exact arithmetic; in float32 an output with x > 0 may differ from
    ``x`` by a rounding of the two products (relative ~|a| * 6e-8). The graph is Relu, Mul and Add with per-channel
    constants, which onnxruntime's optimizer turns into convolutions in its blocked NCHWc layout: no layout
    reorder around each activation. MobileHumanPose-LPSKI, batch 32, 2 threads, AMD EPYC: 106 images/s against
    77 for the min/max form (Clip and Mul in plain NCHW, a reorder before and after each) and 47 for the PRelu
    kernel (``benchmarks/onnx_speed.py --prelu-forms``)."""

    def __init__(self, prelu: torch.nn.PReLU):
        super().__init__()
        a = prelu.weight.detach().clone()
        a = a.view(1, -1, 1, 1) if a.numel() > 1 else a
        self.register_buffer("slope", a)
        self.register_buffer("relu_scale", 1 - a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * self.relu_scale + x * self.slope


def _for_export(model: torch.nn.Module) -> torch.nn.Module:
    """``model``, or a copy with its PReLUs rewritten for onnxruntime (see ``_PReLUAffine``)."""
    if not any(isinstance(m, torch.nn.PReLU) for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.PReLU):
                setattr(parent, child_name, _PReLUAffine(child))
    return model


class _Heatmaps(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, img):
        return self.model.forward_heatmaps(img)


def _set_meta(proto, key: str, value: str) -> None:
    for p in proto.metadata_props:
        if p.key == key:
            p.value = value
            return
    entry = proto.metadata_props.add()
    entry.key, entry.value = key, value


def export_onnx(model: torch.nn.Module, path: str | Path, *, opset: int = DEFAULT_OPSET,
                output: str = "coords", fixed_batch: int | None = None, metadata: bool = True) -> Path:
    """Write ``model`` as ONNX to ``path`` (atomically) and return the path. See ``export_onnx_bytes``."""
    from ..io import atomic_write

    data = export_onnx_bytes(model, opset=opset, output=output, fixed_batch=fixed_batch, metadata=metadata)
    return atomic_write(Path(path), lambda f: f.write(data))


def onnx_config(proto_or_path) -> dict | None:
    """The ``ModelConfig`` dict stored by ``export_onnx`` in an ONNX file's metadata, or None."""
    onnx = require_onnx()
    proto = proto_or_path
    if isinstance(proto_or_path, (str, Path)):
        proto = onnx.load(str(proto_or_path), load_external_data=False)
    for p in proto.metadata_props:
        if p.key == META_CONFIG:
            try:
                return json.loads(p.value)
            except json.JSONDecodeError:
                return None
    return None
