"""Where a run's datasets come from: ``--data`` folders, a Kaggle input folder, or the built-in synthetic sets.

``resolve_datasets`` -> one ``DataSource`` (dataset class, folder, synthetic metadata or None for real data) per
dataset of the run; ``ensure_synthetic`` makes a dataset's synthetic set once per (size, seed) in the cache
(two runs at once: one generates, the other waits).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DatasetError
from .dataset import Dataset, dataset_class, detect_dataset


@dataclass(frozen=True)
class DataSource:
    """A dataset of a run: its plug-in class, its folder, and the generator's metadata if it is synthetic."""

    cls: type[Dataset]
    folder: Path
    synthetic: dict | None


def resolve_datasets(data: tuple[Path, ...], names: tuple[str, ...], synthetic_size: str,
                     log: Callable[[str], None], demo_names: tuple[str, ...] = ()) -> list[DataSource]:
    """The datasets of a run, in order.

    ``data`` folders, each named by ``names`` (one name for all, one per folder) or recognised from its content.
    No folder: the first Kaggle input holding a known dataset, else the synthetic sets of ``names`` (or
    ``demo_names``), generated once into the cache.
    """
    if data:
        out = []
        for i, folder in enumerate(data):
            folder = Path(folder)
            if not folder.exists():
                raise DatasetError(f"--data {folder} does not exist; point it at a dataset folder or leave it out to "
                                   "use the built-in synthetic data")
            name = names[i] if len(names) == len(data) else (names[0] if names else None)
            cls = dataset_class(name) if name else detect_dataset(folder)
            out.append(DataSource(cls, folder, cls.synthetic_metadata(folder)))
        return out
    from .kaggle import find_kaggle_dataset

    kaggle = find_kaggle_dataset(names)
    if kaggle is not None:
        cls, folder = kaggle
        log(f"using the {cls.title} dataset found in the Kaggle inputs: {folder}")
        return [DataSource(cls, folder, cls.synthetic_metadata(folder))]
    out = []
    for name in names or demo_names:
        cls = dataset_class(name)
        path = ensure_synthetic(cls, synthetic_size, log)
        out.append(DataSource(cls, path, cls.synthetic_metadata(path)))
    return out


def synthetic_folder(cls: type[Dataset], size: str, seed: int) -> Path:
    """Where the synthetic set of a dataset is cached."""
    from ..paths import cache_dir

    return cache_dir() / "synthetic" / cls.synthetic_folder_name(size, seed)


def ensure_synthetic(cls: type[Dataset], size: str, log: Callable[[str], None], seed: int = 0) -> Path:
    """Generate (once) and return the cached synthetic set of dataset ``cls`` in ``size``."""
    from ..outdir import waiting_lock

    if cls.synthetic_sizes and size not in cls.synthetic_sizes:
        raise DatasetError(f"{cls.title}: no synthetic size {size!r}; choose from {', '.join(cls.synthetic_sizes)}")
    target = synthetic_folder(cls, size, seed)
    if target.is_dir():  # complete: it is renamed into place only after generation finished
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with waiting_lock(target.parent / f".{target.name}.lock"):  # two runs at once: one generates, one waits
        if target.is_dir():
            return target
        log(f"generating the synthetic {cls.title} set ({size}, seed {seed}) into {target} (once)")
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        cls.generate_synthetic(tmp, size=size, seed=seed)
        os.replace(tmp, target)
    return target
