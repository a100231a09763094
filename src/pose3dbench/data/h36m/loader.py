"""Human3.6M in the 3DMPPE annotation format -> ``Samples`` (dataset ``h36m``, splits ``p1``/``p2``).

Per subject S (in ``annotations/``): ``Human36M_subject{S}_data.json`` (COCO-style ``images`` and
``annotations``; boxes in pixels), ``..._camera.json`` ({cam_idx: R, t (mm), f, c (pixels)}) and
``..._joint_3d.json`` ({action: {subaction: {frame: 17x3 world mm}}}). World -> camera:
``X_cam = R @ X_world + t`` (mm). RootNet output ``bbox_root_human36m_output.json``: list of
{image_id, bbox (pixels, already extended), root_cam (camera mm)}.

Splits as the 3DMPPE code: test keeps ``frame_idx % 64 == 0`` (train ``% 5``); Protocol 1 tests on
S11 (trains on S1,5,6,7,8,9), Protocol 2 tests on S9+S11 (trains on S1,5,6,7,8). Order: annotation
list order, subjects ascending. Thorax (joint 17) = mean of the shoulders; root = Pelvis (joint 0).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ...geometry import world_to_camera
from ...joints import H36M_L_SHOULDER, H36M_R_SHOULDER, H36M_ROOT
from ...roots import BOX_SOURCES
from ..bbox import process_bboxes
from ..bbox_root import load_bbox_root
from ..io import entry_int as _entry_int, read_coco, read_json
from ..samples import Samples
from .layout import DatasetLayout, find_dataset
from .protocols import ACTIONS, PROTOCOL_TEXT, TEST_SUBJECTS, TRAIN_SUBJECTS, split_of

SUBSAMPLE: dict[str, int] = {"test": 64, "train": 5}
ALL_SUBJECTS = (1, 5, 6, 7, 8, 9, 11)
INPUT_ASPECT_RATIO = 1.0  # width / height of the 256x256 network input
_ROT_TOL = 1e-4


# ---------------------------------------------------------------------------------- subject files
def read_cameras(path: str | os.PathLike) -> dict[int, dict[str, np.ndarray]]:
    """``{cam_idx: {R (3,3), t (3,) mm, f (2,) px, c (2,) px}}``; DatasetError if R is no rotation."""
    raw = read_json(path, "camera")
    if not isinstance(raw, dict) or not raw:
        raise DatasetError(f"{path}: expected {{cam_idx: {{R, t, f, c}}}}, got an empty or non-object file")
    cams = {}
    for key, cam in raw.items():
        try:
            R = np.asarray(cam["R"], dtype=np.float64)
            t = np.asarray(cam["t"], dtype=np.float64).reshape(-1)
            f = np.asarray(cam["f"], dtype=np.float64).reshape(-1)
            c = np.asarray(cam["c"], dtype=np.float64).reshape(-1)
            idx = int(key)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise DatasetError(f"{path}: camera {key!r} needs R (3x3), t (3), f (2), c (2) ({exc!r})") from None
        if not 0 <= idx < 2**31:
            raise DatasetError(f"{path}: camera key {key!r} is not a camera index (0 .. 2^31-1; Human3.6M has 1-4)")
        if idx in cams:
            raise DatasetError(f"{path}: cameras {key!r} and another key both name camera {idx}; keep one")
        if R.shape != (3, 3) or t.shape != (3,) or f.shape != (2,) or c.shape != (2,):
            raise DatasetError(f"{path}: camera {key}: R must be 3x3, t 3, f 2, c 2 numbers "
                               f"(got {R.shape}, {t.shape}, {f.shape}, {c.shape})")
        if not (np.isfinite(R).all() and np.isfinite(t).all() and np.isfinite(f).all() and np.isfinite(c).all()):
            raise DatasetError(f"{path}: camera {key} has NaN/inf values; re-download the camera file")
        if not (f > 0).all():
            raise DatasetError(f"{path}: camera {key} has focal length f = {f.tolist()} pixels; it must be positive "
                               "(re-download the camera file)")
        with np.errstate(over="ignore", invalid="ignore"):  # huge entries: err is inf, and R is refused below
            err = np.abs(R @ R.T - np.eye(3)).max()
            det = np.linalg.det(R)
        if err > _ROT_TOL or det <= 0:
            raise DatasetError(
                f"{path}: camera {key} R is not a rotation (max |R R^T - I| = {err:.2g}, det = {det:.4g}); "
                "R must be orthonormal with det +1 (world -> camera); re-download the camera file"
            )
        cams[idx] = {"R": R, "t": t, "f": f, "c": c}
    return cams


@dataclass
class SubjectRecords:
    """The annotations of one subject that pass a frame stride, in annotation order.

    bbox: (n, 4) annotation boxes in pixels; joints_world: (n, 17, 3) world mm; R/t/f/c per row.
    """

    subject: int
    files: dict[str, str]
    image_id: np.ndarray
    file_name: list[str]
    width: np.ndarray
    height: np.ndarray
    subject_field: np.ndarray
    action_idx: np.ndarray
    subaction_idx: np.ndarray
    cam_idx: np.ndarray
    frame_idx: np.ndarray
    bbox: np.ndarray
    joints_world: np.ndarray
    R: np.ndarray
    t: np.ndarray
    f: np.ndarray
    c: np.ndarray

    def __len__(self) -> int:
        return int(self.image_id.shape[0])


_IMAGE_FIELDS = ("id", "file_name", "width", "height", "subject", "action_idx", "subaction_idx", "cam_idx", "frame_idx")


def read_subject(layout: DatasetLayout, subject: int, stride: int = 64) -> SubjectRecords:
    """Records of ``subject`` with ``frame_idx % stride == 0`` (cached on the files' size and mtime)."""
    files = {k: layout.annotation_file(subject, k) for k in ("data", "camera", "joint_3d")}
    key = tuple((str(p), *_stat(p)) for p in files.values())
    return _read_subject_cached(int(subject), int(stride), key)


def _stat(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=16)
def _read_subject_cached(subject: int, stride: int, key: tuple) -> SubjectRecords:
    data_p, cam_p, joint_p = (k[0] for k in key)
    images, anns = read_coco(data_p)
    try:
        frames_f = np.fromiter((im["frame_idx"] for im in images), dtype=np.float64, count=len(images))
        bad_frame = np.flatnonzero(~(np.isfinite(frames_f) & (frames_f == np.floor(frames_f))
                                     & (np.abs(frames_f) < 2.0**53)))  # integers a float64 holds exactly
        if bad_frame.size:
            i = int(bad_frame[0])
            raise DatasetError(f"{data_p}: images[{i}] has frame_idx {images[i]['frame_idx']!r}, not an integer; "
                               "fix that entry or re-download the file")
        frames = frames_f.astype(np.int64)
        keep_img = np.flatnonzero(frames % stride == 0)
        kept = [images[i] for i in keep_img]
        row_of = {_entry_int(im, "id", data_p, "image"): r for r, im in enumerate(kept)}
        if len(row_of) < len(kept):
            _refuse_duplicates(data_p, [int(im["id"]) for im in kept], "images", "image entry", "id")
        ann_rows = []
        ann_boxes = []
        for a in anns:
            key = a["image_id"]
            r = row_of.get(key) if isinstance(key, int) and not isinstance(key, bool) else None
            if r is None and isinstance(key, float) and key.is_integer():
                r = row_of.get(int(key))
            if r is not None:
                ann_rows.append(r)
                ann_boxes.append(a["bbox"])
        ann_rows = np.asarray(ann_rows, dtype=np.int64)
        if np.unique(ann_rows).size < ann_rows.size:
            _refuse_duplicates(data_p, [int(kept[r]["id"]) for r in ann_rows.tolist()], "annotations",
                               "annotation", "image_id")
        if ann_rows.size < len(kept):
            lonely = sorted(set(range(len(kept))) - set(ann_rows.tolist()))
            raise DatasetError(f"{data_p}: {len(lonely)} of the {len(kept)} images with frame_idx % {stride} == 0 have "
                               f"no entry in 'annotations' (e.g. image id {int(kept[lonely[0]]['id'])}); each image "
                               "needs one annotation (its bbox): the file is incomplete, re-download it")
        sel = [kept[r] for r in ann_rows]
        cols = {k: [im[k] for im in sel] for k in _IMAGE_FIELDS}
    except KeyError as exc:
        raise DatasetError(f"{data_p}: an image or annotation entry lacks the field {exc}; "
                           f"every image needs {', '.join(_IMAGE_FIELDS)} and every annotation image_id and bbox"
                           ) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(f"{data_p}: malformed image/annotation entry ({exc!r})") from None
    n = len(sel)
    as_int = lambda k: np.asarray([_entry_int(im, k, data_p, "image") for im in sel], dtype=np.int64).reshape(n)  # noqa: E731
    image_id, width, height = as_int("id"), as_int("width"), as_int("height")
    subj, act, sub, cam, frame = (as_int(k) for k in ("subject", "action_idx", "subaction_idx", "cam_idx", "frame_idx"))
    for i, im in enumerate(sel):
        if not isinstance(im["file_name"], str) or not im["file_name"]:
            raise DatasetError(f"{data_p}: image id {int(image_id[i])} has file_name {im['file_name']!r}, not a path "
                               "such as 's_11_act_02_subact_01_ca_01/s_11_act_02_subact_01_ca_01_000001.jpg'")
    small = np.flatnonzero((width <= 0) | (height <= 0))
    if small.size:
        i = int(small[0])
        raise DatasetError(f"{data_p}: image id {int(image_id[i])} declares a {int(width[i])}x{int(height[i])} image; "
                           "width and height must be positive pixels")
    try:
        bbox = np.asarray(ann_boxes, dtype=np.float64).reshape(n, 4)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(f"{data_p}: annotation bboxes must be [x, y, w, h] numbers ({exc})") from None

    cams = read_cameras(cam_p)
    missing_cams = sorted(set(np.unique(cam).tolist()) - set(cams))
    if missing_cams:
        raise DatasetError(f"{cam_p}: no parameters for camera(s) {missing_cams} used in {data_p}")
    cam_ids = np.array(sorted(cams), dtype=np.int64)
    Rs = np.stack([cams[i]["R"] for i in cam_ids])
    ts = np.stack([cams[i]["t"] for i in cam_ids])
    fs = np.stack([cams[i]["f"] for i in cam_ids])
    cs = np.stack([cams[i]["c"] for i in cam_ids])
    ci = np.searchsorted(cam_ids, cam) if n else np.zeros(0, dtype=np.int64)  # every cam is in cam_ids (above)

    joints = read_json(joint_p, "joint_3d") if n else {}
    if not isinstance(joints, dict):
        raise DatasetError(f"{joint_p}: expected {{action: {{subaction: {{frame: 17x3}}}}}}, got a JSON "
                           f"{type(joints).__name__}")
    jw = []
    for a, s_, f in zip(act.tolist(), sub.tolist(), frame.tolist()):
        node = joints.get(str(a))
        node = node.get(str(s_)) if isinstance(node, dict) else None
        node = node.get(str(f)) if isinstance(node, dict) else None
        if node is None:
            raise DatasetError(f"{joint_p}: no 3D joints for action {a}, subaction {s_}, frame {f} (used by {data_p}); "
                               "the joint file does not match the data file")
        jw.append(node)
    try:
        joints_world = np.asarray(jw, dtype=np.float64).reshape(n, 17, 3)
    except (TypeError, ValueError, OverflowError):
        raise DatasetError(f"{joint_p}: every frame must hold 17 joints x 3 coordinates (world mm)") from None
    bad = np.flatnonzero(~np.isfinite(joints_world).all(axis=(1, 2)))
    if bad.size:
        i = int(bad[0])
        joint = int(np.flatnonzero(~np.isfinite(joints_world[i]).all(axis=1))[0])
        raise DatasetError(
            f"{joint_p}: action {int(act[i])}, subaction {int(sub[i])}, frame {int(frame[i])} (image id "
            f"{int(image_id[i])} in {data_p}) has NaN/inf coordinates "
            f"(joint {joint}: {joints_world[i, joint].tolist()})"
            f"{f'; {bad.size} test frames in all' if bad.size > 1 else ''}; the joint file is damaged: re-download "
            "it (3D joints must be finite world mm)")
    return SubjectRecords(
        subject=subject, files={"data": data_p, "camera": cam_p, "joint_3d": joint_p},
        image_id=image_id, file_name=cols["file_name"], width=width, height=height, subject_field=subj,
        action_idx=act, subaction_idx=sub, cam_idx=cam, frame_idx=frame, bbox=bbox, joints_world=joints_world,
        R=Rs[ci], t=ts[ci], f=fs[ci], c=cs[ci],
    )


def _refuse_duplicates(path, ids: list[int], table: str, what: str, field: str) -> None:
    """DatasetError naming the ids that occur more than once in ``table`` of a data file (test frames)."""
    uniq, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
    dup = uniq[counts > 1]
    raise DatasetError(
        f"{path}: {dup.size} {field}(s) occur more than once in '{table}' (e.g. {field} {int(dup[0])}, "
        f"{int(counts[counts > 1][0])} times; all: {dup[:10].tolist()}{' ...' if dup.size > 10 else ''}): each image "
        f"has exactly one {what} in a 3DMPPE data file; remove the duplicates or re-download the file")


def add_thorax(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) -> (..., 18, 3): Thorax = mean of L_Shoulder (11) and R_Shoulder (14)."""
    thorax = 0.5 * (joints[..., H36M_L_SHOULDER, :] + joints[..., H36M_R_SHOULDER, :])
    return np.concatenate([joints, thorax[..., None, :]], axis=-2)


# ------------------------------------------------------------------------------------------ splits
def split_subjects(protocol: int, split: str = "test") -> tuple[int, ...]:
    """Subjects of a protocol's test or train split (3DMPPE)."""
    if protocol not in TEST_SUBJECTS:
        raise DatasetError(f"unknown protocol {protocol!r}; Human3.6M protocols are {PROTOCOL_TEXT}")
    if split not in SUBSAMPLE:
        raise DatasetError(f"unknown split {split!r}; use 'test' or 'train'")
    return (TEST_SUBJECTS if split == "test" else TRAIN_SUBJECTS)[protocol]


def load_split(
    data_dir: str | os.PathLike | DatasetLayout,
    protocol: int,
    box: str = "gt",
    *,
    bbox_root_file: str | os.PathLike | None = None,
    subjects=None,
    split: str = "test",
) -> Samples:
    """Load a Human3.6M split as ``Samples`` of split ``p<protocol>`` (camera mm, pixels; see the module docstring).

    data_dir: dataset folder (searched with ``find_dataset``) or a ``DatasetLayout``.
    box: ``gt`` (process_bbox'd annotation box, GT pelvis; degenerate boxes skipped and
    counted in ``skipped``) or ``rootnet`` (box and root_cam from the bbox_root file, unchanged; every
    image must be there). bbox_root_file: overrides the file found in the dataset.
    subjects: override the protocol's subjects. split: ``test`` (every 64th frame) or ``train`` (5th).
    """
    layout = data_dir if isinstance(data_dir, DatasetLayout) else find_dataset(data_dir)
    subj_list = tuple(sorted(int(s) for s in subjects)) if subjects is not None else split_subjects(protocol, split)
    if subjects is not None:
        split_subjects(protocol, split)  # validates protocol/split
    if box not in BOX_SOURCES:
        raise DatasetError(f"unknown box source {box!r}; use one of {BOX_SOURCES}")
    if box == "rootnet" and split != "test":
        raise DatasetError("box source 'rootnet' exists only for the test split (RootNet output covers test images)")
    stride = SUBSAMPLE[split]
    recs = [read_subject(layout, s, stride) for s in subj_list]
    parts = []
    for r in recs:
        m = np.isin(r.subject_field, subj_list)
        parts.append((r, np.flatnonzero(m)))
    cat = lambda name: np.concatenate([getattr(r, name)[i] for r, i in parts])  # noqa: E731
    image_id = cat("image_id")
    n = image_id.shape[0]
    ann_dir = str(Path(recs[0].files["data"]).parent) if recs else ""
    if n == 0:
        raise DatasetError(
            f"no {split} images (frame_idx % {stride} == 0) of subject(s) {list(subj_list)} in "
            f"{', '.join(r.files['data'] for r in recs)}; check that these are the right annotation files"
        )
    file_names = [r.file_name[k] for r, i in parts for k in i.tolist()]
    width, height = cat("width"), cat("height")
    R, t, f, c = cat("R"), cat("t"), cat("f"), cat("c")
    joints_cam = add_thorax(world_to_camera(cat("joints_world"), R, t))
    source = {"data_dir": str(layout.root), "annotations": ann_dir, "caption_group": "action",
              "files": json.dumps({f"S{r.subject} {k}": str(v) for r in recs for k, v in r.files.items()})}
    if layout.synthetic is not None:
        source["synthetic"] = json.dumps(layout.synthetic, sort_keys=True)
    skipped: dict[str, int] = {}
    keep = np.ones(n, dtype=bool)
    if box == "gt":
        bbox, valid = process_bboxes(cat("bbox"), width, height, INPUT_ASPECT_RATIO)
        root_cam = joints_cam[:, H36M_ROOT].copy()
        if not valid.all():
            skipped["degenerate_bbox"] = int((~valid).sum())
            keep = valid
    else:
        bfile = Path(bbox_root_file) if bbox_root_file is not None else layout.bbox_root_file
        if bfile is None:
            raise DatasetError(
                f"no bbox_root file below {layout.root}; "
                "put RootNet's output at bbox_root/bbox_root_human36m_output.json, "
                "pass it with --bbox-root, or use GT roots (--root gt)"
            )
        table = load_bbox_root(bfile)
        rows, found = table.lookup(image_id)
        if not found.all():
            miss = image_id[~found]
            raise DatasetError(
                f"{bfile} has no entry for {miss.size} of the {n} Protocol-{protocol} {split} images "
                f"(image ids {miss[:10].tolist()}{' ...' if miss.size > 10 else ''}); use the RootNet output made for "
                f"Protocol {protocol} (subjects {list(subj_list)}) or GT roots (--root gt)"
            )
        bbox = table.bbox[rows]
        root_cam = table.root_cam[rows]
        source["bbox_root"] = str(bfile)
    paths = layout.image_paths(file_names)
    samples = Samples(
        dataset="h36m", split=split_of(protocol), box=box, sample_id=image_id.copy(), image_id=image_id,
        image_path=paths, image_size=np.stack([width, height], axis=1), bbox=bbox, root_cam=root_cam,
        joints_cam=joints_cam, focal=f, princpt=c, joint_set="h36m18",
        groups={"subject": cat("subject_field"), "action_idx": cat("action_idx"),
                "action": np.array([ACTIONS.get(int(a), f"action {int(a)}") for a in cat("action_idx")]),
                "subaction_idx": cat("subaction_idx"), "cam_idx": cat("cam_idx"), "frame_idx": cat("frame_idx")},
        skipped=skipped, source=source,
    )
    if not keep.all():
        samples = samples.subset(keep)
        if len(samples) == 0:
            raise DatasetError(f"every {split} image of subject(s) {list(subj_list)} in {ann_dir} has a degenerate "
                               "box; the annotation files are broken")
    return samples


def load_train_split(data_dir, protocol: int, *, subjects=None) -> Samples:
    """Protocol's train split (every 5th frame, GT boxes and roots): ``load_split(..., split="train")``."""
    return load_split(data_dir, protocol, "gt", subjects=subjects, split="train")
