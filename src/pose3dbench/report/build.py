"""Build the benchmark report from ``out_dir/results.json`` and ``out_dir/predictions/*.npz``.

Writes into ``out_dir``: report.md (links the PNGs), report.html (self-contained), results.csv
(one row per evaluation) and the PNG figures. Errors are mm, latency ms, params M, MACs G.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.samples import H36MSamples
from ..errors import PredictionsError
from ..results.predictions import Predictions
from ..results.predictions import load_predictions as read_predictions
from . import tables as T
from .document import (Banner, Block, Bullets, Figure, Heading, Paragraph, Provenance, Table, to_html, to_latex,
                       to_markdown)
from .files import write_text
from .pareto import pareto_front
from .plots import ci_chart, cost_scatter, grouped_bars, heatmap, model_colors
from .qualitative import qualitative_panel, selection_quantiles
from ..results.schema import validate_results
from ..errors import ResultsError
from .stats import (CI, DEFAULT_RESAMPLES, DEFAULT_SEED, PairwiseDiff, bootstrap_mean_ci, group_bootstrap,
                    match_by_image_id)

PANEL_SAMPLES = 4  # images in the qualitative panel
CSV_COLUMNS = ["model", "protocol", "root", "metric", "total_mm", "action_mean_mm", "published_mm", "diff_mm",
               "params_m", "gmacs", "latency_ms", "throughput_ips", "ci_low_mm", "ci_high_mm", "num_samples"]


@dataclass
class ReportData:
    """Everything the report shows. Predictions are ``results.predictions.Predictions`` (camera mm, ids)."""

    out_dir: Path
    results: dict
    predictions: dict[int, Predictions] = field(default_factory=dict)   # evaluation index ->
    cis: dict[int, CI] = field(default_factory=dict)                    # evaluation index ->
    root_cis: dict[int, CI] = field(default_factory=dict)               # root evaluation index ->
    diffs: dict[T.SplitKey, list[PairwiseDiff]] = field(default_factory=dict)
    scaled_cis: dict[int, CI] = field(default_factory=dict)             # evaluation index -> CI of the scaled PA
    #: models left out of the paired differences (untrained weights: a difference between two random
    #: initialisations tests nothing)
    untrained: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_results(out_dir: Path) -> dict:
    """Read and validate ``out_dir/results.json``; raise ResultsError naming the file and the fix."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        raise ResultsError(f"{path} not found: run `pose3dbench run --out {out_dir}` first, "
                           f"or pass the folder that holds results.json")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is not readable JSON ({exc}); re-run `pose3dbench run --out {out_dir}`") from None
    try:
        validate_results(obj)
    except ValueError as exc:
        raise ResultsError(f"{path}: {exc}. Fix that field or re-run `pose3dbench run --out {out_dir}` "
                           f"with this pose3dbench version") from None
    return obj


def load_predictions(out_dir: Path, rel: str, num_samples: int | None, kind: str = "pose") -> Predictions | None:
    """Load one predictions file named in results.json (path relative to ``out_dir``); None if absent.

    Raises PredictionsError (naming the file) when it is unreadable, of the other kind (pose vs
    root-only), or holds a number of samples other than ``num_samples``.
    """
    path = Path(out_dir) / rel
    if not path.is_file():
        return None
    p = read_predictions(path)
    fix = f"delete it and re-run `pose3dbench run --out {out_dir}` to regenerate it"
    if p.format != "npz":
        raise PredictionsError(f"{path}: not a pose3dbench predictions file written by `pose3dbench run` "
                               f"({p.format}); {fix}")
    if p.kind != kind:
        raise PredictionsError(f"{path} holds {p.kind} predictions but results.json lists it as a {kind} "
                               f"evaluation; {fix}")
    if num_samples is not None and len(p) != num_samples:
        raise PredictionsError(f"{path} holds {len(p)} samples but results.json says num_samples="
                               f"{num_samples}; {fix}")
    if p.per_sample_mm is not None and not np.all(np.isfinite(p.per_sample_mm)):
        raise PredictionsError(f"{path}: per_sample_mm contains NaN or inf; {fix}")
    return p


