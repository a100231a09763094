"""A synthetic Human3.6M in the exact 3DMPPE release format (for runs and tests without the real data).

Written below ``out_dir``: ``annotations/Human36M_subject{S}_{data,camera,joint_3d}.json`` for
S in 1, 5, 6, 7, 8, 9, 11; ``images/s_SS_act_AA_subact_BB_ca_CC/..._{frame+1:06d}.jpg`` showing a
stick figure drawn from the projected joints; ``bbox_root/bbox_root_human36m_output.json`` (a
RootNet-like output for every Protocol-2 test image: roots off by tens of mm, boxes extended as
``process_bbox`` does) and ``pose3dbench_synthetic.json`` (seed, size, counts) marking the data as
synthetic. Cameras are the four real S11 cameras (package resource) perturbed per subject.
Units: world and camera mm (Z up in the world), pixels for boxes and intrinsics.
Deterministic for a seed (same seed and size -> identical JSON files and images).
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ...errors import OutputError, SynthError
from ...io import atomic_write, atomic_write_text
from ...joints import H36M_SKELETON
from ...outdir import exclusive, refuse_foreign_folder
from ..bbox import bbox_from_points, process_bboxes
from ..render import background, draw_figure
from .layout import BBOX_ROOT_NAME, SYNTHETIC_MARKER, annotation_name, sequence_name
from .protocols import ACTIONS as H36M_ACTIONS

FORMAT_VERSION = 1
SIZES = ("tiny", "small", "full")
SUBJECTS = (1, 5, 6, 7, 8, 9, 11)
TEST_SUBJECTS = (9, 11)
#: Protocol-2 test images per subject in ``full`` (S9 + S11 = 8695, as the real set; S11 = 3683 = Protocol 1).
FULL_TEST_COUNTS = {9: 5012, 11: 3683}
ACTIONS = tuple(range(2, 17))
_RESOURCE = Path(__file__).resolve().parents[2] / "resources" / "h36m_s11_cameras.json"  # pose3dbench/resources

# Parent of each of the 17 joints and the rest offset (mm, body frame: +x left, +y forward, +z up).
_PARENT = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
_REST = np.array([
    [0, 0, 0], [-130, 0, -8], [0, 10, -445], [0, -15, -440], [130, 0, -8], [0, 10, -445], [0, -15, -440],
    [0, -5, 235], [0, 5, 250], [0, 70, 85], [0, -25, 110], [150, 0, 15], [0, 0, -280], [0, 0, -250],
    [-150, 0, 15], [0, 0, -280], [0, 0, -250],
], dtype=np.float64)
# How far each bone may swing (unit-vector perturbation scale): legs < arms, spine small.
_SWING = np.array([0, .05, .35, .35, .05, .35, .35, .15, .15, .1, .1, .05, .9, .9, .05, .9, .9])
_LEFT = {4, 5, 6, 11, 12, 13}


def real_s11_cameras() -> dict[int, dict[str, np.ndarray]]:
    """The four real S11 cameras (R world->camera, t mm, f and c pixels of 1000-px frames)."""
    raw = json.loads(_RESOURCE.read_text())["cameras"]
    return {int(k): {n: np.asarray(v[n], dtype=np.float64) for n in ("R", "t", "f", "c")} for k, v in raw.items()}


def _rotation(axis_angle: np.ndarray) -> np.ndarray:
    R, _ = cv2.Rodrigues(np.asarray(axis_angle, dtype=np.float64).reshape(3, 1))
    return R


def _subject_cameras(rng: np.random.Generator, scale: float) -> dict[int, dict[str, list]]:
    """Real S11 cameras, rotated by <~1 degree, shifted by ~20 mm, intrinsics jittered, scaled to the image."""
    out = {}
    for idx, cam in real_s11_cameras().items():
        dR = _rotation(rng.normal(0, np.deg2rad(0.7), 3))
        R = dR @ cam["R"]
        t = cam["t"] + rng.normal(0, 20.0, 3)
        f = cam["f"] * (1 + rng.normal(0, 0.003, 2)) * scale
        c = (cam["c"] + rng.normal(0, 3.0, 2)) * scale
        out[idx] = {"R": R.tolist(), "t": t.tolist(), "f": f.tolist(), "c": c.tolist()}
    return out


def _image_size(cam_idx: int, scale: float) -> tuple[int, int]:
    """(width, height): cameras 1 and 4 are 1000x1002, 2 and 3 1000x1000 (as the real frames)."""
    w, h = (1000, 1002) if cam_idx in (1, 4) else (1000, 1000)
    return int(round(w * scale)), int(round(h * scale))


def _plan(subject: int, size: str) -> list[tuple[int, int, int, list[int]]]:
    """Sequences (action, subaction, camera, frame indices) to generate for one subject."""
    test = subject in TEST_SUBJECTS
    seqs = []
    if size == "tiny":
        if test:
            for a in ACTIONS:
                for s in (1, 2):
                    cam = (a + s + subject) % 4 + 1
                    frames = [0] + ([64] if a % 5 == 0 else []) + ([37 + a] if s == 1 else [])
                    seqs.append((a, s, cam, frames))
        else:
            k0 = SUBJECTS.index(subject) * 3
            for k in range(3):
                seqs.append((ACTIONS[(k0 + k) % 15], k % 2 + 1, k % 4 + 1, [0, 5, 3]))
        return seqs
    if not test:
        for a in ACTIONS:
            for s in (1, 2):
                seqs.append((a, s, (a + s) % 4 + 1, [0, 5] + ([7] if s == 1 else [])))
        return seqs
    n_seq = len(ACTIONS) * 2 * 4
    total = 2 * n_seq if size == "small" else FULL_TEST_COUNTS[subject]
    base, extra = divmod(total, n_seq)
    k = 0
    for a in ACTIONS:
        for s in (1, 2):
            for cam in (1, 2, 3, 4):
                n = base + (1 if k < extra else 0)
                frames = [64 * i for i in range(n)] + ([1 + (a * 7) % 60] if cam == 1 else [])
                seqs.append((a, s, cam, sorted(frames)))
                k += 1
    return seqs


def _skeleton(rng: np.random.Generator) -> np.ndarray:
    """Bone lengths (17,) mm for one subject: overall scale and left/right-symmetric per-bone factors."""
    lengths = np.linalg.norm(_REST, axis=1) * rng.uniform(0.92, 1.08)
    f = 1 + rng.normal(0, 0.03, 17)
    for r, left in ((1, 4), (2, 5), (3, 6), (14, 11), (15, 12), (16, 13)):
        f[left] = f[r]
    return lengths * f


def _poses(subj_rng_seed, lengths: np.ndarray, action: int, subaction: int, frames: np.ndarray) -> np.ndarray:
    """World joints (F, 17, 3) mm for frames of one sequence; constant bone lengths, feet near the floor."""
    rng = np.random.default_rng([*subj_rng_seed, action, subaction])
    t = frames.astype(np.float64) / 50.0  # seconds at 50 fps
    F = t.shape[0]
    static = rng.normal(0, 1, (17, 3)) * _SWING[:, None] * 0.6
    amp = rng.normal(0, 1, (17, 3)) * _SWING[:, None] * 0.5
    omega = rng.uniform(0.5, 2.5, (17, 1)) * (2.0 if action in (14, 15, 16) else 1.0)
    phase = rng.uniform(0, 2 * np.pi, (17, 3))
    if action in (9, 10):  # Sitting, SittingDown: thighs forward
        static[[2, 5]] += np.array([0, 0.9, 0.9])
    rest_dir = _REST / np.maximum(np.linalg.norm(_REST, axis=1, keepdims=True), 1e-9)
    d = rest_dir[None] + static[None] + amp[None] * np.sin(omega[None] * t[:, None, None] + phase[None])
    d[:, 0] = 0.0
    d /= np.maximum(np.linalg.norm(d, axis=2, keepdims=True), 1e-9)
    body = np.zeros((F, 17, 3))
    for j in range(1, 17):
        body[:, j] = body[:, _PARENT[j]] + lengths[j] * d[:, j]
    yaw0, yaw_rate = rng.uniform(0, 2 * np.pi), rng.normal(0, 0.3)
    walking = action in (14, 15, 16)
    radius = 1100.0 if walking else 250.0
    w = rng.uniform(0.2, 0.4) * (1 if walking else 0.3)
    p0 = rng.uniform(0, 2 * np.pi)
    pel_xy = np.stack([radius * np.cos(w * t + p0), radius * np.sin(w * t + p0)], 1) + rng.normal(0, 100, 2)
    yaw = (w * t + p0 + np.pi / 2) if walking else (yaw0 + yaw_rate * np.sin(0.2 * t))
    cy, sy = np.cos(yaw), np.sin(yaw)
    Rz = np.zeros((F, 3, 3))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = cy, -sy, sy, cy, 1.0
    world = np.einsum("fij,fkj->fki", Rz, body)
    floor = world[:, [3, 6], 2].min(axis=1)
    world[:, :, 2] += (80.0 - floor)[:, None]
    world[:, :, :2] += pel_xy[:, None, :]
    return np.round(world, 3)


def _render(bg: np.ndarray, uv: np.ndarray, z: np.ndarray, f: float) -> np.ndarray:
    """Draw the figure (``render.draw_figure``): H36M limbs, left/right coloured, a head disc at the Head joint."""
    return draw_figure(bg, uv, z, f, H36M_SKELETON, _LEFT, {1, 2, 3, 14, 15, 16}, 10)


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def generate(out_dir: str | os.PathLike, seed: int = 0, size: str = "tiny", *, workers: int | None = None) -> Path:
    """Write a synthetic Human3.6M (3DMPPE format) below ``out_dir``; returns ``out_dir``.

    size: ``tiny`` (a few dozen test images per protocol, 320-px frames, seconds), ``small`` (a few
    hundred, 1000-px frames), ``full`` (8695 Protocol-2 test images, 3683 of them S11, as the real set).
    """
    if size not in SIZES:
        raise SynthError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    out = Path(out_dir).expanduser()
    # Only a new or empty folder, or one this generator wrote (its marker at the top): never a real dataset,
    # whatever its nesting (Kaggle's ``annotations (1)/annotations/``), nor any folder with other files.
    refuse_foreign_folder(out, "synth", SYNTHETIC_MARKER, "a synthetic set written by pose3dbench synth",
                          lambda obj: obj.get("synthetic") is True, error=SynthError)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "annotations").mkdir(exist_ok=True)
    except OSError as exc:
        raise SynthError(f"cannot create {out} ({exc}); choose a writable --out folder") from None
    try:
        with exclusive(out, "synth"):
            return _generate(out, seed, size, workers)
    except OutputError as exc:
        raise SynthError(str(exc)) from None
    except OSError as exc:
        raise SynthError(f"cannot write below {out} ({exc.strerror or exc}); free disk space or choose another --out "
                         "(files written so far are complete; the set is marked incomplete until a run "
                         "finishes)") from None


def _generate(out: Path, seed: int, size: str, workers: int | None) -> Path:
    marker = out / SYNTHETIC_MARKER
    # Written first as incomplete and completed last, so an interrupted run is visible (and can be redone).
    atomic_write_text(marker,
                      json.dumps({"synthetic": True, "complete": False, "seed": int(seed), "size": size}) + "\n")
    scale = 0.32 if size == "tiny" else 1.0
    seed = int(seed)
    next_id = 1
    jobs = []  # (path, subject, cam, uv (17,2), z (17,), f)
    bbox_root = []
    counts: dict[str, dict[str, int]] = {}
    for subject in SUBJECTS:
        srng = np.random.default_rng([seed, subject])
        cams = _subject_cameras(srng, scale)
        lengths = _skeleton(srng)
        plan = _plan(subject, size)
        frames_of: dict[tuple[int, int], set] = {}
        for a, s, _cam, frames in plan:
            frames_of.setdefault((a, s), set()).update(frames)
        joints_json: dict[str, dict[str, dict[str, list]]] = {}
        world_of: dict[tuple[int, int], dict[int, np.ndarray]] = {}
        for (a, s), fr in sorted(frames_of.items()):
            fr = np.array(sorted(fr), dtype=np.int64)
            world = _poses((seed, subject), lengths, a, s, fr)
            world_of[(a, s)] = dict(zip(fr.tolist(), world))
            joints_json.setdefault(str(a), {})[str(s)] = {str(k): world[i].tolist() for i, k in enumerate(fr.tolist())}
        images, anns = [], []
        rrng = np.random.default_rng([seed, subject, 999])
        n_test = 0
        for a, s, cam_idx, frames in plan:
            cam = cams[cam_idx]
            R, t = np.asarray(cam["R"]), np.asarray(cam["t"])
            fxy, cxy = np.asarray(cam["f"]), np.asarray(cam["c"])
            W, H = _image_size(cam_idx, scale)
            wj = np.stack([world_of[(a, s)][k] for k in frames])
            jc = np.einsum("ij,fkj->fki", R, wj) + t
            uv = jc[..., :2] / jc[..., 2:3] * fxy + cxy
            boxes = np.round(bbox_from_points(uv, 1.2), 4)
            seq = sequence_name(subject, a, s, cam_idx)
            test_rows = []
            for i, k in enumerate(frames):
                iid = next_id
                next_id += 1
                fname = f"{seq}/{seq}_{k + 1:06d}.jpg"
                images.append({"id": iid, "file_name": fname, "width": W, "height": H, "subject": subject,
                               "action_name": H36M_ACTIONS[a], "action_idx": a, "subaction_idx": s,
                               "cam_idx": cam_idx, "frame_idx": int(k)})
                anns.append({"id": iid, "image_id": iid, "keypoints_vis": [True] * 17, "bbox": boxes[i].tolist()})
                jobs.append((out / "images" / fname, subject, cam_idx, uv[i], jc[i, :, 2], float(fxy.mean())))
                if k % 64 == 0:
                    test_rows.append((i, iid))
            if subject in TEST_SUBJECTS and test_rows:
                idx = np.array([i for i, _ in test_rows])
                root = jc[idx, 0] + rrng.normal(0, 1, (len(idx), 3)) * np.array([15.0, 15.0, 45.0])
                det = bbox_from_points(uv[idx], 1.05)
                det[:, :2] += rrng.normal(0, 0.02, (len(idx), 2)) * det[:, 2:]
                det[:, 2:] *= 1 + rrng.normal(0, 0.03, (len(idx), 2))
                ext, valid = process_bboxes(det, W, H)
                for r, (_, iid) in enumerate(test_rows):
                    if not valid[r]:  # a detector miss cannot happen here: fall back to the GT box
                        ext[r] = process_bboxes(boxes[idx[r]][None], W, H)[0][0]
                    bbox_root.append({"image_id": iid, "bbox": np.round(ext[r], 4).tolist(),
                                      "root_cam": np.round(root[r], 4).tolist()})
                n_test += len(test_rows)
        ann_dir = out / "annotations"
        atomic_write_text(ann_dir / annotation_name(subject, "data"), _dumps({"images": images, "annotations": anns}))
        atomic_write_text(ann_dir / annotation_name(subject, "camera"),
                          _dumps({str(k): v for k, v in sorted(cams.items())}))
        atomic_write_text(ann_dir / annotation_name(subject, "joint_3d"), _dumps(joints_json))
        counts[str(subject)] = {"images": len(images),
                                "test_images": sum(1 for im in images if im["frame_idx"] % 64 == 0),
                                "train_images": sum(1 for im in images if im["frame_idx"] % 5 == 0)}
    atomic_write_text(out / "bbox_root" / BBOX_ROOT_NAME, _dumps(sorted(bbox_root, key=lambda e: e["image_id"])))

    backgrounds = {}
    for subject in SUBJECTS:
        for cam_idx in (1, 2, 3, 4):
            backgrounds[(subject, cam_idx)] = background(np.random.default_rng([seed, subject, cam_idx, 7]),
                                                         _image_size(cam_idx, scale))
    for d in sorted({str(j[0].parent) for j in jobs}):
        os.makedirs(d, exist_ok=True)

    def work(job):
        path, subject, cam_idx, uv, z, f = job
        ok, buf = cv2.imencode(".jpg", _render(backgrounds[(subject, cam_idx)], uv, z, f),
                               [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise SynthError(f"JPEG encoding failed for {path}")
        # atomic (a failed write leaves the previous image), without an fsync per image: they can be regenerated
        atomic_write(path, lambda fobj: fobj.write(buf.tobytes()), fsync=False)

    n_workers = workers or min(4, os.cpu_count() or 1)
    try:
        if n_workers > 1:
            with ThreadPoolExecutor(n_workers) as ex:
                list(ex.map(work, jobs, chunksize=32))
        else:
            for j in jobs:
                work(j)
    except OSError as exc:
        raise SynthError(f"cannot write images below {out / 'images'} ({exc}); "
                         "free disk space or choose another --out") from None

    p1 = counts["11"]["test_images"]
    meta = {
        "synthetic": True, "complete": True, "generator": "pose3dbench.data.synthetic",
        "format_version": FORMAT_VERSION, "seed": seed, "size": size, "image_scale": scale,
        "note": "SYNTHETIC data in the 3DMPPE Human3.6M format; numbers measured on it say nothing about real "
                "accuracy.",
        "protocol_test_images": {"1": p1, "2": p1 + counts["9"]["test_images"]},
        "subjects": counts, "images_total": len(jobs),
    }
    atomic_write_text(marker, json.dumps(meta, indent=2) + "\n")
    return out
