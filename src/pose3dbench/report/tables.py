"""Report tables and captions built from a validated results dict (schema v1).

All errors are mm in camera space (MPJPE: root-aligned; PA-MPJPE: after Procrustes alignment),
latency ms per image at batch 1, throughput images/s, params M, MACs G (10^9 multiply-adds).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from ..joints import H36M_ACTIONS
from .document import Table
from .stats import CI, PairwiseDiff

ROOT_LABELS = {"gt": "GT root", "rootnet": "RootNet root (file)", "rootnet-model": "RootNet root (model)"}
ROOT_ORDER = {"gt": 0, "rootnet": 1, "rootnet-model": 2}
PROTOCOL_SUBJECTS = {1: "S11", 2: "S9, S11"}
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


def published_value(model: dict, key: SplitKey) -> float | None:
    """The published error (mm) for a split, from keys like p2_mpjpe_mm, p1_pa_mpjpe_mm, p2_mpjpe_rootnet_mm.

    PA-MPJPE with a RootNet root falls back to the GT-root key when no root-specific number exists.
    """
    p, root, metric = key
    base = f"p{p}_{metric.lower().replace('-', '_')}"
    pub = model.get("published", {})
    v = pub.get(base + ("_mm" if root == "gt" else "_rootnet_mm"))
    if v is None and metric == "PA-MPJPE":  # the Procrustes fit removes the root: papers give one number
        v = pub.get(base + "_mm")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


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
    w = model["weights"]
    if w["kind"] == "untrained":
        return "untrained"
    sha = w.get("sha256")
    return f"{w['kind']} {sha[:8]}" if sha else f"{w['kind']} (no sha256)"


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

def provenance(results: dict, models: Iterable[str] | None = None, protocol: int | None = None,
               root: str | None = None, cost: bool = False) -> str:
    """How a figure/table was made: device, dtype, batch, weights, dataset, protocol, root, torch."""
    env, st = results["environment"], results["settings"]
    names = list(results["models"]) if models is None else list(models)
    backend = st["backend"] + (" + torch.compile" if st.get("compile") else "")
    ran = {n: results["models"][n].get("backend", st["backend"]) for n in names if n in results["models"]}
    if st["backend"] == "auto" and ran:
        by: dict[str, list[str]] = {}
        for n, b in ran.items():
            by.setdefault(b, []).append(n)
        backend = "backend auto: " + ", ".join(
            f"{b} ({'all' if len(v) == len(ran) else ', '.join(v)})" for b, v in sorted(by.items()))
        parity = [results["models"][n]["backend_choice"].get("parity_hm") for n in ran
                  if (results["models"][n].get("backend_choice") or {}).get("parity_hm") is not None]
        if parity:
            backend += f", onnxruntime within {max(parity):.0e} heatmap units of eager"
    dtype = st["dtype"] + (f" weights under autocast {st['amp']}" if st.get("amp") else "")
    parts = [f"Device {env['device']} ({env['device_name']}), {dtype}, {backend}, batch {st['batch_size']}, "
             f"flip test {'on' if st['flip'] else 'off'}, {env['threads']} threads"]
    if cost:
        devs = sorted({f"{m['cost']['device']} {m['cost']['dtype']}" for n, m in results["models"].items()
                       if n in names and m.get("cost")})
        if devs:
            parts.append("cost measured on " + ", ".join(devs))
    labels = {n: weights_label(results["models"][n]) for n in names if n in results["models"]}
    if labels and all(v == "untrained" for v in labels.values()):
        parts.append("weights: all untrained (random init)")
    elif labels and sum(v == "untrained" for v in labels.values()) > len(labels) / 2:
        others = "; ".join(f"{n} {v}" for n, v in labels.items() if v != "untrained")
        parts.append("weights: untrained except " + others)
    elif labels:
        parts.append("weights: " + "; ".join(f"{n} {v}" for n, v in labels.items()))
    ds = st["dataset"]
    parts.append(f"dataset {ds['path']} ({'SYNTHETIC' if ds['synthetic'] else 'Human3.6M'})")
    if protocol is not None:
        parts.append(f"Protocol {protocol} ({PROTOCOL_SUBJECTS.get(protocol, '?')})")
    if root is not None:
        parts.append(ROOT_LABELS.get(root, root))
    parts.append(f"torch {env['torch_version']}, pose3dbench {results['pose3dbench_version']}")
    return "Made with: " + "; ".join(parts) + "."


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

    Models are ranked by the primary split; cost columns are filled on each model's first row.
    The best measured value per column and root source, and the best cost, are bold.
    """
    by_split = evaluations_by_split(results)
    metrics = sorted({(p, metric) for p, _, metric in by_split}, key=lambda pm: split_sort_key((pm[0], "gt", pm[1])))
    evaluated = {ev["model"] for ev in results["evaluations"]}
    names = [n for n in model_order(results) if n in evaluated]
    cols = ["Model", "Weights", "Root"]
    group = [("", 3)]
    for p, metric in metrics:
        cols += ["measured (mm)", "published (mm)", "Δ (mm)"]
        group.append((f"P{p} {metric}", 3))
    cols += ["Params (M)", "GMACs (G)", "Latency b1 (ms)", "Throughput (img/s)"]
    group.append(("Cost", 4))
    rows: list[list[str]] = []
    row_root: list[str] = []
    first_rows: list[int] = []
    for n in names:
        m = results["models"][n]
        roots = sorted({r for (_, r, _), evs in by_split.items() if n in evs}, key=lambda r: ROOT_ORDER.get(r, 9))
        for k, root in enumerate(roots):
            row = [n, weights_label(m) if k == 0 else "", ROOT_LABELS.get(root, root)]
            for p, metric in metrics:
                ev = by_split.get((p, root, metric), {}).get(n)
                meas = ev["total_mm"] if ev else None
                pub = published_value(m, (p, root, metric))
                diff = fmt_signed(meas - pub) if meas is not None and pub is not None else DASH
                row += [fmt(meas), fmt(pub) if ev else DASH, diff]
            if k == 0:
                c = cost_fields(m)
                row += [fmt(c["params_m"], 2), fmt(c["gmacs"], 2), fmt(c["latency_ms"], 1), fmt(c["throughput_ips"], 1)]
                first_rows.append(len(rows))
            else:
                row += [""] * 4
            rows.append(row)
            row_root.append(root)
    bold: set[tuple[int, int]] = set()
    for root in set(row_root):
        idx = [i for i, r in enumerate(row_root) if r == root]
        for k in range(len(metrics)):
            bold |= {(idx[r], c) for r, c in _bold_extreme([rows[i] for i in idx], 3 + 3 * k)}
    base = 3 + 3 * len(metrics)
    for j, lowest in enumerate((True, True, True, False)):
        bold |= {(first_rows[r], c) for r, c in _bold_extreme([rows[i] for i in first_rows], base + j, lowest)}
    numeric = [False, False, False] + [True] * (len(cols) - 3)
    return Table("Accuracy (mm) and cost per model", cols, rows, caption, numeric, bold, group)


