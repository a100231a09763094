"""Atomic writes (pose3dbench.io) that leave report files world-readable like an ordinary file.

``tempfile.mkstemp`` (used by the atomic writer) creates files with mode 0600; a report is meant to
be shared, so after the rename the mode is set to 0666 minus the process umask (usually 0644).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..io import atomic_write, atomic_write_text


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _readable(path: Path) -> Path:
    os.chmod(path, 0o666 & ~_umask())
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` atomically to ``path``; mode 0666 & ~umask."""
    return _readable(atomic_write_text(path, text))


def write_with(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    """Call ``write(binary file)`` atomically for ``path``; mode 0666 & ~umask."""
    return _readable(atomic_write(path, write, mode="wb"))
