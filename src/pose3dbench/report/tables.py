"""Report tables and captions built from a validated results dict (schema v1).

All errors are mm in camera space (MPJPE: root-aligned; PA-MPJPE: after a rigid alignment — rotation +
translation, no scale),
latency ms per image at batch 1, throughput images/s, params M, MACs G (10^9 multiply-adds).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from ..joints import H36M_ACTIONS
from ..protocols import PROTOCOLS, subjects_text
from .document import Table
from .stats import CI, PairwiseDiff

ROOT_LABELS = {"gt": "GT root", "rootnet": "RootNet root (file)", "rootnet-model": "RootNet root (model)"}
ROOT_SHORT = {"gt": "GT", "rootnet": "RootNet file", "rootnet-model": "RootNet model"}
#: the papers' column headings for the 15 Human3.6M actions (3DMPPE, ConvNeXtPose, MobileHumanPose tables)
ACTION_SHORT = {"Directions": "Dir.", "Discussion": "Disc.", "Eating": "Eat", "Greeting": "Greet",
                "Phoning": "Phone", "Posing": "Pose", "Purchases": "Purch.", "Sitting": "Sit",
                "SittingDown": "SitD.", "Smoking": "Smoke", "Photo": "Photo", "Waiting": "Wait",
                "Walking": "Walk", "WalkDog": "WalkD.", "WalkTogether": "WalkT."}
FAMILY_LABELS = {"convnextpose": "ConvNeXtPose", "posenet": "3DMPPE PoseNet", "rootnet": "3DMPPE RootNet",
                 "mobilehumanpose": "MobileHumanPose", "integral": "Integral Human Pose"}
#: a paired difference smaller than this (mm) is not called significant, whatever its CI (see pairwise_table)
PRACTICAL_THRESHOLD_MM = 0.5
METRIC_WORDS = {"MPJPE": "MPJPE (pelvis-aligned)",
                "PA-MPJPE": "PA-MPJPE (rigid alignment: rotation + translation, no scale)"}
ROOT_ORDER = {"gt": 0, "rootnet": 1, "rootnet-model": 2}
PROTOCOL_SUBJECTS = {p: subjects_text(p) for p in PROTOCOLS}
DASH = "—"

SplitKey = tuple[int, str, str]  # (protocol, root, metric)


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


def split_key(ev: dict) -> SplitKey:
    return (int(ev["protocol"]), str(ev["root"]), str(ev["metric"]))


def split_sort_key(key: SplitKey) -> tuple:
    p, root, metric = key
    return (p, 0 if metric == ("PA-MPJPE" if p == 1 else "MPJPE") else 1, ROOT_ORDER.get(root, 9), metric)


def split_label(key: SplitKey) -> str:
    p, root, metric = key
    return f"P{p} {metric}, {ROOT_LABELS.get(root, root)}"


def splits_of(results: dict) -> list[SplitKey]:
    """The (protocol, root, metric) combinations evaluated, protocol's own metric first, GT root first."""
    return sorted({split_key(ev) for ev in results["evaluations"]}, key=split_sort_key)


def primary_split(results: dict) -> SplitKey | None:
    """The split that orders the leaderboard: P2 MPJPE with GT root if present, else the first."""
    splits = splits_of(results)
    return (2, "gt", "MPJPE") if (2, "gt", "MPJPE") in splits else (splits[0] if splits else None)


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


def published_value(model: dict, key: SplitKey) -> float | None:
    """The published error (mm) for a split, from keys like p2_mpjpe_mm, p1_pa_mpjpe_mm, p2_mpjpe_rootnet_mm.

    PA-MPJPE with a RootNet root falls back to the GT-root key when no root-specific number exists.
    A number of another network (``published_comparable`` False) is returned too: callers show it as a
    reference without a Δ (see ``published_delta``).
    """
    p, root, metric = key
    base = f"p{p}_{metric.lower().replace('-', '_')}"
    pub = model.get("published", {})
    v = pub.get(base + ("_mm" if root == "gt" else "_rootnet_mm"))
    if v is None and metric == "PA-MPJPE":  # the Procrustes fit removes the root: papers give one number
        v = pub.get(base + "_mm")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def published_delta(model: dict, key: SplitKey, measured: float | None) -> float | None:
    """measured − published (mm) when the published number is this network's, else None."""
    pub = published_value(model, key)
    if measured is None or pub is None or not published_comparable(model):
        return None
    return float(measured) - pub


