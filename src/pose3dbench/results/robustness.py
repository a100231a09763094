"""Robustness metrics under image corruptions (pure functions on results.json records).

Errors are the split's metric (its declaration's ``value`` field, e.g. MPJPE in mm; for a metric where higher is
better, e.g. 3DPCK, the error is 100 - value). For model m, corruption c, severity s:

- ``E[m, c, s]``: the error on corrupted crops; ``E_clean[m]``: the clean error of the same split.
- relative degradation ``(mean_s E[m, c, s] - E_clean[m]) / E_clean[m]``;
- corruption error ``CE[m, c] = sum_s E[m, c, s] / sum_s E[ref, c, s]`` (the ImageNet-C definition with the
  error in mm instead of the top-1 error), ``mCE[m] = mean_c CE[m, c]``; ``ref`` is the reference model
  (``--mce-reference``, default the first pose model), whose mCE is 1 by construction.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np


def declaration(results: dict, dataset: str, split: str) -> dict:
    """The scoring declaration of (dataset, split) in results.json ``settings.datasets``."""
    for d in results["settings"]["datasets"]:
        if d["name"] == dataset:
            return d["scoring"][split]
    raise KeyError(f"{dataset} is not a dataset of this results.json")


def error_of(record: dict, decl: dict) -> float:
    """The error of a record: its metric value, or 100 - value for a percentage where higher is better."""
    v = float(record[decl["value"]])
    return v if decl.get("lower_is_better", True) else 100.0 - v


def corruption_table(results: dict, dataset: str, split: str, reference: str | None = None) -> dict:
    """Per model: clean error, E[c][s], relative degradation per corruption, CE per corruption, mCE.

    Returns ``{"reference", "corruptions", "severities", "models": {name: {...}}}``; models without a
    clean evaluation of the same (dataset, split, root) or without every (corruption, severity) of the run
    are left out (listed in ``incomplete``). Errors (``clean_mm``, ``errors_mm``) are in the split's unit.
    """
    evs = [e for e in results.get("corruption_evaluations", []) if (e["dataset"], e["split"]) == (dataset, split)]
    if not evs:
        return {"reference": None, "corruptions": [], "severities": [], "models": {}, "incomplete": []}
    corruptions = list(dict.fromkeys(e["corruption"] for e in evs))
    severities = sorted({int(e["severity"]) for e in evs})
    root = evs[0]["root"]
    decl = declaration(results, dataset, split)
    clean = {e["model"]: error_of(e, decl) for e in results["evaluations"]
             if (e["dataset"], e["split"], e["root"]) == (dataset, split, root)}
    grid: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for e in evs:
        grid[e["model"]][e["corruption"]][int(e["severity"])] = error_of(e, decl)
    complete = [m for m in dict.fromkeys(e["model"] for e in evs)
                if m in clean and all(len(grid[m][c]) == len(severities) for c in corruptions)]
    incomplete = [m for m in grid if m not in complete]
    if not complete:
        return {"reference": None, "corruptions": corruptions, "severities": severities, "models": {},
                "incomplete": incomplete}
    ref = reference if reference in complete else complete[0]
    out = {}
    for m in complete:
        e_clean = clean[m]
        rel = {c: (float(np.mean([grid[m][c][s] for s in severities])) - e_clean) / e_clean for c in corruptions}
        ce = {c: sum(grid[m][c][s] for s in severities) / sum(grid[ref][c][s] for s in severities)
              for c in corruptions}
        out[m] = {"clean_mm": e_clean, "errors_mm": {c: dict(grid[m][c]) for c in corruptions},
                  "relative_degradation": rel, "ce": ce, "mce": float(np.mean(list(ce.values()))),
                  "mean_relative_degradation": float(np.mean(list(rel.values())))}
    return {"reference": ref, "root": root, "corruptions": corruptions, "severities": severities, "models": out,
            "incomplete": incomplete}


__all__ = ["corruption_table", "declaration", "error_of"]
