"""How a results dict is described, for any dataset: split keys (dataset, split, root, metric), the datasets'
scoring declarations (``settings.datasets[i].scoring``: which record field holds a split's value, its unit and
direction), published numbers, weights labels, cost fields, and the provenance every caption ends with.
Nothing here knows a dataset.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from .stats import CI

ROOT_LABELS = {"gt": "GT root", "rootnet": "RootNet root (file)", "rootnet-model": "RootNet root (model)"}
ROOT_SHORT = {"gt": "GT", "rootnet": "RootNet file", "rootnet-model": "RootNet model"}
FAMILY_LABELS = {"convnextpose": "ConvNeXtPose", "posenet": "3DMPPE PoseNet", "rootnet": "3DMPPE RootNet",
                 "mobilehumanpose": "MobileHumanPose", "integral": "Integral Human Pose"}
#: a paired difference smaller than this (in the split's unit) is not called significant, whatever its CI
PRACTICAL_THRESHOLD_MM = 0.5
METRIC_WORDS = {"MPJPE": "MPJPE (pelvis-aligned)",
                "PA-MPJPE": "PA-MPJPE (rigid alignment: rotation + translation, no scale)"}
ROOT_ORDER = {"gt": 0, "rootnet": 1, "rootnet-model": 2}
DASH = "—"

SplitKey = tuple[str, str, str, str]  # (dataset, split, root, metric)


def fmt(v: Any, nd: int = 1) -> str:
    """Number with ``nd`` decimals, or an em dash for missing / non-finite values."""
    if v is None or isinstance(v, bool):
        return DASH
    try:
        f = float(v)
    except (TypeError, ValueError):
        return DASH
    return f"{f:.{nd}f}" if math.isfinite(f) else DASH


def fmt_signed(v: Any, nd: int = 1) -> str:
    s = fmt(v, nd)
    return s if s == DASH or s.startswith("-") else "+" + s


def fmt_ci(ci: CI | None, nd: int = 1) -> str:
    return DASH if ci is None else f"[{ci.low:.{nd}f}, {ci.high:.{nd}f}]"


# --- what the datasets declare ---------------------------------------------------------------------

def datasets_of(results: dict) -> list[dict]:
    """``settings.datasets`` (name, title, splits, scoring declarations, ...), in run order."""
    return list(results["settings"].get("datasets") or [])


def dataset_entry(results: dict, dataset: str) -> dict:
    for d in datasets_of(results):
        if d["name"] == dataset:
            return d
    return {"name": dataset, "title": dataset, "splits": [], "scoring": {}}


def declaration(results: dict, dataset: str, split: str) -> dict:
    """How a split's records are read (``data.dataset.Scoring.declaration``); a minimal one when not declared."""
    decl = dataset_entry(results, dataset).get("scoring", {}).get(split)
    return decl or {"metric": "", "unit": "", "lower_is_better": True, "value": "value", "groups": {}, "joints": None}


def decl_of(results: dict, key: SplitKey) -> dict:
    return declaration(results, key[0], key[1])


def value_of(results: dict, ev: dict) -> float | None:
    """The primary value of an evaluation record (its split's declared field)."""
    v = ev.get(declaration(results, ev["dataset"], ev["split"])["value"])
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def unit_of(results: dict, key: SplitKey) -> str:
    return decl_of(results, key).get("unit") or ""


def lower_is_better(results: dict, key: SplitKey) -> bool:
    return bool(decl_of(results, key).get("lower_is_better", True))


def split_key(ev: dict) -> SplitKey:
    return (str(ev["dataset"]), str(ev["split"]), str(ev["root"]), str(ev["metric"]))


def split_sort_key(results: dict):
    """Sort key of split keys: datasets in run order, splits in declared order, the split's metric first, GT
    root first."""
    order = {(d["name"], s): (i, j) for i, d in enumerate(datasets_of(results)) for j, s in enumerate(d["splits"])}

    def key(k: SplitKey) -> tuple:
        ds, split, root, metric = k
        own = decl_of(results, k).get("metric") == metric
        return (*order.get((ds, split), (99, 99)), 0 if own else 1, ROOT_ORDER.get(root, 9), metric)

    return key