def fmt_published(model: dict, key: SplitKey) -> str:
    """The published number, with a dagger when it is another layout's (the caption explains the dagger)."""
    v = published_value(model, key)
    return DASH if v is None else fmt(v) + ("" if published_comparable(model) else " †")


def published_mrpe(model: dict, protocol: int) -> float | None:
    """Published MRPE (mm): ``p<protocol>_mrpe_mm``, or ``mrpe_mm`` (the papers' Protocol-2 number) for P2."""
    pub = model.get("published", {})
    v = pub.get(f"p{protocol}_mrpe_mm", pub.get("mrpe_mm") if protocol == 2 else None)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def published_mrpe_axes(model: dict, protocol: int) -> str:
    """Published per-axis root errors ``x / y / z`` (mm) from mrpe_{x,y,z}_mm (Protocol 2 only), else a dash."""
    pub = model.get("published", {})
    vals = [pub.get(f"p{protocol}_mrpe_{a}_mm", pub.get(f"mrpe_{a}_mm") if protocol == 2 else None) for a in "xyz"]
    if any(v is None or isinstance(v, bool) or not isinstance(v, (int, float)) for v in vals):
        return DASH
    return " / ".join(f"{float(v):.1f}" for v in vals)


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
    """The backend of a run as it ran: ``backend auto: onnxruntime (a, b), eager (c), onnxruntime within X``."""
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
    parity = [results["models"][n]["backend_choice"].get("parity_hm") for n in ran
              if (results["models"][n].get("backend_choice") or {}).get("parity_hm") is not None]
    if parity:
        text += f", onnxruntime within {max(parity):.0e} heatmap units of eager"
    return text


def provenance(results: dict, models: Iterable[str] | None = None, protocol: int | None = None,
               root: str | None = None, cost: bool = False) -> str:
    """How a figure/table was made, short: device, dtype, backend, batch, torch, weights, data, split.

    The full account (device name, threads, dataset path, versions, every model's weights) is the
    report's Provenance block (``provenance_items``); this short form ends every caption and is
    stamped into every PNG.
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
    if results["settings"]["dataset"]["synthetic"]:
        parts.append("SYNTHETIC data")
    if protocol is not None:
        parts.append(f"Protocol {protocol} ({PROTOCOL_SUBJECTS.get(protocol, '?')})"
                     + (f", {ROOT_LABELS.get(root, root)}" if root is not None else ""))
    return "[" + "; ".join(parts) + "]"


def provenance_items(results: dict) -> list[str]:
    """The report's one Provenance block: how every number, table and figure was produced."""
    env, st = results["environment"], results["settings"]
    ds = st["dataset"]
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
        items.append(f"Dataset {ds['path']} ({'SYNTHETIC' if ds['synthetic'] else 'Human3.6M, 3DMPPE format'}).")
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


# --- tables ------------------------------------------------------------------------------------

def _bold_extreme(rows: list[list[str]], col: int, lowest: bool = True) -> set[tuple[int, int]]:
    vals = []
    for r, row in enumerate(rows):
        try:
            vals.append((float(row[col]), r))
        except ValueError:
            continue
    if len(vals) < 2:
        return set()
    best = min(vals)[0] if lowest else max(vals)[0]
    return {(r, col) for v, r in vals if v == best}


def evaluations_by_split(results: dict) -> dict[SplitKey, dict[str, dict]]:
    out: dict[SplitKey, dict[str, dict]] = {}
    for ev in results["evaluations"]:
        out.setdefault(split_key(ev), {})[ev["model"]] = ev
    return out


def model_order(results: dict) -> list[str]:
    """Models ranked by their error on the primary split (unevaluated ones last, in file order)."""
    prim = primary_split(results)
    by_split = evaluations_by_split(results)
    rank = {m: ev["total_mm"] for m, ev in by_split.get(prim, {}).items()} if prim else {}
    names = list(results["models"])
    return sorted(names, key=lambda n: (n not in rank, rank.get(n, 0.0), names.index(n)))


