"""The official MuPoTS-3D evaluation, ported to numpy: matching, bone rescaling and the metrics (the files it
reads and writes: ``matfiles``).

The official evaluation is the MATLAB script ``mpii_mupots_multiperson_eval.m`` shipped in ``data/MuPoTS/`` of
the 3DMPPE PoseNet repository (and MobileHumanPose), with the MuPoTS-3D util functions it calls
(``mpii_multiperson_get_identity_matching``, ``mpii_map_to_gt_bone_lengths``, ``mpii_compute_3d_pck``,
``mpii_get_joints``, ``mpii_get_pck_auc_joint_groups``, ``mpii_evaluate_multiperson_errors`` and its
``_visibility_mask`` variant). This module is our own implementation from reading that code; the numbers are
pinned against the script's output under GNU Octave 7.3 (tests/fixtures/conformance-mupots and
tests/fixtures/mupots-recorded).

What the official script does, and so what we do (each is reproduced exactly):

1. Ground truth: for sequence TS1..TS20, ``annotations{frame, person}`` of ``TS<n>/annot.mat``; a person counts
   in a frame when ``isValidFrame`` is non-zero. The 3D ground truth is ``univ_annot3`` (the universal,
   height-normalised skeleton), not ``annot3``. The 2D ground truth used for matching is ``annot2``.
2. Frames with no valid person are skipped before the prediction key is read (no key needed for them).
3. Matching (per frame, greedy, in ground-truth order): for ground-truth person ``i`` (annotation column order,
   valid people only) and every prediction ``j`` not yet taken, the score is the number of joints among the 13
   matching joints (1-based 2..14: neck to left ankle; head top, pelvis, spine and head are not used) whose
   predicted 2D position is within 40 px of the ground truth in x AND in y (``|dx| < 40 & |dy| < 40``,
   strict), counting only predicted joints that are not exactly (0, 0). The best-scoring prediction is taken
   if its score is > 0; ties go to the FIRST prediction (lowest index in the frame's array); a taken
   prediction is never reconsidered. A prediction joint at exactly (0, 0) is ignored for matching only: its 3D
   position is still scored.
4. Root-relative mode subtracts the pelvis (joint 15) from prediction and ground truth; absolute mode scores
   camera coordinates as they are.
5. Every matched prediction is rescaled to the ground truth's bone lengths before scoring, in both modes:
   bones in the order spine, neck, head top, head, right arm, left arm, right leg, left leg (each child after
   its parent), ``child = rescaled_parent + (pred_child - pred_parent) * |gt bone| / |pred bone|``. The
   direction comes from the ORIGINAL prediction, the length from the ground truth, the pelvis stays where the
   prediction put it. ``|.|`` is computed as Octave's ``norm`` does (scaled accumulation), so the rescaled
   pose is bit-identical to Octave's.
6. Per-joint error: Euclidean distance in mm over all 17 joints. An unmatched ground-truth person gets the
   placeholder prediction 100000 mm on every coordinate: in "all" mode (``eval_mode`` 0) it is scored (every
   joint misses the PCK; its huge distances enter the MPJPE, as in the official numbers); in "matched" mode
   (``eval_mode`` 1) it is dropped. ``undetected`` counts unmatched ground-truth people in both modes.
7. PCK: a joint is correct when its error is ``< 150`` mm (strict); AUC: the mean of the PCK at thresholds
   0, 5, ..., 150 mm (strict ``<``, so the 0 mm threshold scores 0 and a perfect prediction has AUC
   30/31 = 96.77%). Both use the 14 joints 1-based 1..14 (pelvis, spine and head are not scored), grouped as
   Head, Neck, Shou, Elbow, Wrist, Hip, Knee, Ankle; the totals are the group values weighted by group size.
8. MPJPE: per joint the mean over the sequence's evaluated people, then the mean over all 17 joints (the
   pelvis included, which is 0 in relative mode). ``mpjpe_joints14`` averages joints 1..14 instead.
9. Visible / occluded tables (``occlusion.mat``, 1 = occluded): on joints 1..14 only; a NaN error counts as
   160 mm there (so a miss), the MPJPE is the sum of masked errors over the number of masked joints, the PCK
   is ``1 - (#errors > 150) / #joints`` (a miss is ``> 150`` here, while the main table's hit is ``< 150``: an
   error of exactly 150 mm is a miss there and a hit here). The official table holds the fraction; we report
   percent (x 100), as the conformance vectors do.
10. Aggregation is per sequence; the "Avg" over sequences is the unweighted mean of the 20 sequence values
    (a sequence with few people weighs as much as a crowded one), people counts are summed.
11. NaN: a predicted NaN in 2D never matches (comparisons with NaN are false); a NaN in a rescaled 3D joint
    (from a NaN prediction or a zero-length predicted bone: ``0 * |gt| / 0``) misses the PCK at every
    threshold, makes that sequence's MPJPE NaN (and so the average's), and counts as 160 mm in the visibility
    tables. A zero-length ground-truth bone with a non-zero predicted bone puts the child on its parent.
12. Single precision: a ``.mat`` array stored as single (the authors' ``evaluate`` writes float32 when the
    network output is float32) makes Octave compute that frame's matching differences, resp. that person's
    relative pose, rescaling and distances, in single precision (mixed single/double arithmetic gives
    single). We compute in float32 for those arrays too; everything else is float64.

Where the official script crashes, we do what a user needs instead (texts recorded under Octave 7.3 in
tests/fixtures/mupots-recorded):

- A frame with a valid person but no prediction key (2D or 3D): Octave stops with ``error: structure has no
  member 'TS3_img_000001'`` (from ``getfield``). We raise ``PredictionsError`` naming the key, unless
  ``missing="empty"``, which treats the frame as having no detection (its people are unmatched; recorded
  equal to the official result for empty arrays under that key). Keys of frames without a valid person are
  never read, by either.
- A sequence where nobody is evaluated (``matched`` mode with no match in the sequence, or no valid person at
  all): Octave stops in ``mpii_evaluate_multiperson_errors`` with ``error: sequencewise_error(17,_,_): out of
  bound 0 (dimensions are 0x0)``, so no number at all for that mode. We return NaN for that sequence's pck, auc, mpjpe,
  groups and per-joint values (counts stay exact, ``evaluated`` is 0), list it in
  ``ModeResult.empty_sequences``, and the average over sequences is then NaN too (there is no official
  number to compare with).
- 2D and 3D arrays of one key with a different number of people: Octave reads ``pred_3d_kpt(k, :, :)`` for
  every 2D person (an index error if the 3D array is shorter, extra 3D people silently ignored). We raise
  ``PredictionsError``.
- A masked joint count of zero (no occluded joint in a sequence): Octave computes 0/0 = NaN without error;
  so do we (``to_json`` writes NaN as null).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ...errors import PredictionsError
from .matfiles import (JOINT_NAMES, NUM_JOINTS, MuPoTSGroundTruth, check_pose_array,
                       prediction_key)

__all__ = [
    "AUC_THRESHOLDS_MM", "BONE_ORDER", "JOINT_GROUPS", "MODE_NAMES", "PARENTS", "PCK_THRESHOLD_MM", "ROOT",
    "UNMATCHED_PLACEHOLDER_MM", "AverageMetrics", "JointSetMetrics", "ModeResult", "MuPoTSEvaluation",
    "PersonErrors", "SequenceMetrics", "evaluate_mupots", "match_frame", "octave_norm", "rescale_to_gt_bone_lengths",
]

#: parent of each joint (0-based), the official ``joint_parents_o1`` minus one
PARENTS = (1, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, 14, 14, 1)
ROOT = 14  # pelvis
#: bones (by child joint, 0-based) in the official ``safe_traversal_order(2:end)``: every parent before its child
BONE_ORDER = (15, 1, 0, 16, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
MATCHING_JOINTS = slice(1, 14)  # 1-based 2..14
MATCHING_THRESHOLD_PX = 40.0
SCORED_JOINTS = 14  # 1-based 1..14 enter PCK, AUC and the visibility tables
JOINT_GROUPS = (("Head", (0,)), ("Neck", (1,)), ("Shou", (2, 5)), ("Elbow", (3, 6)), ("Wrist", (4, 7)),
                ("Hip", (8, 11)), ("Knee", (9, 12)), ("Ankle", (10, 13)))
GROUP_NAMES = tuple(name for name, _ in JOINT_GROUPS)
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.arange(0, 151, 5, dtype=np.float64)  # 0:5:150, 31 values
UNMATCHED_PLACEHOLDER_MM = 100000.0
MASKED_NAN_ERROR_MM = 160.0
#: result keys: eval_mode ("all" = 0, "matched" = 1) / relative (is_relative 1) or absolute (0)
MODE_NAMES = ("all/relative", "all/absolute", "matched/relative", "matched/absolute")

# ------------------------------------------------------------------------------------------- the arithmetic
def octave_norm(v: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis as Octave's ``norm`` computes it (scaled accumulation), bit for bit.

    Octave keeps a running scale (the largest |x| so far) and a sum of squares relative to it; the result is
    ``scale * sqrt(sum)``. The rounding differs from ``sqrt(x*x + y*y + z*z)`` in the last bit for about a
    third of the vectors; reproducing it keeps the rescaled poses identical to the official ones. The dtype of
    ``v`` (float32 or float64) is kept, as Octave's norm of a single vector is single.
    """
    a = np.abs(v)
    scale = np.zeros(a.shape[:-1], dtype=a.dtype)
    total = np.ones(a.shape[:-1], dtype=a.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(a.shape[-1]):  # over the coordinates, sequential by definition
            t = a[..., k]
            same = scale == t
            grow = scale < t
            add = ~same & ~grow & (t != 0)
            r_grow = scale / t
            r_add = t / scale
            total = np.where(same, total + 1, np.where(grow, total * (r_grow * r_grow) + 1,
                                                       np.where(add, total + r_add * r_add, total)))
            scale = np.where(grow, t, scale)
        return (scale * np.sqrt(total)).astype(a.dtype, copy=False)


def match_frame(gt_2d: np.ndarray, pred_2d: np.ndarray) -> np.ndarray:
    """The official identity matching of one frame: for each ground-truth person, the prediction index or -1.

    ``gt_2d`` [G, 17, 2] (valid people in annotation order), ``pred_2d`` [P, 17, 2]; greedy in ground-truth
    order, ties to the first prediction, see the module docstring (point 3). Computed in float32 when
    ``pred_2d`` is float32 (Octave's mixed single/double arithmetic).
    """
    n_gt, n_pred = gt_2d.shape[0], pred_2d.shape[0]
    out = np.full(n_gt, -1, dtype=np.int64)
    if n_gt == 0 or n_pred == 0:
        return out
    dtype = np.float32 if pred_2d.dtype == np.float32 else np.float64
    g = gt_2d[:, MATCHING_JOINTS].astype(dtype)
    p = pred_2d[:, MATCHING_JOINTS].astype(dtype, copy=False)
    diff = np.abs(g[:, None] - p[None])  # [G, P, 13, 2]
    close = (diff[..., 0] < MATCHING_THRESHOLD_PX) & (diff[..., 1] < MATCHING_THRESHOLD_PX)
    seen = ~((p[..., 0] == 0) & (p[..., 1] == 0))  # [P, 13]; the ground truth counts as all visible
    scores = np.sum(close & seen[None], axis=-1)  # [G, P]
    taken = np.zeros(n_pred, dtype=bool)
    for i in range(n_gt):  # greedy: each choice depends on the previous ones
        s = np.where(taken, 0, scores[i])
        j = int(np.argmax(s))  # the first of equal maxima, as MATLAB's max
        if s[j] > 0:
            out[i] = j
            taken[j] = True
    return out


def rescale_to_gt_bone_lengths(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``mpii_map_to_gt_bone_lengths`` for N people at once: pred [N, 17, 3] (float32 or float64), gt float64.

    Bones in ``BONE_ORDER``: ``child = rescaled_parent + (pred_child - pred_parent) * |gt bone| / |pred bone|``,
    evaluated in that order ((v * L) / |v|, so a zero-length predicted bone gives NaN). The loop is over the 16
    bones of the tree (each needs its parent done), vectorised over people.
    """
    dtype = pred.dtype
    out = pred.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for child in BONE_ORDER:
            parent = PARENTS[child]
            gt_length = octave_norm(gt[:, child] - gt[:, parent]).astype(dtype)
            bone = pred[:, child] - pred[:, parent]
            bone = (bone * gt_length[:, None]) / octave_norm(bone)[:, None]
            out[:, child] = out[:, parent] + bone
    return out


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2])


def _person_errors(gt3: np.ndarray, pred3: np.ndarray, matched: np.ndarray, single: np.ndarray,
                   relative: bool) -> np.ndarray:
    """[N, 17] official per-joint errors (mm) of every ground-truth person (placeholder for unmatched ones)."""
    gt = gt3 - gt3[:, ROOT:ROOT + 1] if relative else gt3
    errors = _distances(np.full_like(gt, UNMATCHED_PLACEHOLDER_MM), gt)
    for is_single in (False, True):
        rows = matched & (single == is_single)
        if not rows.any():
            continue
        dtype = np.float32 if is_single else np.float64
        p = pred3[rows].astype(dtype)
        if relative:
            p = p - p[:, ROOT:ROOT + 1]
        g = gt[rows]
        mapped = rescale_to_gt_bone_lengths(p, g)
        with np.errstate(invalid="ignore"):
            errors[rows] = _distances(mapped, g.astype(dtype)).astype(np.float64)
    return errors


def _seq_sum(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """Sum with left-to-right accumulation (as Octave's ``sum``), not numpy's pairwise summation."""
    if a.shape[axis] == 0:
        return np.sum(a, axis=axis)
    return np.take(np.cumsum(a, axis=axis), -1, axis=axis)


# ------------------------------------------------------------------------------------------------- results
def _nan_to_none(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    return x


@dataclass(frozen=True)
class JointSetMetrics:
    """The visible / occluded joint table of one sequence (joints 1..14): ``count`` of masked joints (a float,
    as the official table), ``mpjpe`` mm and ``pck`` % over them (NaN when ``count`` is 0)."""

    count: float
    mpjpe: float
    pck: float

    def to_json(self) -> dict:
        return _nan_to_none({"count": self.count, "mpjpe": self.mpjpe, "pck": self.pck})


@dataclass(frozen=True)
class SequenceMetrics:
    """One sequence in one mode; the fields of ``official/<variant>.json``'s ``sequences`` rows.

    ``pck`` / ``auc`` / groups in %, ``mpjpe`` (17 joints), ``mpjpe_joints14`` and ``mpjpe_per_joint`` in mm;
    ``annotated`` valid people, ``undetected`` unmatched ones, ``evaluated`` people scored in this mode,
    ``frames`` rows of ``annotations``. NaN metrics when ``evaluated`` is 0 (the official script crashes).
    """

    seq: int
    pck: float
    auc: float
    mpjpe: float
    mpjpe_joints14: float
    annotated: int
    undetected: int
    evaluated: int
    frames: int
    pck_groups: dict[str, float]
    auc_groups: dict[str, float]
    mpjpe_per_joint: dict[str, float]
    visible_joints: JointSetMetrics
    occluded_joints: JointSetMetrics

    def to_json(self) -> dict:
        out = _nan_to_none({k: getattr(self, k) for k in (
            "seq", "pck", "auc", "mpjpe", "mpjpe_joints14", "annotated", "undetected", "evaluated", "frames",
            "pck_groups", "auc_groups", "mpjpe_per_joint")})
        out["visible_joints"] = self.visible_joints.to_json()
        out["occluded_joints"] = self.occluded_joints.to_json()
        return out


@dataclass(frozen=True)
class AverageMetrics:
    """The "Avg" row: unweighted mean over the sequences of pck, auc, mpjpe, mpjpe_joints14 and the groups;
    ``annotated`` / ``undetected`` / ``evaluated`` summed."""

    pck: float
    auc: float
    mpjpe: float
    mpjpe_joints14: float
    annotated: int
    undetected: int
    evaluated: int
    pck_groups: dict[str, float]
    auc_groups: dict[str, float]

    def to_json(self) -> dict:
        return _nan_to_none({k: getattr(self, k) for k in (
            "pck", "auc", "mpjpe", "mpjpe_joints14", "annotated", "undetected", "evaluated", "pck_groups",
            "auc_groups")})


@dataclass(frozen=True)
class ModeResult:
    """One of the four official runs: ``eval_mode`` 0 (all annotated people) / 1 (matched only), ``is_relative``
    1 / 0. ``empty_sequences``: indices of sequences without any evaluated person (NaN metrics)."""

    eval_mode: int
    is_relative: int
    sequences: tuple[SequenceMetrics, ...]
    avg: AverageMetrics
    empty_sequences: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{'all' if self.eval_mode == 0 else 'matched'}/{'relative' if self.is_relative else 'absolute'}"

    def to_json(self) -> dict:
        return {"eval_mode": self.eval_mode, "is_relative": self.is_relative, "status": "ok",
                "empty_sequences": list(self.empty_sequences), "avg": self.avg.to_json(),
                "sequences": [s.to_json() for s in self.sequences]}


@dataclass(frozen=True, eq=False)
class PersonErrors:
    """Per valid ground-truth person, in the official order (sequence, frame, annotation column).

    ``sequence`` [N] (1..20), ``frame`` [N] (0-based, as in the prediction keys), ``person`` [N] (0-based
    column of ``annotations{frame, person}``), ``prediction`` [N] (index of the matched person in the frame's
    prediction arrays, -1 if unmatched), ``matched`` [N] bool, ``relative`` / ``absolute`` [N, 17] per-joint
    errors in mm after the bone-length rescaling, in ``JOINT_NAMES`` order. Unmatched rows hold what the
    official script scores for them in "all" mode (the distance of the 100000 mm placeholder: every joint a PCK
    miss); "matched" mode uses only the rows with ``matched``. A sequence's official metrics are the metrics of
    its rows, so resampling people within or across sequences gives bootstrap intervals.
    """

    sequence: np.ndarray
    frame: np.ndarray
    person: np.ndarray
    prediction: np.ndarray
    matched: np.ndarray
    relative: np.ndarray
    absolute: np.ndarray

    def __len__(self) -> int:
        return int(self.sequence.shape[0])

    def errors(self, is_relative: bool) -> np.ndarray:
        return self.relative if is_relative else self.absolute

    def to_json(self) -> dict:
        def rows(a):
            return [[None if math.isnan(v) else v for v in r] for r in a.tolist()]
        return {"joints": list(JOINT_NAMES), "sequence": self.sequence.tolist(), "frame": self.frame.tolist(),
                "person": self.person.tolist(), "prediction": self.prediction.tolist(),
                "matched": self.matched.tolist(), "relative": rows(self.relative), "absolute": rows(self.absolute)}


@dataclass(frozen=True, eq=False)
class MuPoTSEvaluation:
    """The four official runs (``results[name]`` for name in ``MODE_NAMES``) and the per-person errors."""

    results: dict[str, ModeResult]
    people: PersonErrors

    def __getitem__(self, name: str) -> ModeResult:
        return self.results[name]

    def to_json(self, include_people: bool = False) -> dict:
        out = {"results": {name: r.to_json() for name, r in self.results.items()}}
        if include_people:
            out["people"] = self.people.to_json()
        return out


def _masked_table(errors: np.ndarray, mask: np.ndarray) -> JointSetMetrics:
    """mpii_evaluate_multiperson_errors_visibility_mask on joints 1..14 (NaN -> 160 mm, ``> 150`` misses)."""
    jm = mask[:, :SCORED_JOINTS].astype(np.float64)
    e = errors[:, :SCORED_JOINTS]
    with np.errstate(invalid="ignore", divide="ignore"):
        masked = np.where(np.isnan(e), MASKED_NAN_ERROR_MM, e) * jm
        count = float(_seq_sum(jm.reshape(-1)))  # masked_errors(:) is joint-fastest: C order of [people, 14]
        mpjpe = float(_seq_sum(masked.reshape(-1)) / count) if count else math.nan
        pck = 100.0 * (1.0 - float(np.count_nonzero(masked > PCK_THRESHOLD_MM)) / count) if count else math.nan
    return JointSetMetrics(count, mpjpe, pck)


def _sequence_metrics(seq: int, errors: np.ndarray, occlusion: np.ndarray, annotated: int, undetected: int,
                      frames: int) -> SequenceMetrics:
    n = errors.shape[0]
    if n == 0:
        nan_groups = {g: math.nan for g in GROUP_NAMES}
        empty = JointSetMetrics(0.0, math.nan, math.nan)
        return SequenceMetrics(seq, math.nan, math.nan, math.nan, math.nan, annotated, undetected, 0, frames,
                               dict(nan_groups), dict(nan_groups), {j: math.nan for j in JOINT_NAMES}, empty, empty)
    scored = errors[:, :SCORED_JOINTS]
    # correct-joint counts per joint and threshold (integers, exact), NaN never correct
    hits = np.sum(scored[:, :, None] < AUC_THRESHOLDS_MM[None, None, :], axis=0)  # [14, 31]
    hits150 = np.sum(scored < PCK_THRESHOLD_MM, axis=0)  # [14]
    pck_groups, auc_groups = {}, {}
    pck_weighted, curve_weighted = [], []
    for name, joints in JOINT_GROUPS:  # 8 groups, the official per-group arithmetic in its order
        size = len(joints)
        curve = hits[list(joints)].sum(axis=0) / (size * n)
        pck = 100.0 * float(hits150[list(joints)].sum()) / (size * n)
        auc_groups[name] = float(100.0 * _seq_sum(curve) / len(AUC_THRESHOLDS_MM))
        pck_groups[name] = pck
        pck_weighted.append(pck * size)
        curve_weighted.append(curve * size)
    total_pck = float(_seq_sum(np.array(pck_weighted)) / SCORED_JOINTS)
    total_curve = _seq_sum(np.stack(curve_weighted), axis=0) / SCORED_JOINTS
    total_auc = float(100.0 * _seq_sum(total_curve) / len(AUC_THRESHOLDS_MM))
    per_joint = _seq_sum(errors, axis=0) / n  # mean(., 3): left-to-right sum over people, / n
    return SequenceMetrics(
        seq=seq, pck=total_pck, auc=total_auc, mpjpe=float(_seq_sum(per_joint) / NUM_JOINTS),
        mpjpe_joints14=float(_seq_sum(per_joint[:SCORED_JOINTS]) / SCORED_JOINTS),
        annotated=annotated, undetected=undetected, evaluated=n, frames=frames,
        pck_groups=pck_groups, auc_groups=auc_groups,
        mpjpe_per_joint={name: float(v) for name, v in zip(JOINT_NAMES, per_joint)},
        visible_joints=_masked_table(errors, ~occlusion), occluded_joints=_masked_table(errors, occlusion))


def _average(sequences: list[SequenceMetrics]) -> AverageMetrics:
    def mean(values):
        return float(_seq_sum(np.array(values, dtype=np.float64)) / len(values)) if values else math.nan
    return AverageMetrics(
        pck=mean([s.pck for s in sequences]), auc=mean([s.auc for s in sequences]),
        mpjpe=mean([s.mpjpe for s in sequences]), mpjpe_joints14=mean([s.mpjpe_joints14 for s in sequences]),
        annotated=sum(s.annotated for s in sequences), undetected=sum(s.undetected for s in sequences),
        evaluated=sum(s.evaluated for s in sequences),
        pck_groups={g: mean([s.pck_groups[g] for s in sequences]) for g in GROUP_NAMES},
        auc_groups={g: mean([s.auc_groups[g] for s in sequences]) for g in GROUP_NAMES})


def _frame_predictions(poses_2d: Mapping[str, np.ndarray], poses_3d: Mapping[str, np.ndarray], key: str,
                       missing: str) -> tuple[np.ndarray, np.ndarray]:
    has_2d, has_3d = key in poses_2d, key in poses_3d
    if not (has_2d and has_3d):
        if missing == "empty":
            return np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS, 3))
        where = "2D and 3D" if not (has_2d or has_3d) else ("2D" if not has_2d else "3D")
        raise PredictionsError(
            f"no {where} prediction for '{key}', a frame with a valid annotated person: the official script stops "
            f"there ('structure has no member'). Write an empty [0, {NUM_JOINTS}, 2] / [0, {NUM_JOINTS}, 3] "
            "array for a frame with no detection, or evaluate with missing='empty' to count its people as missed")
    p2 = check_pose_array(poses_2d[key], 2, f"2D predictions {key}")
    p3 = check_pose_array(poses_3d[key], 3, f"3D predictions {key}")
    if p2.shape[0] != p3.shape[0]:
        raise PredictionsError(f"{key}: {p2.shape[0]} people in the 2D predictions but {p3.shape[0]} in the 3D "
                               "ones; the official script pairs them by index, they must have the same count")
    return p2, p3


def evaluate_mupots(gt: MuPoTSGroundTruth, poses_2d: Mapping[str, np.ndarray], poses_3d: Mapping[str, np.ndarray],
                    *, missing: str = "error") -> MuPoTSEvaluation:
    """The official MuPoTS-3D evaluation of the prediction pair (key -> arrays, see ``MuPoTSPredictions``).

    Returns the four official runs (``MODE_NAMES``: eval_mode all/matched x relative/absolute) per sequence
    and averaged, plus the per-person errors. ``missing``: "error" (default) raises ``PredictionsError`` for a
    frame with a valid person and no key (the official script crashes there); "empty" treats it as a frame
    with no detection. See the module docstring for every rule of the official code reproduced here.
    """
    if missing not in ("error", "empty"):
        raise ValueError(f"missing must be 'error' or 'empty', not {missing!r}")
    rec_seq, rec_frame, rec_person, rec_pred = [], [], [], []
    gt3_parts, pred3_parts, single_parts, occ_parts = [], [], [], []
    seq_stats = []  # (index, frames, annotated, undetected)
    for seq in gt.sequences:
        annotated = undetected = 0
        for f in range(seq.num_frames):
            cols = np.flatnonzero(seq.valid[f])
            annotated += cols.size
            if cols.size == 0:
                continue  # the official script skips the frame before reading its key
            p2, p3 = _frame_predictions(poses_2d, poses_3d, prediction_key(seq.index, f), missing)
            match = match_frame(seq.annot2[f, cols], p2)
            undetected += int(np.sum(match < 0))
            chosen = np.full((cols.size, NUM_JOINTS, 3), np.nan)
            chosen[match >= 0] = p3[match[match >= 0]]
            rec_seq.append(np.full(cols.size, seq.index))
            rec_frame.append(np.full(cols.size, f))
            rec_person.append(cols)
            rec_pred.append(match)
            gt3_parts.append(seq.univ_annot3[f, cols])
            pred3_parts.append(chosen)
            single_parts.append(np.full(cols.size, p3.dtype == np.float32))
            occ_parts.append(seq.occlusion[f, cols])
        seq_stats.append((seq.index, seq.num_frames, annotated, undetected))

    def cat(parts, shape, dtype):
        return np.concatenate(parts) if parts else np.zeros(shape, dtype=dtype)
    sequence = cat(rec_seq, (0,), np.int64).astype(np.int64)
    frame = cat(rec_frame, (0,), np.int64).astype(np.int64)
    person = cat(rec_person, (0,), np.int64).astype(np.int64)
    prediction = cat(rec_pred, (0,), np.int64).astype(np.int64)
    gt3 = cat(gt3_parts, (0, NUM_JOINTS, 3), np.float64)
    pred3 = cat(pred3_parts, (0, NUM_JOINTS, 3), np.float64)
    single = cat(single_parts, (0,), bool)
    occlusion = cat(occ_parts, (0, NUM_JOINTS), bool)
    matched = prediction >= 0
    errors = {True: _person_errors(gt3, pred3, matched, single, relative=True),
              False: _person_errors(gt3, pred3, matched, single, relative=False)}
    people = PersonErrors(sequence, frame, person, prediction, matched, errors[True], errors[False])

    results = {}
    for name in MODE_NAMES:
        eval_mode = 0 if name.startswith("all/") else 1
        is_relative = name.endswith("/relative")
        rows_mode = np.ones_like(matched) if eval_mode == 0 else matched
        per_seq = []
        for index, frames, annotated, undetected in seq_stats:
            rows = rows_mode & (sequence == index)
            per_seq.append(_sequence_metrics(index, errors[is_relative][rows], occlusion[rows], annotated,
                                             undetected, frames))
        results[name] = ModeResult(eval_mode, int(is_relative), tuple(per_seq), _average(per_seq),
                                   tuple(s.seq for s in per_seq if s.evaluated == 0))
    return MuPoTSEvaluation(results, people)
