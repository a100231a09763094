"""MuPoTS-3D scoring: the official evaluation (``official.evaluate_mupots``) on a run's rows, and RootNet's AP_root.

A split's rows (one per person crop) are grouped into the official prediction pair: per frame key
``TS<n>_img_<6 digits>`` the rows' 2D poses (image pixels) and 3D poses (camera mm), in row order, as the
authors' ``evaluate`` stacks them. Poses of another joint set are mapped to MuPoTS-3D's 17 joints first (MuCo-21:
its first 17, exact; Human3.6M-18: approximate, flagged). The official script is then run in its four modes
(all / matched people x root-relative / absolute) against ``univ_annot3`` of the MultiPersonTestSet.

Differences to running the official script, each deliberate and recorded in the results:
- A frame with a valid annotated person but no row (no detection, or a degenerate box) counts its people as
  undetected; the authors' ``evaluate`` writes no key for it and the official script stops there
  (``missing_frames`` says how many).
- A run on a subset (``--limit``) is scored on the frames it covers: the other frames' people are left out,
  not counted as missed (the report's Subset banner says the numbers are not the full test set's).
The primary value is 3DPCK (%) of all annotated people, root-relative, averaged over the sequences: the
papers' "3DPCK_rel" column.
"""
from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import DatasetError, PredictionsError
from ...jsonspec import ANYDICT, BOOL, INT, NUM, STR, MapOf, Nullable, Opt, check
from ...joints import get_joint_set, mapping
from ..dataset import PosePredictions, RootScoring, Scored, Scoring
from ..samples import Samples
from . import matfiles, official
from .root_ap import root_ap

MODES = {"all/relative": "", "all/absolute": "_absolute", "matched/relative": "_matched",
         "matched/absolute": "_absolute_matched"}
MODE_TITLES = {"all/relative": "3DPCK, all people, root-relative",
               "matched/relative": "3DPCK, matched people, root-relative",
               "all/absolute": "3DPCK, all people, absolute", "matched/absolute": "3DPCK, matched people, absolute"}
SEQUENCE_NAMES = [f"TS{i}" for i in range(1, matfiles.NUM_SEQUENCES + 1)]
AP_ROOT_THRESHOLD_MM = 250.0


def _none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


@lru_cache(maxsize=2)
def _ground_truth(testset: str, stamp: tuple) -> matfiles.MuPoTSGroundTruth:
    return matfiles.read_ground_truth(testset)


def ground_truth(testset: Path) -> matfiles.MuPoTSGroundTruth:
    """The official ground truth below ``testset`` (TS1..TS20), read once per process while unchanged."""
    files = sorted(Path(testset).glob("TS*/*.mat"))
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _ground_truth(str(testset), stamp)


def only_frames(gt: matfiles.MuPoTSGroundTruth, frames: set[tuple[int, int]]) -> matfiles.MuPoTSGroundTruth:
    """The ground truth of the sequences ``frames`` ((sequence, 0-based frame)) touch, every other frame holding no
    valid person (a subset run: the average is over the sequences it covers)."""
    seqs = []
    covered = {q for q, _ in frames}
    for s in gt.sequences:
        if s.index not in covered:
            continue
        keep = np.zeros(s.num_frames, dtype=bool)
        idx = [f for (q, f) in frames if q == s.index and f < s.num_frames]
        keep[idx] = True
        seqs.append(dataclasses.replace(s, valid=s.valid & keep[:, None]))
    return dataclasses.replace(gt, sequences=tuple(seqs))


def to_mupots(pred: PosePredictions, samples: Samples) -> tuple[np.ndarray, np.ndarray, bool]:
    """(3D [N,17,3] camera mm, 2D [N,17,2] image pixels, approximate) of the rows in MuPoTS-3D's joint order.
    Without 2D poses the 3D ones are projected with each row's intrinsics (the authors' 2D is the image point
    that ``pixel2cam`` lifts, so this gives it back)."""
    try:
        idx, approximate = mapping(get_joint_set(pred.joint_set).name, "mupots17")
    except KeyError as exc:
        raise PredictionsError(f"predictions in joint set {pred.joint_set!r} cannot be scored on MuPoTS-3D ({exc}); "
                               "use a MuCo-3DHP (21 joints) or Human3.6M model") from None
    cam = np.asarray(pred.pred_cam, dtype=np.float64)[:, idx]
    if pred.pred_img is not None:
        img = np.asarray(pred.pred_img, dtype=np.float64)[:, idx]
    else:
        z = cam[..., 2:3]
        img = cam[..., :2] / z * samples.focal[:, None, :] + samples.princpt[:, None, :]
    return cam, img, approximate


def prediction_pair(samples: Samples, pose_3d: np.ndarray, pose_2d: np.ndarray) -> tuple[dict, dict]:
    """The official pair: frame key -> [people, 17, 2] pixels and [people, 17, 3] mm, people in row order."""
    keys = samples.groups["image_key"]
    order = np.argsort(keys, kind="stable")
    p2, p3 = {}, {}
    if len(order):
        bounds = np.flatnonzero(keys[order][1:] != keys[order][:-1]) + 1
        for rows in np.split(order, bounds):
            key = str(keys[rows[0]])
            p2[key], p3[key] = pose_2d[rows], pose_3d[rows]
    return p2, p3