def leaderboard_table(results: dict, caption: str) -> Table:
    """One row per (model, root source): measured / published / Δ for each protocol's metric, then cost.

    Models are ranked by the primary split; cost columns are filled on each model's first row. Δ is left
    out for untrained weights and for published numbers of another layout (†). The best measured value per
    column and root source, and the best cost, are bold. Merged runs (``results["runs"]``) get a Run column.
    Sized to fit a 1000-px page: throughput and memory are in the cost table.
    """
    by_split = evaluations_by_split(results)
    metrics = sorted({(p, metric) for p, _, metric in by_split}, key=lambda pm: split_sort_key((pm[0], "gt", pm[1])))
    evaluated = {ev["model"] for ev in results["evaluations"]}
    names = [n for n in model_order(results) if n in evaluated]
    merged = len(results.get("runs") or []) > 1
    cols = ["Model", "Weights", "Root"]
    group = [("", 3)]
    for p, metric in metrics:
        cols += ["measured (mm)", "published (mm)", "Δ (mm)"]
        group.append((f"P{p} {metric}", 3))
    cols += ["Params (M)", "GMACs (G)", "Latency b1 (ms)"]
    group.append(("Cost", 3))
    if merged:
        cols.append("Run")
        group.append(("", 1))
    rows: list[list[str]] = []
    row_root: list[str] = []
    first_rows: list[int] = []
    for n in names:
        m = results["models"][n]
        roots = sorted({r for (_, r, _), evs in by_split.items() if n in evs}, key=lambda r: ROOT_ORDER.get(r, 9))
        for k, root in enumerate(roots):
            row = [n, weights_label(m) if k == 0 else "", ROOT_SHORT.get(root, root)]
            runs = []
            for p, metric in metrics:
                ev = by_split.get((p, root, metric), {}).get(n)
                meas = ev["total_mm"] if ev else None
                delta = None if is_untrained(results, n) else published_delta(m, (p, root, metric), meas)
                row += [fmt(meas, 2), fmt_published(m, (p, root, metric)) if ev else DASH, fmt_signed(delta, 2)]
                if ev and ev.get("run") is not None and ev["run"] not in runs:
                    runs.append(ev["run"])
            if k == 0:
                c = cost_fields(m)
                row += [fmt(c["params_m"], 2), fmt(c["gmacs"], 2), fmt(c["latency_ms"], 1)]
                first_rows.append(len(rows))
            else:
                row += [""] * 3
            if merged:
                row.append(", ".join(str(r) for r in runs) or DASH)
            rows.append(row)
            row_root.append(root)
    bold: set[tuple[int, int]] = set()
    row_model = [r[0] for r in rows]
    for root in set(row_root):  # the best error among trained models: a random initialisation is never "best"
        idx = [i for i, r in enumerate(row_root) if r == root and not is_untrained(results, row_model[i])]
        for k in range(len(metrics)):
            bold |= {(idx[r], c) for r, c in _bold_extreme([rows[i] for i in idx], 3 + 3 * k)}
    base = 3 + 3 * len(metrics)
    for j in range(3):
        bold |= {(first_rows[r], c) for r, c in _bold_extreme([rows[i] for i in first_rows], base + j, True)}
    numeric = [False, False, False] + [True] * (3 * len(metrics) + 3) + ([False] if merged else [])
    return Table("Accuracy (mm) and cost per model", cols, rows, caption, numeric, bold, group, key="leaderboard",
                 fit=True)


def evaluations_table(results: dict, cis: dict[int, CI], caption: str,
                      scaled_cis: dict[int, CI] | None = None) -> Table:
    """Every evaluation with its bootstrap 95% CI (``cis`` is keyed by evaluation index).

    ``PA-MPJPE with scale``: the similarity fit (rotation + translation + scale), both protocols, with its
    own CI when the report could recompute per-image errors (``scaled_cis``).
    """
    scaled_cis = scaled_cis or {}
    scaled = any("pa_mpjpe_scaled_mm" in ev for ev in results["evaluations"])
    cols = ["Model", "Protocol", "Root", "Metric", "Error (mm)", "95% CI (mm)", "Action mean (mm)",
            "Published (mm)", "Δ (mm)"] + (["PA-MPJPE with scale (mm)", "its 95% CI (mm)"] if scaled else []) + [
            "Images", "Skipped", "Speed (img/s)"]
    order = {n: i for i, n in enumerate(model_order(results))}
    idx = sorted(range(len(results["evaluations"])),
                 key=lambda i: (split_sort_key(split_key(results["evaluations"][i])),
                                order.get(results["evaluations"][i]["model"], 0)))
    rows = []
    for i in idx:
        ev = results["evaluations"][i]
        m = results["models"][ev["model"]]
        delta = None if is_untrained(results, ev["model"]) else published_delta(m, split_key(ev), ev["total_mm"])
        skipped = sum(ev["skipped"].values())
        name = ev["model"] + (" *" if ev["approximate_joint_mapping"] else "")
        rows.append([name, f"P{ev['protocol']}", ROOT_LABELS.get(ev["root"], ev["root"]), ev["metric"],
                     fmt(ev["total_mm"], 2), fmt_ci(cis.get(i), 2), fmt(ev["action_mean_mm"], 2),
                     fmt_published(m, split_key(ev)), fmt_signed(delta, 2)]
                    + ([fmt(ev.get("pa_mpjpe_scaled_mm"), 2), fmt_ci(scaled_cis.get(i), 2)] if scaled else [])
                    + [str(ev["num_samples"]), str(skipped), fmt(ev["timing"]["images_per_s"], 1)])
    numeric = [False, False, False, False] + [True] * (len(cols) - 4)
    return Table("All evaluations", cols, rows, caption, numeric, key="evaluations")


