"""The column-wise description of one evaluation split of any dataset: one row per scored person crop.

Everything downstream (crop store, inference, back-projection, scoring, report) consumes this object.
Frames: ``joints_cam`` and ``root_cam`` are camera coordinates in millimetres (X right, Y down, Z forward);
``bbox``, ``image_size`` and ``focal``/``princpt`` are in image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass
class Samples:
    """One split of a dataset with one box source, in the authors' order.

    dataset, split: the dataset plug-in's name and split name (e.g. ``h36m``, ``p2``); box: the box source
    (``gt``: processed annotation boxes and GT roots, ``rootnet``: boxes and roots of RootNet's file).
    sample_id: (N,) int64, unique within the split: what predictions files are matched on (the image id where
    a split has one person per image, an annotation or detection index otherwise).
    image_id: (N,) int64. image_path: N absolute paths (may not exist for annotation-only data).
    image_size: (N, 2) int, declared (width, height) from the annotation.
    bbox: (N, 4) float64 x, y, w, h pixels: the box that is cropped and used to back-project.
    root_cam: (N, 3) float64 mm: the root used to back-project depth (GT root or RootNet's).
    joints_cam: (N, J, 3) float64 mm: ground truth in ``joint_set`` order (NaN where a row has none, e.g.
    a detection box of a multi-person image). focal, princpt: (N, 2) float64 pixels.
    groups: per-row keys the dataset groups its scores by (e.g. subject and action, or sequence and frame).
    skipped: reason -> count of samples left out as the benchmark prescribes (e.g. degenerate GT boxes).
    source: files the split came from (for fingerprints, reports and error messages).
    """

    dataset: str
    split: str
    box: str
    sample_id: np.ndarray
    image_id: np.ndarray
    image_path: list[str]
    image_size: np.ndarray
    bbox: np.ndarray
    root_cam: np.ndarray
    joints_cam: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    joint_set: str = "h36m18"
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.sample_id.shape[0])

    def subset(self, index) -> "Samples":
        """Rows ``index`` (slice, int array or bool mask) as a new object."""
        idx = np.arange(len(self))[index]
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                out[f.name] = v[idx]
            elif f.name == "image_path":
                out[f.name] = [v[i] for i in idx]
            elif f.name == "groups":
                out[f.name] = {k: a[idx] for k, a in v.items()}
            elif isinstance(v, dict):
                out[f.name] = dict(v)
            else:
                out[f.name] = v
        return Samples(**out)


__all__ = ["Samples"]
