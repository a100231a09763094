"""Where the tool keeps things on disk (all overridable by environment variables)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Cache folder: ``$POSE3DBENCH_CACHE`` or ``~/.cache/pose3dbench``."""
    env = os.environ.get("POSE3DBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pose3dbench"


def shared_dir() -> Path | None:
    """The project's ``shared`` fixture folder (tests only): ``$POSE3DBENCH_SHARED`` or ``../shared``."""
    env = os.environ.get("POSE3DBENCH_SHARED")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared"
        if (cand / "conformance").is_dir():
            return cand
    return None