def memory_methods(results: dict) -> list[str]:
    """Distinct ``peak_memory_kind`` descriptions (how peak memory was measured), for a caption."""
    kinds = [m["cost"]["peak_memory_kind"] for m in results["models"].values() if m.get("cost")]
    return sorted({k for k in kinds if k})


#: repeated latency samples whose 90th percentile lies this far above the median: timing noise, flagged
TIMING_NOISE = 0.25


def timing_spread(model: dict) -> float | None:
    """(p90 − median) / median of the batch-1 latency samples, or None when not measured."""
    c = model.get("cost")
    if not c or not c["latency_ms"]["median"]:
        return None
    return (c["latency_ms"]["p90"] - c["latency_ms"]["median"]) / c["latency_ms"]["median"]


def noisy_timing(results: dict) -> dict[str, float]:
    """Models whose latency samples spread by more than TIMING_NOISE: name -> spread (0.38 = 38%)."""
    out = {}
    for n, m in results["models"].items():
        spread = timing_spread(m)
        if spread is not None and spread > TIMING_NOISE:
            out[n] = spread
    return out


def cost_table(results: dict, caption: str) -> Table:
    """Measured cost per model (params M, GMACs G, latency ms, throughput img/s, memory MB) beside published.

    Published params/GMACs of another layout carry a dagger; a latency whose p90 is more than 25% above its
    median is flagged as noisy (a loaded machine or too few timed runs).
    """
    cols = ["Model", "Params (M)", "published (M)", "GMACs (G)", "published (G)", "Latency b1 median (ms)",
            "Latency b1 p90 (ms)", "Timing", "Throughput (img/s)", "at batch", "Peak memory (MB)", "Measured on"]
    rows = []
    for n in model_order(results):
        m = results["models"][n]
        c, pub, cost = cost_fields(m), m.get("published", {}), m.get("cost")
        where = f"{cost['device']} {cost['dtype']}" if cost else "not measured"
        dagger = "" if published_comparable(m) else " †"
        pub_cell = lambda k: fmt(pub.get(k), 2) + (dagger if pub.get(k) is not None else "")  # noqa: E731
        spread = timing_spread(m)
        timing = DASH if spread is None else (f"noisy (p90 +{spread:.0%})" if spread > TIMING_NOISE else "ok")
        rows.append([n, fmt(c["params_m"], 2), pub_cell("params_m"), fmt(c["gmacs"], 2), pub_cell("gmacs"),
                     fmt(c["latency_ms"], 2), fmt(c["latency_p90_ms"], 2), timing, fmt(c["throughput_ips"], 1),
                     str(c["throughput_batch"]) if c["throughput_batch"] is not None else DASH,
                     fmt(c["peak_memory_mb"], 0), where])
    bold = _bold_extreme(rows, 1) | _bold_extreme(rows, 3) | _bold_extreme(rows, 5) | _bold_extreme(rows, 8, False)
    numeric = [False] + [True] * 6 + [False] + [True] * 3 + [False]
    return Table("Cost", cols, rows, caption, numeric, bold, key="cost")


BOX_LABELS = {"gt": "GT boxes", "rootnet": "bbox_root file boxes"}


