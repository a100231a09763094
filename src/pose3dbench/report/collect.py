"""What a report shows, read from ``out_dir/results.json`` and ``out_dir/predictions/*.npz``: the validated results,
the predictions, every bootstrap CI and pairwise difference.

Per-sample values come from the predictions files (``per_sample``: the split's metric per row, in its unit;
``per_sample_mm`` in files of earlier versions); a declared variant of a metric (e.g. the similarity-aligned
PA-MPJPE) has its own per-sample array (``per_sample`` of the variant's declaration). Root (MRPE) CIs need the
ground-truth roots, so they are computed only when the splits' samples are given.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PredictionsError, ResultsError
from ..joints import get_joint_set
from ..results.predictions import Predictions
from ..results.predictions import load_predictions as read_predictions
from ..results.schema import upgrade_document, validate_results
from . import tables as T
from .stats import (CI, DEFAULT_RESAMPLES, DEFAULT_SEED, PairwiseDiff, bootstrap_mean_ci, group_bootstrap,
                    match_by_image_id)


@dataclass
class ReportData:
    """Everything the report shows. Predictions are ``results.predictions.Predictions`` (camera mm, ids)."""

    out_dir: Path
    results: dict
    predictions: dict[int, Predictions] = field(default_factory=dict)   # evaluation index ->
    cis: dict[int, CI] = field(default_factory=dict)                    # evaluation index ->
    root_cis: dict[int, CI] = field(default_factory=dict)               # root evaluation index ->
    diffs: dict[T.SplitKey, list[PairwiseDiff]] = field(default_factory=dict)
    variant_cis: dict[int, CI] = field(default_factory=dict)            # evaluation index -> CI of the variant
    #: models left out of the paired differences (untrained weights: a difference between two random
    #: initialisations tests nothing)
    untrained: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_results(out_dir: Path) -> dict:
    """Read, upgrade (schema v1 -> v2) and validate ``out_dir/results.json``; ResultsError naming the file and fix."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        raise ResultsError(f"{path} not found: run `pose3dbench run --out {out_dir}` first, "
                           f"or pass the folder that holds results.json")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is not readable JSON ({exc}); re-run `pose3dbench run --out {out_dir}`") from None
    try:
        obj = upgrade_document(obj)
        validate_results(obj)
    except (ValueError, KeyError, TypeError) as exc:
        raise ResultsError(f"{path}: {exc}. Fix that field or re-run `pose3dbench run --out {out_dir}` "
                           f"with this pose3dbench version") from None
    return obj


def load_predictions(out_dir: Path, rel: str, num_samples: int | None, kind: str = "pose") -> Predictions | None:
    """Load one predictions file named in results.json (path relative to ``out_dir``); None if absent.

    Raises PredictionsError (naming the file) when it is unreadable, of the other kind (pose vs
    root-only), or holds a number of samples other than ``num_samples``.
    """
    path = Path(out_dir) / rel
    if not path.is_file():
        return None
    p = read_predictions(path)
    fix = f"delete it and re-run `pose3dbench run --out {out_dir}` to regenerate it"
    if p.format != "npz":
        raise PredictionsError(f"{path}: not a pose3dbench predictions file written by `pose3dbench run` "
                               f"({p.format}); {fix}")
    if p.kind != kind:
        raise PredictionsError(f"{path} holds {p.kind} predictions but results.json lists it as a {kind} "
                               f"evaluation; {fix}")
    if num_samples is not None and len(p) != num_samples:
        raise PredictionsError(f"{path} holds {len(p)} samples but results.json says num_samples="
                               f"{num_samples}; {fix}")
    if p.per_row is not None and not np.all(np.isfinite(p.per_row)):
        raise PredictionsError(f"{path}: its per-sample values contain NaN or inf; {fix}")
    return p


def _gt_split(samples_by_split, dataset: str, split: str, root: str | None):
    """The samples of (dataset, split, root) if given, else any of (dataset, split) (the ground truth of a sample
    does not depend on the root source)."""
    splits = samples_by_split or {}
    s = splits.get((dataset, split, root))
    if s is not None and len(s):
        return s
    for (d, sp, _), s in splits.items():
        if (d, sp) == (dataset, split) and s is not None and len(s):
            return s
    return None