def _gt_for_protocol(samples_by_split, protocol: int, root: str | None) -> H36MSamples | None:
    """The split (protocol, root) if given, else any split of ``protocol`` (GT joints of an image id
    do not depend on the root source)."""
    splits = samples_by_split or {}
    if splits.get((protocol, root)) is not None and len(splits[(protocol, root)]):
        return splits[(protocol, root)]
    for (p, _), s in splits.items():
        if p == protocol and s is not None and len(s):
            return s
    return None


def collect(out_dir: Path, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
            samples_by_split: dict | None = None) -> ReportData:
    """Load results + predictions and compute every bootstrap CI and pairwise difference.

    Root (MRPE) CIs need the GT pelvis, so they are computed only when ``samples_by_split`` is given.
    """
    out_dir = Path(out_dir)
    data = ReportData(out_dir, load_results(out_dir))
    res = data.results
    for i, ev in enumerate(res["evaluations"]):
        p = load_predictions(out_dir, ev["predictions"], ev["num_samples"])
        where = f"{ev['model']} ({T.split_label(T.split_key(ev))})"
        if p is None:
            data.notes.append(f"{ev['predictions']} is missing: no confidence interval for {where}.")
            continue
        data.predictions[i] = p
        if p.per_sample_mm is None:
            data.notes.append(f"{ev['predictions']} has no per_sample_mm: no confidence interval for {where}.")
        elif p.per_sample_mm.size:
            mean = float(p.per_sample_mm.mean())
            if abs(mean - ev["total_mm"]) > 0.05 + 1e-4 * abs(ev["total_mm"]):
                data.notes.append(f"Inconsistent: mean of per_sample_mm in {ev['predictions']} is {mean:.2f} mm "
                                  f"but results.json says total_mm={ev['total_mm']:.2f} mm.")
    for key in T.splits_of(res):
        members = {res["evaluations"][i]["model"]: (p.image_id, p.per_sample_mm)
                   for i, p in data.predictions.items()
                   if T.split_key(res["evaluations"][i]) == key and p.per_sample_mm is not None
                   and p.per_sample_mm.size}
        if not members:
            continue
        own, diffs = group_bootstrap(members, n_resamples, seed)
        for i in data.predictions:
            ev = res["evaluations"][i]
            if T.split_key(ev) == key and ev["model"] in own:
                data.cis[i] = own[ev["model"]]
        data.diffs[key] = [d for d in diffs if not (T.is_untrained(res, d.a) or T.is_untrained(res, d.b))]
    data.untrained = [n for n in res["models"] if T.is_untrained(res, n)]
    _scaled_cis(data, samples_by_split, n_resamples, seed)
    for i, ev in enumerate(res["root_evaluations"]):
        gt = _gt_for_protocol(samples_by_split, ev["protocol"], ev.get("root"))
        if gt is None:
            continue
        p = load_predictions(out_dir, ev["predictions"], ev["num_samples"], kind="root")
        if p is None or not len(p):
            continue
        common, (rp, rg) = match_by_image_id([p.image_id, gt.image_id])
        if common.size:
            err = np.linalg.norm(p.root_cam[rp] - gt.joints_cam[rg, 0], axis=1)  # Euclidean root error, mm
            data.root_cis[i] = bootstrap_mean_ci(err, n_resamples, seed)
            if abs(float(err.mean()) - ev["mrpe_mm"]) > 0.05 + 1e-4 * ev["mrpe_mm"]:
                data.notes.append(f"Inconsistent: {ev['predictions']} against the dataset's GT pelvis gives MRPE "
                                  f"{err.mean():.2f} mm but results.json says mrpe_mm={ev['mrpe_mm']:.2f} mm.")
    return data


