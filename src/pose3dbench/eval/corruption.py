"""Image corruptions in a run (``--corruptions``): the plan, its settings record, and the evaluations.

Each pose model is scored on corrupted crops (``data.corruptions``, made once per run and shared by every
model through the crop store) at every severity, with the root source ``corruption_root`` gives; the
entries go to results.json ``corruption_evaluations`` (``results.records.CorruptionEvaluation``).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import RunError
from ..models.codecs import codec_for
from ..protocols import box_source
from ..results.metrics import evaluate_pose
from ..results.predictions import save_predictions
from ..results.records import CorruptionEvaluation
from ..results.store import ResultsStore, writing
from .inference import PoseInference
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


def corruption_plan(opts: RunOptions, poses: list, sizes, log: Callable[[str], None]) -> tuple[str, ...]:
    """Validate ``--corruptions`` / ``--severities`` and say how many forward passes they cost."""
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
    images = sum(len(sizes(p, box_source(root))) for p in opts.protocols)
    passes = len(poses) * images * len(names) * len(opts.severities) * (2 if opts.flip else 1)
    log(f"corruptions: {len(names)} x {len(opts.severities)} severities on {images} images per pose model "
        f"({', '.join(f'P{p}' for p in opts.protocols)}, root {root}): {passes} forward passes in all "
        f"({len(poses)} model(s){', flip test doubles them' if opts.flip else ''}); corrupted crops are made once "
        "and shared by every model")
    return names


def run_corruptions(engine: PoseInference, name: str, cfg, opts: RunOptions, names: tuple[str, ...], split,
                    root_predictions: dict, store: ResultsStore, log: Callable[[str], None]) -> None:
    """Every (protocol, corruption, severity) of one pose model: predictions, metrics, results entries."""
    results, out = store.document, store.out
    root = corruption_root(opts)
    old = store.previous_corruption_evaluations(name, results["models"][name]["_identity"])
    for protocol in opts.protocols:
        samples = split(protocol, box_source(root))
        if root == "rootnet-model":
            root_cam = root_predictions[(protocol, "rootnet")]
        else:
            root_cam = samples.root_cam
        for cname in names:
            for sev in opts.severities:
                match = [e for e in old if (e["model"], e["protocol"], e["root"], e["corruption"], e["severity"])
                         == (name, protocol, root, cname, int(sev))]
                if match:
                    results["corruption_evaluations"].append(match[0])
                    continue
                fname = store.corrupted_predictions_name(name, protocol, root, cname, sev)
                partial = store.partial_dir(name, protocol, f"{cname}__s{int(sev)}")
                coords, coords_noflip = engine.run(samples, partial, corruption=(cname, int(sev)))
                pred_cam = codec_for(cfg).to_camera(coords, samples.bbox, root_cam, samples.focal, samples.princpt)
                metrics = evaluate_pose(pred_cam, samples, protocol, joint_set=cfg.joint_set)
                per_sample = np.asarray(metrics.pop("per_sample_mm"))
                (out / fname).parent.mkdir(parents=True, exist_ok=True)
                with writing(out / fname, out):
                    save_predictions(out / fname, image_id=samples.image_id, coords_hm=coords,
                                     coords_hm_noflip=coords_noflip, bbox=samples.bbox, root_cam=root_cam,
                                     pred_cam=pred_cam, per_sample_mm=per_sample,
                                     meta={"model": name, "protocol": protocol, "root": root,
                                           "heatmap_size": list(cfg.heatmap_size), "depth_bins": cfg.depth_bins,
                                           "joint_set": cfg.joint_set, "flip": opts.flip,
                                           "corruption": cname, "severity": int(sev)})
                metrics.update(protocol=protocol, root=root)
                results["corruption_evaluations"].append(
                    CorruptionEvaluation(name, cname, int(sev), metrics, fname).to_json())
            log(f"[{name}] P{protocol} {cname}: " + ", ".join(
                f"s{e['severity']} {e['total_mm']:.1f}" for e in results["corruption_evaluations"]
                if (e["model"], e["protocol"], e["corruption"]) == (name, protocol, cname)) + " mm")
            store.write()
