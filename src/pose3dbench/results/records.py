"""Typed records of results.json: what a run writes per model and per evaluation (``to_json`` -> the schema).

Units: errors ``*_mm`` millimetres in camera space, ``seconds`` wall-clock, ``images_per_s`` end-to-end
images per second. ``data`` is the fingerprint of the dataset files a split was read from
(``data.fingerprint``); ``predictions`` the file's path relative to the run folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def jsonable(d: dict) -> dict:
    """``d`` with numpy arrays and scalars (also in nested dicts) turned into lists and Python numbers."""
    out = {}
    for k, v in d.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, (np.floating, np.integer)):
            v = v.item()
        elif isinstance(v, dict):
            v = jsonable(v)
        out[k] = v
    return out


@dataclass
class Timing:
    """How fast an evaluation ran: ``images_per_s`` end to end (decode, crop, forward incl. flip)."""

    images_per_s: float
    seconds: float
    device: str
    batch_size: int
    computed_images: int | None = None
    note: str | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"images_per_s": float(self.images_per_s), "seconds": self.seconds,
                               "device": self.device, "batch_size": self.batch_size}
        if self.computed_images is not None:
            out["computed_images"] = self.computed_images
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass
class ModelEntry:
    """results.json ``models[name]``: what ran (spec, config, weights, input convention, backend) and its cost."""

    spec: str
    family: str
    variant: str
    config: dict
    weights: dict  # kind (untrained | checkpoint | custom), path, sha256, epoch
    published: dict
    cost: dict | None
    input: dict
    backend: str
    backend_choice: dict
    identity: dict  # what must be equal for a previous result to be re-used
    label: str | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"spec": self.spec, "family": self.family, "variant": self.variant,
                               "config": self.config, "weights": self.weights}
        if self.label:
            out["label"] = self.label
        out.update({"published": self.published, "cost": self.cost, "input": self.input,
                    "backend": self.backend, "backend_choice": self.backend_choice, "_identity": self.identity})
        return out


@dataclass
class Evaluation:
    """results.json ``evaluations[i]``: one pose model on one (protocol, root) split.

    ``metrics``: ``results.metrics.evaluate_pose``'s output without its per-sample array (protocol, root,
    metric, total_mm, per_action_mm, per_joint_mm, ...; ``amp`` with ``--amp``).
    """

    model: str
    metrics: dict
    predictions: str
    data: dict
    timing: Timing

    def to_json(self) -> dict:
        return {"model": self.model, **jsonable(self.metrics), "predictions": self.predictions, "data": self.data,
                "timing": self.timing.to_json()}


@dataclass
class RootEvaluation:
    """results.json ``root_evaluations[i]``: a RootNet model on one (protocol, box source) split (MRPE, mm)."""

    model: str
    protocol: int
    root: str  # the box source
    errors: dict  # results.metrics.root_errors
    predictions: str
    data: dict
    timing: Timing

    def to_json(self) -> dict:
        return {"model": self.model, "protocol": self.protocol, "root": self.root, **self.errors,
                "predictions": self.predictions, "data": self.data, "timing": self.timing.to_json()}


@dataclass
class CorruptionEvaluation:
    """results.json ``corruption_evaluations[i]``: a pose model on corrupted crops (one corruption, severity)."""

    model: str
    corruption: str
    severity: int
    metrics: dict
    predictions: str
    keys: tuple = field(default=("metric", "total_mm", "action_mean_mm", "per_action_mm", "per_joint_mm",
                                 "num_samples"), repr=False)

    def to_json(self) -> dict:
        m = self.metrics
        return {"model": self.model, "protocol": m["protocol"], "root": m["root"], "corruption": self.corruption,
                "severity": int(self.severity), **{k: m[k] for k in self.keys}, "predictions": self.predictions}


__all__ = ["CorruptionEvaluation", "Evaluation", "ModelEntry", "RootEvaluation", "Timing", "jsonable"]
