"""Prediction files: the tool's own ``.npz`` and the 3DMPPE authors' result ``.json``.

``.npz`` arrays (N samples, J joints):
  image_id [N] int64; coords_hm [N,J,3] heatmap units (x, y, z bins, flip-merged when flip test
  was used); bbox [N,4] pixels (x, y, w, h as used to back-project); root_cam [N,3] camera mm (as
  used); pred_cam [N,J,3] absolute camera mm; optional sample_id [N] int64 (the split's row ids where an
  image holds several people; default: image_id), pred_img [N,J,2] image pixels, coords_hm_noflip
  [N,J,3] heatmap units, per_sample [N] (the split's metric per row, mm or %; ``per_sample_mm`` in files of
  earlier versions), per_sample_scaled_mm [N]; unit_id, unit_value, unit_stratum [U]: the split's metric per
  scored unit where that is not a row (MuPoTS-3D: per annotated person, id, 3DPCK %, sequence: what its
  bootstrap resamples); ``meta``: a one-element string array holding a JSON object
  with heatmap_size [H, W], depth_bins, joint_set, dataset, split (or protocol, in Human3.6M files of
  earlier versions), root, model (more keys allowed).
Minimal ``.npz`` (predictions from your own code): just image_id [N] and pred_cam [N,J,3] camera mm
(absolute or root-relative: scoring is root-relative), no ``meta``; the joint set comes from J
(18: 3DMPPE Human3.6M-18, 17: Human3.6M-17, 21: MuCo-21) and the split from ``evaluate``'s
--split / --root (default: the dataset's first default split, gt).
Root-only ``.npz`` (RootNet runs, ``meta["kind"] == "root"``): image_id, root_cam [N,3] camera mm,
optional sample_id [N], bbox [N,4] pixels and root_hm [N,3] (x_hm, y_hm, depth mm); meta needs model, dataset,
split (or protocol), root.
The authors' json (``bbox_root_pose_human36m_output.json``): a list of ``{"image_id", "joint_cam"}``
(root-relative camera mm, 17 or 18 joints; ``bbox`` and ``root_cam`` read when present). For
Protocol 1 the authors save the pose after their 18-joint alignment with Thorax dropped, so
re-scoring it aligns again on 17 joints: close to, not always identical with, their number.
RootNet's ``bbox_root`` json (``{"image_id", "bbox", "root_cam"}``, no ``joint_cam``) loads as
root-only predictions. The format is detected from the content, not the file name.
"""
from __future__ import annotations

import json
import lzma
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import PredictionsError
from ..io import atomic_write
from ..roots import ROOT_SOURCES

__all__ = ["Predictions", "save_predictions", "load_predictions", "match_to_samples", "REQUIRED_META"]

REQUIRED_ARRAYS = ("image_id", "coords_hm", "bbox", "root_cam", "pred_cam")
OPTIONAL_ARRAYS = ("sample_id", "pred_img", "coords_hm_noflip", "per_sample", "per_sample_mm", "per_sample_scaled_mm",
                   "unit_id", "unit_value", "unit_stratum")
INT_ARRAYS = ("image_id", "sample_id", "unit_id", "unit_stratum")
REQUIRED_META = ("heatmap_size", "depth_bins", "joint_set", "root", "model")
#: one of these sets of meta keys names the split (protocol: Human3.6M files of earlier versions)
SPLIT_META = (("dataset", "split"), ("protocol",))
# kind -> (required arrays, optional arrays, required meta keys)
KINDS = {
    "pose": (REQUIRED_ARRAYS, OPTIONAL_ARRAYS, REQUIRED_META),
    "root": (("image_id", "root_cam"), ("sample_id", "bbox", "root_hm"), ("root", "model")),
}


