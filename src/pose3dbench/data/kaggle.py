"""Find a Human3.6M dataset (3DMPPE format) among Kaggle's attached inputs (``/kaggle/input``)."""
from __future__ import annotations

import os
from pathlib import Path

KAGGLE_INPUT = Path("/kaggle/input")


def find_kaggle_dataset(root: str | os.PathLike | None = None) -> Path | None:
    """The first input folder below ``root`` (default ``/kaggle/input``, or ``$POSE3DBENCH_KAGGLE_INPUT``)
    that holds Human3.6M annotation files for a test subject (9 or 11), or None.

    Each attached dataset is a folder directly below the root; the first one (sorted by name) with
    test-subject annotations wins, so the choice is deterministic and printed by the caller.
    """
    from ..errors import DatasetError
    from .layout import find_dataset

    root = Path(root or os.environ.get("POSE3DBENCH_KAGGLE_INPUT") or KAGGLE_INPUT)
    if not root.is_dir():
        return None
    for candidate in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            layout = find_dataset(candidate)
        except DatasetError:
            continue
        if {9, 11} & set(layout.subjects):
            return candidate
    return None
