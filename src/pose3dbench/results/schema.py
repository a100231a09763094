"""The results.json schema (version 2), its validator, and the upgrade of version-1 documents.

An evaluation is (model, dataset, split, root): the fields every record has are checked here, the dataset's
own fields (metrics, per group, per joint) by the dataset's ``Scoring.check_record`` when the dataset is
registered in this process. ``settings.datasets[i].scoring`` declares how the report reads each split's
records, so a report needs the results alone. Errors (``*_mm``) are millimetres in camera space; latency is
milliseconds, throughput images per second, parameters a count (``params``) or millions (``params_m``), MACs a
count or G (``gmacs``). ``validate_results`` raises ``ValueError`` whose message starts with the JSON path of
the bad field (``evaluations[2].per_action_mm.Eating: ...``). Version 1 (Human3.6M only: ``protocol`` per
record, ``settings.dataset``/``protocols``) is read through ``upgrade_document``.
"""
from __future__ import annotations

import copy
from typing import Any

from ..errors import DatasetError
from ..jsonspec import ANYDICT, BOOL, INT, ISOTIME, NUM, STR, Const, Enum, ListOf, MapOf, Nullable, Opt, check
from ..roots import BOX_SOURCES, ROOT_SOURCES

RESULTS_SCHEMA_VERSION = 2
#: the dataset every version-1 document was about
V1_DATASET = "h36m"

ROOTS = ROOT_SOURCES
WEIGHT_KINDS = ("untrained", "checkpoint", "custom")


