"""Dataset-free pose metrics: per-joint errors under an alignment, group means, PCK and AUC, root errors.

Inputs are camera-frame millimetres, [N, J, 3] poses in one joint order (the caller maps joint sets first);
outputs are millimetres (errors) or percent (PCK, AUC). A dataset's scoring (``pose3dbench.data.<dataset>``)
chooses the alignment, the scored joints and the grouping; these functions only compute.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .align import aligned_errors, rigid_align, similarity_align

__all__ = ["ALIGNMENTS", "errors", "joint_errors", "group_means", "pck", "auc", "root_errors"]

#: how a prediction is aligned to the ground truth before the distance is taken
ALIGNMENTS = ("none", "root", "rigid", "similarity")


def joint_errors(pred: np.ndarray, gt: np.ndarray, root: int = 0, scored: int | None = None) -> np.ndarray:
    """Root-relative Euclidean error per sample and joint [N, scored] mm of [N,J,3] poses (the MPJPE terms):
    both poses are translated so that joint ``root`` coincides; ``scored``: the first joints kept (None: all)."""
    d = np.asarray(pred, dtype=np.float64) - np.asarray(gt, dtype=np.float64)
    d -= d[:, root:root + 1]
    if scored is not None:
        d = d[:, :scored]
    return np.sqrt(np.einsum("nji,nji->nj", d, d))


def errors(pred: np.ndarray, gt: np.ndarray, alignment: str = "root", *, root: int = 0,
           scored: int | None = None, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-sample, per-joint Euclidean errors [N, scored] mm of pred onto gt [N,J,3] camera mm.

    ``alignment``: ``none`` (absolute positions), ``root`` (joint ``root`` aligned: MPJPE), ``rigid``
    (rotation + translation fitted on all J joints after root alignment: the 3DMPPE PA-MPJPE) or
    ``similarity`` (rotation + translation + scale fitted on the scored joints). ``scored``: the first joints
    that are scored (None: all J). ``mask`` [N, scored] bool: joints not scored become NaN (use ``np.nanmean``).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(f"errors: pred {pred.shape} and gt {gt.shape} must both be [N, J, 3]")
    k = pred.shape[1] if scored is None else int(scored)
    if alignment == "none":
        d = (pred - gt)[:, :k]
        err = np.sqrt(np.einsum("nji,nji->nj", d, d))
    elif alignment == "root":
        err = joint_errors(pred, gt, root, k)
    elif alignment in ("rigid", "similarity"):
        rigid, scaled = aligned_errors(pred - pred[:, root:root + 1], gt - gt[:, root:root + 1], k)
        err = rigid if alignment == "rigid" else scaled
    else:
        raise ValueError(f"unknown alignment {alignment!r}; choose from {', '.join(ALIGNMENTS)}")
    if mask is not None:
        err = np.where(np.asarray(mask, dtype=bool), err, np.nan)
    return err


def group_means(values: np.ndarray, keys: np.ndarray, order: Iterable | None = None) -> dict:
    """Mean of ``values`` [N] per distinct key of ``keys`` [N] -> {key: mean}, in ``order`` (keys absent from the
    data are left out) or in sorted key order. Vectorised (one bincount)."""
    values = np.asarray(values, dtype=np.float64)
    keys = np.asarray(keys)
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=values, minlength=uniq.size)
    counts = np.bincount(inverse, minlength=uniq.size)
    means = {k.item() if hasattr(k, "item") else k: float(s / c) for k, s, c in zip(uniq, sums, counts)}
    if order is None:
        return means
    return {k: means[k] for k in order if k in means}


def pck(err: np.ndarray, threshold_mm: float = 150.0) -> float:
    """Percentage of joint errors (mm, any shape; NaN = not scored) at most ``threshold_mm``."""
    e = np.asarray(err, dtype=np.float64)
    e = e[np.isfinite(e)]
    return float(100.0 * np.mean(e <= threshold_mm)) if e.size else float("nan")


def auc(err: np.ndarray, thresholds_mm: Iterable[float] = tuple(range(0, 151, 5))) -> float:
    """Area under the PCK curve: the mean PCK (%) over ``thresholds_mm`` (default 0, 5, ..., 150 mm)."""
    return float(np.mean([pck(err, t) for t in thresholds_mm]))


def root_errors(pred_root, gt_root) -> dict:
    """Root position accuracy: MRPE (mean Euclidean distance) and mean |dX|, |dY|, |dZ|, camera mm [N,3]."""
    p = np.asarray(pred_root, dtype=np.float64)
    g = np.asarray(gt_root, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"root predictions {p.shape} and ground truth {g.shape} must both be (N, 3)")
    d = p - g
    return {
        "mrpe_mm": float(np.sqrt((d ** 2).sum(axis=1)).mean()),
        "x_mm": float(np.abs(d[:, 0]).mean()),
        "y_mm": float(np.abs(d[:, 1]).mean()),
        "z_mm": float(np.abs(d[:, 2]).mean()),
        "num_samples": int(p.shape[0]),
    }


__all__ += ["rigid_align", "similarity_align", "aligned_errors"]
