"""onnxruntime-backed models with the zoo interface, and the runner's backend hook.

``OrtModel(...)(img)``: img [B, 3, H, W] float32 normalised crop (input pixels) -> [B, J, 3] (x, y, z)
in heatmap units, like every zoo model; RootNet-style graphs take ``(img, k_value [B, 1] mm)``.
Graphs that output raw volumetric heatmaps [B, J*D, Hm, Wm] (or [B, J, D, Hm, Wm]) are decoded with
the shared ``models.codecs.soft_argmax_3d``; graphs with a batch axis fixed to N run in slices of N (the last one
zero-padded).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..models.codecs import codec_for, soft_argmax_3d
from . import require_onnxruntime
from ..errors import BackendError
@dataclass(frozen=True)
class OnnxLayout:
    """How to feed and read one ONNX graph.

    kind: ``coords`` ([B, J, 3] heatmap units, or [B, 3] for RootNet) or ``heatmaps`` (volumetric logits,
    channel = joint * depth_bins + z, or a 5-D [B, J, D, Hm, Wm] tensor). fixed_batch: the graph's
    batch size when it is not dynamic, else None.
    """

    kind: str
    input_name: str
    output_name: str
    joint_num: int
    depth_bins: int
    fixed_batch: int | None = None
    k_input_name: str | None = None


#: the CPU session options (picked by benchmarks/onnx_parity.py: benchmarks/RESULTS.md section 3)
SESSION_DEFAULTS = {"graph_optimization_level": "ORT_ENABLE_ALL", "inter_op_threads": 1, "cpu_mem_arena": True}


def session_settings(threads: int | None = None) -> dict:
    """The session options as JSON: ``SESSION_DEFAULTS`` and ``threads`` intra-op threads (default: torch's count)."""
    return {**SESSION_DEFAULTS, "intra_op_threads": int(threads) if threads else torch.get_num_threads()}


def session_options(threads: int | None = None):
    """CPU session options of ``session_settings(threads)``: sequential execution, one inter-op thread."""
    ort = require_onnxruntime()
    st = session_settings(threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = st["intra_op_threads"]
    so.inter_op_num_threads = st["inter_op_threads"]
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, st["graph_optimization_level"])
    so.enable_cpu_mem_arena = bool(st["cpu_mem_arena"])
    return so


def make_session(model: bytes | str | Path, threads: int | None = None, providers=None):
    """An onnxruntime InferenceSession on ``model`` (serialised bytes or a file path)."""
    ort = require_onnxruntime()
    src = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(src, sess_options=session_options(threads),
                                    providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as exc:  # onnxruntime raises its own exception types
        where = model if isinstance(model, (str, Path)) else "the exported model"
        raise BackendError(f"onnxruntime cannot load {where}: {exc}; check that it is a valid ONNX file "
                           "(re-export it, or use --backend eager)") from None


class OrtModel(nn.Module):
    """An onnxruntime session behaving like a zoo model (``config``; ``forward`` -> heatmap units).

    ``source``: the eager model it was exported from, if any (kept for cost accounting: params and MACs),
    not registered as a submodule. ``onnx_params``: number of weights in the graph's initializers.
    """

    backend = "onnxruntime"

    def __init__(self, model: bytes | str | Path, config, layout: OnnxLayout, *, threads: int | None = None,
                 providers=None, source: nn.Module | None = None, onnx_params: int | None = None):
        super().__init__()
        self.config = config
        self.layout = layout
        self.session = make_session(model, threads, providers)
        self.session_settings = session_settings(threads)  # what a cached cost profile is keyed by
        self._source = [source]  # a list: not an nn.Module attribute, so no parameters/submodules leak in
        self.onnx_params = onnx_params
        self.joint_num = layout.joint_num
        self.depth_bins = layout.depth_bins
        if codec_for(config).takes_k_value:
            self.takes_k_value = True

    @property
    def source(self) -> nn.Module | None:
        return self._source[0]

    def _run(self, x: np.ndarray, k: np.ndarray | None) -> np.ndarray:
        feeds = {self.layout.input_name: x}
        if self.layout.k_input_name is not None:
            if k is None:
                raise BackendError("this ONNX graph needs a k_value input (RootNet); call model(img, k_value)")
            feeds[self.layout.k_input_name] = k
        return self.session.run([self.layout.output_name], feeds)[0]

    def _run_batched(self, x: np.ndarray, k: np.ndarray | None) -> np.ndarray:
        n = self.layout.fixed_batch
        if n is None or x.shape[0] == n:
            return self._run(x, k)
        outs = []
        for s in range(0, x.shape[0], n):
            xs = x[s:s + n]
            ks = None if k is None else k[s:s + n]
            m = xs.shape[0]
            if m < n:  # pad the last slice to the graph's fixed batch, drop the padding after
                xs = np.concatenate([xs, np.zeros((n - m,) + xs.shape[1:], xs.dtype)])
                if ks is not None:
                    ks = np.concatenate([ks, np.repeat(ks[-1:], n - m, axis=0)])
            outs.append(self._run(np.ascontiguousarray(xs), ks)[:m])
        return np.concatenate(outs)

    def forward_heatmaps(self, img: torch.Tensor) -> torch.Tensor:
        """Raw volumetric logits [B, J*D, Hm, Wm] (heatmap-output graphs only)."""
        if self.layout.kind != "heatmaps":
            raise BackendError("this ONNX graph outputs coordinates, not heatmaps")
        out = torch.from_numpy(self._run_batched(_np(img), None))
        if out.ndim == 5:
            out = out.reshape(out.shape[0], -1, out.shape[3], out.shape[4])
        return out.to(img.device)

    def forward(self, img: torch.Tensor, k_value: torch.Tensor | None = None) -> torch.Tensor:
        k = None if k_value is None else _np(torch.as_tensor(k_value).reshape(-1, 1))
        out = torch.from_numpy(self._run_batched(_np(img), k))
        if self.layout.kind == "heatmaps":
            if out.ndim == 5:
                out = out.reshape(out.shape[0], -1, out.shape[3], out.shape[4])
            out = soft_argmax_3d(out, self.layout.joint_num, self.layout.depth_bins)
        return out.float().to(img.device)


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).contiguous().numpy())


