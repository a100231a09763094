"""``ModelInfo``: what a resolved ``--model`` spec is (the typed hand-off from ``pose3dbench.specs`` to a run)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ModelInfo:
    """A resolved model spec.

    name: the display name (results.json key, file names, report rows); spec: the spec without its label;
    weights: ``untrained`` | ``checkpoint`` | ``custom``; checkpoint: the weights file (or None); sha256: of the
    checkpoint, ONNX file or custom .py file (or None); family / variant: of the model's config;
    checkpoint_info: the loader's record (format, epoch, warnings, dtype_notes, requested name, ...);
    weights_entry: the weights-registry entry a ``NAME:pretrained`` spec used; source: the custom model's .py
    file or module; overrides: ``@key=value`` architecture overrides; label: ``LABEL:=`` of the spec;
    onnx: what the ONNX backend found in a foreign ``.onnx`` file (layout, assumed fields, params).
    """

    name: str
    spec: str
    weights: str
    checkpoint: str | None = None
    sha256: str | None = None
    family: str | None = None
    variant: str | None = None
    checkpoint_info: dict | None = None
    weights_entry: str | None = None
    source: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    onnx: dict | None = None

    @property
    def is_onnx(self) -> bool:
        """A foreign .onnx file: it runs on onnxruntime whatever ``--backend`` says."""
        return self.onnx is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["ModelInfo"]
