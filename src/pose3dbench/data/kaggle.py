"""Find a dataset pose3dbench knows among Kaggle's attached inputs (``/kaggle/input``)."""
from __future__ import annotations

import os
from pathlib import Path

KAGGLE_INPUT = Path("/kaggle/input")


def find_kaggle_dataset(names=(), root: str | os.PathLike | None = None):
    """(dataset class, folder) of the first input folder below ``root`` (default ``/kaggle/input``, or
    ``$POSE3DBENCH_KAGGLE_INPUT``) that holds a dataset of ``names`` (all known datasets when empty), or None.

    Each attached dataset is a folder directly below the root; the first one (sorted by name) that a dataset
    recognises wins, so the choice is deterministic and printed by the caller.
    """
    from .dataset import available_datasets, dataset_class

    root = Path(root or os.environ.get("POSE3DBENCH_KAGGLE_INPUT") or KAGGLE_INPUT)
    if not root.is_dir():
        return None
    classes = [dataset_class(n) for n in (names or available_datasets())]
    for candidate in sorted(p for p in root.iterdir() if p.is_dir()):
        for cls in classes:
            if cls.recognises(candidate):
                return cls, candidate
    return None
