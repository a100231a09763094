"""The report's prose: banners, the run summary, notes, and results.csv."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from . import tables as T
from .document import Banner, Bullets
from .files import write_text
from .qualitative import selection_quantiles

CSV_COLUMNS = ["model", "dataset", "split", "root", "metric", "unit", "value", "group_mean", "published",
               "delta", "params_m", "gmacs", "latency_ms", "throughput_ips", "ci_low", "ci_high", "num_samples"]


def write_csv(path: Path, data) -> Path:
    """results.csv: one row per evaluation of ``data`` (``collect.ReportData``; the value in its split's unit; M, G,
    ms, img/s), written atomically."""
    res = data.results
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    num = lambda v, nd=3: "" if v is None else f"{float(v):.{nd}f}"  # noqa: E731
    for i, ev in enumerate(res["evaluations"]):
        m = res["models"][ev["model"]]
        key = T.split_key(ev)
        value = T.value_of(res, ev)
        pub = T.published_value(m, key, res)
        delta = None if T.is_untrained(res, ev["model"]) else T.published_delta(m, key, value, res)
        c = T.cost_fields(m)
        ci = data.cis.get(i)
        mean_field = next(iter((T.decl_of(res, key).get("group_mean") or {}).values()), None)
        w.writerow([ev["model"], ev["dataset"], ev["split"], ev["root"], ev["metric"], T.unit_of(res, key),
                    num(value), num(ev.get(mean_field) if mean_field else None), num(pub), num(delta),
                    num(c["params_m"], 4), num(c["gmacs"], 4), num(c["latency_ms"]), num(c["throughput_ips"]),
                    num(ci.low if ci else None), num(ci.high if ci else None), ev["num_samples"]])
    return write_text(path, buf.getvalue())


def banner(res: dict) -> Banner | None:
    models = res["models"]
    untrained = bool(models) and all(m["weights"]["kind"] == "untrained" for m in models.values())
    synthetic = T.any_synthetic(res)
    if not (untrained or synthetic):
        return None
    why = " and ".join(w for w, on in (("every model has untrained (randomly initialised) weights", untrained),
                                         ("the dataset is synthetic", synthetic)) if on)
    return Banner("Accuracy numbers below mean nothing",
                  f"In this run {why}. The accuracy numbers demonstrate that the pipeline runs end to end; they say "
                  f"nothing about the networks. Cost figures (parameters, MACs, latency, throughput, memory) are real.")


def _short_meta(meta: dict, limit: int = 240) -> str:
    """The scalar entries of the synthetic-set description (nested tables left out), shortened."""
    text = ", ".join(f"{k}={v}" for k, v in meta.items() if isinstance(v, (str, int, float, bool)) and k != "note")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subset_words(settings: dict) -> str | None:
    """How the run sampled the test splits (``--limit`` / ``--limit-per-group``), or None for all samples."""
    if settings.get("limit_per_group"):
        n = settings["limit_per_group"]
        groups = "; ".join(f"{d['title']}: {d['group_words']}" for d in settings.get("datasets") or []
                           if d.get("group_words"))
        return (f"the first {n} sample{'s' if n > 1 else ''} of every group of each split"
                + (f" ({groups})" if groups else "") + " (--limit-per-group)")
    if settings.get("limit"):
        return f"the first {settings['limit']} samples of each split (--limit)"
    return None


def _bbox_root_words(res: dict) -> str | None:
    parts = [f"{d['title']} {T.split_words(res, d['name'], s)}: {f}" for d in T.datasets_of(res)
             for s, f in sorted((d.get("bbox_root") or {}).items()) if s in d["splits"]]
    return ("RootNet files (--bbox-root): " + "; ".join(parts)) if parts else None


def run_summary(res: dict) -> Bullets:
    runs = res.get("runs") or []
    if len(runs) > 1:
        return Bullets([f"Merged on {res['created_utc']} by pose3dbench {res['pose3dbench_version']} from {len(runs)} "
                        f"runs: {', '.join(r['label'] for r in runs)} (how each was made: Merged runs table; every "
                        "leaderboard row names its run).",
                        f"Models: {len(res['models'])}; evaluations: {len(res['evaluations'])}; root evaluations: "
                        f"{len(res['root_evaluations'])}."])
    env, st = res["environment"], res["settings"]
    subset = subset_words(st)
    items = [
        f"Created {res['created_utc']} with pose3dbench {res['pose3dbench_version']} "
        f"(results schema v{res['schema_version']}).",
        f"Device: {env['device']} ({env['device_name']}), {env['threads']} threads; torch {env['torch_version']}, "
        f"numpy {env['numpy_version']}, Python {env['python_version']}; {env['platform']}.",
        f"Settings: batch {st['batch_size']}, {st['dtype']}, flip test {'on' if st['flip'] else 'off'}, "
        f"{st['workers']} loader workers, backend {st['backend']}{' + torch.compile' if st.get('compile') else ''}"
        + (f", {subset}" if subset else "")
        + f"; roots {', '.join(T.ROOT_LABELS.get(r, r) for r in st['roots'])}.",
    ]
    for d in T.datasets_of(res):
        meta = d.get("synthetic_meta")
        items.append(f"Dataset {d['title']}: {d['path']} ({'SYNTHETIC' if d.get('synthetic') else 'real data'}); "
                     f"splits {', '.join(T.split_words(res, d['name'], s) for s in d['splits'])}"
                     + (f"; synthetic set: {_short_meta(meta)}" if meta else "") + ".")
    br = _bbox_root_words(res)
    if br:
        items.append(br + ".")
    items.append(f"Models: {len(res['models'])}; evaluations: {len(res['evaluations'])}; root evaluations: "
                 f"{len(res['root_evaluations'])}.")
    return Bullets(items)


def quantile_words(n: int) -> str:
    """'10th, 50th and 90th percentile and the maximum' for the panel's selection_quantiles(n)."""
    qs = selection_quantiles(n)
    pct = [f"{round(q * 100)}th" for q in qs if q < 1.0]
    text = (", ".join(pct[:-1]) + " and " + pct[-1] if len(pct) > 1 else "".join(pct)) + " percentile"
    return text + " and the maximum" if qs[-1] == 1.0 else text