def _scaled_cis(data: ReportData, samples_by_split: dict | None, n_resamples: int, seed: int) -> None:
    """Bootstrap CIs of the scaled PA-MPJPE, recomputed per image from pred_cam and the dataset's GT
    (results.json keeps only its totals); needs ``samples_by_split``."""
    from ..results.metrics import evaluate_pose

    res = data.results
    for i, p in data.predictions.items():
        ev = res["evaluations"][i]
        if "pa_mpjpe_scaled_mm" not in ev or p.pred_cam is None:
            continue
        gt = _gt_for_protocol(samples_by_split, ev["protocol"], ev["root"])
        if gt is None:
            continue
        common, (rp, rg) = match_by_image_id([p.image_id, gt.image_id])
        if common.size != len(p):
            continue  # the dataset no longer holds every scored image: no CI rather than a CI of another set
        from ..joints import get_joint_set

        try:
            joint_set = get_joint_set(int(p.pred_cam.shape[1])).name
        except KeyError:
            continue
        sub = gt.subset(rg)
        scored = evaluate_pose(p.pred_cam[rp], sub, ev["protocol"], joint_set=joint_set, scaled_per_sample=True)
        data.scaled_cis[i] = bootstrap_mean_ci(scored["per_sample_scaled_mm"], n_resamples, seed)


def _slug(*parts) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "_".join(str(p) for p in parts).lower()).strip("-")


def write_csv(path: Path, data: ReportData) -> Path:
    """results.csv: one row per evaluation (mm, M, G, ms, img/s), written atomically."""
    res = data.results
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    num = lambda v, nd=3: "" if v is None else f"{float(v):.{nd}f}"  # noqa: E731
    for i, ev in enumerate(res["evaluations"]):
        m = res["models"][ev["model"]]
        pub = T.published_value(m, T.split_key(ev))
        delta = None if T.is_untrained(res, ev["model"]) else T.published_delta(m, T.split_key(ev), ev["total_mm"])
        c = T.cost_fields(m)
        ci = data.cis.get(i)
        w.writerow([ev["model"], ev["protocol"], ev["root"], ev["metric"], num(ev["total_mm"]),
                    num(ev["action_mean_mm"]), num(pub), num(delta),
                    num(c["params_m"], 4), num(c["gmacs"], 4), num(c["latency_ms"]), num(c["throughput_ips"]),
                    num(ci.low if ci else None), num(ci.high if ci else None), ev["num_samples"]])
    return write_text(path, buf.getvalue())


def _banner(res: dict) -> Banner | None:
    models = res["models"]
    untrained = bool(models) and all(m["weights"]["kind"] == "untrained" for m in models.values())
    synthetic = res["settings"]["dataset"]["synthetic"]
    if not (untrained or synthetic):
        return None
    why = " and ".join(w for w, on in (("every model has untrained (randomly initialised) weights", untrained),
                                         ("the dataset is synthetic", synthetic)) if on)
    return Banner("Accuracy numbers below mean nothing",
                  f"In this run {why}. The errors (mm) demonstrate that the pipeline runs end to end; they say "
                  f"nothing about the networks. Cost figures (parameters, MACs, latency, throughput, memory) are real.")


def _short_meta(meta: dict, limit: int = 240) -> str:
    """The scalar entries of the synthetic-set description (nested tables left out), shortened."""
    text = ", ".join(f"{k}={v}" for k, v in meta.items() if isinstance(v, (str, int, float, bool)) and k != "note")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subset_words(settings: dict) -> str | None:
    """How the run sampled the test splits (``--limit`` / ``--limit-per-action``), or None for all images."""
    if settings.get("limit_per_action"):
        n = settings["limit_per_action"]
        return (f"the first {n} image{'s' if n > 1 else ''} of every (subject, action) of each split "
                "(--limit-per-action)")
    if settings.get("limit"):
        return f"the first {settings['limit']} images of each split (--limit)"
    return None


