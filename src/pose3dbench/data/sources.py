"""Where a run's Human3.6M comes from: ``--data``, a Kaggle input folder, or the built-in synthetic set.

``resolve_data`` -> (dataset folder, synthetic metadata or None for real data); ``ensure_synthetic`` makes
the synthetic set once per (size, seed) in the cache (two runs at once: one generates, the other waits).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from ..errors import DatasetError

def resolve_data(data: Path | None, synthetic_size: str, log: Callable[[str], None]) -> tuple[Path, dict | None]:
    """The dataset folder to use and its synthetic metadata (None for real data).

    No ``--data``: a Kaggle input folder holding Human3.6M if there is one, else the built-in
    synthetic set, generated once into the cache.
    """
    if data is not None:
        data = Path(data)
        if not data.exists():
            raise DatasetError(f"--data {data} does not exist; point it at a Human3.6M folder (3DMPPE format) "
                           "or leave it out to use the built-in synthetic data")
        return data, synthetic_metadata(data)
    from .kaggle import find_kaggle_dataset

    kaggle = find_kaggle_dataset()
    if kaggle is not None:
        log(f"using the Human3.6M dataset found in the Kaggle inputs: {kaggle}")
        return kaggle, synthetic_metadata(kaggle)
    path = ensure_synthetic(synthetic_size, log)
    return path, synthetic_metadata(path)


def synthetic_metadata(data: Path) -> dict | None:
    """The generator's metadata when ``data`` is a synthetic set made by pose3dbench, else None."""
    from .layout import find_dataset

    return find_dataset(data).synthetic


def ensure_synthetic(size: str, log: Callable[[str], None], seed: int = 0) -> Path:
    """Generate (once) and return the cached synthetic dataset of ``size``."""
    from ..outdir import waiting_lock
    from ..paths import cache_dir
    from .synthetic import generate

    target = cache_dir() / "synthetic" / f"{size}-seed{seed}"
    if target.is_dir():  # complete: it is renamed into place only after generation finished
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with waiting_lock(target.parent / f".{target.name}.lock"):  # two runs at once: one generates, one waits
        if target.is_dir():
            return target
        log(f"generating the synthetic Human3.6M set ({size}, seed {seed}) into {target} (once)")
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(tmp, seed=seed, size=size)
        os.replace(tmp, target)
    return target