_ENVIRONMENT = {
    "device": Enum("cpu", "cuda"), "device_name": STR, "torch_version": STR, "python_version": STR,
    "platform": STR, "threads": INT, "numpy_version": STR,
}
_DATASET = {
    "name": STR, "title": STR, "path": STR, "synthetic": BOOL, "synthetic_meta": Nullable(ANYDICT),
    "splits": ListOf(STR, 1), "bbox_root": Nullable(MapOf(STR)),
    # split -> how the report reads its records (data.dataset.Scoring.declaration)
    "scoring": MapOf(ANYDICT), "split_labels": Opt(MapOf(STR)), "primary_split": Opt(STR),
    "group_words": Opt(STR), "about": Opt(STR),
}
_SETTINGS = {
    "batch_size": INT, "flip": BOOL, "dtype": Enum("float32"), "workers": INT,
    "backend": Enum("auto", "eager", "onnxruntime"),
    "datasets": ListOf(_DATASET, 1), "roots": ListOf(Enum(*ROOTS), 1),
    # --limit-per-group N: the first N samples of every group of each split (Human3.6M: subject x action)
    "limit_per_group": Opt(Nullable(INT)),
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
_TIMING = {"images_per_s": NUM, "seconds": NUM, "device": STR, "batch_size": INT}
_EVALUATION = {  # every pose evaluation; the dataset's scoring checks the rest of the record
    "model": STR, "dataset": STR, "split": STR, "root": Enum(*ROOTS), "metric": STR, "num_samples": INT,
    # merged reports (report --merge): the index label of the run in ``runs`` this evaluation comes from
    "run": Opt(STR),
    "predictions": STR, "timing": _TIMING,
}
_ROOT_EVALUATION = {  # a root-only model (RootNet) on one split with one box source (``root``)
    "model": STR, "dataset": STR, "split": STR, "root": Opt(Enum(*BOX_SOURCES)), "metric": Opt(STR),
    "num_samples": INT, "predictions": STR, "timing": Opt(_TIMING),
    "run": Opt(STR),  # merged reports: the run it comes from
    # MRPE and its per-axis parts (data.dataset.RootScoring), where the dataset's root scoring gives them
    "mrpe_mm": Opt(NUM), "x_mm": Opt(NUM), "y_mm": Opt(NUM), "z_mm": Opt(NUM),
}
_WARNING = {"source": STR, "message": STR, "category": Opt(STR)}
_RUN = {  # one source run of a merged report (report --merge): provenance per row
    "label": STR, "path": STR, "created_utc": STR, "device": STR, "device_name": STR, "dtype": STR,
    "backend": STR, "batch_size": INT, "flip": BOOL, "torch_version": STR, "pose3dbench_version": STR,
    "dataset": STR, "subset": Nullable(STR),
}
_CORRUPTION_EVALUATION = {  # a pose evaluation on corrupted crops: an evaluation record plus what was corrupted
    "model": STR, "dataset": STR, "split": STR, "root": Enum(*ROOTS), "corruption": STR, "severity": INT,
    "metric": STR, "num_samples": INT, "predictions": STR,
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


def _scoring_of(dataset: str, split: str):
    """The registered dataset's scoring of ``split``, or None when that dataset is not known in this process."""
    from ..data.dataset import dataset_class

    try:
        return dataset_class(dataset).scoring(split)
    except (DatasetError, KeyError, ValueError):
        return None


def validate_results(obj: Any) -> None:
    """Check a parsed results.json object against schema version 2.

    Raises ``ValueError`` whose message begins with the path of the first bad field. Beyond types, checks
    cross-references: every evaluation names a model in ``models`` and a dataset and split of
    ``settings.datasets``; no (model, dataset, split, root) appears twice (root evaluations: model, dataset,
    split, box source ``root``); counts are non-negative; the dataset's own fields pass its scoring's check.
    Keys not in the schema are allowed (forward compatible).
    """
    if not isinstance(obj, dict):
        raise ValueError(f"<root>: expected a JSON object, got {type(obj).__name__}")
    version = obj.get("schema_version")
    if version != RESULTS_SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(f"schema_version: this pose3dbench reads version {RESULTS_SCHEMA_VERSION}, "
                         f"got {version!r}")
    check(obj, RESULTS_SPEC, "")
    models = obj["models"]
    splits = {(d["name"], s) for d in obj["settings"]["datasets"] for s in d["splits"]}
    scorings: dict[tuple[str, str], Any] = {}

    def known(p: str, ev: dict) -> None:
        if ev["model"] not in models:
            raise ValueError(f"{p}.model: {ev['model']!r} is not a key of models ({', '.join(models) or 'none'})")
        if (ev["dataset"], ev["split"]) not in splits and "run" not in ev:
            raise ValueError(f"{p}.split: {ev['dataset']} {ev['split']!r} is not a split of settings.datasets "
                             f"({', '.join(f'{d} {s}' for d, s in sorted(splits))})")
        if ev["num_samples"] < 0:
            raise ValueError(f"{p}.num_samples: must be >= 0, got {ev['num_samples']}")

    def dataset_check(p: str, ev: dict) -> None:
        key = (ev["dataset"], ev["split"])
        if key not in scorings:
            scorings[key] = _scoring_of(*key)
        if scorings[key] is not None:
            scorings[key].check_record(ev, p)

    for kind, fields in (("evaluations", ("model", "dataset", "split", "root")),
                         ("root_evaluations", ("model", "dataset", "split", "root")),
                         ("corruption_evaluations", ("model", "dataset", "split", "root", "corruption", "severity"))):
        seen: dict[tuple, int] = {}
        for i, ev in enumerate(obj.get(kind) or []):
            p = f"{kind}[{i}]"
            known(p, ev)
            key = tuple(ev.get(f) for f in fields) + ((ev["run"],) if "run" in ev else ())
            if key in seen:
                raise ValueError(f"{p}: duplicates {kind}[{seen[key]}] (same {', '.join(fields)})")
            seen[key] = i
            if kind != "root_evaluations":
                dataset_check(p, ev)
            else:
                for field in ("mrpe_mm", "x_mm", "y_mm", "z_mm"):
                    if isinstance(ev.get(field), (int, float)) and ev[field] < 0:
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


def upgrade_document(doc: Any) -> Any:
    """A results.json of schema version 1 (Human3.6M only) as version 2; other documents unchanged.

    Version 1 kept ``settings.dataset`` (path, synthetic), ``settings.protocols`` ([1, 2]), ``settings.bbox_root``
    (a path or {protocol: path}), ``limit_per_action`` and a ``protocol`` per record. Version 2 lists
    ``settings.datasets`` (with each split's scoring declaration) and gives every record its ``dataset`` and
    ``split`` (``p1``/``p2``; ``protocol`` stays, as Human3.6M records still carry it); the predictions files
    keep the names they were written with.
    """
    if not isinstance(doc, dict) or doc.get("schema_version") != 1:
        return doc
    from ..data.dataset import dataset_class

    out = copy.deepcopy(doc)
    st = out.get("settings") or {}
    cls = dataset_class(V1_DATASET)
    splits = [cls.split_name(str(p)) for p in st.pop("protocols", [1, 2])]
    ds = st.pop("dataset", None) or {}
    br = st.pop("bbox_root", None)
    if isinstance(br, dict):
        br = {cls.split_name(str(k)): v for k, v in br.items()}
    elif br:
        br = {s: br for s in cls.splits}
    if "limit_per_action" in st:
        st["limit_per_group"] = st.pop("limit_per_action")
    st["datasets"] = [{"name": cls.name, "title": cls.title, "path": ds.get("path", ""),
                       "synthetic": bool(ds.get("synthetic", False)), "synthetic_meta": ds.get("synthetic_meta"),
                       "splits": splits, "bbox_root": br or None,
                       "scoring": {s: cls.scoring(s).declaration() for s in cls.splits},
                       "split_labels": {s: cls.split_label(s) for s in cls.splits},
                       "primary_split": cls.primary_split or cls.default_splits[0],
                       "group_words": cls.group_words, "about": cls.about}]
    out["settings"] = st
    for kind in ("evaluations", "root_evaluations", "corruption_evaluations"):
        for ev in out.get(kind) or []:
            if isinstance(ev, dict) and "protocol" in ev:
                ev.setdefault("dataset", cls.name)
                ev.setdefault("split", cls.split_name(str(ev["protocol"])))
    out["schema_version"] = RESULTS_SCHEMA_VERSION
    return out