def multi_dataset(results: dict) -> bool:
    return len({d["name"] for d in datasets_of(results)}) > 1


def split_words(results: dict, dataset: str, split: str) -> str:
    """Short name of a split (``P2``; prefixed with the dataset's title when the run has several)."""
    short = declaration(results, dataset, split).get("short") or split
    return f"{dataset_entry(results, dataset)['title']} {short}" if multi_dataset(results) else short


def split_label(key: SplitKey, results: dict) -> str:
    ds, split, root, metric = key
    return f"{split_words(results, ds, split)} {metric}, {ROOT_LABELS.get(root, root)}"


def splits_of(results: dict) -> list[SplitKey]:
    """The (dataset, split, root, metric) combinations evaluated, the split's own metric first, GT root first."""
    return sorted({split_key(ev) for ev in results["evaluations"]}, key=split_sort_key(results))


def primary_split(results: dict) -> SplitKey | None:
    """The split that orders the leaderboard: the first dataset's primary split with GT root if present."""
    splits = splits_of(results)
    for d in datasets_of(results):
        prim = d.get("primary_split")
        if prim:
            decl = declaration(results, d["name"], prim)
            key = (d["name"], prim, "gt", decl.get("metric", ""))
            if key in splits:
                return key
    return splits[0] if splits else None


# --- published numbers -----------------------------------------------------------------------------

def published_comparable(model: dict) -> bool:
    """False when the published numbers belong to a related paper network of another layout (e.g. the
    MobileHumanPose paper's L/S models beside the LPSKI built here): shown for reference, never with a Δ."""
    pub = model.get("published", {}) or {}
    return not (pub.get("comparable") is False or pub.get("paper_model"))


def published_relation(model: dict) -> str | None:
    """'paper network MobileHumanPose-L, different layout' when the numbers are not this network's, else None."""
    if published_comparable(model):
        return None
    pub = model.get("published", {}) or {}
    return f"paper network {pub.get('paper_model') or 'of another layout'}, different layout"


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def published_value(model: dict, key: SplitKey, results: dict) -> float | None:
    """The published number of a split: the model's ``published`` entry the split's declaration names for the
    root source (``published``: {root: key}); a root-independent metric (e.g. PA-MPJPE) falls back to the GT
    root's. A number of another network (``published_comparable`` False) is returned too: callers show it as a
    reference without a Δ (see ``published_delta``)."""
    ds, split, root, metric = key
    decl = declaration(results, ds, split)
    if decl.get("metric") != metric:
        return None
    keys = decl.get("published") or {}
    name = keys.get(root) or (keys.get("gt") if decl.get("root_independent") else None)
    return _number((model.get("published") or {}).get(name)) if name else None


def published_delta(model: dict, key: SplitKey, measured: float | None, results: dict) -> float | None:
    """measured − published (the split's unit) when the published number is this network's, else None."""
    pub = published_value(model, key, results)
    if measured is None or pub is None or not published_comparable(model):
        return None
    return float(measured) - pub


def fmt_published(model: dict, key: SplitKey, results: dict) -> str:
    """The published number, with a dagger when it is another layout's (the caption explains the dagger)."""
    v = published_value(model, key, results)
    return DASH if v is None else fmt(v) + ("" if published_comparable(model) else " †")


def published_root(model: dict, results: dict, dataset: str, split: str, what: str = "MRPE") -> float | None:
    """A published root-localisation number of a split (``root_published`` of its declaration: MRPE, its axes,
    or the dataset's own root metric)."""
    name = (declaration(results, dataset, split).get("root_published") or {}).get(what)
    return _number((model.get("published") or {}).get(name)) if name else None


def published_root_axes(model: dict, results: dict, dataset: str, split: str) -> str:
    """Published per-axis root errors ``x / y / z`` (mm), else a dash."""
    vals = [published_root(model, results, dataset, split, f"MRPE {a}") for a in "xyz"]
    if any(v is None for v in vals):
        return DASH
    return " / ".join(f"{v:.1f}" for v in vals)


