"""``pose3dbench report --merge DIR... --out OUT``: one leaderboard from several runs.

The README's recipe writes one folder per setting (Protocol 2, Protocol 1, the full pipeline with a
RootNet model); papers put them in one table. ``merge_runs`` reads each folder's results.json
(validated), and writes OUT/results.json holding every model and evaluation once, each evaluation
tagged with the run it comes from (``run``: the run's label) and its predictions file by absolute
path, plus ``runs``: how each run was produced (folder, device, dtype, backend, batch, torch,
dataset, subset). The report then shows a Run column and a Merged runs table (provenance per row).

Models are matched by name and identity (spec, weights sha256, configuration): the same model in two
runs is one row; two different models with one name, or the same (model, dataset, split, root) evaluated in
two runs, keep both, the later one renamed ``name [run]`` (a note says so). The datasets of all runs are listed
once (by name), each with the union of the splits the runs evaluated.
"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

from ..io import atomic_write_json
from ..results.schema import RESULTS_SCHEMA_VERSION, validate_results
from ..errors import ResultsError
MERGED_FILE = "results.json"


def _identity(model: dict) -> str:
    return json.dumps({"spec": model.get("spec"), "sha256": model["weights"].get("sha256"),
                       "config": model.get("config")}, sort_keys=True, default=str)


def _labels(dirs: list[Path]) -> list[str]:
    """Short unique run labels: the folder names, with a parent folder or a number added where they clash."""
    labels = [d.name or str(d) for d in dirs]
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            alt = f"{dirs[i].parent.name}/{label}" if dirs[i].parent.name else label
            labels[i] = alt
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def _subset(settings: dict) -> str | None:
    from .notes import subset_words

    return subset_words(settings)


def _run_entry(label: str, path: Path, res: dict) -> dict:
    env, st = res["environment"], res["settings"]
    data = "; ".join(f"{d['title']} {d['path']}" + (" (SYNTHETIC)" if d.get("synthetic") else "")
                     for d in st["datasets"])
    return {"label": label, "path": str(path), "created_utc": res["created_utc"], "device": env["device"],
            "device_name": env["device_name"], "dtype": st["dtype"],
            "backend": st["backend"] + (" + torch.compile" if st.get("compile") else ""),
            "batch_size": st["batch_size"], "flip": st["flip"], "torch_version": env["torch_version"],
            "pose3dbench_version": res["pose3dbench_version"],
            "dataset": data, "subset": _subset(st)}


def merge_results(dirs: list[Path]) -> dict:
    """The merged results dict of the runs in ``dirs`` (see the module docstring); raises ResultsError."""
    from .collect import load_results

    if len(dirs) < 2:
        raise ResultsError("--merge needs at least two run folders (each holding results.json), e.g. "
                           "`pose3dbench report --merge h36m-p2 h36m-p1 --out leaderboard`")
    dirs = [Path(d).resolve() for d in dirs]
    if len(set(dirs)) != len(dirs):
        raise ResultsError("--merge names the same folder twice; give each run folder once")
    runs = [load_results(d) for d in dirs]
    labels = _labels(dirs)
    first = runs[0]
    merged = {
        "schema_version": RESULTS_SCHEMA_VERSION, "pose3dbench_version": first["pose3dbench_version"],
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": copy.deepcopy(first["environment"]), "settings": copy.deepcopy(first["settings"]),
        "models": {}, "evaluations": [], "root_evaluations": [], "warnings": [],
        "runs": [_run_entry(label, d, r) for label, d, r in zip(labels, dirs, runs)],
        "complete": all(r.get("complete", True) is not False for r in runs),
    }
    st = merged["settings"]
    roots = []
    for r in runs:
        roots += [x for x in r["settings"]["roots"] if x not in roots]
    st["roots"] = roots
    datasets: dict[str, dict] = {}
    folders: dict[str, set] = {}
    for r in runs:
        for d in r["settings"]["datasets"]:
            entry = datasets.setdefault(d["name"], copy.deepcopy(d))
            entry["splits"] = entry["splits"] + [s for s in d["splits"] if s not in entry["splits"]]
            entry["synthetic"] = entry["synthetic"] or d["synthetic"]
            folders.setdefault(d["name"], set()).add(d["path"])
    for name, paths in folders.items():
        if len(paths) > 1:
            datasets[name]["path"] = "several folders (Merged runs table)"
            datasets[name]["synthetic_meta"] = None
            merged["warnings"].append({"source": "merge", "message": f"the runs read different {name} folders: "
                                       + "; ".join(f"{lab}: {d['path']}" for lab, r in zip(labels, runs)
                                                   for d in r["settings"]["datasets"] if d["name"] == name)})
    st["datasets"] = list(datasets.values())
    subsets = {_subset(r["settings"]) for r in runs}
    if len(subsets) > 1:
        st["limit"], st["limit_per_group"] = None, None
        merged["warnings"].append({"source": "merge", "message": "the runs evaluated different parts of the test "
                                   "set (Subset column of the Merged runs table): their rows are not comparable"})
    for d in st["datasets"]:
        d["bbox_root"] = None  # per run (Merged runs table); the report re-reads each run's own splits
    taken: dict[str, str] = {}  # merged model name -> identity
    seen_evals: set[tuple] = set()
    seen_roots: set[tuple] = set()
    for label, d, res in zip(labels, dirs, runs):
        rename: dict[str, str] = {}
        for name, m in res["models"].items():
            ident = _identity(m)
            new = name
            if name in taken and taken[name] != ident:
                new = f"{name} [{label}]"
                merged["warnings"].append({"source": "merge", "message": f"{name} of run {label} is another model "
                                           f"than the {name} of an earlier run: shown as {new}"})
            rename[name] = new
        for ev in res["evaluations"]:
            name = rename[ev["model"]]
            key = (name, ev["dataset"], ev["split"], ev["root"])
            if key in seen_evals:
                dup = f"{ev['model']} [{label}]"
                merged["warnings"].append({"source": "merge",
                                           "message": f"{ev['model']} {ev['dataset']} {ev['split']} {ev['root']} is "
                                                      f"in several runs: the one of run {label} is shown as {dup}"})
                name = dup
                key = (name, *key[1:])
            seen_evals.add(key)
            _add_model(merged, taken, name, res["models"][ev["model"]])
            merged["evaluations"].append({**copy.deepcopy(ev), "model": name, "run": label,
                                          "predictions": str((d / ev["predictions"]).resolve())})
        for ev in res["root_evaluations"]:
            name = rename[ev["model"]]
            key = (name, ev["dataset"], ev["split"], ev.get("root"))
            if key in seen_roots:
                name = f"{ev['model']} [{label}]"
                key = (name, *key[1:])
            seen_roots.add(key)
            _add_model(merged, taken, name, res["models"][ev["model"]])
            merged["root_evaluations"].append({**copy.deepcopy(ev), "model": name, "run": label,
                                               "predictions": str((d / ev["predictions"]).resolve())})
        merged["warnings"] += [{**w, "source": f"{label}: {w['source']}"} for w in res.get("warnings") or []]
    validate_results(merged)
    return merged


def _add_model(merged: dict, taken: dict[str, str], name: str, model: dict) -> None:
    if name in merged["models"]:
        if merged["models"][name].get("cost") is None and model.get("cost") is not None:
            merged["models"][name]["cost"] = copy.deepcopy(model["cost"])  # the first run that profiled it
        return
    merged["models"][name] = copy.deepcopy(model)
    taken.setdefault(name, _identity(model))


def write_merged(dirs: list[Path], out: Path) -> dict:
    """Merge the runs in ``dirs`` into ``out``/results.json (refusing to overwrite a run's own results)."""
    out = Path(out)
    target = out / MERGED_FILE
    if target.is_file():
        try:
            previous = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if not (isinstance(previous, dict) and previous.get("runs")):
            raise ResultsError(f"{target} holds the results of a run, not a merge; pass another --out folder "
                               "for the merged leaderboard (the runs' folders stay as they are)")
    merged = merge_results(dirs)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, merged)
    return merged


__all__ = ["merge_results", "write_merged"]
