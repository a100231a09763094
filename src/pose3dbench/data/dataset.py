"""The dataset seam: what a benchmark dataset declares, and the registry that finds it.

A dataset is a plug-in: one subclass of ``Dataset`` (its own module under ``data/``, or your own code)
registered with ``register_dataset``. It declares its evaluation splits, loads their ``Samples`` (one row
per person crop: image, box, camera, ground truth, grouping keys), and owns how a split is scored
(``Scoring``: alignment, grouping and metric names over the dataset-free functions of
``pose3dbench.metrics``). Everything above ``data/`` (planning, inference, scoring, results, report, CLI)
iterates over what a dataset declares and never names one.

Splits are names (``p1``/``p2`` for Human3.6M); a split is evaluated with a box source (``gt`` or
``rootnet``, see ``pose3dbench.roots``). ``Scoring.declaration()`` is written into results.json so that a
report can be built from the results alone.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from ..errors import DatasetError
from ..roots import BOX_SOURCES, box_source
from .samples import Samples

#: built-in datasets: name -> module that registers it (imported on first use)
BUILTIN = {"h36m": "pose3dbench.data.h36m", "mupots": "pose3dbench.data.mupots"}
_REGISTRY: dict[str, type["Dataset"]] = {}


@dataclass
class PosePredictions:
    """A model's predictions for the rows of a split, in the model's joint set.

    pred_cam: [N, J, 3] camera mm (absolute, back-projected with the split's root; scoring may be
    root-relative). pred_img: [N, J, 2] image pixels, or None when not known (e.g. a file of camera poses).
    joint_set: name of the joint order (``pose3dbench.joints``).
    """

    pred_cam: np.ndarray
    joint_set: str
    pred_img: np.ndarray | None = None


@dataclass
class Scored:
    """What scoring one split gives.

    record: the JSON-able metrics of the split (the dataset's fields; the primary value under
    ``declaration()["value"]``). per_sample: [N] the primary metric's term per row (mm or %), for the
    predictions file and the bootstrap; ``weights`` [N] how rows weigh in the primary value (None: equally).
    arrays: more arrays to keep beside the predictions: per row (e.g. ``per_sample_scaled_mm``), or per scored unit
    where the metric's unit is not a row (``unit_id``, ``unit_value``, ``unit_stratum``: e.g. MuPoTS-3D's annotated
    people, their 3DPCK and sequence; the report bootstraps them when the split declares ``unit_bootstrap``).
    """

    record: dict
    per_sample: np.ndarray
    weights: np.ndarray | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class Scoring:
    """How one split of a dataset is scored: a thin stateful wrapper over ``pose3dbench.metrics`` functions.

    Subclasses set ``metric`` (the primary metric's name), ``unit`` (``mm`` or ``%``), ``lower_is_better``,
    ``value`` (the record field holding the primary value) and implement ``score``; ``groups`` names the
    record fields that hold per-group values (field -> title) and ``joints`` the per-joint one.
    """

    metric: str = ""
    unit: str = "mm"
    lower_is_better: bool = True
    value: str = "value"
    groups: dict[str, str] = {}
    joints: str | None = None

    def score(self, samples: Samples, pred: PosePredictions) -> Scored:
        raise NotImplementedError

    def check_record(self, record: dict, path: str) -> None:
        """ValueError (message starting with ``path``) when a results.json record of this split is malformed."""
        v = record.get(self.value)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise ValueError(f"{path}.{self.value}: expected the split's {self.metric} value, got {v!r}")

    def declaration(self) -> dict:
        """How a report reads this split's records (results.json ``settings.datasets[i].scoring[split]``)."""
        return {"metric": self.metric, "unit": self.unit, "lower_is_better": bool(self.lower_is_better),
                "value": self.value, "groups": dict(self.groups), "joints": self.joints}


class RootScoring:
    """How a split scores a root-only model (RootNet): MRPE in camera mm against each row's GT root joint."""

    metric = "MRPE"

    def score(self, samples: Samples, root_cam: np.ndarray) -> dict:
        from ..joints import get_joint_set
        from ..metrics import root_errors

        root = get_joint_set(samples.joint_set).root
        return root_errors(root_cam, samples.joints_cam[:, root])


class Dataset:
    """A benchmark dataset in a folder (see the module docstring).

    Class attributes to set: ``name`` (short id, e.g. ``h36m``), ``title`` (``Human3.6M``), ``splits`` (every
    split name), ``default_splits``, ``box_sources``, ``stratify_by`` (the group keys of ``limit_per_group``),
    ``split_words`` / ``group_words`` (help texts: how splits are named, what ``limit_per_group`` groups by),
    ``synthetic_sizes`` (sizes of its generated set, if it has one). Methods to implement: ``recognises`` (is a
    folder this dataset?), ``load`` (a whole split) and ``scoring``. Optional: ``split_name`` (accept aliases),
    ``split_label``, ``root_scoring``, ``split_warnings``, ``diagnose`` (``doctor``), ``generate_synthetic``,
    ``read_predictions`` (foreign prediction formats for ``evaluate``), ``write_extra_predictions``.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ()
    default_splits: ClassVar[tuple[str, ...]] = ()
    box_sources: ClassVar[tuple[str, ...]] = BOX_SOURCES
    stratify_by: ClassVar[tuple[str, ...]] = ()
    split_words: ClassVar[str] = ""
    group_words: ClassVar[str] = ""
    #: what a report says of how the dataset is scored (one paragraph)
    about: ClassVar[str] = ""
    #: the split that ranks models in a report (None: the first default split)
    primary_split: ClassVar[str | None] = None
    synthetic_sizes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, folder: str | Path, *, bbox_root: dict[str, Path] | Path | str | None = None,
                 limit: int | None = None, limit_per_group: int | None = None):
        self.folder = Path(folder)
        self.bbox_root = self.parse_bbox_root(bbox_root)
        self.limit = int(limit) if limit else None
        self.limit_per_group = int(limit_per_group) if limit_per_group else None
        self._cache: dict[tuple[str, str], Samples] = {}

    # --- declared by the plug-in
    @classmethod
    def recognises(cls, folder: Path) -> bool:
        """True when ``folder`` (any nesting below it) holds this dataset."""
        return False

    def load(self, split: str, box: str) -> Samples:
        """The whole split with boxes (and roots) from ``box``; DatasetError naming the file and the fix."""
        raise NotImplementedError

    @classmethod
    def scoring(cls, split: str) -> Scoring:
        """How ``split`` is scored (a fact of the dataset, not of a folder)."""
        raise NotImplementedError

    @classmethod
    def root_scoring(cls, split: str) -> RootScoring:
        return RootScoring()

    def box_of(self, root: str) -> str:
        """The box source a root source's crops come from (default ``roots.box_source``: ``rootnet-model`` on
        RootNet's boxes)."""
        return box_source(root)

    @classmethod
    def split_name(cls, text: str) -> str:
        """The canonical split name of ``text`` (plug-ins may accept aliases); DatasetError if unknown."""
        if text in cls.splits:
            return text
        raise DatasetError(f"{cls.title} has no split {text!r}; its splits are {', '.join(cls.splits)}")

    @classmethod
    def split_label(cls, split: str) -> str:
        return f"{cls.title} {split}"

    def evaluate_foreign(self, path: Path, split: str) -> dict | None:
        """Score a predictions file (or folder) in one of the authors' formats this dataset knows, the way the
        authors' own evaluation reads it: the split's record, or None when ``path`` is none of them (then it is read
        as pose3dbench's own, or as a format every dataset shares). Default: None."""
        return None

    def write_predictions(self, path: Path, samples: Samples, pred: PosePredictions) -> list[Path]:
        """Write the dataset's own prediction files beside a run's ``path`` (the files its official evaluation
        reads, e.g. MuPoTS-3D's .mat pair); returns what was written. Default: nothing."""
        return []

    @classmethod
    def record_fields(cls, split: str) -> dict:
        """Fields the dataset adds to every results.json record of ``split`` (e.g. Human3.6M's ``protocol``)."""
        return {}

    def split_warnings(self, samples: Samples) -> list[str]:
        """Warnings about a loaded split (e.g. a RootNet file made for another split)."""
        return []

    def describe(self) -> dict:
        """results.json ``settings.datasets[i]``: what was evaluated and how it is scored."""
        return {"name": self.name, "title": self.title, "path": str(self.folder.resolve()),
                "bbox_root": {s: str(Path(p).resolve()) for s, p in sorted(self.bbox_root.items())} or None,
                "scoring": {s: self.scoring(s).declaration() for s in self.splits},
                "split_labels": {s: self.split_label(s) for s in self.splits},
                "primary_split": self.primary_split or self.default_splits[0], "group_words": self.group_words,
                "about": self.about}

    @classmethod
    def synthetic_metadata(cls, folder: Path) -> dict | None:
        """The generator's metadata when ``folder`` is a synthetic set made by pose3dbench, else None."""
        return None

    @classmethod
    def synthetic_summary(cls, meta: dict) -> str:
        """One line on a synthetic set from its metadata (counts), for ``synth``."""
        return f"{meta.get('images_total', '?')} images"

    @classmethod
    def synthetic_folder_name(cls, size: str, seed: int) -> str:
        """The cache folder name of the synthetic set of ``size`` and ``seed``."""
        return f"{cls.name}-{size}-seed{seed}"

    @classmethod
    def generate_synthetic(cls, out: Path, size: str = "tiny", seed: int = 0) -> Path:
        """Write a synthetic set in the dataset's exact format into ``out`` (plug-ins that have one)."""
        raise DatasetError(f"{cls.title} has no synthetic generator; pass --data with the real dataset")

    def diagnose(self) -> dict:
        """``doctor``'s report: per split and box source, can it run and why not (JSON-able).

        ``splits[split][box]`` = {ok, problems, warnings}; ``lines``: details printed before the verdicts.
        Plug-ins may add more (Human3.6M: subjects, actions, bbox_root coverage). This default loads each split
        and checks its images (headers only).
        """
        from .health import image_problems

        rep: dict = {"dataset": self.name, "data_dir": str(self.folder), "synthetic": None, "splits": {},
                     "lines": []}
        try:
            rep["synthetic"] = self.synthetic_metadata(self.folder)
        except DatasetError:
            pass
        for split in self.splits:
            entry: dict = {"label": self.split_label(split)}
            for box in self.box_sources:
                problems, warnings = [], []
                try:
                    s = self.load(split, box)
                    img = image_problems(list(s.image_path), np.asarray(s.image_size))
                    problems += [f"{len(v)} images {k.replace('_', ' ')}, e.g. {v[0]}" for k, v in img.items() if v]
                    warnings = self.split_warnings(s)
                    entry["images"] = len(set(s.image_path))
                except DatasetError as exc:
                    problems.append(str(exc))
                entry[box] = {"ok": not problems, "problems": problems, "warnings": warnings}
            rep["splits"][split] = entry
        return rep

    # --- provided
    def parse_bbox_root(self, value) -> dict[str, Path]:
        """``--bbox-root`` for this dataset -> {split: file}: one file (every split) or {split alias: file}."""
        if value is None:
            return {}
        if isinstance(value, (str, Path)):
            return {s: Path(value) for s in self.splits}
        return {self.split_name(str(k)): Path(v) for k, v in dict(value).items()}

    def samples(self, split: str, box: str) -> Samples:
        """The split as a run evaluates it: loaded once, with ``limit`` / ``limit_per_group`` applied."""
        split = self.split_name(split)
        if box not in self.box_sources:
            raise DatasetError(f"{self.title} has no box source {box!r}; choose from {', '.join(self.box_sources)}")
        key = (split, box)
        if key not in self._cache:
            s = self.load(split, box)
            if self.limit or self.limit_per_group:
                rows = self.subset_rows(s)
                if len(rows) < len(s):
                    s = s.subset(rows)
                    s.source["subset"] = (f"limit_per_group={self.limit_per_group}" if self.limit_per_group else
                                          f"limit={self.limit}")
            self._cache[key] = s
        return self._cache[key]

    def subset_rows(self, samples: Samples) -> np.ndarray:
        """The rows ``limit_per_group`` (the first N of every ``stratify_by`` group) and ``limit`` (the first N)
        keep, in order. Multi-person datasets keep whole frames instead (see their override)."""
        rows = np.arange(len(samples))
        if self.limit_per_group and self.stratify_by:
            rows = first_per_group(samples, self.stratify_by, self.limit_per_group)
        if self.limit:
            rows = rows[: self.limit]
        return rows


def first_per_group(samples: Samples, keys: tuple[str, ...], n: int) -> np.ndarray:
    """Row indices of the first ``n`` samples of every combination of the group ``keys``, in the split's order."""
    cols = [np.asarray(samples.groups[k]).tolist() for k in keys]
    keep = np.zeros(len(samples), dtype=bool)
    seen: dict[tuple, int] = {}
    for i, key in enumerate(zip(*cols)):
        if seen.get(key, 0) < n:
            seen[key] = seen.get(key, 0) + 1
            keep[i] = True
    return np.flatnonzero(keep)


# --------------------------------------------------------------------------------------------- registry
def register_dataset(cls: type[Dataset]) -> type[Dataset]:
    """Make ``cls`` known by ``cls.name`` (usable as a class decorator). Re-registering a name replaces it."""
    if not cls.name or not cls.splits:
        raise ValueError(f"{cls.__name__}: a dataset needs a name and at least one split")
    _REGISTRY[cls.name] = cls
    return cls


def unregister_dataset(name: str) -> None:
    """Forget a registered dataset (tests, plug-ins replaced at run time)."""
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    for name, module in BUILTIN.items():
        if name not in _REGISTRY:
            importlib.import_module(module)


def available_datasets() -> list[str]:
    _load_builtins()
    return list(_REGISTRY)


def dataset_class(name: str) -> type[Dataset]:
    """The registered dataset called ``name``; DatasetError listing the known ones."""
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(available_datasets())}")
    return _REGISTRY[name]