def _bbox_root_words(settings: dict) -> str | None:
    br = settings.get("bbox_root")
    if not br:
        return None
    if isinstance(br, dict):
        return "RootNet files: " + "; ".join(f"Protocol {p}: {f}" for p, f in sorted(br.items()))
    return f"RootNet file (--bbox-root): {br}"


def _run_summary(res: dict) -> Bullets:
    runs = res.get("runs") or []
    if len(runs) > 1:
        return Bullets([f"Merged on {res['created_utc']} by pose3dbench {res['pose3dbench_version']} from {len(runs)} "
                        f"runs: {', '.join(r['label'] for r in runs)} (how each was made: Merged runs table; every "
                        "leaderboard row names its run).",
                        f"Models: {len(res['models'])}; evaluations: {len(res['evaluations'])}; root evaluations: "
                        f"{len(res['root_evaluations'])}."])
    env, st = res["environment"], res["settings"]
    ds = st["dataset"]
    meta = ds.get("synthetic_meta")
    subset = subset_words(st)
    items = [
        f"Created {res['created_utc']} with pose3dbench {res['pose3dbench_version']} "
        f"(results schema v{res['schema_version']}).",
        f"Device: {env['device']} ({env['device_name']}), {env['threads']} threads; torch {env['torch_version']}, "
        f"numpy {env['numpy_version']}, Python {env['python_version']}; {env['platform']}.",
        f"Settings: batch {st['batch_size']}, {st['dtype']}, flip test {'on' if st['flip'] else 'off'}, "
        f"{st['workers']} loader workers, backend {st['backend']}{' + torch.compile' if st.get('compile') else ''}"
        + (f", {subset}" if subset else "")
        + f"; protocols {', '.join(map(str, st['protocols']))}; "
        f"roots {', '.join(T.ROOT_LABELS.get(r, r) for r in st['roots'])}.",
        f"Dataset: {ds['path']} ({'SYNTHETIC' if ds['synthetic'] else 'Human3.6M, 3DMPPE annotation format'})"
        + (f"; synthetic set: {_short_meta(meta)}" if meta else "") + ".",
        f"Models: {len(res['models'])}; evaluations: {len(res['evaluations'])}; root evaluations: "
        f"{len(res['root_evaluations'])}.",
    ]
    br = _bbox_root_words(st)
    if br:
        items.insert(4, br + ".")
    return Bullets(items)


def _quantile_words(n: int) -> str:
    """'10th, 50th and 90th percentile and the maximum' for the panel's selection_quantiles(n)."""
    qs = selection_quantiles(n)
    pct = [f"{round(q * 100)}th" for q in qs if q < 1.0]
    text = (", ".join(pct[:-1]) + " and " + pct[-1] if len(pct) > 1 else "".join(pct)) + " percentile"
    return text + " and the maximum" if qs[-1] == 1.0 else text


def _input_notes(res: dict) -> list[str]:
    """How crops became each model's input (grouped by convention), and which conventions were assumed."""
    groups: dict[str, list[str]] = {}
    assumed = []
    for name, m in res["models"].items():
        inp = m.get("input")
        if not inp:
            continue
        groups.setdefault(inp["text"], []).append(name)
        if inp.get("assumed"):
            assumed.append(name)
    notes = [f"Network input ({', '.join(names)}): {text}; the crop is the 3DMPPE affine crop of the box "
             "(x = (p - mean) / std with p the pixel value in the stated range)." for text, names in groups.items()]
    if assumed:
        notes.append(f"{', '.join(assumed)}: the input convention above was ASSUMED (the model or file does not "
                     "state it); if it was made for another one, rerun with e.g. --model FILE@input_pixel_range=0-1.")
    return notes