def _mode_entry(result: official.ModeResult) -> dict:
    """One official run: its averages over the sequences (pck, auc, mpjpe, ... at the top level), its people counts
    and every official field per sequence (``sequences``: 20 rows with ``name`` TS<n>), NaN as null."""
    out = result.to_json()
    entry = {**out["avg"], "eval_mode": out["eval_mode"], "is_relative": out["is_relative"],
             "empty_sequences": out["empty_sequences"], "sequences": out["sequences"]}
    for row in entry["sequences"]:
        row["name"] = f"TS{row['seq']}"
    return entry


def official_record(ev: official.MuPoTSEvaluation, num_samples: int, missing_frames: int) -> dict:
    """The results.json record of an official evaluation (``MODES``: one field set per mode; ``modes``:
    {all|matched: {relative|absolute: every official field, averaged and per sequence}}, NaN as null)."""
    rec: dict = {"metric": "3DPCK", "num_samples": int(num_samples), "missing_frames": int(missing_frames)}
    for mode, suffix in MODES.items():
        r = ev.results[mode]
        rec["pck" + suffix] = _none(r.avg.pck)
        rec["auc" + suffix] = _none(r.avg.auc)
        rec["mpjpe" + suffix] = _none(r.avg.mpjpe)
        rec["per_sequence_pck" + suffix] = {f"TS{s.seq}": _none(s.pck) for s in r.sequences}
    rec["sequences"] = len(ev.results["all/relative"].sequences)
    rel = ev.results["all/relative"]
    rec["annotated"] = int(rel.avg.annotated)
    rec["undetected"] = int(rel.avg.undetected)
    rec["pck_groups"] = {g: _none(v) for g, v in rel.avg.pck_groups.items()}
    rec["modes"] = {}
    for mode, r in ev.results.items():
        people, alignment = mode.split("/")
        rec["modes"].setdefault(people, {})[alignment] = _mode_entry(r)
    return rec


def evaluate_pair(gt: matfiles.MuPoTSGroundTruth, poses_2d: dict, poses_3d: dict, *, frames=None
                  ) -> tuple[official.MuPoTSEvaluation, int]:
    """``official.evaluate_mupots`` with missing frames counted as no detection (and how many there were);
    ``frames``: restrict the ground truth to these (sequence, frame) pairs (subset runs)."""
    if frames is not None:
        gt = only_frames(gt, frames)
    missing = sum(1 for s in gt.sequences for f in range(s.num_frames)
                  if s.valid[f].any() and matfiles.prediction_key(s.index, f) not in poses_3d)
    return official.evaluate_mupots(gt, poses_2d, poses_3d, missing="empty"), missing


_MODE_FIELDS = {f"{k}{s}": Nullable(NUM) for s in MODES.values() for k in ("pck", "auc", "mpjpe")}
RECORD_SPEC = {
    "metric": STR, "num_samples": INT, "missing_frames": INT, "sequences": INT, **_MODE_FIELDS, "annotated": INT,
    "undetected": INT,
    **{f"per_sequence_pck{s}": MapOf(Nullable(NUM)) for s in MODES.values()},
    "pck_groups": MapOf(Nullable(NUM)), "modes": MapOf(ANYDICT),
    "approximate_joint_mapping": BOOL, "joint_set": Opt(STR), "skipped": MapOf(INT),
}


