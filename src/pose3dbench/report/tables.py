"""Report tables built from a validated results dict (schema v2), for any dataset.

A split key is (dataset, split, root, metric); how a split's records are read is its dataset's declaration in
results.json (``report.describe``). Latency is ms per image at batch 1, throughput images/s, params M, MACs G
(10^9 multiply-adds).
"""
from __future__ import annotations

from typing import Iterable

from .describe import (  # noqa: F401  the report's vocabulary, used as T.<name> by the report modules
    DASH, FAMILY_LABELS, METRIC_WORDS, PRACTICAL_THRESHOLD_MM, ROOT_LABELS, ROOT_ORDER, ROOT_SHORT, SplitKey,
    any_synthetic, backend_text, cost_fields, dataset_entry, datasets_of, decl_of, declaration, family_label, fmt,
    fmt_ci, fmt_published, fmt_signed, is_untrained, lower_is_better, multi_dataset, primary_split, provenance,
    provenance_items, published_comparable, published_delta, published_relation, published_root, published_root_axes,
    published_value, split_key, split_label, split_sort_key, split_words, splits_of, unit_of, value_of,
    weights_label,
)
from .document import Table
from .stats import CI, PairwiseDiff


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
    """Models ranked by their value on the primary split (best first; unevaluated ones last, in file order)."""
    prim = primary_split(results)
    by_split = evaluations_by_split(results)
    sign = 1.0 if prim is None or lower_is_better(results, prim) else -1.0
    rank = {m: sign * (value_of(results, ev) or 0.0) for m, ev in by_split.get(prim, {}).items()} if prim else {}
    names = list(results["models"])
    return sorted(names, key=lambda n: (n not in rank, rank.get(n, 0.0), names.index(n)))


def _unit_text(unit: str) -> str:
    return f" ({unit})" if unit else ""


def leaderboard_table(results: dict, caption: str) -> Table:
    """One row per (model, root source): measured / published / Δ for each split's metric, then cost.

    Models are ranked by the primary split; cost columns are filled on each model's first row. Δ is left
    out for untrained weights and for published numbers of another layout (†). The best measured value per
    column and root source (lowest or highest, as the split declares), and the best cost, are bold. Merged runs
    (``results["runs"]``) get a Run column. Sized to fit a 1000-px page: throughput and memory are in the cost
    table.
    """
    by_split = evaluations_by_split(results)
    sort = split_sort_key(results)
    metrics = sorted({(d, s, m) for d, s, _, m in by_split}, key=lambda k: sort((k[0], k[1], "gt", k[2])))
    evaluated = {ev["model"] for ev in results["evaluations"]}
    names = [n for n in model_order(results) if n in evaluated]
    merged = len(results.get("runs") or []) > 1
    cols = ["Model", "Weights", "Root"]
    group = [("", 3)]
    for d, sp, metric in metrics:
        u = _unit_text(unit_of(results, (d, sp, "gt", metric)))
        cols += [f"measured{u}", f"published{u}", f"Δ{u}"]
        group.append((f"{split_words(results, d, sp)} {metric}", 3))
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
        roots = sorted({r for (_, _, r, _), evs in by_split.items() if n in evs}, key=lambda r: ROOT_ORDER.get(r, 9))
        for k, root in enumerate(roots):
            row = [n, weights_label(m) if k == 0 else "", ROOT_SHORT.get(root, root)]
            runs = []
            for d, sp, metric in metrics:
                key = (d, sp, root, metric)
                ev = by_split.get(key, {}).get(n)
                meas = value_of(results, ev) if ev else None
                delta = None if is_untrained(results, n) else published_delta(m, key, meas, results)
                row += [fmt(meas, 2), fmt_published(m, key, results) if ev else DASH, fmt_signed(delta, 2)]
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
    for root in set(row_root):  # the best value among trained models: a random initialisation is never "best"
        idx = [i for i, r in enumerate(row_root) if r == root and not is_untrained(results, row_model[i])]
        for k, (d, sp, metric) in enumerate(metrics):
            low = lower_is_better(results, (d, sp, root, metric))
            bold |= {(idx[r], c) for r, c in _bold_extreme([rows[i] for i in idx], 3 + 3 * k, low)}
    base = 3 + 3 * len(metrics)
    for j in range(3):
        bold |= {(first_rows[r], c) for r, c in _bold_extreme([rows[i] for i in first_rows], base + j, True)}
    numeric = [False, False, False] + [True] * (3 * len(metrics) + 3) + ([False] if merged else [])
    return Table("Accuracy and cost per model", cols, rows, caption, numeric, bold, group, key="leaderboard",
                 fit=True)


