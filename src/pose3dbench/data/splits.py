"""The splits of a run, from its datasets: ``--bbox-root`` parsing, each split checked once, fingerprints.

A run evaluates one or more datasets (``data.dataset``); a split of a run is (dataset, split, box source).
``CheckedSplits`` hands out a split after checking it once (its images' headers and end markers, and the
dataset's own warnings such as a RootNet file made for another split) and knows its fingerprint (what its
numbers depend on in the dataset folder: ``data.fingerprint``). ``datasets_from_settings`` re-opens the
datasets of a finished run from its results.json ``settings`` (``report`` rebuilds exactly the splits ``run``
scored).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import BboxRootSpecError, DatasetError
from .dataset import Dataset, dataset_class
from .samples import Samples


def parse_bbox_root(values) -> Path | dict[str, Path] | None:
    """``--bbox-root`` values -> one file for every split (``FILE``) or {split: file} (``SPLIT=FILE``, repeatable).

    Accepts None, a path, a {split: file} mapping, or a list of strings as argparse collects them. A split may be
    named by an alias its dataset accepts (Human3.6M: ``1``/``p1``). Raises BboxRootSpecError for a split given
    twice, or FILE mixed with SPLIT=FILE.
    """
    if values is None:
        return None
    if isinstance(values, dict):
        return {str(k): Path(v) for k, v in values.items()} or None
    if isinstance(values, (str, Path)):
        values = [values]
    values = [str(v) for v in values]
    if not values:
        return None
    per: dict[str, Path] = {}
    plain: list[Path] = []
    for v in values:
        head, sep, tail = v.partition("=")
        if sep and head.strip() and tail.strip() and "/" not in head and not Path(v).exists():
            key = head.strip()
            if key in per:
                raise BboxRootSpecError(f"--bbox-root gives split {key} twice ({per[key]} and {tail}); give each "
                                        "split's RootNet file once: --bbox-root p1=P1_FILE --bbox-root p2=P2_FILE")
            per[key] = Path(tail.strip())
        else:
            plain.append(Path(v))
    if plain and (per or len(plain) > 1):
        raise BboxRootSpecError("--bbox-root takes either one FILE (used for every split) or one SPLIT=FILE per "
                                "split (--bbox-root p1=P1_FILE --bbox-root p2=P2_FILE), not both")
    return plain[0] if plain else per


def bbox_root_for_datasets(value, classes: list[type[Dataset]]) -> list:
    """Distribute a ``parse_bbox_root`` value over a run's dataset classes: one entry per class.

    One FILE is for a run of one dataset only; each SPLIT=FILE goes to the dataset that knows the split name.
    """
    if value is None:
        return [None] * len(classes)
    if not isinstance(value, dict):
        if len(classes) > 1:
            raise BboxRootSpecError(f"--bbox-root {value}: this run evaluates {len(classes)} datasets; name the split "
                                    "each file is for (--bbox-root SPLIT=FILE)")
        return [value]
    out: list[dict] = [{} for _ in classes]
    for key, path in value.items():
        owners = []
        for i, cls in enumerate(classes):
            try:
                out[i][cls.split_name(key)] = path
                owners.append(cls.name)
            except DatasetError:
                continue
        if not owners:
            names = "; ".join(f"{c.title}: {', '.join(c.splits)}" for c in classes)
            raise BboxRootSpecError(f"--bbox-root {key}={path}: no dataset of this run has a split {key!r} ({names})")
        if len(owners) > 1:
            raise BboxRootSpecError(f"--bbox-root {key}={path}: the split name {key!r} is ambiguous between "
                                    f"{', '.join(owners)}")
    return [o or None for o in out]


def bbox_root_files(setting) -> list[str]:
    """Every file a dataset's ``bbox_root`` setting names."""
    if not setting:
        return []
    return list(setting.values()) if isinstance(setting, dict) else [setting]


def datasets_from_settings(settings: dict) -> list[Dataset]:
    """The datasets of a finished run, from results.json ``settings`` (path, bbox_root, limits of each)."""
    out = []
    for d in settings.get("datasets") or []:
        cls = dataset_class(d["name"])
        out.append(cls(d["path"], bbox_root=d.get("bbox_root"), limit=settings.get("limit"),
                       limit_per_group=settings.get("limit_per_group")))
    return out


class CheckedSplits:
    """The splits of a run, each checked once before its first use: its images are read (header and end
    marker, ``data.health.check_images``) and the dataset's warnings about it go to ``warn`` (source, message).
    ``fingerprint`` is what a split's numbers depend on in the dataset."""

    def __init__(self, datasets: list[Dataset], warn: Callable[[str, str], None]):
        self.datasets = {d.name: d for d in datasets}
        self.warn = warn
        self._checked: set[tuple[str, str, str]] = set()
        self._images: set[str] = set()
        self._fingerprints: dict[tuple[str, str, str], dict] = {}

    def unchecked(self, dataset: str, split: str, box: str) -> Samples:
        """The split without reading its images (sizes and boxes only)."""
        return self.datasets[dataset].samples(split, box)

    def __call__(self, dataset: str, split: str, box: str) -> Samples:
        from .health import check_images

        ds = self.datasets[dataset]
        s = ds.samples(split, box)
        key = (dataset, split, box)
        if key not in self._checked:
            self._checked.add(key)
            for msg in ds.split_warnings(s):
                self.warn(f"{ds.title} {split} bbox_root" if box == "rootnet" else f"{ds.title} {split}",
                          f"warning: {msg}")
            check_images(s, self._images)  # fail before inference, not hours into it
        return s

    def fingerprint(self, dataset: str, split: str, box: str) -> dict:
        """What the numbers of a split depend on in the dataset (files read, image list): see data.fingerprint."""
        from .fingerprint import split_fingerprint

        key = (dataset, split, box)
        if key not in self._fingerprints:
            self._fingerprints[key] = split_fingerprint(self(dataset, split, box))
        return self._fingerprints[key]


__all__ = ["CheckedSplits", "bbox_root_files", "bbox_root_for_datasets", "datasets_from_settings",
           "parse_bbox_root", "BboxRootSpecError"]
