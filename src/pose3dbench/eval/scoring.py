"""One split of one model, from inference to its results.json record: predictions -> camera mm -> metrics.

``score_pose_split``: PoseInference coordinates (heatmap units) are back-projected to camera mm with the
split's boxes, cameras and root, scored by the dataset (``Dataset.scoring(split)``), saved as the predictions
file and returned as an ``Evaluation``; on corrupted crops (``corruption``) the same path gives the
corrupted evaluation. ``score_root_split``: RootNet's roots (camera mm) scored by the dataset's root scoring,
saved and returned as a ``RootEvaluation``. Rank 0 only: the other ranks of a sharded run compute their share
inside the inference calls.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..data.dataset import Dataset, PosePredictions
from ..models.codecs import codec_for
from ..results.predictions import save_predictions
from ..results.records import Evaluation, RootEvaluation, Timing
from ..results.store import ResultsStore
from .inference import PoseInference, amp_check, infer_roots, refuse_non_finite
from .options import RunOptions

POSE_TIMING_NOTE = ("images_per_s: end-to-end (decode, crop, forward incl. flip) on the crops this model computed "
                    "in this run; crops shared with an earlier split are reused, not recomputed")


def pose_predictions(coords_hm: np.ndarray, samples, root_cam: np.ndarray, cfg) -> PosePredictions:
    """A model's heatmap coordinates [N,J,3] (x, y heatmap units, z depth bins) as the split's predictions: image
    pixels (x / W_hm * box_w + box_x, likewise y) and camera mm (each joint's depth from its bin around the
    root's, then back through the intrinsics: the authors' ``evaluate``), in the model's joint set; the
    arithmetic is the model's codec's (``models.codecs``)."""
    codec = codec_for(cfg)
    pred_cam = codec.to_camera(coords_hm, samples.bbox, root_cam, samples.focal, samples.princpt)
    return PosePredictions(pred_cam, cfg.joint_set, codec.to_image(coords_hm, samples.bbox)[..., :2])


def score_root_split(model, name: str, ds: Dataset, samples, opts: RunOptions, device, store: ResultsStore,
                     data: Callable[[], dict], *, dist, cache: dict, crops, stop) -> tuple[RootEvaluation | None,
                                                                                         np.ndarray | None]:
    """RootNet on one split with one box source: (record, root_cam [N,3] camera mm); (None, None) off rank 0."""
    root_cam, root_hm, seconds = infer_roots(model, samples, opts, device, f"{name} {ds.title} {samples.split} "
                                             f"{samples.box}", dist=dist, cache=cache, store=crops, stop=stop)
    if not dist.is_main:
        return None, None
    refuse_non_finite(name, root_cam, samples, opts)
    errs = ds.root_scoring(samples.split).score(samples, root_cam)
    fname = store.predictions_name(name, ds.name, samples.split, samples.box)
    with store.writing(store.out / fname):
        save_predictions(store.out / fname, image_id=samples.image_id, sample_id=samples.sample_id,
                         root_cam=root_cam, root_hm=root_hm, bbox=samples.bbox,
                         meta={"model": name, "dataset": ds.name, "split": samples.split, "root": samples.box,
                               "kind": "root", **ds.record_fields(samples.split)})
    timing = Timing(len(samples) / seconds if seconds else 0.0, seconds, device.type, opts.batch_size)
    return RootEvaluation(name, ds.name, samples.split, samples.box, errs, fname, data(), timing,
                          ds.record_fields(samples.split)), root_cam


def score_pose_split(engine: PoseInference, name: str, cfg, ds: Dataset, samples, root: str, root_cam: np.ndarray,
                     opts: RunOptions, device, store: ResultsStore, data: Callable[[], dict], partial,
                     log: Callable[[str], None], corruption: tuple[str, int] | None = None) -> Evaluation:
    """A pose model on one split with one root source (rank 0; ``root_cam`` [N,3] camera mm, the split's root);
    ``corruption`` = (name, severity): on corrupted crops."""
    coords, coords_noflip = engine.run(samples, partial, corruption=corruption)
    refuse_non_finite(name, coords, samples, opts)
    pred = pose_predictions(coords, samples, root_cam, cfg)
    pred_cam, pred_img = pred.pred_cam, pred.pred_img
    scoring = ds.scoring(samples.split)
    scored = scoring.score(samples, pred)
    metrics = dict(scored.record)
    if opts.amp and corruption is None:
        metrics["amp"] = amp = amp_check(engine, ds, samples, root_cam, coords, pred_cam, cfg, opts.amp)
        log(f"[{name}] {ds.title} {samples.split} root={root}: {opts.amp} vs float32 on the first "
            f"{amp['check_samples']} samples: joints move {amp['mean_joint_shift_mm']:.3f} mm on average, "
            f"{scoring.metric} {amp['error_change']:+.3f} {scoring.unit}")
    fname = store.predictions_name(name, ds.name, samples.split, root, corruption)
    meta = {"model": name, "dataset": ds.name, "split": samples.split, "root": root, **ds.record_fields(samples.split),
            "heatmap_size": list(cfg.heatmap_size), "depth_bins": cfg.depth_bins, "joint_set": cfg.joint_set,
            "flip": opts.flip, "metric": scoring.metric, "unit": scoring.unit}
    if corruption is not None:
        meta.update(corruption=corruption[0], severity=int(corruption[1]))
    (store.out / fname).parent.mkdir(parents=True, exist_ok=True)
    with store.writing(store.out / fname):
        save_predictions(store.out / fname, image_id=samples.image_id, sample_id=samples.sample_id, coords_hm=coords,
                         coords_hm_noflip=coords_noflip, bbox=samples.bbox, root_cam=root_cam,
                         pred_cam=pred_cam, pred_img=pred_img, per_sample=scored.per_sample, meta=meta,
                         **scored.arrays)
        ds.write_predictions(store.out / fname, samples, pred)
    timing = Timing(float(engine.images_per_s or 0.0), engine.seconds, device.type, opts.batch_size,
                    computed_images=engine.computed, note=POSE_TIMING_NOTE)
    return Evaluation(name, ds.name, samples.split, root, metrics, fname, data(), timing, corruption)