def weights_label(model: dict) -> str:
    """``untrained``, or the weights' file name, epoch (when the file records one) and sha256 prefix."""
    w = model["weights"]
    if w["kind"] == "untrained":
        return "untrained"
    parts = [w["path"].replace("\\", "/").rsplit("/", 1)[-1]] if w.get("path") else [w["kind"]]
    if w.get("epoch") is not None:
        parts.append(f"epoch {w['epoch']}")
    sha = w.get("sha256")
    parts.append(sha[:8] if sha else "no sha256")
    return " · ".join(parts)


def is_untrained(results: dict, name: str) -> bool:
    m = results["models"].get(name)
    return bool(m) and m["weights"]["kind"] == "untrained"


def family_label(model: dict) -> str:
    return FAMILY_LABELS.get(model.get("family", ""), "Other models")


def cost_fields(model: dict) -> dict[str, float | None]:
    """Measured cost figures of one model (None where not measured)."""
    c = model.get("cost")
    if not c:
        return {"params_m": None, "gmacs": None, "latency_ms": None, "latency_p90_ms": None,
                "throughput_ips": None, "throughput_batch": None, "peak_memory_mb": None}
    return {"params_m": c["params_m"], "gmacs": c["gmacs"], "latency_ms": c["latency_ms"]["median"],
            "latency_p90_ms": c["latency_ms"]["p90"], "throughput_ips": c["throughput_ips"]["value"],
            "throughput_batch": c["throughput_ips"]["batch"], "peak_memory_mb": c["peak_memory_mb"]}


# --- captions ----------------------------------------------------------------------------------

def _weights_words(results: dict, names: list[str]) -> str:
    labels = {n: weights_label(results["models"][n]) for n in names if n in results["models"]}
    if not labels:
        return ""
    if all(v == "untrained" for v in labels.values()):
        return "weights: all untrained (random init)"
    if sum(v == "untrained" for v in labels.values()) > len(labels) / 2:
        return "weights: untrained except " + "; ".join(f"{n} {v}" for n, v in labels.items() if v != "untrained")
    if all(v != "untrained" for v in labels.values()) and len(labels) > 3:
        return "weights: released/checkpoint files (Weights column, Provenance)"
    return "weights: " + "; ".join(f"{n} {v}" for n, v in labels.items())


def _dtype_text(st: dict) -> str:
    """``float32``, or ``float32 weights under autocast bf16`` for a ``--amp`` run."""
    return st["dtype"] + (f" weights under autocast {st['amp']}" if st.get("amp") else "")


def backend_text(results: dict, names: Iterable[str] | None = None) -> str:
    """The backend of a run as it ran, and the fidelity bound it claims with what backs it: ``backend auto:
    onnxruntime (a, b), eager (c); onnxruntime within 1e-3 heatmap units of eager (measured max 2.1e-4 on 16 +
    16 crops)``; with the models that fell back to eager when a parity check failed."""
    st = results["settings"]
    names = list(results["models"]) if names is None else list(names)
    backend = st["backend"] + (" + torch.compile" if st.get("compile") else "")
    ran = {n: results["models"][n].get("backend", st["backend"]) for n in names if n in results["models"]}
    if st["backend"] != "auto" or not ran:
        return backend
    by: dict[str, list[str]] = {}
    for n, b in ran.items():
        by.setdefault(b, []).append(n)
    text = "backend auto: " + ", ".join(
        f"{b} ({'all' if len(v) == len(ran) else ', '.join(v)})" for b, v in sorted(by.items()))
    choices = {n: results["models"][n].get("backend_choice") or {} for n in ran}
    onnx = [c for n, c in choices.items() if ran[n] == "onnxruntime" and c.get("parity_hm") is not None]
    if onnx:
        bound = max(c.get("bound_hm", 1e-3) for c in onnx)
        crops = [c["first_batch"]["crops"] + c["second_sample"]["crops"] for c in onnx
                 if "first_batch" in c and "second_sample" in c]
        text += (f"; onnxruntime within {bound:g} heatmap units of eager (measured max "
                 f"{max(c['parity_hm'] for c in onnx):.1e}" + (f" on {max(crops)} crops per model" if crops else "")
                 + ")")
    fell = [n for n, c in choices.items() if ran[n] == "eager" and "first_batch" in c]
    if fell:
        text += f"; eager after a failed parity check: {', '.join(fell)}"
    return text


