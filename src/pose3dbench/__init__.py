"""pose3dbench: benchmark monocular 3D human pose networks on Human3.6M, MuPoTS-3D and your own datasets.

Data flows one way: dataset -> crops -> model -> raw predictions -> metrics/cost -> results -> report. The Python
API: ``benchmark``, ``evaluate``, ``write_report`` (``pose3dbench.api``) and ``load_model``.
"""
from __future__ import annotations

from .version import __version__


def load_model(checkpoint, model=None, *, trust_checkpoint=False, **overrides):
    """Load released weights into the matching architecture (eval mode). See ``models.checkpoint``."""
    from .models.checkpoint import load_model as _load_model

    return _load_model(checkpoint, model, trust_checkpoint=trust_checkpoint, **overrides)


def __getattr__(name: str):
    if name in ("benchmark", "evaluate", "write_report", "BenchmarkResults"):  # lazy: importing the package stays light
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'pose3dbench' has no attribute {name!r}")


__all__ = ["__version__", "load_model", "benchmark", "evaluate", "write_report", "BenchmarkResults"]