def _evaluation_notes(res: dict) -> list[str]:
    """Skipped samples (one line per split when every model skipped the same), approximate joint maps."""
    notes = []
    for key, evs in T.evaluations_by_split(res).items():
        skipped = {name: ev["skipped"] for name, ev in evs.items() if ev["skipped"]}
        if not skipped:
            continue
        groups: dict[str, list[str]] = {}
        for name, sk in skipped.items():
            groups.setdefault(", ".join(f"{k}: {v}" for k, v in sk.items()), []).append(name)
        for detail, names in groups.items():
            who = "all models" if len(names) == len(evs) else ", ".join(names)
            notes.append(f"{T.split_label(key)}: samples left out as the protocol prescribes ({who}): {detail}.")
    approx = sorted({ev["model"] for ev in res["evaluations"] if ev["approximate_joint_mapping"]})
    if approx:
        notes.append(f"{', '.join(approx)}: scored through an approximate joint mapping to Human3.6M-17 (joints of "
                     "another skeleton stand in for some Human3.6M joints); not directly comparable (marked *).")
    return notes


def _warning_notes(res: dict) -> list[str]:
    """Every warning the run recorded (results.json ``warnings``), one note each."""
    return [f"Warning ({w['source']}): {w['message']}" for w in res.get("warnings") or []]


def _published_notes(res: dict) -> list[str]:
    notes = []
    for n, m in res["models"].items():
        rel = T.published_relation(m)
        if rel:
            notes.append(f"{n}: the published numbers (marked †) are those of the {rel}; they are shown for "
                         "reference, without a Δ.")
    return notes


def _timing_notes(res: dict) -> list[str]:
    noisy = T.noisy_timing(res)
    if not noisy:
        return []
    worst = ", ".join(f"{n} (p90 +{v:.0%})" for n, v in sorted(noisy.items(), key=lambda kv: -kv[1]))
    return [f"Timing noise: the batch-1 latency samples of {worst} spread by more than "
            f"{T.TIMING_NOISE:.0%} (90th percentile above the median): the machine was loaded or the timed runs "
            "were too few. Re-measure with `pose3dbench profile --model SPEC --iters 50` on an idle machine "
            "before quoting latency."]


def _untrained_reason(names: list[str]) -> str:
    return (f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} untrained (randomly initialised) weights: "
            "their errors measure the random initialisation, not the network, so ")


def _footer(res: dict, names=None, protocol=None, root=None, cost=False) -> str:
    return "pose3dbench " + T.provenance(res, names, protocol, root, cost)


def _joint_heatmap(path: Path, res: dict, key: T.SplitKey, evs: dict, names: list[str]) -> Path | None:
    joints = T.joint_names(evs.values())
    if not joints:
        return None
    values = np.array([[evs[n]["per_joint_mm"].get(j, np.nan) for j in joints] for n in names], dtype=float)
    keep = [k for k in range(len(joints)) if not np.all(np.nan_to_num(values[:, k]) == 0.0)]  # the root under MPJPE
    joints, values = [joints[k] for k in keep], values[:, keep]
    return heatmap(path, names, joints, values, f"{key[2]} (mm)", f"{T.split_label(key)}: per-joint error (mm)",
                   footer=_footer(res, names, key[0], key[1]))


