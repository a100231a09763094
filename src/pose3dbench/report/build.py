"""Build the benchmark report from ``out_dir/results.json`` and ``out_dir/predictions/*.npz``.

Writes into ``out_dir``: report.md (links the PNGs), report.html (self-contained), results.csv (one row per
evaluation) and the PNG figures. Every number is in its split's declared unit (mm, %); latency ms, params M,
MACs G. Sections iterate over the datasets, splits and groups the results declare (``report.tables``).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from . import tables as T
from .collect import collect
from .document import (Banner, Block, Bullets, Figure, Heading, Paragraph, Provenance, Table, to_html, to_latex,
                       to_markdown)
from .files import write_text
from .notes import (banner, evaluation_notes, input_notes, published_notes, quantile_words, run_summary, subset_words,
                    timing_notes, untrained_reason, warning_notes, write_csv)
from .pareto import pareto_front
from .plots import ci_chart, cost_scatter, grouped_bars, heatmap, model_colors
from .qualitative import qualitative_panel
from .stats import DEFAULT_RESAMPLES, DEFAULT_SEED

PANEL_SAMPLES = 4  # samples in the qualitative panel


def _slug(*parts) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "_".join(str(p) for p in parts).lower()).strip("-")


def _footer(res: dict, names=None, split=None, cost=False) -> str:
    return "pose3dbench " + T.provenance(res, names, split, cost)


def _unit(res: dict, key) -> str:
    u = T.unit_of(res, key)
    return f" ({u})" if u else ""


def _joint_heatmap(path: Path, res: dict, key: T.SplitKey, evs: dict, names: list[str]) -> Path | None:
    field = T.decl_of(res, key).get("joints")
    joints = T.joint_names(evs.values(), field) if field else []
    if not joints:
        return None
    values = np.array([[(evs[n].get(field) or {}).get(j, np.nan) for j in joints] for n in names], dtype=float)
    keep = [k for k in range(len(joints)) if not np.all(np.nan_to_num(values[:, k]) == 0.0)]  # the aligned root
    joints, values = [joints[k] for k in keep], values[:, keep]
    return heatmap(path, names, joints, values, f"{key[3]}{_unit(res, key)}",
                   f"{T.split_label(key, res)}: per joint{_unit(res, key)}", footer=_footer(res, names, key))


def build_report(out_dir: Path, *, samples_by_split: dict | None = None,
                 n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, latex: bool = False,
                 threshold_mm: float = T.PRACTICAL_THRESHOLD_MM) -> dict[str, Path]:
    """Write report.md, report.html, results.csv and PNG figures into ``out_dir``; return their paths.

    ``samples_by_split``: {(dataset, split, root): Samples} for the qualitative panel (GT and image paths) and
    the root CIs; when None the panel is skipped and the report says so. ``latex``: also write tables.tex
    (booktabs: leaderboard, per-group tables, cost). ``threshold_mm``: the practical threshold a paired
    difference must reach (in the split's unit), besides a CI excluding 0, to be called significant.
    """
    out_dir = Path(out_dir)
    data = collect(out_dir, n_resamples, seed, samples_by_split)
    res = data.results
    order = T.model_order(res)
    colors = model_colors(order)
    by_split = T.evaluations_by_split(res)
    splits = T.splits_of(res)
    paths: dict[str, Path] = {}
    latex_tables: list[Table] = []
    titles = " and ".join(d["title"] for d in T.datasets_of(res))
    blocks: list[Block] = [Heading(f"pose3dbench report: monocular 3D human pose on {titles}", 1)]
    top = banner(res)
    if top:
        blocks.append(top)
    if res.get("complete") is False:
        blocks.append(Banner("Incomplete run",
                             "This results.json belongs to a run that was interrupted or failed before it "
                             "finished: the evaluations shown are valid, but some models or splits are missing. "
                             "Run the same `pose3dbench run` command again to resume and complete it."))
    subset = subset_words(res["settings"])
    if subset:
        blocks.append(Banner("Subset of the test set",
                             f"Only {subset} were evaluated. Numbers are not comparable with published "
                             "full-test-set numbers."))
    about = " ".join(d.get("about") or "" for d in T.datasets_of(res)).strip()
    blocks += [Paragraph((about + " " if about else "") +
                         "Δ = measured − published. Root sources: GT root "
                         "(ground-truth box and root joint), RootNet root (file) (boxes and roots of the released "
                         "RootNet bbox_root file), RootNet root (model) (a RootNet model of this run predicts the "
                         "roots on those boxes). Cost: parameters in millions (M), multiply-adds in G (10^9), "
                         "latency per image at batch 1 in ms, throughput in images/s. Every caption ends with "
                         "[how it was made]; the Provenance section has the full account."),
               Heading("Run", 2), run_summary(res)]
    if len(res.get("runs") or []) > 1:
        blocks.append(T.runs_table(res))

    # Leaderboard, evaluations with CIs, cost, root
    blocks.append(Heading("Leaderboard", 2))
    evaluated = [n for n in order if any(ev["model"] == n for ev in res["evaluations"])]
    if res["evaluations"]:
        lb = T.leaderboard_table(res, "Ranked by the primary split "
                                 f"({T.split_label(T.primary_split(res), res)}); best measured value in bold; "
                                 "† published number of a related paper network of another layout (no Δ); "
                                 "Δ left out for untrained weights. Throughput and memory: Cost table. "
                                 + T.provenance(res, evaluated, cost=True))
        blocks.append(lb)
        latex_tables.append(lb)
        units = "".join(f"; {d['title']}: over {decl['unit_bootstrap']}" for d in T.datasets_of(res)
                        for decl in list(d.get("scoring", {}).values())[:1] if decl.get("unit_bootstrap"))
        blocks.append(T.evaluations_table(res, data.cis, "Values in each split's unit. 95% CI: paired percentile "
                                          f"bootstrap over samples{units} ({n_resamples} resamples, seed {seed}). * = "
                                          "approximate joint mapping (joints of another skeleton stand in for the "
                                          "dataset's joints). " + T.provenance(res, evaluated), data.variant_cis))
    else:
        blocks.append(Paragraph("No pose evaluations in this run.", muted=True))
    mem = T.memory_methods(res)
    cost = T.cost_table(res, "Latency: median and 90th percentile per image at batch 1 ('noisy' when the 90th "
                        f"percentile is more than {T.TIMING_NOISE:.0%} above the median); throughput at the batch "
                        "shown; published figures from the papers († another layout). "
                        + (f"Peak memory: {' | '.join(mem)}. " if mem else "") + T.provenance(res, cost=True))
    blocks.append(cost)
    latex_tables.append(cost)
    if res["root_evaluations"]:
        blocks.append(T.root_table(res, data.root_cis, "MRPE: mean Euclidean distance between predicted and GT "
                                   "root in camera mm; x/y/z: mean absolute error per axis; published numbers where "
                                   "the paper reports the split. "
                                   + T.provenance(res, [e["model"] for e in res["root_evaluations"]])))

    # Accuracy vs cost (trained weights only: the error of a random initialisation has no place on a front)
    scatter_splits = [k for k in splits if k[2] == "gt"] or splits[:1]
    scatter_splits = [k for k in scatter_splits if k[3] == T.decl_of(res, k).get("metric")] or scatter_splits
    if scatter_splits:
        blocks.append(Heading("Accuracy vs cost", 2))
        shown = {n for k in scatter_splits for n in by_split[k]}
        untrained = [n for n in order if n in shown and T.is_untrained(res, n)]
        if untrained:
            blocks.append(Paragraph(("Every model of this run has untrained (randomly initialised) weights: their "
                                     "errors measure the random initialisation, not the network, so there is no "
                                     "accuracy-vs-cost plot and no Pareto front" if len(untrained) == len(shown) else
                                     untrained_reason(untrained) + "they are left out of the accuracy-vs-cost "
                                     "plots and their Pareto fronts")
                                    + " (the cost figures are real: Cost table).", muted=True))
    for key in scatter_splits:
        evs = by_split[key]
        names = [n for n in order if n in evs and not T.is_untrained(res, n)]
        if not names:
            continue
        costs_raw = {n: T.cost_fields(res["models"][n]) for n in names}
        axes = {"Latency b1 (ms)": "latency_ms", "Params (M)": "params_m", "GMACs (G)": "gmacs"}
        costs = {label: [np.nan if costs_raw[n][f] is None else costs_raw[n][f] for n in names]
                 for label, f in axes.items()}
        values = [T.value_of(res, evs[n]) for n in names]
        sign = 1.0 if T.lower_is_better(res, key) else -1.0
        path = out_dir / f"fig_cost_{_slug(*key[:3])}.png"
        cost_scatter(path, names, values, costs, colors, f"{key[3]}{_unit(res, key)}",
                     f"{T.split_label(key, res)} vs cost", footer=_footer(res, names, key, cost=True))
        paths[path.stem] = path
        fronts = []
        for label, vals in costs.items():
            idx = pareto_front(np.stack([np.asarray(vals, dtype=float), sign * np.asarray(values, dtype=float)], 1))
            fronts.append(f"{label}: {', '.join(names[i] for i in idx) or 'none'}")
        blocks.append(Figure(path, f"{T.split_label(key, res)} vs cost",
                             "Each dot is a model; ringed dots joined by the dashed line are Pareto-optimal "
                             "(no other model is both more accurate and cheaper). "
                             + T.provenance(res, names, key, cost=True)))
        blocks.append(Paragraph("Pareto-optimal — " + "; ".join(fronts) + "."))

    # Per split: groups (e.g. actions) and joints
    for key in splits:
        blocks += _split_blocks(res, key, by_split[key], [n for n in order if n in by_split[key]], colors, paths,
                                latex_tables, out_dir)

    # Statistics
    blocks.append(Heading("Statistical significance", 2))
    blocks.append(Paragraph(f"Paired percentile bootstrap over images: {n_resamples} resamples with a fixed seed "
                            f"({seed}); differences use the images both models were scored on (matched by "
                            "image id) and the same resamples for both. A difference is called significant when "
                            f"its 95% CI excludes 0 and it is at least {threshold_mm:g} mm (a practical threshold: "
                            "smaller differences matter to nobody, and a large test set makes even those "
                            "'significant'). The CIs cover sampling of test images only, not training randomness."))
    chart_splits = {k for k in splits if k[2] == "gt"} or set(splits[:1])
    if any(T.split_key(res["evaluations"][i]) in chart_splits for i in data.cis):
        sort = T.split_sort_key(res)
        idx = sorted((i for i in data.cis if T.split_key(res["evaluations"][i]) in chart_splits),
                     key=lambda i: (sort(T.split_key(res["evaluations"][i])),
                                    order.index(res["evaluations"][i]["model"])))
        evs_i = [res["evaluations"][i] for i in idx]
        labels = [f"{ev['model']} · {T.split_label(T.split_key(ev), res)}" for ev in evs_i]
        path = out_dir / "fig_ci.png"
        ci_chart(path, labels, [data.cis[i] for i in idx], [colors[res["evaluations"][i]["model"]] for i in idx],
                 "value (the split's unit), mean and 95% CI", "Mean with 95% bootstrap CI",
                 footer=_footer(res, evaluated))
        paths[path.stem] = path
        blocks.append(Figure(path, "Mean with 95% bootstrap confidence intervals",
                             "Dot: the split's value (mean over samples, in its unit); bar: 95% percentile bootstrap "
                             "CI"
                             + ("; GT-root splits only (all CIs are in the table of all evaluations). "
                                if len(chart_splits) < len(splits) else ". ")
                             + T.provenance(res, evaluated)))
    untrained_eval = [n for n in data.untrained if n in evaluated]
    if untrained_eval:
        blocks.append(Paragraph((("Every model of this run has untrained (randomly initialised) weights: their errors "
                                  "measure the random initialisation, not the network, so ")
                                 if len(untrained_eval) == len(evaluated) else untrained_reason(untrained_eval))
                                + "a difference between two of them tests two random draws, not two networks: "
                                "they are left out of the paired differences and the significance tests.", muted=True))
    for key in splits:
        diffs = data.diffs.get(key, [])
        if not diffs:
            continue
        names = [n for n in order if n in by_split[key]]
        better = "lower" if T.lower_is_better(res, key) else "higher"
        table, note = T.pairwise_table(key, diffs, order, f"A − B in the split's unit; {better} is better. "
                                       + T.provenance(res, names, key), res, threshold_mm=threshold_mm)
        blocks.append(table)
        if note:
            blocks.append(Paragraph(note, muted=True))
    if not any(data.diffs.values()):
        blocks.append(Paragraph("No pairwise comparison: fewer than two models with trained weights share a split "
                                "with per-sample errors.", muted=True))

    # Qualitative
    blocks.append(Heading("Qualitative examples", 2))
    panel_done = False
    if samples_by_split is None:
        blocks.append(Paragraph("Skipped: the ground truth was not available to the report builder (the report "
                                "was rebuilt without the dataset, e.g. `pose3dbench report --no-dataset` or a "
                                "dataset folder that has moved).", muted=True))
    else:
        prim = T.primary_split(res)
        for key in sorted(splits, key=lambda k: k != prim):
            samples = samples_by_split.get(key[:3])
            if samples is None or len(samples) == 0:
                continue
            preds = {res["evaluations"][i]["model"]: {"sample_id": p.key, "pred_cam": p.pred_cam}
                     for i, p in data.predictions.items()
                     if T.split_key(res["evaluations"][i]) == key and p.pred_cam is not None and p.image_id.size}
            if not preds:
                continue
            path = out_dir / f"fig_qualitative_{_slug(*key[:3])}.png"
            panel = qualitative_panel(path, samples, preds, colors, num_samples=PANEL_SAMPLES,
                                      footer=_footer(res, list(preds), key))
            if panel is None:
                continue
            paths[path.stem] = path
            blocks.append(Figure(path, f"{T.split_label(key, res)}: qualitative examples",
                                 f"Images {', '.join(map(str, panel.image_ids))}, "
                                 f"chosen at the {quantile_words(PANEL_SAMPLES)} "
                                 "of the mean root-aligned joint error (mm) of the models shown. Left: crop "
                                 "with the GT skeleton; then each model's prediction projected into the crop "
                                 "(GT dashed); then root-relative 3D skeletons (GT black). "
                                 + T.provenance(res, panel.models, key)))
            if panel.notes:
                blocks.append(Bullets(panel.notes))
            panel_done = True
            break
        if not panel_done:
            blocks.append(Paragraph("Skipped: no split had both ground-truth samples and predictions with pred_cam "
                                    "for shared images.", muted=True))

    from .robustness import robustness_blocks

    blocks += robustness_blocks(res, out_dir, colors, paths, samples_by_split, n_resamples, seed)

    # Provenance, Notes
    blocks.append(Heading("Provenance", 2))
    blocks.append(Provenance(T.provenance_items(res)))
    blocks.append(Heading("Notes", 2))
    notes = (warning_notes(res) + list(data.notes) + evaluation_notes(res) + published_notes(res)
             + timing_notes(res) + input_notes(res))
    blocks.append(Bullets(notes) if notes else Paragraph("None.", muted=True))

    md = to_markdown(blocks, out_dir)
    html = to_html(blocks, "pose3dbench report")
    paths["report_md"] = write_text(out_dir / "report.md", md)
    paths["report_html"] = write_text(out_dir / "report.html", html)
    paths["results_csv"] = write_csv(out_dir / "results.csv", data)
    if latex:
        header = "\n".join(T.provenance_items(res))
        paths["tables_tex"] = write_text(out_dir / "tables.tex", to_latex(latex_tables, header))
    return paths


def _split_blocks(res: dict, key: T.SplitKey, evs: dict, names: list[str], colors: dict, paths: dict,
                  latex_tables: list, out_dir: Path) -> list[Block]:
    """One split's section: a per-group table for each declared group field (and each variant of the metric), a
    per-group bar chart and a per-joint heatmap."""
    decl = T.decl_of(res, key)
    cap = T.provenance(res, names, key)
    unit = T.unit_of(res, key)
    blocks: list[Block] = [Heading(f"{T.split_label(key, res)}: per group and per joint", 2)]
    for field, word in (decl.get("groups") or {}).items():
        mean = (decl.get("group_mean") or {}).get(field)
        what = (decl.get("group_titles") or {}).get(field) or T.METRIC_WORDS.get(key[3], key[3])
        table = T.per_group_table(key, evs, names, f"{what} in {unit or 'its unit'} per {word}"
                                  + (f"; Avg = mean of the {word}s" if mean else "")
                                  + ("; All = over all samples" if decl.get("group_all", True) else "")
                                  + "; ↳ the paper's number; best measured in bold. " + cap, res, field)
        blocks.append(table)
        latex_tables.append(table)
        for vfield, v in (decl.get("variants") or {}).items():
            title = v["title"] if isinstance(v, dict) else str(v)
            sub = {n: {**ev[vfield], "approximate_joint_mapping": ev.get("approximate_joint_mapping")}
                   for n, ev in evs.items() if isinstance(ev.get(vfield), dict)}
            if not sub:
                continue
            vkey = (key[0], key[1], key[2], title)
            # keyed by the variant (its metric name): its own LaTeX label, and no published row (the papers'
            # number is the split's metric, not the variant)
            vt = T.per_group_table(vkey, sub, [n for n in names if n in sub],
                                   f"{title} of the same predictions, {unit} per {word}; 95% CIs in All "
                                   "evaluations. " + cap, res, field)
            blocks.append(vt)
            latex_tables.append(vt)
        groups = T.group_names(evs.values(), field, (decl.get("group_order") or {}).get(field, ()))
        if groups:
            short = (decl.get("group_short") or {}).get(field, {})
            path = out_dir / f"fig_groups_{_slug(*key[:3], field)}.png"
            grouped_bars(path, [short.get(a, a) for a in groups],
                         {n: [(evs[n].get(field) or {}).get(a, np.nan) for a in groups] for n in names},
                         colors, f"{key[3]}{_unit(res, key)}", f"{T.split_label(key, res)} per {word}",
                         footer=_footer(res, names, key))
            paths[path.stem] = path
            blocks.append(Figure(path, f"{T.split_label(key, res)}: per {word}", f"{key[3]} per {word}. " + cap))
    path = _joint_heatmap(out_dir / f"fig_joints_{_slug(*key[:3])}.png", res, key, evs, names)
    if path is not None:
        paths[path.stem] = path
        blocks.append(Figure(path, f"{T.split_label(key, res)}: per joint",
                             f"{key[3]}{_unit(res, key)} per joint (mean over samples), one row per model; a joint "
                             "whose value is 0 for every model (the aligned root) is left out. " + cap))
    return blocks
