"""RootNet's AP_root^25 on MuPoTS-3D, as the 3DMPPE RootNet repository computes it (our own numpy implementation).

RootNet's ``data/MuPoTS/MuPoTS.py`` ``evaluate`` turns each network output (x, y in heatmap units of the
processed box, z = absolute depth in mm) into camera coordinates (``rootnet_output_to_camera``), writes them to
``bbox_root_mupots_output.json`` (image_id, root_cam, bbox, score) and calls ``calculate_score(..., 250)`` of
``MuPoTS_eval.py``; ``root_ap`` reproduces that score. What the authors' code does, and so what we do:

1. Predictions are visited by descending score; equal scores keep their input order (Python's stable sort,
   ``reverse=True`` keeps stability). With ground-truth boxes every score is 1.0, so the order is the input order.
2. The number of ground-truth people is the number of annotations with ``is_valid == 1`` over the whole
   annotation file (every image of it, whether or not anything was predicted there).
3. A prediction on an image with no valid annotation (or none at all) is skipped: neither a true nor a false
   positive, and it adds no point to the precision/recall curve.
4. Each prediction is compared with the valid annotations of its image (the annotations in file order); the
   candidate is the nearest root (``keypoints_cam[14]``, the pelvis) by Euclidean distance, the first one on equal
   distances, and only among distances ``< 9999`` mm (the initial minimum in the authors' code): farther ones are
   never candidates, and a prediction without a candidate is a false positive.
5. True positive when the candidate is nearer than the threshold (``< 250`` mm, strict) and not yet taken by an
   earlier (higher-scored) prediction; otherwise a false positive. There is no fall-back to the second nearest
   root when the nearest one is taken.
6. After each counted prediction, precision = TP / (TP + FP) and recall = TP / #GT are appended.
7. ``AP = sum_{n >= 1} precision[n] * (recall[n] - recall[n-1])``, over consecutive points starting at the
   SECOND one: the first counted prediction's recall step (from 0) is never added, there is no precision
   interpolation and no final point. A single counted prediction gives AP = 0.

Where the authors' code crashes: an ``image_id`` not in the annotation file's images (``loadImgs`` KeyError) --
we raise ``PredictionsError``; no valid annotation at all with a counted prediction (ZeroDivisionError) cannot
happen, since then every prediction is skipped (AP 0); a NaN score makes Python's sort order undefined -- we
raise ``PredictionsError``. A NaN root never has a candidate (false positive), as in the authors' code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ...errors import PredictionsError

__all__ = ["ROOT_JOINT", "RootAPResult", "root_ap", "rootnet_output_to_camera"]

ROOT_JOINT = 14  # pelvis in MuPoTS-3D.json's keypoints_cam
DEFAULT_THRESHOLD_MM = 250.0
_NO_CANDIDATE_MM = 9999.0  # the authors' initial "min_dist"


@dataclass(frozen=True, eq=False)
class RootAPResult:
    """``ap`` in [0, 1] (the paper's AP_root^25 is ``100 * ap`` at 250 mm); the curve over the counted predictions:
    ``order`` [M] indices into the input in visiting order (skipped ones left out), ``true_positive`` [M] bool,
    ``matched_annotation`` [M] (index into the annotation list, -1 if none), ``distance_mm`` [M] (to the nearest
    candidate root, inf if none), ``precision`` / ``recall`` [M]; ``num_gt`` valid annotations, ``skipped``
    predictions on images without a valid annotation."""

    ap: float
    order: np.ndarray
    true_positive: np.ndarray
    matched_annotation: np.ndarray
    distance_mm: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    num_gt: int
    skipped: int
    threshold_mm: float

    def to_json(self) -> dict:
        return {"ap": self.ap, "threshold_mm": self.threshold_mm, "num_gt": self.num_gt, "skipped": self.skipped,
                "counted": int(self.order.shape[0]), "true_positives": int(self.true_positive.sum())}


def rootnet_output_to_camera(output: np.ndarray, bbox: np.ndarray, f: np.ndarray, c: np.ndarray,
                             output_shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    """RootNet's ``evaluate`` conversion: [N, 3] (x, y heatmap units, z mm) -> [N, 3] camera mm.

    ``x_img = x / output_shape[1] * bbox_w + bbox_x`` (y likewise with ``output_shape[0]``, ``bbox_h``) for the
    processed box [N, 4] (x, y, w, h pixels) the network saw; then ``X = (x_img - cx) / fx * z``,
    ``Y = (y_img - cy) / fy * z``, ``Z = z``; ``f``, ``c`` [N, 2] are the image's intrinsics. Computed in
    float64 (the authors' code rounds x_img, y_img to float32 when the network output is float32).
    """
    out = np.asarray(output, dtype=np.float64)
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
    f = np.asarray(f, dtype=np.float64).reshape(-1, 2)
    c = np.asarray(c, dtype=np.float64).reshape(-1, 2)
    x = out[:, 0] / output_shape[1] * bbox[:, 2] + bbox[:, 0]
    y = out[:, 1] / output_shape[0] * bbox[:, 3] + bbox[:, 1]
    z = out[:, 2]
    return np.stack([(x - c[:, 0]) / f[:, 0] * z, (y - c[:, 1]) / f[:, 1] * z, z], axis=1)


def _annotations_by_image(annotations: Mapping[str, Any]) -> tuple[dict, set, int]:
    images = {img["id"] for img in annotations.get("images", [])}
    by_image: dict[Any, list[tuple[int, bool, np.ndarray]]] = {}
    num_gt = 0
    for i, ann in enumerate(annotations.get("annotations", [])):
        valid = ann["is_valid"] == 1
        num_gt += bool(valid)
        root = np.asarray(ann["keypoints_cam"], dtype=np.float64)[ROOT_JOINT] if valid else None
        by_image.setdefault(ann["image_id"], []).append((i, valid, root))
    return by_image, images, num_gt


def root_ap(image_ids: Sequence[Any], roots_cam: np.ndarray, scores: Sequence[float],
            annotations: Mapping[str, Any], *, threshold_mm: float = DEFAULT_THRESHOLD_MM) -> RootAPResult:
    """AP of predicted roots against MuPoTS-3D.json, exactly as RootNet's ``calculate_score`` (module docstring).

    ``image_ids`` [N] (MuPoTS-3D.json image ids), ``roots_cam`` [N, 3] camera mm, ``scores`` [N];
    ``annotations``: the parsed MuPoTS-3D.json (``images`` and ``annotations`` with ``image_id``, ``is_valid``,
    ``keypoints_cam``). The entries of a ``bbox_root_mupots_output.json`` give the three sequences directly.
    """
    roots = np.asarray(roots_cam, dtype=np.float64).reshape(-1, 3)
    score_arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    ids = list(image_ids)
    if not (len(ids) == roots.shape[0] == score_arr.shape[0]):
        raise PredictionsError(f"root AP: {len(ids)} image ids, {roots.shape[0]} roots and {score_arr.shape[0]} "
                               "scores; they must have the same length")
    if np.isnan(score_arr).any():
        raise PredictionsError(f"root AP: NaN score at prediction {int(np.flatnonzero(np.isnan(score_arr))[0])}; "
                               "the authors' sort order is undefined with NaN")
    by_image, images, num_gt = _annotations_by_image(annotations)
    unknown = [i for i in ids if i not in images]
    if unknown:
        raise PredictionsError(f"root AP: image_id {unknown[0]!r} is not an image of the annotation file "
                               f"({len(unknown)} such predictions); the authors' code stops there (KeyError)")
    order_all = np.argsort(-score_arr, kind="stable")  # descending, ties in input order
    taken: dict[Any, set[int]] = {}
    order, tp, matched_ann, dist_out = [], [], [], []
    skipped = 0
    for n in order_all:
        anns = by_image.get(ids[n], [])
        valid = [(i, root) for i, ok, root in anns if ok]
        if not valid:
            skipped += 1
            continue
        gt_roots = np.stack([root for _, root in valid])
        dist = np.sqrt(np.sum((roots[n][None] - gt_roots) ** 2, axis=-1))
        dist = np.where(dist < _NO_CANDIDATE_MM, dist, np.inf)  # NaN and >= 9999 mm: never a candidate
        best = int(np.argmin(dist))  # first of equal minima
        is_tp = False
        ann_index = -1
        if math.isfinite(dist[best]):
            ann_index = valid[best][0]
            used = taken.setdefault(ids[n], set())
            if dist[best] < threshold_mm and ann_index not in used:
                used.add(ann_index)
                is_tp = True
        order.append(int(n))
        tp.append(is_tp)
        matched_ann.append(ann_index)
        dist_out.append(float(dist[best]))
    tp_arr = np.array(tp, dtype=bool)
    tp_acc = np.cumsum(tp_arr)
    counted = np.arange(1, tp_arr.shape[0] + 1)
    precision = tp_acc / counted
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp_acc / num_gt if num_gt else np.full(tp_arr.shape, math.nan)
    terms = precision[1:] * (recall[1:] - recall[:-1])
    ap = float(np.cumsum(terms)[-1]) if terms.size else 0.0  # left-to-right, as the authors' loop
    return RootAPResult(ap, np.array(order, dtype=np.int64), tp_arr, np.array(matched_ann, dtype=np.int64),
                        np.array(dist_out, dtype=np.float64), precision, recall, num_gt, skipped, float(threshold_mm))