def evaluations_table(results: dict, cis: dict[int, CI], caption: str) -> Table:
    """Every evaluation with its bootstrap 95% CI (``cis`` is keyed by evaluation index).

    ``PA-MPJPE with scale``: the Procrustes fit also scales the prediction (P1 only, when reported).
    """
    scaled = any("pa_mpjpe_scaled_mm" in ev for ev in results["evaluations"])
    cols = ["Model", "Protocol", "Root", "Metric", "Error (mm)", "95% CI (mm)", "Action mean (mm)",
            "Published (mm)", "Δ (mm)"] + (["PA-MPJPE with scale (mm)"] if scaled else []) + [
            "Images", "Skipped", "Speed (img/s)"]
    order = {n: i for i, n in enumerate(model_order(results))}
    idx = sorted(range(len(results["evaluations"])),
                 key=lambda i: (split_sort_key(split_key(results["evaluations"][i])),
                                order.get(results["evaluations"][i]["model"], 0)))
    rows = []
    for i in idx:
        ev = results["evaluations"][i]
        pub = published_value(results["models"][ev["model"]], split_key(ev))
        skipped = sum(ev["skipped"].values())
        name = ev["model"] + (" *" if ev["approximate_joint_mapping"] else "")
        rows.append([name, f"P{ev['protocol']}", ROOT_LABELS.get(ev["root"], ev["root"]), ev["metric"],
                     fmt(ev["total_mm"]), fmt_ci(cis.get(i)), fmt(ev["action_mean_mm"]), fmt(pub),
                     fmt_signed(ev["total_mm"] - pub) if pub is not None else DASH]
                    + ([fmt(ev.get("pa_mpjpe_scaled_mm"))] if scaled else [])
                    + [str(ev["num_samples"]), str(skipped), fmt(ev["timing"]["images_per_s"], 1)])
    numeric = [False, False, False, False] + [True] * (len(cols) - 4)
    return Table("All evaluations", cols, rows, caption, numeric)


