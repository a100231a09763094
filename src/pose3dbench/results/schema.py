"""The results.json schema (version 1) and its validator.

All errors (``*_mm``) are millimetres in camera space; latency is milliseconds, throughput images
per second, parameters a count (``params``) or millions (``params_m``), MACs a count or G (``gmacs``).
``validate_results`` raises ``ValueError`` whose message starts with the JSON path of the bad field
(``evaluations[2].per_action_mm.Eating: ...``).
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..protocols import BOX_SOURCES, METRICS, PROTOCOLS, ROOT_SOURCES

RESULTS_SCHEMA_VERSION = 1

ROOTS = ROOT_SOURCES
WEIGHT_KINDS = ("untrained", "checkpoint", "custom")


# --- tiny type-spec language -------------------------------------------------------------------
# A spec is one of: a Python type marker below, a tuple of allowed literal values (``Enum``), a
# dict {key: spec} (required keys; ``Opt(spec)`` marks an optional key), ``ListOf(spec)``,
# ``MapOf(spec)`` (str keys), ``Nullable(spec)``.

class _Int:  # int, not bool
    pass


class _Num:  # finite int or float, not bool
    pass


class _Str:
    pass


class _Bool:
    pass


class _AnyDict:
    pass


class _IsoTime:
    pass


class Opt:
    def __init__(self, spec):
        self.spec = spec


class Nullable:
    def __init__(self, spec):
        self.spec = spec


class ListOf:
    def __init__(self, spec, min_len: int = 0):
        self.spec = spec
        self.min_len = min_len


class MapOf:
    def __init__(self, spec):
        self.spec = spec


class Enum:
    def __init__(self, *values):
        self.values = values


class Const:
    def __init__(self, value):
        self.value = value


INT, NUM, STR, BOOL, ANYDICT, ISOTIME = _Int, _Num, _Str, _Bool, _AnyDict, _IsoTime

_ENVIRONMENT = {
    "device": Enum("cpu", "cuda"), "device_name": STR, "torch_version": STR, "python_version": STR,
    "platform": STR, "threads": INT, "numpy_version": STR,
}
_SETTINGS = {
    "batch_size": INT, "flip": BOOL, "dtype": Enum("float32"), "workers": INT,
    "backend": Enum("auto", "eager", "onnxruntime"),
    "protocols": ListOf(Enum(*PROTOCOLS), 1), "roots": ListOf(Enum(*ROOTS), 1),
    "dataset": {"path": STR, "synthetic": BOOL, "synthetic_meta": Nullable(ANYDICT)},
    # --limit-per-action N: the first N images of every (subject, action) of each split
    "limit_per_action": Opt(Nullable(INT)),
}
_COST = {
    "params": INT, "params_m": NUM, "macs": INT, "flops": INT, "gmacs": NUM,
    "latency_ms": {"batch": Const(1), "median": NUM, "p90": NUM},
    "throughput_ips": {"batch": INT, "value": NUM},
    "peak_memory_mb": Nullable(NUM), "peak_memory_kind": STR, "device": STR, "dtype": STR,
}
_MODEL = {
    "spec": STR, "family": STR, "variant": STR, "config": ANYDICT,
    "weights": {"kind": Enum(*WEIGHT_KINDS), "path": Nullable(STR), "sha256": Nullable(STR),
                "epoch": Opt(Nullable(INT))},
    # a user label given with --model LABEL:=SPEC (the row's name everywhere); absent: the name is derived
    "label": Opt(STR),
    "published": ANYDICT,
    "cost": Nullable(_COST),
    # how crops became this model's input (pose3dbench.models.input); assumed: not stated by the model/file
    "input": Opt({"pixel_range": Enum("0-255", "0-1"), "channel_order": Enum("RGB", "BGR"),
                  "mean": ListOf(NUM, 3), "std": ListOf(NUM, 3), "flip_mirror": Enum("heatmap", "patch"),
                  "text": STR, "assumed": BOOL}),
}
_EVALUATION = {
    "model": STR, "protocol": Enum(*PROTOCOLS), "root": Enum(*ROOTS), "metric": Enum(*METRICS),
    "total_mm": NUM, "action_mean_mm": NUM, "per_action_mm": MapOf(NUM), "per_joint_mm": MapOf(NUM),
    "num_samples": INT, "skipped": MapOf(INT), "pa_mpjpe_scaled_mm": Opt(NUM),
    # the similarity-aligned (rotation + translation + scale) variant, broken down like the main metric
    "pa_mpjpe_scaled": Opt({"total_mm": NUM, "action_mean_mm": NUM, "per_action_mm": MapOf(NUM),
                            "per_joint_mm": MapOf(NUM)}),
    # merged reports (report --merge): the index label of the run in ``runs`` this evaluation comes from
    "run": Opt(STR),
    "approximate_joint_mapping": BOOL, "predictions": STR,
    "timing": {"images_per_s": NUM, "seconds": NUM, "device": STR, "batch_size": INT},
}
_ROOT_EVALUATION = {
    "model": STR, "protocol": Enum(*PROTOCOLS), "root": Opt(Enum(*BOX_SOURCES)),  # root: box source
    "mrpe_mm": NUM, "x_mm": NUM, "y_mm": NUM, "z_mm": NUM, "num_samples": INT, "predictions": STR,
    "timing": Opt({"images_per_s": NUM, "seconds": NUM, "device": STR, "batch_size": INT}),
    "run": Opt(STR),  # merged reports: the run it comes from
}
_WARNING = {"source": STR, "message": STR, "category": Opt(STR)}
_RUN = {  # one source run of a merged report (report --merge): provenance per row
    "label": STR, "path": STR, "created_utc": STR, "device": STR, "device_name": STR, "dtype": STR,
    "backend": STR, "batch_size": INT, "flip": BOOL, "torch_version": STR, "pose3dbench_version": STR,
    "dataset": STR, "subset": Nullable(STR),
}
_CORRUPTION_EVALUATION = {
    "model": STR, "protocol": Enum(*PROTOCOLS), "root": Enum(*ROOTS), "corruption": STR, "severity": INT,
    "metric": Enum(*METRICS), "total_mm": NUM, "action_mean_mm": NUM, "per_action_mm": MapOf(NUM),
    "per_joint_mm": MapOf(NUM), "num_samples": INT, "predictions": STR,
}
RESULTS_SPEC = {
    "schema_version": INT, "pose3dbench_version": STR, "created_utc": ISOTIME,
    "environment": _ENVIRONMENT, "settings": _SETTINGS, "models": MapOf(_MODEL),
    "evaluations": ListOf(_EVALUATION), "root_evaluations": ListOf(_ROOT_EVALUATION),
    "corruption_evaluations": Opt(ListOf(_CORRUPTION_EVALUATION)),
    # every warning of the run (checkpoint loading, data files), as the report's Notes show them
    "warnings": Opt(ListOf(_WARNING)),
    "runs": Opt(ListOf(_RUN)),
}


def _tname(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _check(value: Any, spec: Any, path: str) -> None:
    """Raise ValueError('<path>: ...') if ``value`` does not match ``spec``."""
    if isinstance(spec, Nullable):
        if value is not None:
            _check(value, spec.spec, path)
        return
    if spec is _Int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path}: expected an integer, got {_tname(value)} {value!r}")
    elif spec is _Num:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path}: expected a number, got {_tname(value)} {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{path}: expected a finite number, got {value!r}")
    elif spec is _Str:
        if not isinstance(value, str):
            raise ValueError(f"{path}: expected a string, got {_tname(value)} {value!r}")
    elif spec is _Bool:
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected true/false, got {_tname(value)} {value!r}")
    elif spec is _AnyDict:
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object, got {_tname(value)}")
    elif spec is _IsoTime:
        if not isinstance(value, str):
            raise ValueError(f"{path}: expected an ISO-8601 time string, got {_tname(value)}")
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{path}: {value!r} is not an ISO-8601 time (e.g. 2026-01-31T12:00:00+00:00)") from None
    elif isinstance(spec, Const):
        if isinstance(value, bool) or value != spec.value:
            raise ValueError(f"{path}: must be {spec.value!r}, got {value!r}")
    elif isinstance(spec, Enum):
        if isinstance(value, bool) or value not in spec.values or type(value) is float:
            raise ValueError(f"{path}: must be one of {list(spec.values)}, got {value!r}")
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise ValueError(f"{path}: expected a list, got {_tname(value)}")
        if len(value) < spec.min_len:
            raise ValueError(f"{path}: needs at least {spec.min_len} item(s)")
        for i, item in enumerate(value):
            _check(item, spec.spec, f"{path}[{i}]")
    elif isinstance(spec, MapOf):
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object, got {_tname(value)}")
        for key, item in value.items():
            _check(item, spec.spec, f"{path}.{key}")
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object, got {_tname(value)}")
        for key, sub in spec.items():
            sub_path = f"{path}.{key}" if path else key
            if key not in value:
                if isinstance(sub, Opt):
                    continue
                raise ValueError(f"{sub_path}: required field is missing")
            _check(value[key], sub.spec if isinstance(sub, Opt) else sub, sub_path)
    else:  # pragma: no cover - a bug in the spec itself
        raise TypeError(f"bad spec {spec!r} at {path}")


def validate_results(obj: Any) -> None:
    """Check a parsed results.json object against schema version 1.

    Raises ``ValueError`` whose message begins with the path of the first bad field. Beyond types,
    checks cross-references: every evaluation names a model in ``models``; no (model, protocol,
    root, metric) appears twice (root evaluations: model, protocol, box source ``root``); counts are
    non-negative; errors are >= 0 mm. Keys not in the schema are allowed (forward compatible).
    """
    if not isinstance(obj, dict):
        raise ValueError(f"<root>: expected a JSON object, got {_tname(obj)}")
    version = obj.get("schema_version")
    if version != RESULTS_SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(f"schema_version: this pose3dbench reads version {RESULTS_SCHEMA_VERSION}, "
                         f"got {version!r}")
    _check(obj, RESULTS_SPEC, "")
    models = obj["models"]
    seen: dict[tuple, int] = {}
    for i, ev in enumerate(obj["evaluations"]):
        p = f"evaluations[{i}]"
        if ev["model"] not in models:
            raise ValueError(f"{p}.model: {ev['model']!r} is not a key of models ({', '.join(models) or 'none'})")
        key = (ev["model"], ev["protocol"], ev["root"], ev["metric"])
        if key in seen:
            raise ValueError(f"{p}: duplicates evaluations[{seen[key]}] (same model, protocol, root, metric)")
        seen[key] = i
        if ev["num_samples"] < 0:
            raise ValueError(f"{p}.num_samples: must be >= 0, got {ev['num_samples']}")
        for field in ("total_mm", "action_mean_mm"):
            if ev[field] < 0:
                raise ValueError(f"{p}.{field}: an error in mm cannot be negative ({ev[field]})")
        for group in ("per_action_mm", "per_joint_mm"):
            for name, v in ev[group].items():
                if v < 0:
                    raise ValueError(f"{p}.{group}.{name}: an error in mm cannot be negative ({v})")
        for reason, n in ev["skipped"].items():
            if n < 0:
                raise ValueError(f"{p}.skipped.{reason}: must be >= 0, got {n}")
    seen_root: dict[tuple, int] = {}
    for i, ev in enumerate(obj["root_evaluations"]):
        p = f"root_evaluations[{i}]"
        if ev["model"] not in models:
            raise ValueError(f"{p}.model: {ev['model']!r} is not a key of models ({', '.join(models) or 'none'})")
        key = (ev["model"], ev["protocol"], ev.get("root"))
        if key in seen_root:
            raise ValueError(f"{p}: duplicates root_evaluations[{seen_root[key]}] (same model, protocol and boxes)")
        seen_root[key] = i
        for field in ("mrpe_mm", "x_mm", "y_mm", "z_mm"):
            if ev[field] < 0:
                raise ValueError(f"{p}.{field}: an error in mm cannot be negative ({ev[field]})")
    labels = {r["label"] for r in obj.get("runs") or []}
    for i, ev in enumerate(obj["evaluations"]):
        if "run" in ev and ev["run"] not in labels:
            raise ValueError(f"evaluations[{i}].run: {ev['run']!r} is not the label of an entry of runs "
                             f"({', '.join(sorted(labels)) or 'none'})")
    for name, m in models.items():
        cost = m["cost"]
        if cost is not None and cost["params"] < 0:
            raise ValueError(f"models.{name}.cost.params: must be >= 0, got {cost['params']}")