def wrap_model(model: nn.Module, backend: str = "onnxruntime", *, threads: int | None = None,
               providers=None, log=None, warn=None) -> nn.Module:
    """The runner's hook: ``model`` unchanged for ``eager``, an ``OrtModel`` exported from it (soft-argmax
    inside the graph, dynamic batch) for ``onnxruntime``. Models that already are ORT pass through. The export
    comes from the content-keyed, verified cache of ``backends.export_cache`` when it holds it (``log`` says so,
    ``warn`` says when an entry could not be used)."""
    from . import BACKENDS
    from .export_cache import cached_export_bytes

    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "eager" or isinstance(model, OrtModel):
        return model
    require_onnxruntime()
    data = cached_export_bytes(model, log=log, warn=warn)
    takes_k = codec_for(model).takes_k_value
    layout = OnnxLayout(kind="coords", input_name="img", output_name="coords",
                        joint_num=int(getattr(model.config, "joint_num", 1)),
                        depth_bins=int(getattr(model.config, "depth_bins", 1)),
                        k_input_name="k_value" if takes_k else None)
    n_params = sum(p.numel() for p in model.parameters())
    return OrtModel(data, model.config, layout, threads=threads, providers=providers, source=model,
                    onnx_params=n_params)


def compile_model(model: nn.Module, **kwargs) -> nn.Module:
    """Compile ``model`` in place with ``nn.Module.compile`` (torch.compile that keeps the module itself, so
    ``.config`` and the profiler's hooks see the same object) and return it; BackendError if it cannot.
    Compilation happens lazily at the first forward of each input shape."""
    if isinstance(model, OrtModel):
        raise BackendError("--compile applies to the eager backend only; drop it or use --backend eager")
    try:
        if hasattr(model, "compile"):
            model.compile(**kwargs)
            return model
        return torch.compile(model, **kwargs)  # torch < 2.2
    except Exception as exc:
        raise BackendError(f"torch.compile is not usable here ({type(exc).__name__}: {exc}); "
                           "run without --compile") from exc