def input_notes(res: dict) -> list[str]:
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


def evaluation_notes(res: dict) -> list[str]:
    """Skipped samples (one line per split when every model skipped the same), approximate joint maps."""
    notes = []
    for key, evs in T.evaluations_by_split(res).items():
        skipped = {name: ev["skipped"] for name, ev in evs.items() if ev.get("skipped")}
        words = T.decl_of(res, key).get("skipped_words", "as the benchmark prescribes")
        if not skipped:
            continue
        groups: dict[str, list[str]] = {}
        for name, sk in skipped.items():
            groups.setdefault(", ".join(f"{k}: {v}" for k, v in sk.items()), []).append(name)
        for detail, names in groups.items():
            who = "all models" if len(names) == len(evs) else ", ".join(names)
            notes.append(f"{T.split_label(key, res)}: samples left out {words} ({who}): {detail}.")
    approx = sorted({ev["model"] for ev in res["evaluations"] if ev.get("approximate_joint_mapping")})
    if approx:
        notes.append(f"{', '.join(approx)}: scored through an approximate joint mapping to the dataset's skeleton "
                     "(joints of another skeleton stand in for some of its joints); not directly comparable "
                     "(marked *).")
    return notes


def warning_notes(res: dict) -> list[str]:
    """Every warning the run recorded (results.json ``warnings``), one note each."""
    return [f"Warning ({w['source']}): {w['message']}" for w in res.get("warnings") or []]


def published_notes(res: dict) -> list[str]:
    notes = []
    for n, m in res["models"].items():
        rel = T.published_relation(m)
        if rel:
            notes.append(f"{n}: the published numbers (marked †) are those of the {rel}; they are shown for "
                         "reference, without a Δ.")
    return notes


def timing_notes(res: dict) -> list[str]:
    noisy = T.noisy_timing(res)
    if not noisy:
        return []
    worst = ", ".join(f"{n} (p90 +{v:.0%})" for n, v in sorted(noisy.items(), key=lambda kv: -kv[1]))
    return [f"Timing noise: the batch-1 latency samples of {worst} spread by more than "
            f"{T.TIMING_NOISE:.0%} (90th percentile above the median): the machine was loaded or the timed runs "
            "were too few. Re-measure with `pose3dbench profile --model SPEC --iters 50` on an idle machine "
            "before quoting latency."]


def untrained_reason(names: list[str]) -> str:
    return (f"{', '.join(names)} {'has' if len(names) == 1 else 'have'} untrained (randomly initialised) weights: "
            "their errors measure the random initialisation, not the network, so ")


