"""Where a run's datasets come from: ``--data`` folders, a Kaggle input folder, or the built-in synthetic sets.

``resolve_datasets`` -> one ``DataSource`` (dataset class, folder, synthetic metadata or None for real data) per
dataset of the run; ``ensure_synthetic`` makes a dataset's synthetic set once per (size, seed) in the cache
(two runs at once: one generates, the other waits). The cached set is re-used only when every file matches the
manifest written beside it after generation (``<folder>.manifest.json``: relative path -> size and sha256); a set
that does not (a file changed, added or missing, or no manifest) is said (``warn``) and generated again.
"""
from __future__ import annotations

import hashlib
import json
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
                     log: Callable[[str], None], demo_names: tuple[str, ...] = (),
                     warn: Callable[[str], None] | None = None) -> list[DataSource]:
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
        path = ensure_synthetic(cls, synthetic_size, log, warn=warn)
        out.append(DataSource(cls, path, cls.synthetic_metadata(path)))
    return out


def synthetic_folder(cls: type[Dataset], size: str, seed: int) -> Path:
    """Where the synthetic set of a dataset is cached."""
    from ..paths import cache_dir

    return cache_dir() / "synthetic" / cls.synthetic_folder_name(size, seed)


def folder_manifest(folder: Path) -> dict[str, list]:
    """{relative path: [size, sha256]} of every file below ``folder``."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out[p.relative_to(folder).as_posix()] = [p.stat().st_size, h.hexdigest()]
    return out


def manifest_path(target: Path) -> Path:
    return target.with_name(target.name + ".manifest.json")


def check_synthetic(target: Path) -> str | None:
    """Why the cached synthetic set at ``target`` cannot be re-used, or None when every file matches its manifest."""
    try:
        recorded = json.loads(manifest_path(target).read_text())["files"]
    except FileNotFoundError:
        return "it has no manifest (made by an older version, or cut short)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"its manifest cannot be read ({type(exc).__name__})"
    try:
        actual = folder_manifest(target)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if actual == recorded:
        return None
    changed = sorted(k for k in set(actual) | set(recorded) if actual.get(k) != recorded.get(k))
    return f"{len(changed)} file(s) differ from its manifest (e.g. {changed[0]})"


def ensure_synthetic(cls: type[Dataset], size: str, log: Callable[[str], None], seed: int = 0,
                     warn: Callable[[str], None] | None = None) -> Path:
    """Generate (once) and return the cached synthetic set of dataset ``cls`` in ``size``, verified."""
    from ..io import atomic_write_json
    from ..outdir import waiting_lock

    if cls.synthetic_sizes and size not in cls.synthetic_sizes:
        raise DatasetError(f"{cls.title}: no synthetic size {size!r}; choose from {', '.join(cls.synthetic_sizes)}")
    target = synthetic_folder(cls, size, seed)
    if target.is_dir() and check_synthetic(target) is None:  # renamed into place only after generation finished
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with waiting_lock(target.parent / f".{target.name}.lock"):  # two runs at once: one generates, one waits
        if target.is_dir():
            problem = check_synthetic(target)
            if problem is None:
                return target
            (warn or log)(f"warning: the cached synthetic {cls.title} set {target} cannot be used: {problem}; "
                          "generating it again")
            shutil.rmtree(target, ignore_errors=True)
        log(f"generating the synthetic {cls.title} set ({size}, seed {seed}) into {target} (once)")
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        cls.generate_synthetic(tmp, size=size, seed=seed)
        manifest = folder_manifest(tmp)
        os.replace(tmp, target)
        try:
            atomic_write_json(manifest_path(target), {"files": manifest})
        except OSError as exc:
            (warn or log)(f"warning: cannot write the manifest of {target} ({exc.strerror or exc}); the set is "
                          "generated again next time")
    return target