def variants_of(results: dict) -> dict[str, str]:
    """Record fields holding a variant of a split's metric (e.g. ``pa_mpjpe_scaled``) -> its title."""
    out: dict[str, str] = {}
    for d in datasets_of(results):
        for decl in d.get("scoring", {}).values():
            for fld, v in (decl.get("variants") or {}).items():
                out[fld] = v["title"] if isinstance(v, dict) else str(v)
    return out


def evaluations_table(results: dict, cis: dict[int, CI], caption: str,
                      variant_cis: dict[int, CI] | None = None) -> Table:
    """Every evaluation with its bootstrap 95% CI (``cis`` is keyed by evaluation index).

    A declared variant of the metric (Human3.6M: ``PA-MPJPE with scale``, the similarity fit) gets its own
    column, with its CI when the report could recompute per-sample values (``variant_cis``).
    """
    variant_cis = variant_cis or {}
    variants = {f: t for f, t in variants_of(results).items() if any(f in ev for ev in results["evaluations"])}
    vfield, vtitle = next(iter(variants.items()), (None, None))
    group_mean = any(declaration(results, ev["dataset"], ev["split"]).get("group_mean")
                     for ev in results["evaluations"])
    cols = (["Model", "Split", "Root", "Metric", "Value", "95% CI"] + (["Group mean"] if group_mean else [])
            + ["Published", "Δ"] + ([vtitle, "its 95% CI"] if vfield else []) + ["Images", "Skipped", "Speed (img/s)"])
    order = {n: i for i, n in enumerate(model_order(results))}
    sort = split_sort_key(results)
    idx = sorted(range(len(results["evaluations"])),
                 key=lambda i: (sort(split_key(results["evaluations"][i])),
                                order.get(results["evaluations"][i]["model"], 0)))
    rows = []
    for i in idx:
        ev = results["evaluations"][i]
        key = split_key(ev)
        decl = decl_of(results, key)
        m = results["models"][ev["model"]]
        value = value_of(results, ev)
        delta = None if is_untrained(results, ev["model"]) else published_delta(m, key, value, results)
        skipped = sum((ev.get("skipped") or {}).values())
        unit = unit_of(results, key)
        name = ev["model"] + (" *" if ev.get("approximate_joint_mapping") else "")
        mean_field = next(iter((decl.get("group_mean") or {}).values()), None)
        var = ev.get(vfield) if vfield else None
        rows.append([name, split_words(results, key[0], key[1]), ROOT_LABELS.get(ev["root"], ev["root"]),
                     ev["metric"], fmt(value, 2) + (f" {unit}" if unit else ""), fmt_ci(cis.get(i), 2)]
                    + ([fmt(ev.get(mean_field), 2) if mean_field else DASH] if group_mean else [])
                    + [fmt_published(m, key, results), fmt_signed(delta, 2)]
                    + ([fmt(var.get(decl["value"]) if isinstance(var, dict) else var, 2),
                        fmt_ci(variant_cis.get(i), 2)] if vfield else [])
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
    """Root-only models (RootNet): mean root position error (MRPE, Euclidean mm) and its per-axis parts against
    published, and the dataset's own root metric where it declares one (e.g. AP of roots within a distance)."""
    extra = sorted({k for ev in results["root_evaluations"] for k in (ev.get("extra_metrics") or {})})
    cols = ["Model", "Split", "Input boxes", "MRPE (mm)", "95% CI (mm)", "published MRPE (mm)", "Δ (mm)",
            "x (mm)", "y (mm)", "z (mm)", "published x / y / z (mm)"] + extra + ["Images"]
    rows = []
    for i, ev in enumerate(results["root_evaluations"]):
        m = results["models"][ev["model"]]
        pub = published_root(m, results, ev["dataset"], ev["split"])
        mrpe = ev.get("mrpe_mm")
        delta = None if pub is None or mrpe is None or is_untrained(results, ev["model"]) else mrpe - pub
        more = ev.get("extra_metrics") or {}
        rows.append([ev["model"], split_words(results, ev["dataset"], ev["split"]),
                     BOX_LABELS.get(ev.get("root"), DASH), fmt(mrpe), fmt_ci(cis.get(i)), fmt(pub),
                     fmt_signed(delta), fmt(ev.get("x_mm")), fmt(ev.get("y_mm")), fmt(ev.get("z_mm")),
                     published_root_axes(m, results, ev["dataset"], ev["split"])]
                    + [fmt(more.get(k)) for k in extra] + [str(ev["num_samples"])])
    numeric = [False, False, False] + [True] * (len(cols) - 3)
    return Table("Root localisation (RootNet)", cols, rows, caption, numeric)


def group_names(evs: Iterable[dict], field: str, order: Iterable[str] = ()) -> list[str]:
    """Group names present in any evaluation's ``field``, in the declared ``order`` (others after, sorted)."""
    present = {a for ev in evs for a in (ev.get(field) or {})}
    known = [a for a in order if a in present]
    return known + sorted(present - set(known))


def joint_names(evs: Iterable[dict], field: str = "per_joint_mm") -> list[str]:
    """Joint names in the order of the first evaluation that lists them (then any others)."""
    out: list[str] = []
    for ev in evs:
        out += [j for j in (ev.get(field) or {}) if j not in out]
    return out


def per_group_table(key: SplitKey, evs: dict[str, dict], names: list[str], caption: str, results: dict,
                    field: str, title: str | None = None) -> Table:
    """The papers' shape: one row per model (grouped by family, published row under the measured one), columns
    the groups of ``field`` (e.g. the 15 actions, or the 20 sequences; short names as declared), the declared mean
    of the groups ("Avg") and, unless the split declares ``group_all`` false, the all-sample value ("All")."""
    decl = decl_of(results, key)
    value = decl["value"]
    groups = group_names(evs.values(), field, (decl.get("group_order") or {}).get(field, ()))
    short = (decl.get("group_short") or {}).get(field, {})
    mean_field = (decl.get("group_mean") or {}).get(field)
    show_all = decl.get("group_all", True)
    word = (decl.get("groups") or {}).get(field, "group")
    summary = ([mean_field] if mean_field else []) + ([value] if show_all else [])
    cols = (["Model"] + [short.get(a, a) for a in groups] + ([f"Avg ({word}s)"] if mean_field else [])
            + (["All"] if show_all else []))
    models = results.get("models", {})
    families: dict[str, list[str]] = {}
    for n in names:  # families in the order of their best-ranked model
        families.setdefault(family_label(models.get(n, {})), []).append(n)
    rows: list[list[str]] = []
    measured: list[int] = []
    minor: set[int] = set()
    row_groups: list[tuple[int, str]] = []
    primary = bool(summary) and summary[-1] == value  # the table's last column is the split's value
    for label, members in families.items():
        if len(families) > 1:
            row_groups.append((len(rows), label))
        for n in members:
            ev = evs[n]
            measured.append(len(rows))
            rows.append([n + (" *" if ev.get("approximate_joint_mapping") else "")]
                        + [fmt((ev.get(field) or {}).get(a), 1) for a in groups] + [fmt(ev.get(f), 1) for f in summary])
            m = models.get(n)
            if primary and m is not None and published_value(m, key, results) is not None:
                rel = published_relation(m)
                minor.add(len(rows))
                rows.append([f"↳ published{' †' if rel else ''}"] + [DASH] * (len(groups) + len(summary) - 1)
                            + [fmt_published(m, key, results)])
    bold = set()
    trained = [r for r, n in zip(measured, [n for members in families.values() for n in members])
               if not is_untrained(results, n)]
    low = lower_is_better(results, key)
    for c in range(1, len(cols)):
        vals = [(float(rows[r][c]), r) for r in trained if rows[r][c] != DASH]
        if len(vals) > 1:
            best = min(vals)[0] if low else max(vals)[0]
            bold |= {(r, c) for v, r in vals if v == best}
    slug = "-".join(str(k) for k in (*key, field)).lower().replace(" ", "-")
    heading = (decl.get("group_titles") or {}).get(field)
    return Table(title or (f"{split_words(results, key[0], key[1])}, {key[2]} root: {heading} per {word}" if heading
                           else f"{split_label(key, results)}: per {word}"), cols, rows, caption,
                 [False] + [True] * (len(cols) - 1), bold, row_groups=row_groups, minor_rows=minor,
                 key=f"groups-{slug}", fit=True)


def pairwise_table(key: SplitKey, diffs: list[PairwiseDiff], order: list[str], caption: str, results: dict,
                   max_rows: int = 28, threshold_mm: float = PRACTICAL_THRESHOLD_MM) -> tuple[Table, str | None]:
    """Paired differences A − B (the split's unit, 2 decimals), A the better-ranked model.

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
        note = f"{len(diffs)} pairs in {split_label(key, results)}: only neighbours in the ranking are listed."
    u = unit_of(results, key)
    cols = ["Model A", "Model B", f"A − B{_unit_text(u)}", f"95% CI{_unit_text(u)}",
            f"Significant (CI excludes 0, |A − B| ≥ {threshold_mm:g}{(' ' + u) if u else ''})", "Shared samples"]
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
    return Table(f"{split_label(key, results)}: paired differences", cols, rows, caption,
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
    """A plain-text summary of a run's evaluations (each in its split's unit) and root evaluations."""
    lines = []
    header = (f"{'model':28s} {'split':>16s} {'root':>13s} {'metric':>11s} {'value':>9s} {'published':>9s} "
              f"{'img/s':>8s}")
    lines.append(header)
    lines.append("-" * len(header))
    for ev in results["evaluations"]:
        m = results["models"][ev["model"]]
        key = split_key(ev)
        published = published_value(m, key, results)  # the report's own rule
        if published is not None and not published_comparable(m):
            published = f"({published:g})"  # another layout's paper number: a reference, not this network's
        ips = ev.get("timing", {}).get("images_per_s")
        value = value_of(results, ev)
        lines.append(f"{ev['model']:28s} {split_words(results, key[0], key[1]):>16s} {ev['root']:>13s} "
                     f"{ev['metric']:>11s} {value if value is not None else float('nan'):9.2f} "
                     f"{published if published is not None else '-':>9} {(f'{ips:.1f}' if ips else 'cached'):>8s}")
    for ev in results["root_evaluations"]:
        values = ([("MRPE", ev["mrpe_mm"])] if isinstance(ev.get("mrpe_mm"), (int, float)) else []) + list(
            (ev.get("extra_metrics") or {}).items())
        for k, (metric, v) in enumerate(values):
            pub = published_root(results["models"][ev["model"]], results, ev["dataset"], ev["split"], metric)
            lines.append(f"{ev['model']:28s} {split_words(results, ev['dataset'], ev['split']):>16s} "
                         f"{ev.get('root', ''):>13s} {metric[:11]:>11s} {v:9.2f} {pub if pub is not None else '-':>9} "
                         f"{'':>8s}")
    return "\n".join(lines)
