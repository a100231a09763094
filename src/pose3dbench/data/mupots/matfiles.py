"""The official MuPoTS-3D evaluation's files: the ground truth (``TS<n>/annot.mat``, ``TS<n>/occlusion.mat``) and
the prediction pair ``preds_2d_kpt_mupots.mat`` / ``preds_3d_kpt_mupots.mat`` the script reads.

Reading follows ``mpii_mupots_multiperson_eval.m`` (see ``official`` for the evaluation's rules): ``annotations{frame,
person}`` with ``annot2`` (pixels), ``annot3`` and ``univ_annot3`` (camera mm) and ``isValidFrame``; prediction
keys ``TS<n>_img_<6-digit 0-based frame>``, arrays [people, 17, 2] pixels / [people, 17, 3] camera mm.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import scipy.io

from ...errors import DatasetError, PredictionsError
from ...io import atomic_write

NUM_SEQUENCES = 20
NUM_JOINTS = 17
#: MuPoTS-3D's 17 joints in the order of annot2/annot3/univ_annot3 (mpii_get_joints('relevant') names)
JOINT_NAMES = ("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
               "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
               "pelvis", "spine", "head")
PREDICTIONS_2D_FILE = "preds_2d_kpt_mupots.mat"
PREDICTIONS_3D_FILE = "preds_3d_kpt_mupots.mat"
_KEY_RE = re.compile(r"^TS([1-9][0-9]*)_img_([0-9]{6,})$")
_TESTSET_HINT = ("MuPoTS-3D's MultiPersonTestSet folder holds TS1..TS20, each with annot.mat and occlusion.mat "
                 "(unzip MultiPersonTestSet.zip from the MuPoTS-3D release there)")


# --------------------------------------------------------------------------------------------- ground truth
@dataclass(frozen=True, eq=False)
class MuPoTSSequence:
    """One test sequence ``TS<index>``: F frames (rows of ``annotations``) x P people (columns).

    ``annot2`` [F, P, 17, 2] image pixels; ``annot3`` and ``univ_annot3`` [F, P, 17, 3] camera mm (the official
    evaluation scores against ``univ_annot3``); ``valid`` [F, P] bool (``isValidFrame``); ``occlusion``
    [F, P, 17] bool (``occlusion_labels``, True = occluded). All float arrays are float64.
    """

    index: int
    annot2: np.ndarray
    annot3: np.ndarray
    univ_annot3: np.ndarray
    valid: np.ndarray
    occlusion: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.valid.shape[0])

    @property
    def num_people(self) -> int:
        return int(self.valid.shape[1])


@dataclass(frozen=True, eq=False)
class MuPoTSGroundTruth:
    """The MultiPersonTestSet annotations: ``sequences`` in increasing index (TS1..TS20 for the full set)."""

    root: Path
    sequences: tuple[MuPoTSSequence, ...]

    def sequence(self, index: int) -> MuPoTSSequence:
        for s in self.sequences:
            if s.index == index:
                return s
        raise KeyError(f"TS{index} is not in {self.root}")


def _testset_dir(path: Path) -> Path:
    if (path / "TS1").is_dir() or not (path / "MultiPersonTestSet").is_dir():
        return path
    return path / "MultiPersonTestSet"


def _load_mat(path: Path, variable: str, error: type[Exception], hint: str) -> np.ndarray:
    if not path.is_file():
        raise error(f"{path}: file not found. {hint}")
    try:
        data = scipy.io.loadmat(str(path))
    except NotImplementedError as e:  # MATLAB v7.3 (HDF5)
        raise error(f"{path}: a MATLAB v7.3 (HDF5) file, which scipy cannot read ({e}); save it again as a "
                    f"version 5/6/7 MAT-file (save(..., '-v7')) or use the original file. {hint}") from None
    except Exception as e:  # scipy raises ValueError, TypeError, OSError, MatReadError... on damaged files
        raise error(f"{path}: cannot be read as a MATLAB file ({type(e).__name__}: {e}); the file is damaged or "
                    f"not a MAT-file. {hint}") from None
    if variable not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise error(f"{path}: no variable '{variable}' (found: {', '.join(found) or 'none'}). {hint}")
    return data[variable]


def _struct_field(entry, name: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if not (isinstance(entry, np.ndarray) and entry.dtype.names and entry.size == 1):
        raise DatasetError(f"{where}: expected a struct with fields annot2, annot3, univ_annot3, isValidFrame, "
                           f"found {type(entry).__name__} {getattr(entry, 'shape', '')}. {_TESTSET_HINT}")
    if name not in entry.dtype.names:
        raise DatasetError(f"{where}: the struct has no field '{name}' (fields: {', '.join(entry.dtype.names)}). "
                           f"{_TESTSET_HINT}")
    value = entry[name].flat[0]
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}.{name}: not numeric. {_TESTSET_HINT}") from None
    if shape and arr.shape != shape:
        raise DatasetError(f"{where}.{name}: shape {arr.shape}, expected {shape}. {_TESTSET_HINT}")
    return arr


def read_sequence(folder: str | os.PathLike, index: int) -> MuPoTSSequence:
    """Read ``annot.mat`` and ``occlusion.mat`` of one sequence folder ``TS<index>``; ``DatasetError`` if broken."""
    folder = Path(folder)
    annot_path, occ_path = folder / "annot.mat", folder / "occlusion.mat"
    ann = _load_mat(annot_path, "annotations", DatasetError, _TESTSET_HINT)
    occ = _load_mat(occ_path, "occlusion_labels", DatasetError, _TESTSET_HINT)
    if ann.dtype != object or ann.ndim != 2:
        raise DatasetError(f"{annot_path}: 'annotations' must be a cell array {{frame, person}}, found "
                           f"{ann.dtype} {ann.shape}. {_TESTSET_HINT}")
    if occ.dtype != object or occ.shape != ann.shape:
        raise DatasetError(f"{occ_path}: 'occlusion_labels' must be a cell array of the same size as "
                           f"'annotations' in annot.mat {ann.shape}, found {occ.dtype} {occ.shape}. {_TESTSET_HINT}")
    n_frames, n_people = ann.shape
    annot2 = np.empty((n_frames, n_people, NUM_JOINTS, 2))
    annot3 = np.empty((n_frames, n_people, NUM_JOINTS, 3))
    univ = np.empty((n_frames, n_people, NUM_JOINTS, 3))
    valid = np.zeros((n_frames, n_people), dtype=bool)
    occlusion = np.zeros((n_frames, n_people, NUM_JOINTS), dtype=bool)
    for i in range(n_frames):
        for k in range(n_people):
            where = f"{annot_path}: annotations{{{i + 1},{k + 1}}}"
            entry = ann[i, k]
            annot2[i, k] = _struct_field(entry, "annot2", (2, NUM_JOINTS), where).T
            annot3[i, k] = _struct_field(entry, "annot3", (3, NUM_JOINTS), where).T
            univ[i, k] = _struct_field(entry, "univ_annot3", (3, NUM_JOINTS), where).T
            flag = _struct_field(entry, "isValidFrame", (), where)
            if flag.size != 1 or math.isnan(float(flag.flat[0])):
                raise DatasetError(f"{where}.isValidFrame: expected one number, found {flag.shape} {flag}. "
                                   f"{_TESTSET_HINT}")
            valid[i, k] = float(flag.flat[0]) != 0
            labels = np.asarray(occ[i, k])
            if labels.size != NUM_JOINTS or not np.isin(labels.astype(np.float64), (0.0, 1.0)).all():
                raise DatasetError(f"{occ_path}: occlusion_labels{{{i + 1},{k + 1}}} must hold {NUM_JOINTS} values "
                                   f"0/1, found {labels.dtype} {labels.shape}. {_TESTSET_HINT}")
            occlusion[i, k] = labels.reshape(-1).astype(np.float64) != 0
    return MuPoTSSequence(index, annot2, annot3, univ, valid, occlusion)


def read_ground_truth(path: str | os.PathLike, sequences: Iterable[int] = range(1, NUM_SEQUENCES + 1)
                      ) -> MuPoTSGroundTruth:
    """Read ``TS<n>/annot.mat`` and ``occlusion.mat`` below ``path`` (the MultiPersonTestSet folder or its parent).

    ``sequences`` defaults to the official 1..20; a subset is for quick looks (averages are then over it).
    """
    root = _testset_dir(Path(path))
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found. {_TESTSET_HINT}")
    indices = sorted(set(int(n) for n in sequences))
    if not indices or indices[0] < 1:
        raise DatasetError(f"sequence indices must be >= 1, got {indices}")
    missing = [n for n in indices if not (root / f"TS{n}").is_dir()]
    if missing:
        raise DatasetError(f"{root}: missing sequence folder(s) {', '.join(f'TS{n}' for n in missing)}. "
                           f"{_TESTSET_HINT}")
    return MuPoTSGroundTruth(root, tuple(read_sequence(root / f"TS{n}", n) for n in indices))


# ---------------------------------------------------------------------------------------------- predictions
def prediction_key(sequence: int, frame: int) -> str:
    """``TS<sequence>_img_<frame, 6 digits, 0-based>``: the variable name of one frame in the ``.mat`` pair."""
    return "TS%d_img_%06d" % (sequence, frame)


def parse_prediction_key(key: str) -> tuple[int, int] | None:
    """(sequence, 0-based frame) of a prediction key, None when ``key`` is not one."""
    m = _KEY_RE.match(key)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True, eq=False)
class MuPoTSPredictions:
    """The authors' prediction pair: key -> [people, 17, 2] image pixels and [people, 17, 3] camera mm.

    float32 arrays stay float32 (see the module docstring, point 12); others are float64.
    """

    poses_2d: dict[str, np.ndarray]
    poses_3d: dict[str, np.ndarray]


def check_pose_array(value, dims: int, where: str, error: type[Exception] = PredictionsError) -> np.ndarray:
    """``value`` as a numeric array [people, 17, dims] (pixels for 2D, camera mm for 3D), or ``error`` naming
    ``where`` and what was found."""
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise error(f"{where}: expected a numeric array [people, {NUM_JOINTS}, {dims}], found {arr.dtype}")
    if np.iscomplexobj(arr):
        raise error(f"{where}: complex values")
    if arr.size == 0 and arr.ndim >= 1 and arr.shape[0] == 0:
        arr = np.zeros((0, NUM_JOINTS, dims), dtype=arr.dtype)  # any empty array: no detection (as Octave)
    if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, dims):
        raise error(f"{where}: shape {arr.shape}, expected [people, {NUM_JOINTS}, {dims}] (one person is "
                    f"[1, {NUM_JOINTS}, {dims}], none is [0, {NUM_JOINTS}, {dims}])")
    return arr.astype(np.float32 if arr.dtype == np.float32 else np.float64, copy=False)


def _read_prediction_file(path: Path, dims: int) -> dict[str, np.ndarray]:
    hint = (f"it must be the {PREDICTIONS_2D_FILE if dims == 2 else PREDICTIONS_3D_FILE} written by the authors' "
            "MuPoTS evaluate or by pose3dbench (variables TS<n>_img_<frame>)")
    if not path.is_file():
        raise PredictionsError(f"{path}: file not found; {hint}")
    try:
        data = scipy.io.loadmat(str(path))
    except NotImplementedError as e:
        raise PredictionsError(f"{path}: a MATLAB v7.3 (HDF5) file, which scipy cannot read ({e}); {hint}") from None
    except Exception as e:
        raise PredictionsError(f"{path}: cannot be read as a MATLAB file ({type(e).__name__}: {e}); {hint}") from None
    out = {}
    for key, value in data.items():
        if key.startswith("__") or parse_prediction_key(key) is None:
            continue  # the official script reads only the keys it asks for
        out[key] = check_pose_array(value, dims, f"{path}: {key}")
    return out


def read_predictions(folder: str | os.PathLike | None = None, *, file_2d: str | os.PathLike | None = None,
                     file_3d: str | os.PathLike | None = None) -> MuPoTSPredictions:
    """Read ``preds_2d_kpt_mupots.mat`` and ``preds_3d_kpt_mupots.mat`` from ``folder`` (or the given files).

    Variables whose name is not ``TS<n>_img_<frame>`` are ignored, as the official script ignores them.
    """
    if folder is None and (file_2d is None or file_3d is None):
        raise PredictionsError("read_predictions needs a folder or both file_2d and file_3d")
    path_2d = Path(file_2d) if file_2d is not None else Path(folder) / PREDICTIONS_2D_FILE
    path_3d = Path(file_3d) if file_3d is not None else Path(folder) / PREDICTIONS_3D_FILE
    return MuPoTSPredictions(_read_prediction_file(path_2d, 2), _read_prediction_file(path_3d, 3))


def _atomic_savemat(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """MATLAB v5, uncompressed, through a temp file renamed over ``path`` (a reader never sees half a file)."""
    atomic_write(path, lambda f: scipy.io.savemat(f, arrays, format="5", do_compression=False, oned_as="row"))


def write_predictions(folder: str | os.PathLike, poses_2d: Mapping[str, np.ndarray],
                      poses_3d: Mapping[str, np.ndarray]) -> tuple[Path, Path]:
    """Write the pair ``preds_2d_kpt_mupots.mat`` / ``preds_3d_kpt_mupots.mat`` the official script reads.

    Keys ``TS<n>_img_<6-digit 0-based frame>`` (see ``prediction_key``), the same keys in both, arrays
    [people, 17, 2] pixels and [people, 17, 3] camera mm with the same number of people (0 allowed: write an
    empty array for a frame where nothing was detected, the official script needs the key of every frame with
    a valid person). float32 arrays are written as single (the official script then computes in single, as
    for the authors' files), everything else as double. Each file is written to a temporary file in
    ``folder`` and renamed over the target, so a reader never sees a partly written file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keys_2d, keys_3d = set(poses_2d), set(poses_3d)
    if keys_2d != keys_3d:
        only = sorted(keys_2d ^ keys_3d)
        raise PredictionsError(f"2D and 3D predictions must have the same keys; only in one of them: "
                               f"{', '.join(only[:5])}{' ...' if len(only) > 5 else ''}")
    out_2d, out_3d = {}, {}
    for key in sorted(keys_2d, key=lambda k: (parse_prediction_key(k) or (0, 0), k)):
        if parse_prediction_key(key) is None:
            raise PredictionsError(f"prediction key '{key}' is not TS<n>_img_<6-digit frame> (e.g. "
                                   f"{prediction_key(1, 0)})")
        a2 = check_pose_array(poses_2d[key], 2, f"2D predictions {key}")
        a3 = check_pose_array(poses_3d[key], 3, f"3D predictions {key}")
        if a2.shape[0] != a3.shape[0]:
            raise PredictionsError(f"{key}: {a2.shape[0]} people in 2D but {a3.shape[0]} in 3D")
        out_2d[key], out_3d[key] = np.ascontiguousarray(a2), np.ascontiguousarray(a3)
    path_2d, path_3d = folder / PREDICTIONS_2D_FILE, folder / PREDICTIONS_3D_FILE
    _atomic_savemat(path_2d, out_2d)
    _atomic_savemat(path_3d, out_3d)
    return path_2d, path_3d
