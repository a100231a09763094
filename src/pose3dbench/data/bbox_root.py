"""RootNet's output files (``bbox_root``): a JSON list of {image_id, bbox [x, y, w, h] pixels, root_cam [X, Y, Z]
camera mm} entries, as the 3DMPPE RootNet writes them for Human3.6M and MuPoTS-3D (extra keys such as
``score`` are read where present)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .io import entry_int as _entry_int, read_json

__all__ = ["BBoxRoot", "load_bbox_root"]


@dataclass
class BBoxRoot:
    """RootNet output indexed by image id. bbox: (N, 4) pixels x, y, w, h; root_cam: (N, 3) camera mm; score: (N,)
    the detector's score where the file has one (multi-person files), else None."""

    path: Path
    image_id: np.ndarray
    bbox: np.ndarray
    root_cam: np.ndarray
    score: np.ndarray | None = None

    def __post_init__(self):
        self._order = np.argsort(self.image_id, kind="stable")
        self._sorted = self.image_id[self._order]

    def __len__(self) -> int:
        return int(self.image_id.shape[0])

    def __contains__(self, image_id) -> bool:
        return bool(self.lookup(np.asarray([image_id]))[1][0])

    def lookup(self, image_ids) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``image_ids`` (vectorised): (rows (M,) int64, -1 where absent; found (M,) bool)."""
        ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        pos = np.searchsorted(self._sorted, ids)
        pos_c = np.minimum(pos, max(len(self) - 1, 0))
        found = (pos < len(self)) & (self._sorted[pos_c] == ids) if len(self) else np.zeros(ids.shape, bool)
        rows = np.where(found, self._order[pos_c] if len(self) else -1, -1)
        return rows.astype(np.int64), found

    def __getitem__(self, image_id) -> dict:
        rows, found = self.lookup([image_id])
        if not found[0]:
            raise KeyError(image_id)
        r = rows[0]
        return {"bbox": self.bbox[r], "root_cam": self.root_cam[r]}

    def as_dict(self) -> dict[int, dict]:
        """{image_id: {"bbox": (4,), "root_cam": (3,)}} (as the 3DMPPE code keeps it)."""
        return {int(i): {"bbox": b, "root_cam": r} for i, b, r in zip(self.image_id, self.bbox, self.root_cam)}


def load_bbox_root(path: str | os.PathLike, one_per_image: bool = True) -> BBoxRoot:
    """Read a RootNet ``bbox_root`` file; DatasetError on bad JSON, missing fields, NaN, or (``one_per_image``, a
    single-person dataset's file) duplicate ids. A ``score`` per entry is read when every entry has one."""
    path = Path(path)
    data = read_json(path, "bbox_root")
    if not isinstance(data, list):
        raise DatasetError(f"{path} must hold a JSON list of {{image_id, bbox, root_cam}} entries (RootNet output), "
                           f"got {type(data).__name__}")
    try:
        ids = np.asarray([_entry_int(e, "image_id", path, "bbox_root") for e in data], dtype=np.int64).reshape(-1)
        bbox = np.asarray([e["bbox"] for e in data], dtype=np.float64).reshape(len(data), -1)
        root = np.asarray([e["root_cam"] for e in data], dtype=np.float64).reshape(len(data), -1)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
        raise DatasetError(f"{path}: every entry needs image_id, bbox [x,y,w,h] and root_cam [X,Y,Z] ({exc!r}); "
                           "is this a RootNet bbox_root file?") from None
    if len(data) and (bbox.shape[1] != 4 or root.shape[1] != 3):
        raise DatasetError(f"{path}: bbox must have 4 numbers and root_cam 3 (got {bbox.shape[1]} and {root.shape[1]})")
    bad = ~(np.isfinite(bbox).all(1) & np.isfinite(root).all(1))
    if bad.any():
        raise DatasetError(f"{path}: {int(bad.sum())} entries have NaN/inf bbox or root_cam "
                           f"(image ids {ids[bad][:10].tolist()}); regenerate the RootNet output")
    uniq, counts = np.unique(ids, return_counts=True)
    if one_per_image and (counts > 1).any():
        raise DatasetError(f"{path}: duplicate image ids {uniq[counts > 1][:10].tolist()}; "
                           "a bbox_root file of this dataset has one entry per image")
    score = None
    if data and all(isinstance(e, dict) and "score" in e for e in data):
        try:
            score = np.asarray([e["score"] for e in data], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            raise DatasetError(f"{path}: entries' score must be a number") from None
        if not np.isfinite(score).all():
            raise DatasetError(f"{path}: NaN/inf scores (entry {int(np.flatnonzero(~np.isfinite(score))[0])}); "
                               "regenerate the RootNet output")
    return BBoxRoot(path=path, image_id=ids, bbox=bbox.reshape(-1, 4), root_cam=root.reshape(-1, 3), score=score)
