"""Paired bootstrap confidence intervals for mean per-sample errors (mm).

The bootstrap resamples *samples* (images) with replacement. A resample is represented by a vector
of multinomial counts over the N samples, so the resampled mean of every model is one matrix
product ``counts @ errors / N``; computing several models from the same counts makes the
resamples paired (each model sees the same images), which is what a fair difference needs.
Resamples are drawn in chunks so memory stays O(chunk x N) for any number of resamples.

Stratified (``strata``: one label per sample, e.g. MuPoTS-3D's sequence of each person): the statistic is the mean
over strata of the mean within each stratum (the papers' average over sequences), and each resample draws every
stratum's samples within that stratum, so each stratum keeps its size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 20240607
_CHUNK = 256


@dataclass(frozen=True)
class CI:
    """A point estimate with a percentile bootstrap interval (same unit as the data, e.g. mm)."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        """True when the interval does not contain 0 (the difference is significant at ``level``)."""
        return self.low > 0.0 or self.high < 0.0


def sample_weights(n: int, strata: np.ndarray | None = None) -> np.ndarray:
    """Weights (N,) summing to 1 such that ``weights @ values`` is the mean (no strata) or the mean over strata of
    the within-stratum means."""
    if strata is None:
        return np.full(n, 1.0 / n)
    _, inv, counts = np.unique(np.asarray(strata), return_inverse=True, return_counts=True)
    return 1.0 / (counts.size * counts[inv.reshape(-1)])


def bootstrap_means(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = DEFAULT_SEED, strata: np.ndarray | None = None) -> np.ndarray:
    """Resampled means of each column: ``values`` (N,) or (N, M) -> (n_resamples, M) float64.

    Every resample uses one set of multinomial counts for all M columns (paired); with ``strata`` (N,), counts
    are drawn within each stratum and the statistic is the mean over strata of the within-stratum means.
    Deterministic for a given ``seed``, N, strata and ``n_resamples``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"need a non-empty (N,) or (N, M) array of per-sample values, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("per-sample values contain NaN or inf")
    n = v.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, v.shape[1]), dtype=np.float64)
    if strata is None:
        p = np.full(n, 1.0 / n)
        for start in range(0, n_resamples, _CHUNK):
            stop = min(start + _CHUNK, n_resamples)
            counts = rng.multinomial(n, p, size=stop - start).astype(np.float64)  # (chunk, N)
            out[start:stop] = counts @ v / n
        return out
    strata = np.asarray(strata).reshape(-1)
    if strata.shape[0] != n:
        raise ValueError(f"{strata.shape[0]} strata labels for {n} samples")
    _, inv = np.unique(strata, return_inverse=True)
    groups = [np.flatnonzero(inv.reshape(-1) == k) for k in range(int(inv.max()) + 1)]
    w = sample_weights(n, strata)
    for start in range(0, n_resamples, _CHUNK):
        stop = min(start + _CHUNK, n_resamples)
        counts = np.zeros((stop - start, n))
        for idx in groups:
            counts[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=stop - start)
        out[start:stop] = (counts * w) @ v
    return out


def _interval(estimate: float, resampled: np.ndarray, level: float) -> CI:
    a = (1.0 - level) / 2.0
    low, high = np.quantile(resampled, [a, 1.0 - a])
    return CI(float(estimate), float(low), float(high), level)


def bootstrap_mean_ci(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = DEFAULT_SEED, level: float = 0.95, strata: np.ndarray | None = None) -> CI:
    """Percentile bootstrap CI of the mean of ``values`` (N,) (e.g. per-sample MPJPE in mm); with ``strata``, of the
    mean over strata of the within-stratum means."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    means = bootstrap_means(v, n_resamples, seed, strata)[:, 0]
    return _interval(float(sample_weights(v.size, strata) @ v), means, level)


def paired_bootstrap_diff_ci(a: np.ndarray, b: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                             seed: int = DEFAULT_SEED, level: float = 0.95, strata: np.ndarray | None = None) -> CI:
    """CI of mean(a) - mean(b) for per-sample errors of two models on the same N samples (paired; ``strata`` as
    in ``bootstrap_means``)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal lengths, got {a.shape[0]} and {b.shape[0]}")
    means = bootstrap_means(np.stack([a, b], axis=1), n_resamples, seed, strata)
    w = sample_weights(a.size, strata)
    return _interval(float(w @ a - w @ b), means[:, 0] - means[:, 1], level)


