"""A synthetic MuPoTS-3D in the exact release layout (for runs and tests without the real data).

Written below ``out_dir``: ``MuPoTS-3D.json`` (the 3DMPPE COCO-style annotation file), ``MultiPersonTestSet/
TS1..TS20/img_<6 digits>.jpg`` (stick figures of several people per frame, drawn from the projected joints) with
each sequence's ``annot.mat`` (cell ``annotations{frame, person}`` of structs annot2 2x17, annot3 3x17,
univ_annot3 3x17, isValidFrame) and ``occlusion.mat`` (cell ``occlusion_labels{frame, person}``, 1x17),
``bbox_root/bbox_root_mupots_output.json`` (RootNet-like detections: image_id, bbox, root_cam, score; misses and
false positives included) and ``pose3dbench_synthetic.json`` (seed, size, counts). Several people per frame,
some with ``isValidFrame`` 0, some frames without a valid person, one person often behind another. Units: camera
mm, pixels. Deterministic for a seed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from ...errors import OutputError, SynthError
from ...io import atomic_write, atomic_write_text
from ...joints import MUPOTS_SKELETON
from ...outdir import exclusive, refuse_foreign_folder
from ..bbox import bbox_from_points, process_bboxes
from ..render import background, draw_figure
from .layout import ANNOTATION_NAME, BBOX_ROOT_NAMES, SYNTHETIC_MARKER, TESTSET_NAME

FORMAT_VERSION = 1
SIZES = ("tiny", "small")
SEQUENCES = 20
# frames per sequence, people per sequence, image size (width, height), focal length (pixels)
_PLAN = {"tiny": (3, 3, (480, 270), 330.0), "small": (8, 4, (960, 540), 660.0)}
# MuPoTS-3D's 17 joints: parent and rest offset (mm; camera-like frame: +x right of the image, +y down, +z away)
_PARENT = (1, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1)
_REST = np.array([
    [0, -190, 0], [0, -250, 0], [-170, 20, 0], [0, 280, 0], [0, 250, 0], [170, 20, 0], [0, 280, 0], [0, 250, 0],
    [-120, 20, 0], [0, 440, 0], [0, 430, 0], [120, 20, 0], [0, 440, 0], [0, 430, 0], [0, 0, 0], [0, -250, 0],
    [0, -110, 0],
], dtype=np.float64)
_ORDER = (14, 15, 1, 16, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)  # each joint after its parent
_SWING = np.array([.1, .05, .05, .5, .5, .05, .5, .5, .05, .3, .3, .05, .3, .3, 0, .05, .1])
_LEFT, _RIGHT = {5, 6, 7, 11, 12, 13}, {2, 3, 4, 8, 9, 10}


def _pose(rng: np.random.Generator, pelvis: np.ndarray, scale: float) -> np.ndarray:
    """Camera joints [17, 3] mm of one person: the rest pose with swung bones, turned about the vertical."""
    d = _REST / np.maximum(np.linalg.norm(_REST, axis=1, keepdims=True), 1e-9)
    d = d + rng.normal(0, 1, (17, 3)) * _SWING[:, None]
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    lengths = np.linalg.norm(_REST, axis=1) * scale
    body = np.zeros((17, 3))
    for j in _ORDER[1:]:
        body[j] = body[_PARENT[j]] + lengths[j] * d[j]
    yaw = rng.uniform(-0.8, 0.8)
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    return np.round(body @ rot.T + pelvis, 3)


def _sequence(rng: np.random.Generator, frames: int, people: int, f: float, wh) -> dict:
    """One sequence: per frame and person the camera joints, 2D joints, universal joints, validity, occlusion."""
    w, h = wh
    cx, cy = w / 2.0 + rng.normal(0, 4), h / 2.0 + rng.normal(0, 4)
    start = np.stack([rng.uniform(-1600, 1600, people), rng.uniform(-80, 80, people) + 250,
                      rng.uniform(3200, 6500, people)], 1)
    if people > 1:  # one person behind another: nearly the same 2D pose, ties in the matching
        start[1, :2] = start[0, :2] * (start[1, 2] / start[0, 2])
    scale = rng.uniform(0.9, 1.1, people)
    cam = np.zeros((frames, people, 17, 3))
    for t in range(frames):
        for p in range(people):
            pelvis = start[p] + np.array([rng.normal(0, 60), 0, rng.normal(0, 60)]) * t
            cam[t, p] = _pose(rng, pelvis, scale[p])
    uv = cam[..., :2] / cam[..., 2:3] * f + np.array([cx, cy])
    univ_scale = rng.uniform(0.93, 1.07, people)  # the universal skeleton: same pose, normalised bone lengths
    univ = (cam - cam[:, :, 14:15]) * univ_scale[None, :, None, None] + cam[:, :, 14:15]
    valid = rng.uniform(size=(frames, people)) > 0.15
    valid[frames // 2] = False  # a frame without a valid person
    inside = (uv[..., 0] > 0).all(-1) & (uv[..., 0] < w).all(-1) & (uv[..., 1] > 0).all(-1) & (uv[..., 1] < h).all(-1)
    valid &= inside | (rng.uniform(size=(frames, people)) < 0.5)  # people partly outside: mostly not annotated
    occluded = rng.uniform(size=(frames, people, 17)) < 0.12
    return {"cam": cam, "uv": uv, "univ": univ, "valid": valid, "occluded": occluded, "intrinsic": [f, f, cx, cy]}


def _annot_mat(seq: dict) -> dict:
    frames, people = seq["valid"].shape
    dtype = [("annot2", "O"), ("annot3", "O"), ("univ_annot3", "O"), ("isValidFrame", "O")]
    cells = np.empty((frames, people), dtype=object)
    occ = np.empty((frames, people), dtype=object)
    for t in range(frames):
        for p in range(people):
            s = np.empty((1, 1), dtype=dtype)
            s[0, 0] = (seq["uv"][t, p].T.copy(), seq["cam"][t, p].T.copy(), seq["univ"][t, p].T.copy(),
                       np.array([[float(seq["valid"][t, p])]]))
            cells[t, p] = s
            occ[t, p] = seq["occluded"][t, p].astype(np.uint8).reshape(1, 17)
    return {"annotations": cells, "occlusion_labels": occ}


def _savemat(path: Path, arrays: dict) -> None:
    atomic_write(path, lambda f: scipy.io.savemat(f, arrays, format="5", do_compression=True, oned_as="row"))


def generate(out_dir: str | os.PathLike, seed: int = 0, size: str = "tiny") -> Path:
    """Write a synthetic MuPoTS-3D below ``out_dir`` (``tiny``: 3 frames x 3 people per sequence, 480x270 frames;
    ``small``: 8 frames x 4 people, 960x540); returns ``out_dir``."""
    if size not in SIZES:
        raise SynthError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    out = Path(out_dir).expanduser()
    refuse_foreign_folder(out, "synth", SYNTHETIC_MARKER, "a synthetic set written by pose3dbench synth",
                          lambda obj: obj.get("synthetic") is True, error=SynthError)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with exclusive(out, "synth"):
            return _generate(out, int(seed), size)
    except OutputError as exc:
        raise SynthError(str(exc)) from None
    except OSError as exc:
        raise SynthError(f"cannot write below {out} ({exc.strerror or exc}); free disk space or choose another "
                         "--out") from None


def _generate(out: Path, seed: int, size: str) -> Path:
    marker = out / SYNTHETIC_MARKER
    atomic_write_text(marker, json.dumps({"synthetic": True, "complete": False, "seed": seed, "size": size}) + "\n")
    frames, people, wh, f = _PLAN[size]
    images, anns, dets = [], [], []
    ann_id = 0
    counts = {"people": 0, "valid_people": 0}
    for index in range(1, SEQUENCES + 1):
        rng = np.random.default_rng([seed, index])
        seq = _sequence(rng, frames, people, f, wh)
        folder = out / TESTSET_NAME / f"TS{index}"
        folder.mkdir(parents=True, exist_ok=True)
        mats = _annot_mat(seq)
        _savemat(folder / "annot.mat", {"annotations": mats["annotations"]})
        _savemat(folder / "occlusion.mat", {"occlusion_labels": mats["occlusion_labels"]})
        bg = background(np.random.default_rng([seed, index, 7]), wh)
        for t in range(frames):
            image_id = len(images)
            name = f"TS{index}/img_{t:06d}.jpg"
            images.append({"id": image_id, "file_name": name, "width": wh[0], "height": wh[1],
                           "intrinsic": [float(v) for v in seq["intrinsic"]]})
            img = bg
            for p in np.argsort(-seq["cam"][t, :, 14, 2]):  # far to near
                img = draw_figure(img, seq["uv"][t, p], seq["cam"][t, p, :, 2], f, MUPOTS_SKELETON, _LEFT, _RIGHT, 16)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if not ok:
                raise SynthError(f"JPEG encoding failed for {name}")
            atomic_write(folder / f"img_{t:06d}.jpg", lambda fobj, b=buf: fobj.write(b.tobytes()), fsync=False)
            box = bbox_from_points(seq["uv"][t], 1.2)
            for p in range(people):
                valid = bool(seq["valid"][t, p])
                anns.append({"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                             "is_valid": int(valid), "keypoints_cam": seq["cam"][t, p].tolist(),
                             "keypoints_img": seq["uv"][t, p].tolist(),
                             "keypoints_vis": (~seq["occluded"][t, p]).tolist(), "bbox": np.round(box[p], 4).tolist()})
                ann_id += 1
                counts["people"] += 1
                counts["valid_people"] += valid
                if rng.uniform() < 0.85:  # a detection (some people are missed)
                    det, ok = process_bboxes(bbox_from_points(seq["uv"][t, p], 1.05)[None], *wh)
                    if ok[0]:
                        root = seq["cam"][t, p, 14] + rng.normal(0, 1, 3) * np.array([30.0, 30.0, 200.0])
                        dets.append({"image_id": image_id, "bbox": np.round(det[0], 4).tolist(),
                                     "root_cam": np.round(root, 4).tolist(), "score": float(rng.uniform(0.3, 1.0))})
            if rng.uniform() < 0.3:  # a false positive
                c = rng.uniform([0.2 * wh[0], 0.2 * wh[1]], [0.8 * wh[0], 0.8 * wh[1]])
                det = process_bboxes(np.array([[c[0] - 40, c[1] - 80, 80, 160]]), *wh)[0][0]
                dets.append({"image_id": image_id, "bbox": np.round(det, 4).tolist(),
                             "root_cam": [float(rng.uniform(-1500, 1500)), 250.0, float(rng.uniform(3000, 7000))],
                             "score": float(rng.uniform(0.05, 0.5))})
    atomic_write_text(out / ANNOTATION_NAME, json.dumps({"images": images, "annotations": anns,
                                                         "categories": [{"id": 1, "name": "person"}]}))
    (out / "bbox_root").mkdir(exist_ok=True)
    atomic_write_text(out / "bbox_root" / BBOX_ROOT_NAMES[0], json.dumps(dets))
    meta = {"synthetic": True, "complete": True, "generator": "pose3dbench.data.mupots.synthetic",
            "format_version": FORMAT_VERSION, "seed": seed, "size": size, "dataset": "mupots",
            "note": "SYNTHETIC data in the MuPoTS-3D release format; numbers measured on it say nothing about real "
                    "accuracy.",
            "sequences": SEQUENCES, "images_total": len(images), **counts, "detections": len(dets)}
    atomic_write_text(marker, json.dumps(meta, indent=2) + "\n")
    return out
