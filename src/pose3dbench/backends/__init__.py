"""Inference backends besides eager PyTorch: ONNX export and onnxruntime.

- ``export_onnx(model, path)``: a zoo model -> ONNX file whose output is the joint coordinates
  [B, J, 3] in heatmap units (the soft-argmax is inside the graph), config stored in its metadata.
- ``OrtModel``: an onnxruntime session with the zoo model interface (``.config``,
  ``model(img [B,3,H,W]) -> [B,J,3]`` heatmap units).
- ``wrap_model(model, backend)``: the runner's hook (eager -> onnxruntime, or torch.compile).
- ``load_onnx_model(path)``: a FOREIGN ONNX file (someone else's export) -> (OrtModel, info), output
  layout (heatmaps or coordinates) and joint set detected from shapes.

onnx and onnxruntime are an optional extra (``pip install pose3dbench[onnx]``); they are imported
only when one of these functions runs.
"""
from __future__ import annotations

from ..errors import BackendError

BACKENDS = ("eager", "onnxruntime")


def require_onnxruntime():
    """Import and return ``onnxruntime``, or raise BackendError saying how to install it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(f"the onnxruntime backend needs the optional packages onnx and onnxruntime ({exc}); "
                           "install them with `pip install 'pose3dbench[onnx]'` or use --backend eager") from None
    return onnxruntime


def require_onnx():
    """Import and return ``onnx``, or raise BackendError saying how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise BackendError(f"ONNX export/inspection needs the optional package onnx ({exc}); "
                           "install it with `pip install 'pose3dbench[onnx]'`") from None
    return onnx


def __getattr__(name):  # lazy: importing pose3dbench.backends must not import onnx/onnxruntime
    if name in ("export_onnx", "onnx_config"):
        from . import export
        return getattr(export, name)
    if name in ("OrtModel", "wrap_model", "compile_model"):
        from . import ort
        return getattr(ort, name)
    if name in ("load_onnx_model", "detect_layout", "OnnxLayout"):
        from . import foreign
        return getattr(foreign, name)
    raise AttributeError(name)


__all__ = ["BACKENDS", "BackendError", "require_onnxruntime", "require_onnx", "export_onnx", "onnx_config",
           "OrtModel", "wrap_model", "compile_model", "load_onnx_model", "detect_layout", "OnnxLayout"]
