"""Pareto front of (cost, error) points where lower is better on both axes."""
from __future__ import annotations

import numpy as np


def pareto_front(points) -> np.ndarray:
    """Indices of the non-dominated rows of ``points`` (N, 2) = (cost, error), sorted by cost.

    A point is dominated when another point is no worse on both axes and strictly better on one.
    Exact duplicates of a front point are all kept. Rows with NaN/inf are never on the front.
    Units are whatever the caller uses (e.g. ms and mm); only the order matters.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0:
        return np.zeros(0, dtype=np.int64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2) = (cost, error), got {p.shape}")
    ok = np.all(np.isfinite(p), axis=1)
    le = np.all(p[:, None, :] <= p[None, :, :], axis=2)   # le[j, i]: j no worse than i on both
    lt = np.any(p[:, None, :] < p[None, :, :], axis=2)    # lt[j, i]: j strictly better on one
    dominates = le & lt & ok[:, None] & ok[None, :]
    front = np.flatnonzero(ok & ~dominates.any(axis=0))
    return front[np.lexsort((p[front, 1], p[front, 0]))]
