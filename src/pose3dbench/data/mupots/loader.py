"""MuPoTS-3D test samples as the 3DMPPE ``data/MuPoTS/MuPoTS.py`` builds them -> ``Samples`` (dataset ``mupots``).

``MuPoTS-3D.json`` (COCO style): ``images`` with ``id``, ``file_name`` (``TS<n>/img_<6 digits>.jpg``, the frame
index 0-based), ``width``, ``height``, ``intrinsic`` [fx, fy, cx, cy] pixels; ``annotations`` with ``id``,
``image_id``, ``is_valid``, ``keypoints_cam`` 17x3 camera mm, ``keypoints_img`` 17x2 pixels, ``bbox`` [x, y, w, h]
pixels. The 17 joints are MuPoTS-3D's (``joints.MUPOTS_JOINT_NAMES``; pelvis = 14).

- Box source ``gt`` (the authors' ``use_gt_info = True``): one sample per annotation with ``is_valid == 1``, in
  the file's annotation order; its box is ``process_bbox`` of the annotation box (a box that comes back None is
  left out and counted in ``skipped``), its root the ground-truth pelvis ``keypoints_cam[14]``. ``sample_id`` is
  the annotation id.
- Box source ``rootnet`` (``use_gt_info = False``): one sample per entry of RootNet's bbox_root file, in file
  order, its ``bbox`` and ``root_cam`` AS THEY ARE (no ``process_bbox``, as the authors), including entries on
  frames without a valid person; ``sample_id`` is the entry's index in the file, ``joints_cam`` NaN (a detection
  is not tied to an annotated person: the evaluation matches people in 2D).
Groups: ``sequence`` (1..20), ``frame`` (0-based), ``image_key`` (the prediction key ``TS<n>_img_<6 digits>``).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ..bbox import process_bboxes
from ..bbox_root import load_bbox_root
from ..io import entry_int, read_coco
from ..samples import Samples
from .layout import MuPoTSLayout

ROOT_JOINT = 14
NUM_JOINTS = 17
INPUT_ASPECT_RATIO = 1.0
_FILE_RE = re.compile(r"^TS([1-9][0-9]*)/img_([0-9]+)\.[A-Za-z]+$")


class Annotations:
    """MuPoTS-3D.json as columns: per image (id, file, size, intrinsics, sequence, frame) and per annotation."""

    def __init__(self, path: Path):
        self.path = path
        images, anns = read_coco(path, "MuPoTS-3D annotation", "; is this the 3DMPPE MuPoTS-3D.json?")
        try:
            self.image_ids = np.asarray([entry_int(im, "id", path, "image") for im in images], dtype=np.int64)
            self.file_name = [im["file_name"] for im in images]
            self.size = np.asarray([[entry_int(im, "width", path, "image"), entry_int(im, "height", path, "image")]
                                    for im in images], dtype=np.int64).reshape(-1, 2)
            self.intrinsic = np.asarray([im["intrinsic"] for im in images], dtype=np.float64).reshape(-1, 4)
            self.ann_id = np.asarray([entry_int(a, "id", path, "annotation") for a in anns], dtype=np.int64)
            self.ann_image = np.asarray([entry_int(a, "image_id", path, "annotation") for a in anns], dtype=np.int64)
            self.valid = np.asarray([a["is_valid"] for a in anns]).astype(np.int64) == 1
            self.bbox = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
            self.joints_cam = np.asarray([a["keypoints_cam"] for a in anns], dtype=np.float64).reshape(
                -1, NUM_JOINTS, 3)
        except KeyError as exc:
            raise DatasetError(f"{path}: an image or annotation entry lacks the field {exc}; images need id, "
                               "file_name, width, height, intrinsic; annotations id, image_id, is_valid, "
                               "keypoints_cam (17x3), bbox") from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise DatasetError(f"{path}: malformed image/annotation entry ({exc}); intrinsic must be [fx, fy, cx, "
                               "cy], keypoints_cam 17x3 numbers, bbox [x, y, w, h]") from None
        seq, frame = [], []
        for i, name in enumerate(self.file_name):
            m = _FILE_RE.match(str(name)) if isinstance(name, str) else None
            if m is None:
                raise DatasetError(f"{path}: image id {int(self.image_ids[i])} has file_name {name!r}, not "
                                   "'TS<n>/img_<6 digits>.jpg'")
            seq.append(int(m.group(1)))
            frame.append(int(m.group(2)))
        self.sequence = np.asarray(seq, dtype=np.int64)
        self.frame = np.asarray(frame, dtype=np.int64)
        uniq, counts = np.unique(self.image_ids, return_counts=True)
        if (counts > 1).any():
            raise DatasetError(f"{path}: duplicate image ids {uniq[counts > 1][:10].tolist()}; re-download the file")
        if np.unique(self.ann_id).size != self.ann_id.size:
            raise DatasetError(f"{path}: duplicate annotation ids; re-download the file")
        self._order = np.argsort(self.image_ids, kind="stable")
        bad = ~np.isfinite(self.intrinsic).all(1) | (self.intrinsic[:, :2] <= 0).any(1)
        if bad.any():
            raise DatasetError(f"{path}: image id {int(self.image_ids[bad][0])} has intrinsic "
                               f"{self.intrinsic[bad][0].tolist()}; focal lengths must be positive, finite pixels")
        valid_bad = self.valid & ~np.isfinite(self.joints_cam).all(axis=(1, 2))
        if valid_bad.any():
            raise DatasetError(f"{path}: annotation id {int(self.ann_id[valid_bad][0])} (valid) has NaN/inf "
                               "keypoints_cam; the annotation file is damaged, re-download it")

    def rows_of(self, image_ids: np.ndarray, where: str) -> np.ndarray:
        """Image rows of ``image_ids``; DatasetError naming ``where`` for an unknown id."""
        ids = np.asarray(image_ids, dtype=np.int64)
        pos = np.searchsorted(self.image_ids[self._order], ids)
        pos = np.minimum(pos, len(self._order) - 1)
        rows = self._order[pos]
        missing = self.image_ids[rows] != ids
        if missing.any():
            raise DatasetError(f"{where}: image id {int(ids[missing][0])} is not an image of {self.path} "
                               f"({int(missing.sum())} such entries); use the file made for this MuPoTS-3D.json")
        return rows


@lru_cache(maxsize=4)
def _annotations(path: str, mtime_ns: int, size: int) -> Annotations:
    return Annotations(Path(path))


def read_annotations(path: Path) -> Annotations:
    """MuPoTS-3D.json, parsed once per process while the file is unchanged."""
    st = Path(path).stat()
    return _annotations(str(path), st.st_mtime_ns, st.st_size)


def load_samples(layout: MuPoTSLayout, box: str, bbox_root_file: Path | None = None) -> Samples:
    """The test split with boxes from ``box`` (``gt`` | ``rootnet``); see the module docstring."""
    ann_path = layout.require_annotations()
    ann = read_annotations(ann_path)
    files = {"MuPoTS-3D.json": str(ann_path)}
    for index, folder in sorted(layout.sequences.items()):  # what the official evaluation reads
        for name in ("annot.mat", "occlusion.mat"):
            if (folder / name).is_file():
                files[f"TS{index} {name}"] = str(folder / name)
    source = {"data_dir": str(layout.root), "files": json.dumps(files), "caption_group": "image_key",
              "annotation_file": str(ann_path)}
    if layout.testset is not None:
        source["testset"] = str(layout.testset)
    if layout.synthetic is not None:
        source["synthetic"] = json.dumps(layout.synthetic, sort_keys=True)
    skipped: dict[str, int] = {}
    if box == "gt":
        rows = np.flatnonzero(ann.valid)
        img_rows = ann.rows_of(ann.ann_image[rows], str(ann_path))
        bbox, ok = process_bboxes(ann.bbox[rows], ann.size[img_rows, 0], ann.size[img_rows, 1], INPUT_ASPECT_RATIO)
        if not ok.all():
            skipped["degenerate_bbox"] = int((~ok).sum())
        rows, img_rows, bbox = rows[ok], img_rows[ok], bbox[ok]
        sample_id = ann.ann_id[rows]
        joints = ann.joints_cam[rows]
        root = joints[:, ROOT_JOINT].copy()
    elif box == "rootnet":
        bfile = Path(bbox_root_file) if bbox_root_file is not None else layout.bbox_root_file
        if bfile is None:
            raise DatasetError(f"no RootNet output for MuPoTS-3D below {layout.root}; put it at "
                               "bbox_root/bbox_root_mupots_output.json (the RootNet README's name; "
                               "bbox_mupots_output.json is read too), pass it with --bbox-root, or use --root gt")
        table = load_bbox_root(bfile, one_per_image=False)
        img_rows = ann.rows_of(table.image_id, str(bfile))
        bbox = table.bbox.copy()
        root = table.root_cam.copy()
        sample_id = np.arange(len(table), dtype=np.int64)
        joints = np.full((len(table), NUM_JOINTS, 3), np.nan)
        source["bbox_root"] = str(bfile)
        if table.score is not None:
            source["has_scores"] = "1"
    else:
        raise DatasetError(f"unknown box source {box!r}; MuPoTS-3D has gt and rootnet")
    if len(sample_id) == 0:
        raise DatasetError(f"no {'valid annotation' if box == 'gt' else 'entry'} to evaluate in "
                           f"{ann_path if box == 'gt' else source.get('bbox_root')}")
    seq, frame = ann.sequence[img_rows], ann.frame[img_rows]
    keys = np.array([f"TS{s}_img_{f:06d}" for s, f in zip(seq.tolist(), frame.tolist())])
    groups = {"sequence": seq, "frame": frame, "image_key": keys}
    if box == "rootnet" and table.score is not None:
        groups["score"] = table.score
    return Samples(
        dataset="mupots", split="test", box=box, sample_id=sample_id, image_id=ann.image_ids[img_rows],
        image_path=[layout.image_path(ann.file_name[r]) for r in img_rows.tolist()], image_size=ann.size[img_rows],
        bbox=bbox, root_cam=root, joints_cam=joints, focal=ann.intrinsic[img_rows, :2].copy(),
        princpt=ann.intrinsic[img_rows, 2:].copy(), joint_set="mupots17", groups=groups, skipped=skipped,
        source=source)


__all__ = ["Annotations", "load_samples", "read_annotations"]