@dataclass
class Predictions:
    """Predictions of one run, row i belonging to ``image_id[i]``.

    pred_cam [N,J,3] camera mm (absolute for ``npz``, root-relative for the authors' json; None
    for root-only files); pred_img [N,J,2] image pixels; coords_hm/coords_hm_noflip [N,J,3] heatmap units;
    bbox [N,4] pixels; root_cam [N,3] camera mm; root_hm [N,3] RootNet (x_hm, y_hm, depth mm); per_sample [N]
    the split's metric per row (mm or %). ``sample_id``: the rows' ids in their split (None: the image ids).
    ``format``: "npz", "npz_minimal", "authors_json" or "rootnet_json"; ``kind``: "pose" or "root" (root-only).
    """

    path: Path
    format: str
    image_id: np.ndarray
    pred_cam: np.ndarray | None = None
    coords_hm: np.ndarray | None = None
    bbox: np.ndarray | None = None
    root_cam: np.ndarray | None = None
    coords_hm_noflip: np.ndarray | None = None
    per_sample_mm: np.ndarray | None = None
    root_hm: np.ndarray | None = None
    sample_id: np.ndarray | None = None
    pred_img: np.ndarray | None = None
    per_sample: np.ndarray | None = None
    per_sample_scaled_mm: np.ndarray | None = None
    unit_id: np.ndarray | None = None
    unit_value: np.ndarray | None = None
    unit_stratum: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    kind: str = "pose"

    def __len__(self) -> int:
        return int(self.image_id.shape[0])

    @property
    def key(self) -> np.ndarray:
        """What rows are matched on: ``sample_id`` where the file has it, else ``image_id``."""
        return self.image_id if self.sample_id is None else self.sample_id

    @property
    def per_row(self) -> np.ndarray | None:
        """The split's metric per row (``per_sample``, or ``per_sample_mm`` of earlier files)."""
        return self.per_sample if self.per_sample is not None else self.per_sample_mm

    @property
    def num_joints(self) -> int | None:
        return None if self.pred_cam is None else int(self.pred_cam.shape[1])

    def take(self, index) -> "Predictions":
        """Rows ``index`` (int array, slice or mask) as a new object."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return replace(self, image_id=self.image_id[index], pred_cam=pick(self.pred_cam),
                       coords_hm=pick(self.coords_hm), bbox=pick(self.bbox), root_cam=pick(self.root_cam),
                       coords_hm_noflip=pick(self.coords_hm_noflip), per_sample_mm=pick(self.per_sample_mm),
                       root_hm=pick(self.root_hm), sample_id=pick(self.sample_id), pred_img=pick(self.pred_img),
                       per_sample=pick(self.per_sample), per_sample_scaled_mm=pick(self.per_sample_scaled_mm),
                       meta=dict(self.meta))


def _check_shapes(arrays: dict, where: str) -> None:
    ids = arrays["image_id"]
    if ids.ndim != 1:
        raise PredictionsError(f"{where}: image_id must be 1-D, got shape {ids.shape}")
    n = ids.shape[0]
    j = None
    for name in ("coords_hm", "pred_cam", "coords_hm_noflip"):
        a = arrays.get(name)
        if a is None:
            continue
        if a.ndim != 3 or a.shape[0] != n or a.shape[2] != 3 or (j is not None and a.shape[1] != j):
            raise PredictionsError(f"{where}: {name} has shape {a.shape}, expected ({n}, J, 3) with the same J "
                                   "for coords_hm, pred_cam and coords_hm_noflip")
        j = a.shape[1]
    for name, shape in (("bbox", (n, 4)), ("root_cam", (n, 3)), ("root_hm", (n, 3)), ("per_sample_mm", (n,)),
                        ("per_sample", (n,)), ("per_sample_scaled_mm", (n,)), ("sample_id", (n,))):
        a = arrays.get(name)
        if a is not None and a.shape != shape:
            raise PredictionsError(f"{where}: {name} has shape {a.shape}, expected {shape}")
    units = [arrays.get(k) for k in ("unit_id", "unit_value", "unit_stratum")]
    if any(u is not None for u in units):
        if any(u is None or u.ndim != 1 for u in units) or len({u.shape[0] for u in units}) != 1:
            raise PredictionsError(f"{where}: unit_id, unit_value and unit_stratum must be 1-D arrays of one length")
    img = arrays.get("pred_img")
    if img is not None and (img.ndim != 3 or img.shape[0] != n or img.shape[2] != 2
                            or (j is not None and img.shape[1] != j)):
        raise PredictionsError(f"{where}: pred_img has shape {img.shape}, expected ({n}, J, 2) image pixels")
    key = arrays.get("sample_id")
    key, what = (ids, "image") if key is None else (key, "sample")
    if np.unique(key).size != n:
        vals, counts = np.unique(key, return_counts=True)
        raise PredictionsError(f"{where}: duplicate {what} ids, e.g. {vals[counts > 1][:5].tolist()}; "
                               f"each {what} must be predicted once")


def save_predictions(path: str | os.PathLike, *, meta: dict, **arrays) -> Path:
    """Write predictions atomically to ``path`` (``.npz``); see the module docstring for the arrays.

    Pose (default): image_id, coords_hm, bbox, root_cam, pred_cam required; sample_id, pred_img,
    coords_hm_noflip, per_sample, per_sample_scaled_mm optional; ``meta`` holds heatmap_size, depth_bins,
    joint_set, dataset, split, root, model. Root-only (``meta["kind"] == "root"``): image_id, root_cam; optional
    sample_id, bbox, root_hm; meta dataset, split, root, model.
    Arrays passed as None are left out.
    """
    path = Path(path)
    kind = meta.get("kind", "pose")
    if kind not in KINDS:
        raise PredictionsError(f"save_predictions({path}): meta kind {kind!r} unknown; use one of {sorted(KINDS)}")
    required, optional, required_meta = KINDS[kind]
    unknown = sorted(set(arrays) - set(required) - set(optional))
    missing = [k for k in required if arrays.get(k) is None]
    if unknown or missing:
        raise PredictionsError(f"save_predictions({path}): missing arrays {missing}, unknown arrays {unknown}; "
                               f"a {kind} file takes {list(required + optional)}")
    missing_meta = [k for k in required_meta if k not in meta]
    if not any(all(k in meta for k in keys) for keys in SPLIT_META):
        missing_meta.append("dataset and split")
    if missing_meta:
        raise PredictionsError(f"save_predictions({path}): meta lacks {missing_meta}")
    out = {}
    for name, a in arrays.items():
        if a is None:
            continue
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        out[name] = np.asarray(a, dtype=np.int64 if name in INT_ARRAYS else np.float64)
    _check_shapes(out, str(path))
    try:
        meta_json = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise PredictionsError(f"save_predictions({path}): meta is not JSON-serialisable: {exc}") from None
    out["meta"] = np.array([meta_json])
    return atomic_write(path, lambda f: np.savez_compressed(f, **out))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


#: meta key -> (check, what it must be)
_META_CHECKS = {
    "kind": (lambda v: v in KINDS if isinstance(v, str) else False, "'pose' or 'root'"),
    "protocol": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v in (1, 2), "1 or 2"),
    "dataset": (lambda v: isinstance(v, str) and bool(v), "a dataset name"),
    "split": (lambda v: isinstance(v, str) and bool(v), "a split name"),
    "root": (lambda v: isinstance(v, str) and v in ROOT_SOURCES, " or ".join(map(repr, ROOT_SOURCES))),
    "model": (lambda v: isinstance(v, str), "a string"),
    "joint_set": (lambda v: isinstance(v, str), "a joint set name"),
    "heatmap_size": (lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(x) and x > 0 for x in v),
                     "[H, W] positive integers"),
    "depth_bins": (lambda v: _is_int(v) and v > 0, "a positive integer"),
}


def _check_meta(meta: dict, path: Path) -> None:
    for key, (ok, what) in _META_CHECKS.items():
        if key in meta and not ok(meta[key]):
            raise PredictionsError(f"{path}: meta.{key} is {meta[key]!r}, it must be {what}; the file was not written "
                                   "by `pose3dbench run` or was edited: regenerate it")


def _check_values(arrays: dict, path: Path) -> None:
    """Integer image ids within int64; real (not complex, not bool) finite numbers elsewhere, named by image id."""
    ids = arrays["image_id"]
    if not np.issubdtype(ids.dtype, np.integer):
        raise PredictionsError(f"{path}: image_id has dtype {ids.dtype}; image ids are integers")
    if ids.dtype == np.uint64 and ids.size and int(ids.max()) >= 2**63:
        raise PredictionsError(f"{path}: image_id holds values beyond int64 (e.g. {int(ids.max())})")
    for name, a in arrays.items():
        if a is None or name == "image_id":
            continue
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise PredictionsError(f"{path}: array {name} has dtype {a.dtype}; predictions are real numbers")
        if a.size and not np.isfinite(a).all():
            rows = np.flatnonzero(~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)) if a.ndim else np.array([0])
            where = f"image id {int(ids[rows[0]])}" if a.ndim and rows.size and ids.size == a.shape[0] else "some rows"
            raise PredictionsError(f"{path}: {name} has NaN/inf values "
                                   f"({where}{f' and {rows.size - 1} more' if rows.size > 1 else ''}); "
                                   "the model produced non-finite output or the file was damaged: regenerate it")


def _load_npz(path: Path) -> Predictions:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, NotImplementedError, RuntimeError, struct.error,
            zipfile.BadZipFile, zlib.error, lzma.LZMAError) as exc:
        # every way a damaged zip member fails (RuntimeError: "encrypted")
        raise PredictionsError(f"{path}: cannot read as a pose3dbench .npz ({exc}); re-run the benchmark "
                               "to regenerate it") from None
    if "meta" not in data:
        if {"image_id", "pred_cam"} <= set(data) <= set(MINIMAL_ARRAYS):
            return _minimal_npz(path, data)
        raise PredictionsError(f"{path}: not a pose3dbench predictions file (no 'meta' array), nor the minimal form "
                               f"(only the arrays image_id [N] and pred_cam [N, J, 3] camera mm, optionally root_cam, "
                               f"bbox; found {sorted(data) or 'no arrays'}); regenerate it with `pose3dbench run`, or "
                               "save your own as np.savez(path, image_id=ids, pred_cam=poses)")
    try:
        meta = json.loads(str(data.pop("meta").reshape(-1)[0]))
    except (ValueError, IndexError) as exc:
        raise PredictionsError(f"{path}: the 'meta' array is not a JSON object ({exc})") from None
    kind = meta.get("kind", "pose") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or kind not in KINDS:
        raise PredictionsError(f"{path}: meta must be a JSON object with kind 'pose' (default) or 'root'")
    _check_meta(meta, path)
    required, optional, required_meta = KINDS[kind]
    missing = [k for k in required if k not in data] + [f"meta.{k}" for k in required_meta if k not in meta]
    if not any(all(k in meta for k in keys) for keys in SPLIT_META):
        missing.append("meta.dataset and meta.split")
    if missing:
        raise PredictionsError(f"{path}: not a complete pose3dbench {kind} predictions file (missing {missing}); "
                               "it should come from `pose3dbench run`")
    arrays = {k: data.get(k) for k in required + optional}
    for k, a in arrays.items():
        if a is not None and not np.issubdtype(a.dtype, np.number):
            raise PredictionsError(f"{path}: array {k} has non-numeric dtype {a.dtype}")
    _check_shapes(arrays, str(path))
    _check_values(arrays, path)
    arrays["image_id"] = arrays["image_id"].astype(np.int64)
    if arrays.get("sample_id") is not None:
        arrays["sample_id"] = arrays["sample_id"].astype(np.int64)
    return Predictions(path=path, format="npz", meta=meta, kind=kind, **arrays)


MINIMAL_ARRAYS = ("image_id", "pred_cam", "root_cam", "bbox")


def _minimal_npz(path: Path, data: dict) -> Predictions:
    """image_id [N] + pred_cam [N, J, 3] camera mm (optional root_cam [N, 3], bbox [N, 4]), no meta."""
    arrays = {k: data.get(k) for k in ("image_id", "pred_cam", "root_cam", "bbox")}
    for k, a in arrays.items():
        if a is not None and not np.issubdtype(a.dtype, np.number):
            raise PredictionsError(f"{path}: array {k} has non-numeric dtype {a.dtype}")
    ids = arrays["image_id"]
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)
                         and not np.array_equal(ids, np.round(ids))):
        raise PredictionsError(f"{path}: image_id must be a 1-D array of integers, got shape {ids.shape} {ids.dtype}")
    pose = arrays["pred_cam"]
    if pose.ndim != 3 or pose.shape[2] != 3 or pose.shape[0] != len(ids):
        raise PredictionsError(f"{path}: pred_cam must be [N, J, 3] camera mm with N = len(image_id) = {len(ids)}, "
                               f"got shape {pose.shape}")
    if not np.isfinite(pose).all():
        raise PredictionsError(f"{path}: pred_cam holds NaN or inf values (rows "
                               f"{np.flatnonzero(~np.isfinite(pose).all(axis=(1, 2)))[:5].tolist()}); "
                               "fix the predictions")
    _check_shapes(arrays, str(path))
    arrays["image_id"] = ids.astype(np.int64)
    arrays["pred_cam"] = pose.astype(np.float64)
    return Predictions(path=path, format="npz_minimal", meta={}, kind="pose", **arrays)


def _load_json(path: Path) -> Predictions:
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PredictionsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(obj, list) or not obj or not all(isinstance(e, dict) and "image_id" in e for e in obj):
        raise PredictionsError(f"{path}: expected a non-empty JSON list of objects with 'image_id' and "
                               "'joint_cam' (the authors' bbox_root_pose_human36m_output.json)")
    has_pose = ["joint_cam" in e for e in obj]
    if any(has_pose) and not all(has_pose):
        raise PredictionsError(f"{path}: {has_pose.count(False)} of {len(obj)} entries lack 'joint_cam'")
    is_pose = all(has_pose)
    if not is_pose and not all("root_cam" in e for e in obj):
        raise PredictionsError(f"{path}: entries need 'joint_cam' (pose predictions) or 'root_cam' "
                               "(RootNet bbox_root output)")

    def column(key, width=None):
        if not all(key in e for e in obj):
            return None
        try:
            a = np.asarray([e[key] for e in obj], dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise PredictionsError(f"{path}: '{key}' values are not numeric arrays of one shape") from None
        if width is not None and a.shape[1:] != (width,):
            raise PredictionsError(f"{path}: '{key}' entries must have {width} numbers, got shape {a.shape[1:]}")
        return a

    bad = [e["image_id"] for e in obj if not (_is_int(e["image_id"]) and -2**63 <= e["image_id"] < 2**63)]
    if bad:
        raise PredictionsError(f"{path}: image_id values must be integers, got {bad[0]!r}")
    ids = np.asarray([e["image_id"] for e in obj], dtype=np.int64)
    arrays = {"image_id": ids, "bbox": column("bbox", 4), "root_cam": column("root_cam", 3)}
    if is_pose:
        pose = column("joint_cam")
        if pose.ndim != 3 or pose.shape[2] != 3:
            raise PredictionsError(f"{path}: joint_cam entries must be J x 3 lists, got shape {pose.shape[1:]}")
        arrays["pred_cam"] = pose
    _check_shapes(arrays, str(path))
    _check_values(arrays, path)
    fmt = "authors_json" if is_pose else "rootnet_json"
    return Predictions(path=path, format=fmt, meta={"root_relative": is_pose}, kind="pose" if is_pose else "root",
                       **arrays)


def load_predictions(path: str | os.PathLike) -> Predictions:
    """Read a predictions file (pose3dbench ``.npz`` or the authors' result ``.json``), by content."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise PredictionsError(f"{path}: cannot open predictions file ({exc.strerror}); check --predictions") from None
    if head.startswith(b"PK"):
        return _load_npz(path)
    if head.lstrip()[:1] in (b"[", b"{"):
        return _load_json(path)
    raise PredictionsError(f"{path}: neither a .npz (zip) nor a JSON predictions file; pass the .npz written by "
                           "`pose3dbench run` or the authors' result .json")


def match_to_samples(preds: Predictions, sample_ids: np.ndarray) -> Predictions:
    """Reorder ``preds`` to the split order ``sample_ids`` [N] (``Samples.sample_id``); every id must match exactly
    once (files without sample ids match on image ids).

    Ids of the split missing from the file, or ids in the file that are not in the split, raise
    PredictionsError naming the file and a few ids.
    """
    sample_ids = np.asarray(sample_ids, dtype=np.int64)
    key = preds.key
    order = np.argsort(key, kind="stable")
    sorted_ids = key[order]
    pos = np.clip(np.searchsorted(sorted_ids, sample_ids), 0, max(len(sorted_ids) - 1, 0))
    found = sorted_ids[pos] == sample_ids if len(sorted_ids) else np.zeros(sample_ids.shape, bool)
    missing = sample_ids[~found]
    unknown = np.setdiff1d(key, sample_ids)
    what = "image" if preds.sample_id is None else "sample"
    if missing.size or unknown.size:
        parts = []
        if missing.size:
            parts.append(f"{missing.size} {what} ids of the split have no prediction (e.g. {missing[:5].tolist()})")
        if unknown.size:
            parts.append(f"{unknown.size} predicted {what} ids are not in the split (e.g. {unknown[:5].tolist()})")
        raise PredictionsError(f"{preds.path}: {'; '.join(parts)}; evaluate with the --split/--root and "
                               "dataset the predictions were made for")
    return preds.take(order[pos])