def detect_dataset(folder: str | Path) -> type[Dataset]:
    """The dataset class whose ``recognises`` accepts ``folder``; DatasetError when none or several do."""
    folder = Path(folder)
    found = [cls for name in available_datasets() if (cls := _REGISTRY[name]).recognises(folder)]
    if len(found) == 1:
        return found[0]
    known = ", ".join(f"{c.name} ({c.title})" for c in _REGISTRY.values())
    if not found:
        raise DatasetError(f"{folder} holds no dataset pose3dbench recognises ({known}); check the folder or name "
                           "it with --dataset NAME (`pose3dbench doctor --data FOLDER` says what is missing)")
    raise DatasetError(f"{folder} looks like several datasets ({', '.join(c.name for c in found)}); "
                       "name the one to use with --dataset NAME")


def open_dataset(folder: str | Path, name: str | None = None, **options: Any) -> Dataset:
    """The dataset in ``folder`` (``name`` or recognised from the folder), with run options (bbox_root, limits)."""
    cls = dataset_class(name) if name else detect_dataset(folder)
    return cls(folder, **options)


SplitWarn = Callable[[str], None]

__all__ = ["BUILTIN", "Dataset", "PosePredictions", "RootScoring", "Scored", "Scoring", "available_datasets",
           "dataset_class", "detect_dataset", "first_per_group", "open_dataset", "register_dataset",
           "unregister_dataset"]
