"""pose3dbench: benchmark monocular 3D human pose networks on Human3.6M.

Data flows one way: dataset -> model -> raw predictions -> metrics/perf -> results -> report.
"""
from __future__ import annotations

from .version import __version__


def load_model(checkpoint, model=None, *, trust_checkpoint=False, **overrides):
    """Load released weights into the matching architecture (eval mode). See ``models.checkpoint``."""
    from .models.checkpoint import load_model as _load_model

    return _load_model(checkpoint, model, trust_checkpoint=trust_checkpoint, **overrides)


__all__ = ["__version__", "load_model"]