def build_report(out_dir: Path, *, samples_by_split: dict[tuple[int, str], H36MSamples] | None = None,
                 n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, latex: bool = False,
                 threshold_mm: float = T.PRACTICAL_THRESHOLD_MM) -> dict[str, Path]:
    """Write report.md, report.html, results.csv and PNG figures into ``out_dir``; return their paths.

    ``samples_by_split``: {(protocol, root): H36MSamples} for the qualitative panel (GT and image
    paths); when None the panel is skipped and the report says so. ``latex``: also write tables.tex
    (booktabs: leaderboard, per-action tables, cost). ``threshold_mm``: the practical threshold a paired
    difference must reach, besides a CI excluding 0, to be called significant.
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
    blocks: list[Block] = [Heading("pose3dbench report: monocular 3D human pose on Human3.6M", 1)]
    banner = _banner(res)
    if banner:
        blocks.append(banner)
    if res.get("complete") is False:
        blocks.append(Banner("Incomplete run",
                             "This results.json belongs to a run that was interrupted or failed before it "
                             "finished: the evaluations shown are valid, but some models or splits are missing. "
                             "Run the same `pose3dbench run` command again to resume and complete it."))
    subset = subset_words(res["settings"])
    if subset:
        blocks.append(Banner("Subset of the test set",
                             f"Only {subset} were evaluated. Errors are not comparable with published "
                             "full-test-set numbers."))
    blocks += [Paragraph("Errors are in millimetres in camera space, averaged over the 17 Human3.6M joints and "
                         "then over images. MPJPE aligns the pelvis; PA-MPJPE first applies a rigid alignment "
                         "(rotation + translation, no scale) fitted per image, as the 3DMPPE evaluation does; "
                         "'PA-MPJPE with scale' is the similarity-aligned variant (rotation + translation + "
                         "scale) of VideoPose3D/MMPose. Δ = measured − published. Root sources: GT root "
                         "(ground-truth box and pelvis), RootNet root (file) (boxes and roots of the released "
                         "RootNet bbox_root file), RootNet root (model) (a RootNet model of this run predicts the "
                         "roots on those boxes). Cost: parameters in millions (M), multiply-adds in G (10^9), "
                         "latency per image at batch 1 in ms, throughput in images/s. Every caption ends with "
                         "[how it was made]; the Provenance section has the full account."),
               Heading("Run", 2), _run_summary(res)]
    if len(res.get("runs") or []) > 1:
        blocks.append(T.runs_table(res))

    # Leaderboard, evaluations with CIs, cost, root
    blocks.append(Heading("Leaderboard", 2))
    evaluated = [n for n in order if any(ev["model"] == n for ev in res["evaluations"])]
    if res["evaluations"]:
        lb = T.leaderboard_table(res, "Ranked by the primary split "
                                 f"({T.split_label(T.primary_split(res))}); best measured value in bold; "
                                 "† published number of a related paper network of another layout (no Δ); "
                                 "Δ left out for untrained weights. Throughput and memory: Cost table. "
                                 + T.provenance(res, evaluated, cost=True))
        blocks.append(lb)
        latex_tables.append(lb)
        blocks.append(T.evaluations_table(res, data.cis, "95% CI: paired percentile bootstrap over images "
                                          f"({n_resamples} resamples, seed {seed}). * = approximate joint mapping "
                                          "(joints of another skeleton stand in for Human3.6M joints). "
                                          + T.provenance(res, evaluated), data.scaled_cis))
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
                                   "root (pelvis) in camera mm; x/y/z: mean absolute error per axis. The published "
                                   "numbers are RootNet's Protocol-2 results (S9, S11); the paper gives none for "
                                   "Protocol 1. "
                                   + T.provenance(res, [e["model"] for e in res["root_evaluations"]])))

    # Accuracy vs cost (trained weights only: the error of a random initialisation has no place on a front)
    scatter_splits = [k for k in splits if k[1] == "gt"] or splits[:1]
    scatter_splits = [k for k in scatter_splits if k[2] == ("PA-MPJPE" if k[0] == 1 else "MPJPE")] or scatter_splits
    if scatter_splits:
        blocks.append(Heading("Accuracy vs cost", 2))
        shown = {n for k in scatter_splits for n in by_split[k]}
        untrained = [n for n in order if n in shown and T.is_untrained(res, n)]
        if untrained:
            blocks.append(Paragraph(("Every model of this run has untrained (randomly initialised) weights: their "
                                     "errors measure the random initialisation, not the network, so there is no "
                                     "accuracy-vs-cost plot and no Pareto front" if len(untrained) == len(shown) else
                                     _untrained_reason(untrained) + "they are left out of the accuracy-vs-cost "
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
        errors = [evs[n]["total_mm"] for n in names]
        path = out_dir / f"fig_cost_{_slug('p', key[0], key[1], key[2])}.png"
        cost_scatter(path, names, errors, costs, colors, f"{key[2]} (mm)", f"{T.split_label(key)} vs cost",
                     footer=_footer(res, names, key[0], key[1], cost=True))
        paths[path.stem] = path
        fronts = []
        for label, vals in costs.items():
            idx = pareto_front(np.stack([np.asarray(vals, dtype=float), np.asarray(errors, dtype=float)], 1))
            fronts.append(f"{label}: {', '.join(names[i] for i in idx) or 'none'}")
        blocks.append(Figure(path, f"{T.split_label(key)} vs cost",
                             "Each dot is a model; ringed dots joined by the dashed line are Pareto-optimal "
                             "(no other model has both lower error and lower cost). "
                             + T.provenance(res, names, key[0], key[1], cost=True)))
        blocks.append(Paragraph("Pareto-optimal — " + "; ".join(fronts) + "."))

    # Per split: actions and joints
    for key in splits:
        evs = by_split[key]
        names = [n for n in order if n in evs]
        blocks.append(Heading(f"{T.split_label(key)}: per action and per joint", 2))
        cap = T.provenance(res, names, key[0], key[1])
        table = T.per_action_table(key, evs, names, f"{T.METRIC_WORDS.get(key[2], key[2])} in mm per action "
                                   "(mean over that action's images); Avg = mean of the actions, All = over all "
                                   "images; ↳ the paper's number (all images); best measured in bold. " + cap, res)
        blocks.append(table)
        latex_tables.append(table)
        scaled = {n: ev["pa_mpjpe_scaled"] for n, ev in evs.items() if ev.get("pa_mpjpe_scaled")}
        if scaled:
            skey = (key[0], key[1], "PA-MPJPE with scale")
            stable = T.per_action_table(skey,
                                        {n: {**v, "approximate_joint_mapping": evs[n]["approximate_joint_mapping"]}
                                         for n, v in scaled.items()},
                                        [n for n in names if n in scaled],
                                        "Similarity alignment (rotation + translation + scale, VideoPose3D/MMPose "
                                        "P-MPJPE) of the same predictions, mm per action; 95% CIs in All "
                                        "evaluations. " + cap, res)
            blocks.append(stable)
            latex_tables.append(stable)
        actions = T.action_names(evs.values())
        if actions:
            path = out_dir / f"fig_actions_{_slug('p', *key)}.png"
            grouped_bars(path, [T.ACTION_SHORT.get(a, a) for a in actions],
                         {n: [evs[n]["per_action_mm"].get(a, np.nan) for a in actions] for n in names},
                         colors, f"{key[2]} (mm)", f"{T.split_label(key)} per action",
                         footer=_footer(res, names, key[0], key[1]))
            paths[path.stem] = path
            blocks.append(Figure(path, f"{T.split_label(key)}: per-action error", f"{key[2]} in mm per action. " + cap))
        path = _joint_heatmap(out_dir / f"fig_joints_{_slug('p', *key)}.png", res, key, evs, names)
        if path is not None:
            paths[path.stem] = path
            blocks.append(Figure(path, f"{T.split_label(key)}: per-joint error",
                                 f"{key[2]} in mm per Human3.6M joint (mean over images), one row per model; "
                                 "a joint whose "
                                 "error is 0 for every model (the aligned Pelvis) is left out. " + cap))

    # Statistics
    blocks.append(Heading("Statistical significance", 2))
    blocks.append(Paragraph(f"Paired percentile bootstrap over images: {n_resamples} resamples with a fixed seed "
                            f"({seed}); differences use the images both models were scored on (matched by "
                            "image id) and the same resamples for both. A difference is called significant when "
                            f"its 95% CI excludes 0 and it is at least {threshold_mm:g} mm (a practical threshold: "
                            "smaller differences matter to nobody, and a large test set makes even those "
                            "'significant'). The CIs cover sampling of test images only, not training randomness."))
    chart_splits = {k for k in splits if k[1] == "gt"} or set(splits[:1])
    if any(T.split_key(res["evaluations"][i]) in chart_splits for i in data.cis):
        idx = sorted((i for i in data.cis if T.split_key(res["evaluations"][i]) in chart_splits),
                     key=lambda i: (T.split_sort_key(T.split_key(res["evaluations"][i])),
                                    order.index(res["evaluations"][i]["model"])))
        evs_i = [res["evaluations"][i] for i in idx]
        labels = [f"{ev['model']} · {T.split_label(T.split_key(ev))}" for ev in evs_i]
        path = out_dir / "fig_ci.png"
        ci_chart(path, labels, [data.cis[i] for i in idx], [colors[res["evaluations"][i]["model"]] for i in idx],
                 "error (mm), mean and 95% CI", "Mean error with 95% bootstrap CI",
                 footer=_footer(res, evaluated))
        paths[path.stem] = path
        blocks.append(Figure(path, "Mean error with 95% bootstrap confidence intervals",
                             "Dot: mean error over images (mm); bar: 95% percentile bootstrap CI"
                             + ("; GT-root splits only (all CIs are in the table of all evaluations). "
                                if len(chart_splits) < len(splits) else ". ")
                             + T.provenance(res, evaluated)))
    untrained_eval = [n for n in data.untrained if n in evaluated]
    if untrained_eval:
        blocks.append(Paragraph((("Every model of this run has untrained (randomly initialised) weights: their errors "
                                  "measure the random initialisation, not the network, so ")
                                 if len(untrained_eval) == len(evaluated) else _untrained_reason(untrained_eval))
                                + "a difference between two of them tests two random draws, not two networks: "
                                "they are left out of the paired differences and the significance tests.", muted=True))
    for key in splits:
        diffs = data.diffs.get(key, [])
        if not diffs:
            continue
        names = [n for n in order if n in by_split[key]]
        table, note = T.pairwise_table(key, diffs, order, "Negative A − B: A has lower error. "
                                       + T.provenance(res, names, key[0], key[1]), threshold_mm=threshold_mm)
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
            samples = samples_by_split.get((key[0], key[1]))
            if samples is None or len(samples) == 0:
                continue
            preds = {res["evaluations"][i]["model"]: {"image_id": p.image_id, "pred_cam": p.pred_cam,
                                                      "per_sample_mm": p.per_sample_mm}
                     for i, p in data.predictions.items()
                     if T.split_key(res["evaluations"][i]) == key and p.pred_cam is not None and p.image_id.size}
            if not preds:
                continue
            path = out_dir / f"fig_qualitative_{_slug('p', key[0], key[1])}.png"
            panel = qualitative_panel(path, samples, preds, colors, num_samples=PANEL_SAMPLES,
                                      footer=_footer(res, list(preds), key[0], key[1]))
            if panel is None:
                continue
            paths[path.stem] = path
            blocks.append(Figure(path, f"{T.split_label(key)}: qualitative examples",
                                 f"Images {', '.join(map(str, panel.image_ids))}, "
                                 f"chosen at the {_quantile_words(PANEL_SAMPLES)} "
                                 f"of the mean per-image {key[2]} of the models shown. Left: crop "
                                 "with the GT skeleton; then each model's prediction projected into the crop "
                                 "(GT dashed); then pelvis-relative 3D skeletons (GT black). "
                                 + T.provenance(res, panel.models, key[0], key[1])))
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
    notes = (_warning_notes(res) + list(data.notes) + _evaluation_notes(res) + _published_notes(res)
             + _timing_notes(res) + _input_notes(res))
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
