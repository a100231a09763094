"""One split of one model, from inference to its results.json record: predictions -> camera mm -> metrics.

``score_pose_split``: PoseInference coordinates (heatmap units) are back-projected to camera mm with the
split's boxes, cameras and root (the codec's ``to_camera``), scored (``results.metrics``), saved as
the predictions file and returned as an ``Evaluation``. ``score_root_split``: RootNet's roots (camera mm)
scored as MRPE, saved and returned as a ``RootEvaluation``. Rank 0 only: the other ranks of a sharded
run compute their share inside the inference calls.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..models.codecs import codec_for
from ..results.metrics import evaluate_pose, root_errors
from ..results.predictions import save_predictions
from ..results.records import Evaluation, RootEvaluation, Timing
from ..results.store import ResultsStore
from .inference import PoseInference, amp_check, infer_roots, refuse_non_finite
from .options import RunOptions

POSE_TIMING_NOTE = ("images_per_s: end-to-end (decode, crop, forward incl. flip) on the crops this model computed "
                    "in this run; crops shared with an earlier split are reused, not recomputed")


def score_root_split(model, name: str, samples, protocol: int, box: str, opts: RunOptions, device, store: ResultsStore,
                     data: Callable[[], dict], *, dist, cache: dict, crops, stop) -> tuple[RootEvaluation | None,
                                                                                         np.ndarray | None]:
    """RootNet on one (protocol, box source) split: (record, root_cam [N,3] camera mm); (None, None) off rank 0."""
    root_cam, root_hm, seconds = infer_roots(model, samples, opts, device, f"{name} P{protocol} {box}", dist=dist,
                                             cache=cache, store=crops, stop=stop)
    if not dist.is_main:
        return None, None
    refuse_non_finite(name, root_cam, samples, opts)
    errs = root_errors(root_cam, samples.joints_cam[:, 0])
    fname = store.predictions_name(name, protocol, box)
    with store.writing(store.out / fname):
        save_predictions(store.out / fname, image_id=samples.image_id, root_cam=root_cam, root_hm=root_hm,
                         bbox=samples.bbox, meta={"model": name, "protocol": protocol, "root": box, "kind": "root"})
    timing = Timing(len(samples) / seconds if seconds else 0.0, seconds, device.type, opts.batch_size)
    return RootEvaluation(name, protocol, box, errs, fname, data(), timing), root_cam


def score_pose_split(engine: PoseInference, name: str, cfg, samples, protocol: int, root: str, root_cam: np.ndarray,
                     opts: RunOptions, device, store: ResultsStore, data: Callable[[], dict], partial,
                     log: Callable[[str], None]) -> Evaluation:
    """A pose model on one (protocol, root) split (rank 0; ``root_cam`` [N,3] camera mm, the split's root)."""
    coords, coords_noflip = engine.run(samples, partial)
    refuse_non_finite(name, coords, samples, opts)
    pred_cam = codec_for(cfg).to_camera(coords, samples.bbox, root_cam, samples.focal, samples.princpt)
    metrics = evaluate_pose(pred_cam, samples, protocol, joint_set=cfg.joint_set)
    metrics["root"] = root
    if opts.amp:
        metrics["amp"] = amp = amp_check(engine, samples, root_cam, pred_cam, protocol, cfg, opts.amp)
        log(f"[{name}] P{protocol} root={root}: {opts.amp} vs float32 on the first {amp['check_samples']} samples: "
            f"joints move {amp['mean_joint_shift_mm']:.3f} mm on average, error {amp['error_change_mm']:+.3f} mm")
    per_sample = np.asarray(metrics.pop("per_sample_mm"))
    fname = store.predictions_name(name, protocol, root)
    with store.writing(store.out / fname):
        save_predictions(store.out / fname, image_id=samples.image_id, coords_hm=coords,
                         coords_hm_noflip=coords_noflip, bbox=samples.bbox, root_cam=root_cam,
                         pred_cam=pred_cam, per_sample_mm=per_sample,
                         meta={"model": name, "protocol": protocol, "root": root,
                               "heatmap_size": list(cfg.heatmap_size), "depth_bins": cfg.depth_bins,
                               "joint_set": cfg.joint_set, "flip": opts.flip})
    timing = Timing(float(engine.images_per_s or 0.0), engine.seconds, device.type, opts.batch_size,
                    computed_images=engine.computed, note=POSE_TIMING_NOTE)
    return Evaluation(name, metrics, fname, data(), timing)