def root_table(results: dict, cis: dict[int, CI], caption: str) -> Table:
    """RootNet: mean root position error (MRPE, Euclidean mm) and its per-axis parts against published."""
    cols = ["Model", "Protocol", "Input boxes", "MRPE (mm)", "95% CI (mm)", "published MRPE (mm)", "Δ (mm)",
            "x (mm)", "y (mm)", "z (mm)", "published x / y / z (mm)", "Images"]
    rows = []
    for i, ev in enumerate(results["root_evaluations"]):
        pub = published_mrpe(results["models"][ev["model"]], ev["protocol"])
        delta = None if pub is None or is_untrained(results, ev["model"]) else ev["mrpe_mm"] - pub
        rows.append([ev["model"], f"P{ev['protocol']}", BOX_LABELS.get(ev.get("root"), DASH), fmt(ev["mrpe_mm"]),
                     fmt_ci(cis.get(i)), fmt(pub), fmt_signed(delta),
                     fmt(ev["x_mm"]), fmt(ev["y_mm"]), fmt(ev["z_mm"]),
                     published_mrpe_axes(results["models"][ev["model"]], ev["protocol"]), str(ev["num_samples"])])
    numeric = [False, False, False] + [True] * 9
    return Table("Root localisation (RootNet)", cols, rows, caption, numeric)


def action_names(evs: Iterable[dict]) -> list[str]:
    """Actions present in any evaluation, in Human3.6M action-index order (unknown names last)."""
    present = {a for ev in evs for a in ev["per_action_mm"]}
    known = [a for a in H36M_ACTIONS.values() if a in present]
    return known + sorted(present - set(known))


def joint_names(evs: Iterable[dict]) -> list[str]:
    """Joint names in the order of the first evaluation that lists them (then any others)."""
    out: list[str] = []
    for ev in evs:
        out += [j for j in ev["per_joint_mm"] if j not in out]
    return out


def per_action_table(key: SplitKey, evs: dict[str, dict], names: list[str], caption: str,
                     results: dict | None = None) -> Table:
    """The papers' shape: one row per model (grouped by family, published row under the measured one),
    columns the 15 actions (the papers' short names), the mean of the actions and the all-image total (mm)."""
    actions = action_names(evs.values())
    cols = ["Model"] + [ACTION_SHORT.get(a, a) for a in actions] + ["Avg (actions)", "All images"]
    models = (results or {}).get("models", {})
    groups: dict[str, list[str]] = {}
    for n in names:  # families in the order of their best-ranked model
        groups.setdefault(family_label(models.get(n, {})), []).append(n)
    rows: list[list[str]] = []
    measured: list[int] = []
    minor: set[int] = set()
    row_groups: list[tuple[int, str]] = []
    for label, members in groups.items():
        if len(groups) > 1:
            row_groups.append((len(rows), label))
        for n in members:
            ev = evs[n]
            measured.append(len(rows))
            rows.append([n + (" *" if ev.get("approximate_joint_mapping") else "")]
                        + [fmt(ev["per_action_mm"].get(a), 1) for a in actions]
                        + [fmt(ev["action_mean_mm"], 1), fmt(ev["total_mm"], 1)])
            m = models.get(n)
            if m is not None and published_value(m, key) is not None:
                rel = published_relation(m)
                minor.add(len(rows))
                rows.append([f"↳ published{' †' if rel else ''}"] + [DASH] * len(actions)
                            + [DASH, fmt_published(m, key)])
    bold = set()
    trained = [r for r, n in zip(measured, [n for members in groups.values() for n in members])
               if not (results and is_untrained(results, n))]
    for c in range(1, len(cols)):
        vals = [(float(rows[r][c]), r) for r in trained if rows[r][c] != DASH]
        if len(vals) > 1:
            best = min(vals)[0]
            bold |= {(r, c) for v, r in vals if v == best}
    return Table(f"{split_label(key)}: error per action", cols, rows, caption,
                 [False] + [True] * (len(cols) - 1), bold, row_groups=row_groups, minor_rows=minor,
                 key=f"actions-p{key[0]}-{key[1]}-{key[2].lower()}".replace(" ", "-"), fit=True)