def memory_methods(results: dict) -> list[str]:
    """Distinct ``peak_memory_kind`` descriptions (how peak memory was measured), for a caption."""
    kinds = [m["cost"]["peak_memory_kind"] for m in results["models"].values() if m.get("cost")]
    return sorted({k for k in kinds if k})


def cost_table(results: dict, caption: str) -> Table:
    """Measured cost per model (params M, GMACs G, latency ms, throughput img/s, memory MB) beside published."""
    cols = ["Model", "Params (M)", "published (M)", "GMACs (G)", "published (G)", "Latency b1 median (ms)",
            "Latency b1 p90 (ms)", "Throughput (img/s)", "at batch", "Peak memory (MB)", "Measured on"]
    rows = []
    for n in model_order(results):
        m = results["models"][n]
        c, pub, cost = cost_fields(m), m.get("published", {}), m.get("cost")
        where = f"{cost['device']} {cost['dtype']}" if cost else "not measured"
        rows.append([n, fmt(c["params_m"], 2), fmt(pub.get("params_m"), 2), fmt(c["gmacs"], 2),
                     fmt(pub.get("gmacs"), 2),
                     fmt(c["latency_ms"], 2), fmt(c["latency_p90_ms"], 2), fmt(c["throughput_ips"], 1),
                     str(c["throughput_batch"]) if c["throughput_batch"] is not None else DASH,
                     fmt(c["peak_memory_mb"], 0), where])
    bold = _bold_extreme(rows, 1) | _bold_extreme(rows, 3) | _bold_extreme(rows, 5) | _bold_extreme(rows, 7, False)
    numeric = [False] + [True] * 9 + [False]
    return Table("Cost", cols, rows, caption, numeric, bold)


BOX_LABELS = {"gt": "GT boxes", "rootnet": "bbox_root file boxes"}


def root_table(results: dict, cis: dict[int, CI], caption: str) -> Table:
    """RootNet: mean root position error (MRPE, Euclidean mm) and its per-axis parts against published."""
    cols = ["Model", "Protocol", "Input boxes", "MRPE (mm)", "95% CI (mm)", "published MRPE (mm)", "Δ (mm)",
            "x (mm)", "y (mm)", "z (mm)", "published x / y / z (mm)", "Images"]
    rows = []
    for i, ev in enumerate(results["root_evaluations"]):
        pub = published_mrpe(results["models"][ev["model"]], ev["protocol"])
        rows.append([ev["model"], f"P{ev['protocol']}", BOX_LABELS.get(ev.get("root"), DASH), fmt(ev["mrpe_mm"]),
                     fmt_ci(cis.get(i)), fmt(pub), fmt_signed(ev["mrpe_mm"] - pub) if pub is not None else DASH,
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


def per_action_table(key: SplitKey, evs: dict[str, dict], names: list[str], caption: str) -> Table:
    """Rows: actions, then the action mean and the all-image total; columns: models (mm)."""
    actions = action_names(evs.values())
    cols = ["Action"] + [f"{n} (mm)" for n in names]
    rows = [[a] + [fmt(evs[n]["per_action_mm"].get(a)) for n in names] for a in actions]
    rows.append(["Mean of actions"] + [fmt(evs[n]["action_mean_mm"]) for n in names])
    rows.append(["All images"] + [fmt(evs[n]["total_mm"]) for n in names])
    bold = set()
    for r, row in enumerate(rows):
        vals = [(float(v), c) for c, v in enumerate(row) if c > 0 and v != DASH]
        if len(vals) > 1:
            best = min(vals)[0]
            bold |= {(r, c) for v, c in vals if v == best}
    return Table(f"{split_label(key)}: error per action", cols, rows, caption,
                 [False] + [True] * len(names), bold)


def pairwise_table(key: SplitKey, diffs: list[PairwiseDiff], order: list[str], caption: str,
                   max_rows: int = 28) -> tuple[Table, str | None]:
    """Paired differences A − B (mm), A the better-ranked model; significant when the 95% CI excludes 0.

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
    cols = ["Model A", "Model B", "A − B (mm)", "95% CI (mm)", "Significant", "Shared images"]
    rows, bold = [], set()
    for r, (a, b, ci, n) in enumerate(oriented):
        sig = ci.excludes_zero
        rows.append([a, b, fmt_signed(ci.estimate), fmt_ci(ci), "yes" if sig else "no", str(n)])
        if sig:
            bold.add((r, 4))
    return Table(f"{split_label(key)}: paired differences", cols, rows, caption,
                 [False, False, True, True, False, True], bold), note
