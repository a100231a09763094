"""Image corruptions in a run (``--corruptions``): the plan, its settings record, and the evaluations.

Each pose model is scored on corrupted crops (``data.corruptions``, made once per run and shared by every
model through the crop store) at every severity, on each split with the root source ``corruption_root``
gives. A corrupted evaluation takes the same path as a clean one (``eval.scoring.score_pose_split`` with its
corruption) and the same re-use rule (model identity, settings, the split's data fingerprint); the entries go
to results.json ``corruption_evaluations``.
"""
from __future__ import annotations

from typing import Callable

from ..errors import RunError
from .options import RunOptions


def corruption_settings(opts: RunOptions) -> dict | None:
    from ..data.corruptions import resolve_corruptions

    try:
        names = resolve_corruptions(opts.corruptions)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if not names:
        return None
    return {"set": opts.corruptions, "names": list(names), "severities": [int(s) for s in opts.severities],
            "root": corruption_root(opts), "mce_reference": opts.mce_reference}


def corruption_root(opts: RunOptions) -> str:
    """The root choice corrupted runs are scored with: the run's first (gt before RootNet roots)."""
    return "gt" if "gt" in opts.roots else opts.roots[0]


def corruption_plan(opts: RunOptions, poses: list, run_splits, sizes, log: Callable[[str], None]) -> tuple[str, ...]:
    """Validate ``--corruptions`` / ``--severities`` and say how many forward passes they cost.

    ``run_splits``: the run's (dataset, split) pairs; ``sizes(dataset, split, box)``: a split, unchecked."""
    from ..data.corruptions import SEVERITIES, resolve_corruptions

    try:
        names = resolve_corruptions(opts.corruptions)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if not names:
        return ()
    bad = [s for s in opts.severities if s not in SEVERITIES]
    if bad or not opts.severities:
        raise RunError(f"--severities {list(opts.severities)}: each must be one of 1..5")
    if opts.mce_reference is not None and opts.mce_reference not in {m.name for m in poses}:
        raise RunError(f"--mce-reference {opts.mce_reference!r} is not a pose model of this run "
                       f"({', '.join(m.name for m in poses)})")
    root = corruption_root(opts)
    images = sum(len(sizes(ds.name, split, ds.box_of(root))) for ds, split in run_splits)
    passes = len(poses) * images * len(names) * len(opts.severities) * (2 if opts.flip else 1)
    log(f"corruptions: {len(names)} x {len(opts.severities)} severities on {images} images per pose model "
        f"({', '.join(f'{ds.title} {split}' for ds, split in run_splits)}, root {root}): {passes} forward passes "
        f"in all ({len(poses)} model(s){', flip test doubles them' if opts.flip else ''}); corrupted crops are made "
        "once and shared by every model")
    return names


def run_corruptions(run, engine, name: str, cfg) -> None:
    """Every (split, corruption, severity) of one pose model on a ``BenchmarkRun``: re-used or scored."""
    from .scoring import score_pose_split

    opts, store = run.opts, run.store
    doc = store.document
    root = corruption_root(opts)
    for ds, split in run.run_splits:
        if root not in run.roots_of(ds):
            continue
        box = ds.box_of(root)
        samples = run.splits(ds.name, split, box)
        root_cam = run._root_cam(ds, split, root, samples)
        for cname in run.corruptions:
            for sev in opts.severities:
                corruption = (cname, int(sev))
                prev = run._reuse("corruption_evaluations", name, ds, split, root, box, corruption)
                if prev is not None:
                    doc["corruption_evaluations"].append(prev)
                    continue
                partial = store.partial_dir(name, ds.name, split, f"{cname}__s{int(sev)}")
                record = score_pose_split(engine, name, cfg, ds, samples, root, root_cam, opts, run.device, store,
                                          lambda: run.splits.fingerprint(ds.name, split, box), partial, run.log,
                                          corruption=corruption)
                doc["corruption_evaluations"].append(record.to_json())
            value = ds.scoring(split).value
            run.log(f"[{name}] {ds.title} {split} {cname}: " + ", ".join(
                f"s{e['severity']} {e[value]:.1f}" for e in doc["corruption_evaluations"]
                if (e["model"], e["dataset"], e["split"], e["corruption"]) == (name, ds.name, split, cname)))
            store.write()