def collect(out_dir: Path, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
            samples_by_split: dict | None = None) -> ReportData:
    """Load results + predictions and compute every bootstrap CI and pairwise difference.

    ``samples_by_split``: {(dataset, split, root): Samples}, for the root (MRPE) CIs.
    """
    out_dir = Path(out_dir)
    data = ReportData(out_dir, load_results(out_dir))
    res = data.results
    for i, ev in enumerate(res["evaluations"]):
        p = load_predictions(out_dir, ev["predictions"], ev["num_samples"])
        key = T.split_key(ev)
        where = f"{ev['model']} ({T.split_label(key, res)})"
        if p is None:
            data.notes.append(f"{ev['predictions']} is missing: no confidence interval for {where}.")
            continue
        data.predictions[i] = p
        value, unit = T.value_of(res, ev), T.unit_of(res, key)
        if p.per_row is None:
            data.notes.append(f"{ev['predictions']} has no per-sample values: no confidence interval for {where}.")
        elif p.per_row.size and value is not None and T.decl_of(res, key).get("value_is_mean", True):
            mean = float(p.per_row.mean())
            if abs(mean - value) > 0.05 + 1e-4 * abs(value):
                data.notes.append(f"Inconsistent: the mean of the per-sample values in {ev['predictions']} is "
                                  f"{mean:.2f} {unit} but results.json says {value:.2f} {unit}.")
    for key in T.splits_of(res):
        decl = T.decl_of(res, key)
        if decl.get("unit_bootstrap"):  # the value is a stratified mean over the metric's units (e.g. people)
            members = {res["evaluations"][i]["model"]: (p.unit_id, p.unit_value, p.unit_stratum)
                       for i, p in data.predictions.items()
                       if T.split_key(res["evaluations"][i]) == key and p.unit_value is not None and p.unit_value.size}
        elif decl.get("value_is_mean", True):
            members = {res["evaluations"][i]["model"]: (p.key, p.per_row) for i, p in data.predictions.items()
                       if T.split_key(res["evaluations"][i]) == key and p.per_row is not None and p.per_row.size}
        else:
            continue  # the value is not a mean over samples: a bootstrap of the mean would be another statistic
        if not members:
            continue
        own, diffs = group_bootstrap(members, n_resamples, seed)
        for i in data.predictions:
            ev = res["evaluations"][i]
            if T.split_key(ev) == key and ev["model"] in own:
                data.cis[i] = own[ev["model"]]
        data.diffs[key] = [d for d in diffs if not (T.is_untrained(res, d.a) or T.is_untrained(res, d.b))]
    data.untrained = [n for n in res["models"] if T.is_untrained(res, n)]
    _variant_cis(data, n_resamples, seed)
    _root_cis(data, samples_by_split, n_resamples, seed)
    return data


def _variant_cis(data: ReportData, n_resamples: int, seed: int) -> None:
    """Bootstrap CIs of each declared variant of a metric, from its per-sample array in the predictions file."""
    res = data.results
    for i, p in data.predictions.items():
        ev = res["evaluations"][i]
        for fld, v in (T.decl_of(res, T.split_key(ev)).get("variants") or {}).items():
            arr_name = v.get("per_sample") if isinstance(v, dict) else None
            values = getattr(p, arr_name, None) if arr_name else None
            if fld in ev and values is not None and np.size(values):
                data.variant_cis[i] = bootstrap_mean_ci(values, n_resamples, seed)


def _root_cis(data: ReportData, samples_by_split: dict | None, n_resamples: int, seed: int) -> None:
    """MRPE CIs of root evaluations: Euclidean root errors against each sample's GT root joint (mm)."""
    res = data.results
    for i, ev in enumerate(res["root_evaluations"]):
        if not isinstance(ev.get("mrpe_mm"), (int, float)):
            continue
        gt = _gt_split(samples_by_split, ev["dataset"], ev["split"], ev.get("root"))
        if gt is None:
            continue
        p = load_predictions(data.out_dir, ev["predictions"], ev["num_samples"], kind="root")
        if p is None or not len(p):
            continue
        common, (rp, rg) = match_by_image_id([p.key, gt.sample_id])
        if common.size:
            root = get_joint_set(gt.joint_set).root
            err = np.linalg.norm(p.root_cam[rp] - gt.joints_cam[rg, root], axis=1)  # Euclidean root error, mm
            data.root_cis[i] = bootstrap_mean_ci(err, n_resamples, seed)
            if abs(float(err.mean()) - ev["mrpe_mm"]) > 0.05 + 1e-4 * ev["mrpe_mm"]:
                data.notes.append(f"Inconsistent: {ev['predictions']} against the dataset's GT root gives MRPE "
                                  f"{err.mean():.2f} mm but results.json says mrpe_mm={ev['mrpe_mm']:.2f} mm.")


__all__ = ["ReportData", "collect", "load_predictions", "load_results"]
