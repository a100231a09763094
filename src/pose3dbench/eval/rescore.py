"""Re-score saved predictions on a dataset split without a model (``pose3dbench evaluate`` and the Python API).

Pose predictions are scored by the dataset's own scoring (``Dataset.scoring(split)``) from ``pred_cam`` (camera
mm; and ``pred_img``, image pixels, where the dataset matches people in 2D); Human3.6M scoring is root-relative,
so which root was used for back-projection does not change the numbers. Root-only files (RootNet) are scored by
the dataset's root scoring. Files: ours (``.npz``), a format every dataset shares (the 3DMPPE result json), or
what a dataset reads of the authors' formats (``Dataset.evaluate_foreign``, e.g. MuPoTS-3D's .mat pair).
"""
from __future__ import annotations

from pathlib import Path

from ..data.dataset import PosePredictions, dataset_class, detect_dataset
from ..errors import DatasetError, PredictionsError
from ..joints import get_joint_set
from ..results.predictions import load_predictions, match_to_samples
from ..roots import ROOT_SOURCES


def _dataset_name(dataset: str | None, meta: dict) -> str | None:
    from ..results.schema import V1_DATASET

    if dataset:
        return dataset
    if meta.get("dataset"):
        return str(meta["dataset"])
    return V1_DATASET if "protocol" in meta else None


def _split_and_root(path: Path, split: str | None, root: str | None, ds, meta: dict) -> tuple[str, str, str | None]:
    """(split, box source of the samples to match, root label to report or None for the split's own)."""
    text = split if split is not None else meta.get("split", meta.get("protocol"))
    try:
        name = ds.split_name(str(text)) if text is not None else (ds.primary_split or ds.default_splits[0])
    except DatasetError as exc:
        raise PredictionsError(f"{path}: {exc}; pass --split") from None
    label = meta.get("root", "gt") if root is None else root
    if label not in ROOT_SOURCES:
        raise PredictionsError(f"{path}: root {label!r} in the file is unknown; pass --root gt|rootnet")
    return name, ds.box_of(label), (label if root is None else None)


def _joint_set(path: Path, joint_set: str | None, preds) -> str:
    name = joint_set or preds.meta.get("joint_set") or preds.num_joints
    try:
        js = get_joint_set(name)
    except KeyError as exc:
        raise PredictionsError(f"{path}: {exc.args[0]}; pass --joint-set") from None
    if js.num_joints != preds.num_joints:
        raise PredictionsError(f"{path}: predictions have {preds.num_joints} joints but joint set "
                               f"{js.name!r} has {js.num_joints}; pass the right --joint-set")
    return js.name


def rescore(predictions, data, *, dataset: str | None = None, split: str | None = None, root: str | None = None,
            joint_set: str | None = None) -> dict:
    """Score saved predictions on a dataset split, without a model; returns the dataset's record with ``dataset``,
    ``split`` and ``root`` (and per-sample arrays under ``per_sample*`` keys, not meant for JSON).

    ``predictions``: a pose3dbench ``.npz`` (or the minimal form: image_id + pred_cam), or a file (folder) in an
    authors' format a dataset knows. ``data``: the dataset folder; ``dataset``: its name (default: the file's, else
    recognised from the folder); ``split`` / ``root`` / ``joint_set``: default the file's.
    """
    path, data = Path(predictions), Path(data)
    name = dataset
    preds = None
    if name is None:
        try:
            preds = load_predictions(path)
        except PredictionsError:
            preds = None
        name = _dataset_name(None, preds.meta) if preds is not None else None
    cls = dataset_class(name) if name else detect_dataset(data)
    ds = cls(data)
    if preds is None:
        split_name, box, label = _split_and_root(path, split, root, ds, {})
        foreign = ds.evaluate_foreign(path, split_name)
        if foreign is not None:
            return {"dataset": ds.name, "split": split_name, **ds.record_fields(split_name), **foreign,
                    "root": label or box}
        preds = load_predictions(path)
    split, box, label = _split_and_root(path, split, root, ds, preds.meta)
    samples = ds.samples(split, box)
    preds = match_to_samples(preds, samples.sample_id)
    head = {"dataset": ds.name, "split": split, **ds.record_fields(split)}
    if preds.kind == "root":
        return {**head, "root": label or box, "metric": "MRPE",
                **ds.root_scoring(split).score(samples, preds.root_cam), "skipped": dict(samples.skipped)}
    res = ds.scoring(split).score(samples, PosePredictions(preds.pred_cam, _joint_set(path, joint_set, preds),
                                                           preds.pred_img))
    return {**head, **res.record, "root": label or samples.box, "per_sample": res.per_sample}


__all__ = ["rescore"]