def match_by_image_id(ids: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Image ids common to every array in ``ids`` (sorted) and, per array, the row index of each.

    Raises ValueError if an array holds the same image id twice (a pairing would be ambiguous).
    """
    if not ids:
        raise ValueError("no arrays to match")
    common = np.asarray(ids[0]).reshape(-1)
    for arr in ids:
        arr = np.asarray(arr).reshape(-1)
        if np.unique(arr).size != arr.size:
            raise ValueError("image_id contains duplicates; samples cannot be paired")
        common = np.intersect1d(common, arr)
    rows = []
    for arr in ids:
        arr = np.asarray(arr).reshape(-1)
        order = np.argsort(arr, kind="stable")
        rows.append(order[np.searchsorted(arr, common, sorter=order)])
    return common, rows


@dataclass(frozen=True)
class PairwiseDiff:
    """Paired difference ``mean(error of a) - mean(error of b)`` in mm on ``num_samples`` shared images."""

    a: str
    b: str
    ci: CI
    num_samples: int


def group_bootstrap(per_sample: dict[str, tuple[np.ndarray, np.ndarray]], n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = DEFAULT_SEED, level: float = 0.95) -> tuple[dict[str, CI], list[PairwiseDiff]]:
    """CIs for several models evaluated on one split, and every pairwise difference.

    ``per_sample``: name -> (image_id (N_k,), per-sample error (N_k,) mm[, strata (N_k,)]). Each model's own CI
    uses all its samples; pairwise differences use the images common to both (matched by image id) and
    one shared set of resamples. Pairs with no common image are left out. With strata (the same label for the
    same id in every model), the statistic is the mean over strata of the within-stratum means.
    """
    names = list(per_sample)
    own: dict[str, CI] = {}
    diffs: list[PairwiseDiff] = []
    if not names:
        return own, diffs
    strata_of = {n: (np.asarray(per_sample[n][2]) if len(per_sample[n]) > 2 else None) for n in names}
    for name in names:
        ids, err = per_sample[name][:2]
        if np.asarray(ids).shape[0] != np.asarray(err).shape[0]:
            raise ValueError(f"{name}: {np.asarray(ids).shape[0]} image ids but {np.asarray(err).shape[0]} errors")
    common, rows = match_by_image_id([per_sample[n][0] for n in names])
    if all(len(per_sample[n][0]) == common.size for n in names):
        # Everyone scored the same images: one bootstrap for all models, all CIs and pairs from it.
        mat = np.stack([np.asarray(per_sample[n][1], dtype=np.float64)[r] for n, r in zip(names, rows)], axis=1)
        strata = None if strata_of[names[0]] is None else strata_of[names[0]][rows[0]]
        means = bootstrap_means(mat, n_resamples, seed, strata)
        est = sample_weights(mat.shape[0], strata) @ mat
        for i, name in enumerate(names):
            own[name] = _interval(float(est[i]), means[:, i], level)
            for j in range(i + 1, len(names)):
                ci = _interval(float(est[i] - est[j]), means[:, i] - means[:, j], level)
                diffs.append(PairwiseDiff(names[i], names[j], ci, int(common.size)))
        return own, diffs
    for name in names:
        own[name] = bootstrap_mean_ci(per_sample[name][1], n_resamples, seed, level, strata_of[name])
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            ids_i, err_i = per_sample[names[i]][:2]
            ids_j, err_j = per_sample[names[j]][:2]
            shared, (ri, rj) = match_by_image_id([ids_i, ids_j])
            if shared.size == 0:
                continue
            strata = None if strata_of[names[i]] is None else strata_of[names[i]][ri]
            ci = paired_bootstrap_diff_ci(np.asarray(err_i)[ri], np.asarray(err_j)[rj], n_resamples, seed, level,
                                          strata)
            diffs.append(PairwiseDiff(names[i], names[j], ci, int(shared.size)))
    return own, diffs
