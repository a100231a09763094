"""Which optional packages a run needs, from its ``--model`` specs and backend (Kaggle notebook, doctor).

- ``gdown``: a ``NAME:pretrained`` / ``NAME:TAG`` entry that is not cached yet and has a Google Drive
  source (``pip install 'pose3dbench[weights]'``).
- ``onnxruntime`` / ``onnx``: a ``FILE.onnx`` model or ``--backend onnxruntime`` (``pose3dbench[onnx]``).
"""
from __future__ import annotations

import importlib.util
from typing import Iterable

PIP_NAMES = {"gdown": "gdown", "onnxruntime": "onnxruntime", "onnx": "onnx"}


def optional_requirements(specs: Iterable[str], backend: str = "eager") -> dict[str, list[str]]:
    """{package: [the specs (or "--backend onnxruntime") that need it]} for the packages a run will import."""
    from .models import registry
    from .specs import _PRETRAINED, _split_overrides, split_label
    from .weights import get_entry, status

    needs: dict[str, list[str]] = {}
    for spec in specs:
        _, rest = split_label(spec)
        base, _ = _split_overrides(rest)
        target = base.split("=", 1)[1].strip() if "=" in base else base
        if target.lower().endswith(".onnx"):
            for pkg in ("onnxruntime", "onnx"):
                needs.setdefault(pkg, []).append(spec)
            continue
        m = _PRETRAINED.match(base)
        if not m or m.group(1) not in registry.available():
            continue
        try:
            entry = get_entry(base)
        except Exception:  # noqa: BLE001 - an unknown tag: the run itself reports it with the known ones
            continue
        if status(entry) != "cached" and any(s.kind.startswith("gdrive") for s in entry.sources):
            needs.setdefault("gdown", []).append(spec)
    if backend == "onnxruntime":
        for pkg in ("onnxruntime", "onnx"):
            needs.setdefault(pkg, []).append("--backend onnxruntime")
    return needs


def missing_requirements(specs: Iterable[str], backend: str = "eager") -> dict[str, list[str]]:
    """The subset of ``optional_requirements`` that is not importable here."""
    return {pkg: who for pkg, who in optional_requirements(specs, backend).items()
            if importlib.util.find_spec(pkg) is None}


__all__ = ["optional_requirements", "missing_requirements", "PIP_NAMES"]
