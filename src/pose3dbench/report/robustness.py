"""The report's "Robustness under image corruptions" section (runs with ``--corruptions``).

Per (dataset, split): the mCE table (models in rows: clean error, mCE, mean relative degradation, CE per
corruption), the paired bootstrap CI of each model's corrupted-minus-clean error per corruption, a per-group
table for each declared group field (mean over corruptions and severities), a degradation chart (error vs
severity, one line per model, one panel per corruption) and a qualitative strip (one crop at every severity).
The error is the split's metric (for a metric where higher is better, 100 - value: see results.robustness).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..results.robustness import corruption_table, declaration
from . import tables as T
from .document import Block, Figure, Heading, Paragraph, Table
from .plots import new_figure, save_figure
from .stats import DEFAULT_RESAMPLES, DEFAULT_SEED, match_by_image_id, paired_bootstrap_diff_ci

def _fmt(v: float, nd: int = 1) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


def degradation_chart(path: Path, table: dict, colors: dict, ylabel: str) -> Path:
    """One panel per corruption: error (the split's unit) vs severity (0 = clean), one line per model."""
    cors, sevs = table["corruptions"], table["severities"]
    ncols = min(3, len(cors))
    nrows = (len(cors) + ncols - 1) // ncols
    fig = new_figure(4.0 * ncols, 2.9 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, c in enumerate(cors):
        ax = axes[i // ncols][i % ncols]
        for m, row in table["models"].items():
            xs = [0] + sevs
            ys = [row["clean_mm"]] + [row["errors_mm"][c][s] for s in sevs]
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.4, color=colors.get(m), label=m)
        ax.set_title(c.replace("_", " "), fontsize=10, loc="left")
        ax.set_xticks([0] + sevs)
        ax.grid(color="#e5e7eb", linewidth=0.8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        if i // ncols == nrows - 1:
            ax.set_xlabel("severity (0 = clean)")
    for j in range(len(cors), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(labels), 5), fontsize=8, frameon=False)
    return save_figure(fig, path)


def severity_strip(path: Path, image_path: str, bbox, image_id: int, names: list[str], severities: list[int],
                   input_hw=(256, 256)) -> Path | None:
    """One network-input crop at severity 0 and every run severity, one row per corruption."""
    from ..data.corruptions import corrupt
    from ..data.transforms import crop_patch, load_image
    from ..errors import Pose3DBenchError

    try:
        clean = crop_patch(load_image(image_path), bbox, input_hw)
    except Pose3DBenchError:
        return None
    cols = [0] + list(severities)
    fig = new_figure(1.25 * len(cols) + 1.4, 1.25 * len(names) + 0.4)
    axes = fig.subplots(len(names), len(cols), squeeze=False)
    for i, c in enumerate(names):
        for j, s in enumerate(cols):
            ax = axes[i][j]
            ax.imshow(corrupt(clean, c, s, image_id))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("clean" if s == 0 else f"s{s}", fontsize=8)
            if j == 0:
                ax.set_ylabel(c.replace("_", " "), fontsize=7, rotation=0, ha="right", va="center")
    return save_figure(fig, path)


def _per_sample(out_dir: Path, rel: str, lower_is_better: bool):
    """(row ids, per-sample error) of a predictions file (error: 100 - value where higher is better)."""
    from ..results.predictions import load_predictions

    p = load_predictions(Path(out_dir) / rel)
    return p.key, (p.per_row if lower_is_better else 100.0 - p.per_row)


def robustness_blocks(res: dict, out_dir: Path, colors: dict, paths: dict, samples_by_split=None,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> list[Block]:
    """The section's blocks (empty when the run had no corruptions); figures are added to ``paths``."""
    evs = res.get("corruption_evaluations") or []
    if not evs:
        return []
    st = res["settings"].get("corruptions") or {}
    blocks: list[Block] = [Heading("Robustness under image corruptions", 2)]
    blocks.append(Paragraph(
        "Every pose model on the same corrupted crops (ImageNet-C corruptions with their severity constants, "
        "plus a synthetic occluder; applied to the uint8 crop before the model's normalisation, seeded per "
        "image, corruption and severity, so all models see identical pixels). CE = sum over severities of the "
        "model's error / the reference model's; mCE = mean CE over corruptions (reference = 1.00); relative "
        "degradation = (mean corrupted error - clean error) / clean error."))
    for ds, split in dict.fromkeys((e["dataset"], e["split"]) for e in evs):
        table = corruption_table(res, ds, split, st.get("mce_reference"))
        if not table["models"]:
            continue
        decl = declaration(res, ds, split)
        low = decl.get("lower_is_better", True)
        unit = decl.get("unit") or ""
        metric = decl["metric"] if low else f"100 - {decl['metric']}"
        name = T.split_words(res, ds, split)
        models = list(table["models"])
        cors = table["corruptions"]
        root = table["root"]
        prov = T.provenance(res, models, (ds, split, root))
        rows = []
        for m in models:
            r = table["models"][m]
            rows.append([m, _fmt(r["clean_mm"]), _fmt(r["mce"], 2), f"{100 * r['mean_relative_degradation']:+.0f}%"]
                        + [_fmt(r["ce"][c], 2) for c in cors])
        blocks.append(Table(
            f"{name}: mean corruption error ({metric}, reference {table['reference']})",
            ["Model", f"clean ({unit})", "mCE", "rel. degr."] + [c.replace("_", " ") for c in cors], rows,
            caption=f"CE per corruption over severities {', '.join(map(str, table['severities']))}. " + prov,
            numeric=[False] + [True] * (3 + len(cors))))
        # paired CIs: corrupted (mean over severities, per image) minus clean, per model and corruption
        clean_ev = {e["model"]: e for e in res["evaluations"]
                    if (e["dataset"], e["split"], e["root"]) == (ds, split, root)}
        ci_rows = []
        for m in models:
            try:
                cid, cps = _per_sample(out_dir, clean_ev[m]["predictions"], low)
            except Exception:  # noqa: BLE001 - a missing file: no interval, said below
                continue
            cells = [m]
            for c in cors:
                try:
                    per = [_per_sample(out_dir, e["predictions"], low) for e in evs
                           if (e["model"], e["dataset"], e["split"], e["corruption"]) == (m, ds, split, c)]
                    common, idx = match_by_image_id([cid] + [p[0] for p in per])
                    corrupted = np.mean([p[1][ix] for p, ix in zip(per, idx[1:])], axis=0)
                    ci = paired_bootstrap_diff_ci(corrupted, cps[idx[0]], n_resamples, seed)
                    cells.append(f"{ci.estimate:+.1f} [{ci.low:+.1f}, {ci.high:+.1f}]")
                except Exception:  # noqa: BLE001
                    cells.append("–")
            ci_rows.append(cells)
        if ci_rows:
            blocks.append(Table(f"{name}: error increase under corruption, {unit} (95% paired bootstrap CI)",
                                ["Model"] + [c.replace("_", " ") for c in cors], ci_rows,
                                caption="Per sample: mean over severities of the corrupted error minus the clean "
                                        f"error; {n_resamples} paired resamples over samples, seed {seed}. " + prov,
                                numeric=[False] + [True] * len(cors)))
        # per group (mean over corruptions and severities)
        for field, word in (decl.get("groups") or {}).items():
            groups = T.group_names([e for e in evs if (e["dataset"], e["split"]) == (ds, split)], field,
                                   (decl.get("group_order") or {}).get(field, ()))
            act_rows = []
            for m in models:
                mine = [e for e in evs if (e["model"], e["dataset"], e["split"]) == (m, ds, split)]
                act_rows.append([m] + [_fmt(float(np.mean([e[field][a] for e in mine if a in (e.get(field) or {})])))
                                       for a in groups])
            blocks.append(Table(f"{name}: corrupted {decl['metric']} per {word} ({unit})",
                                ["Model"] + groups, act_rows,
                                caption="Mean over all corruptions and severities. " + prov,
                                numeric=[False] + [True] * len(groups)))
        path = out_dir / f"fig_corruptions_{T.split_words(res, ds, split).lower().replace(' ', '-')}.png"
        degradation_chart(path, table, colors, f"{metric} ({unit})")
        paths[path.stem] = path
        blocks.append(Figure(path, f"{name}: error versus corruption severity",
                             f"{metric} ({unit}) at severity 0 (clean) to 5, one line per model. " + prov))
        if table["incomplete"]:
            blocks.append(Paragraph("Left out (missing clean evaluation or severities): "
                                    f"{', '.join(table['incomplete'])}.",
                                    muted=True))
    # qualitative strip
    samples = None
    for key, s in (samples_by_split or {}).items():
        if len(s):
            samples = s
            break
    if samples is not None:
        names = list(dict.fromkeys(e["corruption"] for e in evs))
        sevs = sorted({int(e["severity"]) for e in evs})
        path = out_dir / "fig_corruption_strip.png"
        if severity_strip(path, samples.image_path[0], samples.bbox[0], int(samples.image_id[0]), names, sevs):
            paths[path.stem] = path
            blocks.append(Figure(path, "One crop at every severity",
                                 f"Image {int(samples.image_id[0])}: the 256x256 network-input crop, clean and at each "
                                 "severity, as every model saw it."))
    return blocks


__all__ = ["robustness_blocks", "degradation_chart", "severity_strip"]
