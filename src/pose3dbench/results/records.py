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
    """results.json ``evaluations[i]`` (or ``corruption_evaluations[i]``): one pose model on one split.

    ``metrics``: the dataset's record of the split (``data.dataset.Scored.record``: metric, its value, per group,
    per joint, ...; ``amp`` with ``--amp``). ``root``: the root source. ``corruption``: (name, severity) of an
    evaluation on corrupted crops, else None.
    """

    model: str
    dataset: str
    split: str
    root: str
    metrics: dict
    predictions: str
    data: dict
    timing: Timing
    corruption: tuple[str, int] | None = None

    def to_json(self) -> dict:
        out = {"model": self.model, **jsonable(self.metrics), "dataset": self.dataset, "split": self.split,
               "root": self.root}
        if self.corruption is not None:
            out.update(corruption=self.corruption[0], severity=int(self.corruption[1]))
        out.update(predictions=self.predictions, data=self.data, timing=self.timing.to_json())
        return out


@dataclass
class RootEvaluation:
    """results.json ``root_evaluations[i]``: a root-only model (RootNet) on one split with one box source.

    ``errors``: the dataset's root scoring (``data.dataset.RootScoring``: MRPE and its axes in mm, or the
    dataset's own metric); ``fields``: what the dataset adds to every record of the split.
    """

    model: str
    dataset: str
    split: str
    box: str
    errors: dict
    predictions: str
    data: dict
    timing: Timing
    fields: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"model": self.model, **self.fields, "dataset": self.dataset, "split": self.split, "root": self.box,
                **jsonable(self.errors), "predictions": self.predictions, "data": self.data,
                "timing": self.timing.to_json()}


__all__ = ["Evaluation", "ModelEntry", "RootEvaluation", "Timing", "jsonable"]