class MuPoTSScoring(Scoring):
    """The official MuPoTS-3D evaluation; primary value 3DPCK (%), all people, root-relative, higher is better."""

    metric = "3DPCK"
    unit = "%"
    lower_is_better = False
    value = "pck"
    groups = {f"per_sequence_pck{s}": "sequence" for s in MODES.values()}
    joints = "pck_groups"

    def __init__(self, testset: Path | None = None):
        self.testset = testset

    def score(self, samples: Samples, pred: PosePredictions) -> Scored:
        testset = self.testset or samples.source.get("testset")
        if not testset:
            raise DatasetError("MuPoTS-3D scoring needs the MultiPersonTestSet folder (TS1..TS20 with annot.mat and "
                               "occlusion.mat) below the dataset folder: unzip it from the MuPoTS-3D release there")
        cam, img, approximate = to_mupots(pred, samples)
        p2, p3 = prediction_pair(samples, cam, img)
        frames = None
        if samples.source.get("subset"):
            frames = set(zip(samples.groups["sequence"].tolist(), samples.groups["frame"].tolist()))
        ev, missing = evaluate_pair(ground_truth(Path(testset)), p2, p3, frames=frames)
        rec = official_record(ev, len(samples), missing)
        rec.update(joint_set=pred.joint_set, approximate_joint_mapping=bool(approximate), skipped=dict(samples.skipped))
        return Scored(record=rec, per_sample=row_pck(samples, ev), arrays=person_units(ev))

    def check_record(self, record: dict, path: str) -> None:
        check(record, RECORD_SPEC, path)
        for field in ("pck", "auc", "pck_matched"):
            v = record.get(field)
            if v is not None and not 0.0 <= v <= 100.0:
                raise ValueError(f"{path}.{field}: a percentage must lie in 0..100, got {v}")

    def declaration(self) -> dict:
        out = super().declaration()
        out.update({
            "short": "TS1-20",
            "group_titles": {f"per_sequence_pck{s}": MODE_TITLES[m] for m, s in MODES.items()},
            "group_order": {f"per_sequence_pck{s}": SEQUENCE_NAMES for s in MODES.values()},
            "group_mean": {f"per_sequence_pck{s}": f"pck{s}" for s in MODES.values()},
            "group_all": False,
            "value_is_mean": False,  # the average over sequences of per-sequence PCKs, not a mean over rows
            "unit_bootstrap": "people, stratified by sequence",
            "root_independent": False,
            # the papers' MuPoTS-3D 3DPCK_rel: on the detected boxes of RootNet's file (rootnet-model runs on GT boxes)
            "published": {"rootnet": "mupots_pck_rel_all"},
            "root_published": {"AP_root^25 (%)": "mupots_ap25"},
            "skipped_words": "as the authors' loader does (process_bbox rejects the box)",
        })
        return out


def person_units(ev: official.MuPoTSEvaluation) -> dict[str, np.ndarray]:
    """Per annotated person of the "all" mode (unmatched ones included, as misses), root-relative: ``unit_id``
    (sequence * 10^7 + frame * 100 + annotation column), ``unit_value`` its 3DPCK (%) on the 14 scored joints and
    ``unit_stratum`` its sequence. The mean over sequences of the within-sequence means of ``unit_value`` is the
    primary value (each sequence's 3DPCK is the mean of its people's: all have 14 joints), so a bootstrap over
    people stratified by sequence gives its CI."""
    people = ev.people
    hits = people.relative[:, :official.SCORED_JOINTS] < official.PCK_THRESHOLD_MM
    return {"unit_id": people.sequence * 10_000_000 + people.frame * 100 + people.person,
            "unit_value": 100.0 * hits.mean(axis=1), "unit_stratum": people.sequence.copy()}


def row_pck(samples: Samples, ev: official.MuPoTSEvaluation) -> np.ndarray:
    """Per row: the root-relative 3DPCK (%) of the annotated person its prediction matched, 0 where it matched
    nobody (a false positive); for the predictions file and the qualitative panel, not an official number."""
    people = ev.people
    out = np.zeros(len(samples))
    if not len(people):
        return out
    keys = samples.groups["image_key"]
    slot = {}
    for i, k in enumerate(keys.tolist()):
        slot.setdefault(k, []).append(i)
    hit = people.relative[:, :official.SCORED_JOINTS] < official.PCK_THRESHOLD_MM
    for p in np.flatnonzero(people.matched):
        key = matfiles.prediction_key(int(people.sequence[p]), int(people.frame[p]))
        rows = slot.get(key, [])
        j = int(people.prediction[p])
        if j < len(rows):
            out[rows[j]] = 100.0 * float(hit[p].mean())
    return out


class MuPoTSRootScoring(RootScoring):
    """RootNet on MuPoTS-3D: AP_root^25 as RootNet's ``MuPoTS_eval`` computes it (the detections' scores where
    the bbox_root file has them, else 1), and MRPE against the GT pelvis where rows have ground truth."""

    metric = "AP_root^25"

    def __init__(self, annotations=None):
        self.annotations = annotations

    def score(self, samples: Samples, root_cam: np.ndarray) -> dict:
        from ...metrics import root_errors
        from .loader import read_annotations

        ann = self.annotations or read_annotations(Path(samples.source["annotation_file"]))
        coco = {"images": [{"id": int(i)} for i in ann.image_ids],
                "annotations": [{"image_id": int(i), "is_valid": int(v), "keypoints_cam": j}
                                for i, v, j in zip(ann.ann_image, ann.valid, ann.joints_cam)]}
        scores = samples.groups.get("score")
        scores = np.ones(len(samples)) if scores is None else np.asarray(scores, dtype=np.float64)
        ap = root_ap(samples.image_id.tolist(), root_cam, scores, coco, threshold_mm=AP_ROOT_THRESHOLD_MM)
        out: dict = {"metric": self.metric, "num_samples": len(samples),
                     "extra_metrics": {"AP_root^25 (%)": 100.0 * ap.ap}, "ap_root_25": 100.0 * ap.ap}
        gt = samples.joints_cam[:, official.ROOT]
        if np.isfinite(gt).all():
            out.update(root_errors(root_cam, gt))
        return out


__all__ = ["MODES", "MuPoTSRootScoring", "MuPoTSScoring", "evaluate_pair", "official_record", "prediction_pair",
           "to_mupots"]