def any_synthetic(results: dict) -> bool:
    return any(d.get("synthetic") for d in datasets_of(results))


def provenance(results: dict, models: Iterable[str] | None = None, split: tuple | None = None,
               cost: bool = False) -> str:
    """How a figure/table was made, short: device, dtype, backend, batch, torch, weights, data, split.

    ``split``: (dataset, split) or (dataset, split, root, ...). The full account (device name, threads, dataset
    path, versions, every model's weights) is the report's Provenance block (``provenance_items``); this short
    form ends every caption and is stamped into every PNG.
    """
    env, st = results["environment"], results["settings"]
    names = list(results["models"]) if models is None else list(models)
    runs = results.get("runs") or []
    if len(runs) > 1:
        parts = [f"rows from {len(runs)} runs (Run column and Provenance)"]
    else:
        parts = [f"{env['device']} {_dtype_text(st)}, {backend_text(results, names)}, batch {st['batch_size']}, "
                 f"flip {'on' if st['flip'] else 'off'}, torch {env['torch_version']}"]
    if cost:
        devs = sorted({f"{m['cost']['device']} {m['cost']['dtype']}" for n, m in results["models"].items()
                       if n in names and m.get("cost")})
        if devs:
            parts.append("cost on " + ", ".join(devs))
    words = _weights_words(results, names)
    if words:
        parts.append(words)
    if any_synthetic(results):
        parts.append("SYNTHETIC data")
    if split is not None:
        ds, name = split[0], split[1]
        label = dataset_entry(results, ds).get("split_labels", {}).get(name, name)
        title = dataset_entry(results, ds)["title"]
        parts.append(f"{title} {label}" + (f", {ROOT_LABELS.get(split[2], split[2])}" if len(split) > 2 else ""))
    return "[" + "; ".join(parts) + "]"


def provenance_items(results: dict) -> list[str]:
    """The report's one Provenance block: how every number, table and figure was produced."""
    env, st = results["environment"], results["settings"]
    items = []
    runs = results.get("runs") or []
    if len(runs) > 1:
        for r in runs:
            items.append(f"Run {r['label']}: {r['path']} — created {r['created_utc']}, {r['device']} "
                         f"({r['device_name']}), {r['dtype']}, backend {r['backend']}, batch {r['batch_size']}, "
                         f"flip {'on' if r['flip'] else 'off'}, torch {r['torch_version']}, pose3dbench "
                         f"{r['pose3dbench_version']}; dataset {r['dataset']}"
                         + (f"; subset: {r['subset']}" if r.get("subset") else "") + ".")
    else:
        items.append(f"Device {env['device']} ({env['device_name']}), {env['threads']} threads; {_dtype_text(st)}; "
                     f"{backend_text(results)}; batch {st['batch_size']}; flip test {'on' if st['flip'] else 'off'}; "
                     f"torch {env['torch_version']}, numpy {env['numpy_version']}, Python {env['python_version']}, "
                     f"pose3dbench {results['pose3dbench_version']}; {env['platform']}.")
        for d in datasets_of(results):
            items.append(f"Dataset {d['title']}: {d['path']}{' (SYNTHETIC)' if d.get('synthetic') else ''}; "
                         f"splits {', '.join(d['splits'])}.")
    for n, m in results["models"].items():
        w = m["weights"]
        where = f" ({w['path']}, sha256 {w['sha256']})" if w.get("path") and w.get("sha256") else ""
        items.append(f"{n}: {m['variant']} ({family_label(m)}), weights {weights_label(m)}{where}; spec "
                     f"{m['spec']}; ran on {m.get('backend', st['backend'])}"
                     + (f" ({m['backend_choice']['reason']})" if (m.get("backend_choice") or {}).get("reason") else "")
                     + (f"; input {m['input']['text']}" if m.get("input") else "")
                     + (f"; cost measured on {m['cost']['device']} {m['cost']['dtype']}" if m.get("cost") else "")
                     + ".")
    items.append("Every caption ends with a short form of this: [device dtype, backend, batch, flip, torch; "
                 "weights; data; split]; every PNG carries it in its footer.")
    return items