def pairwise_table(key: SplitKey, diffs: list[PairwiseDiff], order: list[str], caption: str,
                   max_rows: int = 28, threshold_mm: float = PRACTICAL_THRESHOLD_MM) -> tuple[Table, str | None]:
    """Paired differences A − B (mm, 2 decimals), A the better-ranked model.

    Significant only when the 95% CI excludes 0 *and* |A − B| ≥ ``threshold_mm`` (a practical threshold:
    a CI can exclude 0 for a difference nobody would care about); "no (< 0.5 mm)" says which test failed.
    With more than ``max_rows`` pairs only neighbours in the ranking are listed (a note says so).
    """
    rank = {n: i for i, n in enumerate(order)}
    oriented = []
    for d in diffs:
        if rank.get(d.a, 0) <= rank.get(d.b, 0):
            oriented.append((d.a, d.b, d.ci, d.num_samples))
        else:
            ci = CI(-d.ci.estimate, -d.ci.high, -d.ci.low, d.ci.level)
            oriented.append((d.b, d.a, ci, d.num_samples))
    oriented.sort(key=lambda t: (rank.get(t[0], 0), rank.get(t[1], 0)))
    note = None
    if len(oriented) > max_rows:
        oriented = [t for t in oriented if abs(rank.get(t[0], 0) - rank.get(t[1], 0)) == 1]
        note = f"{len(diffs)} pairs in {split_label(key)}: only neighbours in the ranking are listed."
    cols = ["Model A", "Model B", "A − B (mm)", "95% CI (mm)",
            f"Significant (CI excludes 0, |A − B| ≥ {threshold_mm:g} mm)", "Shared images"]
    rows, bold = [], set()
    for r, (a, b, ci, n) in enumerate(oriented):
        big = abs(ci.estimate) >= threshold_mm
        if ci.excludes_zero and big:
            verdict = "yes"
            bold.add((r, 4))
        elif ci.excludes_zero:
            verdict = f"no (< {threshold_mm:g} mm)"
        else:
            verdict = "no (CI includes 0)"
        rows.append([a, b, fmt_signed(ci.estimate, 2), fmt_ci(ci, 2), verdict, str(n)])
    return Table(f"{split_label(key)}: paired differences", cols, rows, caption,
                 [False, False, True, True, False, True], bold), note


def runs_table(results: dict) -> Table:
    """The source runs of a merged report (``report --merge``): where each row of the leaderboard comes from."""
    cols = ["Run", "Folder", "Created (UTC)", "Device", "dtype", "Backend", "Batch", "Flip", "torch", "Dataset",
            "Subset"]
    rows = [[r["label"], r["path"], r["created_utc"], f"{r['device']} ({r['device_name']})", r["dtype"], r["backend"],
             str(r["batch_size"]), "on" if r["flip"] else "off", r["torch_version"], r["dataset"],
             r.get("subset") or "all images"] for r in results.get("runs") or []]
    return Table("Merged runs", cols, rows, "Each leaderboard row names the run(s) its numbers come from.",
                 [False] * 6 + [True] + [False] * 4, key="runs")


def summary_table(results: dict) -> str:
    """A plain-text summary of a run's evaluations (mm) and costs."""
    lines = []
    header = f"{'model':28s} {'P':>2s} {'root':>13s} {'metric':>9s} {'mm':>9s} {'published':>9s} {'img/s':>8s}"
    lines.append(header)
    lines.append("-" * len(header))
    for ev in results["evaluations"]:
        m = results["models"][ev["model"]]
        published = published_value(m, (ev["protocol"], ev["root"], ev["metric"]))  # the report's own rule
        if published is not None and not published_comparable(m):
            published = f"({published:g})"  # another layout's paper number: a reference, not this network's
        ips = ev.get("timing", {}).get("images_per_s")
        lines.append(f"{ev['model']:28s} {ev['protocol']:>2d} {ev['root']:>13s} {ev['metric']:>9s} "
                     f"{ev['total_mm']:9.2f} {published if published is not None else '-':>9} "
                     f"{(f'{ips:.1f}' if ips else 'cached'):>8s}")
    for ev in results["root_evaluations"]:
        pub = published_mrpe(results["models"][ev["model"]], ev["protocol"])  # RootNet's paper: Protocol 2 only
        lines.append(f"{ev['model']:28s} {ev['protocol']:>2d} {ev['root']:>13s} {'MRPE':>9s} "
                     f"{ev['mrpe_mm']:9.2f} {pub if pub is not None else '-':>9} {'':>8s}")
    return "\n".join(lines)
