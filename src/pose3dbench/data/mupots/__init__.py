"""MuPoTS-3D (multi-person, 20 test sequences) as a dataset plug-in (``mupots``), scored as the official MATLAB
evaluation scores it.

One split, ``test`` (TS1..TS20), with GT boxes (one sample per valid annotation, the authors' ``process_bbox``,
the GT pelvis as root) or RootNet's boxes and roots (one sample per entry of ``bbox_root_mupots_output.json``).
The root source ``rootnet-model`` runs this run's RootNet on the GT boxes. Files: ``layout`` (finding the parts),
``loader`` (samples), ``official`` (the official evaluation in numpy, and the authors' ``.mat`` prediction pair),
``scoring`` (a run's rows through it; RootNet's AP_root), ``root_ap``, ``synthetic`` (a generated set in the
exact release format), ``doctor``.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ..dataset import Dataset, PosePredictions, register_dataset
from ..samples import Samples
from .layout import find_mupots
from .scoring import MuPoTSRootScoring, MuPoTSScoring

__all__ = ["MuPoTS3D"]


@register_dataset
class MuPoTS3D(Dataset):
    name = "mupots"
    title = "MuPoTS-3D"
    splits = ("test",)
    default_splits = ("test",)
    primary_split = "test"
    stratify_by = ("sequence",)
    split_words = "test (TS1-TS20, 3DPCK / AUC / MPJPE in the official evaluation's four modes)"
    group_words = "sequence (whole frames)"
    synthetic_sizes = ("tiny", "small")
    about = ("MuPoTS-3D is scored by the official evaluation (mpii_mupots_multiperson_eval.m) ported to Python and "
             "pinned against it under GNU Octave: people are matched to the ground truth in 2D (40-pixel rule over "
             "13 joints), matched poses are rescaled to the ground truth's bone lengths, 3DPCK counts joints within "
             "150 mm and AUC averages it over 0-150 mm, on 14 joints; 'all' counts unmatched people as misses, "
             "'matched' drops them; 'relative' aligns the pelvis, 'absolute' does not. The average is over the 20 "
             "sequences (the papers' Avg column).")

    @cached_property
    def layout(self):
        """The dataset's files below ``folder`` (found once, on first use)."""
        return find_mupots(self.folder)

    def box_of(self, root: str) -> str:
        """RootNet-model roots are predicted on the GT boxes (the authors' RootNet test on MuPoTS-3D)."""
        return "gt" if root == "rootnet-model" else super().box_of(root)

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        try:
            return find_mupots(folder).annotation_file is not None
        except DatasetError:
            return False

    @classmethod
    def split_name(cls, text: str) -> str:
        t = str(text).strip().lower()
        if t in ("test", "mupots", "ts1-ts20"):
            return "test"
        raise DatasetError(f"MuPoTS-3D has no split {text!r}; its split is test (TS1-TS20)")

    @classmethod
    def split_label(cls, split: str) -> str:
        return "test set (TS1-TS20)"

    def load(self, split: str, box: str) -> Samples:
        from .loader import load_samples

        self.split_name(split)
        return load_samples(self.layout, box, self.bbox_root.get("test"))

    def subset_rows(self, samples: Samples) -> np.ndarray:
        """Whole frames: ``limit_per_group`` keeps the first N frames of every sequence, ``limit`` the first N
        frames (every person of a kept frame is kept, so the frame is scored as the official script would)."""
        keys = samples.groups["image_key"]
        frames = list(dict.fromkeys(keys.tolist()))
        if self.limit_per_group:
            seq_of = dict(zip(keys.tolist(), samples.groups["sequence"].tolist()))
            count: dict[int, int] = {}
            kept = []
            for k in frames:
                if count.get(seq_of[k], 0) < self.limit_per_group:
                    count[seq_of[k]] = count.get(seq_of[k], 0) + 1
                    kept.append(k)
            frames = kept
        if self.limit:
            frames = frames[: self.limit]
        return np.flatnonzero(np.isin(keys, np.asarray(frames, dtype=keys.dtype)))

    @classmethod
    def scoring(cls, split: str) -> MuPoTSScoring:
        cls.split_name(split)
        return MuPoTSScoring()

    @classmethod
    def root_scoring(cls, split: str) -> MuPoTSRootScoring:
        return MuPoTSRootScoring()

    def write_predictions(self, path: Path, samples: Samples, pred: PosePredictions) -> list[Path]:
        """The authors' prediction pair beside ``path``: ``<path stem>/preds_2d_kpt_mupots.mat`` and
        ``preds_3d_kpt_mupots.mat`` (keys ``TS<n>_img_<6 digits>``, [people, 17, 2|3] pixels / camera mm, float64),
        for the official MATLAB script. Every frame the run scored that holds a valid person gets a key (an empty
        [0, 17, k] array where nothing was detected: the authors' ``evaluate`` writes no key there, and the
        official script then stops)."""
        from . import matfiles
        from .scoring import ground_truth, only_frames, prediction_pair, to_mupots

        cam, img, _ = to_mupots(pred, samples)
        p2, p3 = prediction_pair(samples, cam, img)
        testset = samples.source.get("testset")
        if testset:
            gt = ground_truth(Path(testset))
            if samples.source.get("subset"):
                gt = only_frames(gt, set(zip(samples.groups["sequence"].tolist(), samples.groups["frame"].tolist())))
            for s in gt.sequences:
                for f in np.flatnonzero(s.valid.any(axis=1)).tolist():
                    key = matfiles.prediction_key(s.index, f)
                    if key not in p3:
                        p2[key] = np.zeros((0, matfiles.NUM_JOINTS, 2))
                        p3[key] = np.zeros((0, matfiles.NUM_JOINTS, 3))
        folder = Path(path).with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        return list(matfiles.write_predictions(folder, p2, p3))

    def evaluate_foreign(self, path: Path, split: str) -> dict | None:
        """The authors' prediction pair (``preds_2d_kpt_mupots.mat`` + ``preds_3d_kpt_mupots.mat``: the folder
        holding them, or either file) through the official evaluation on this folder's MultiPersonTestSet, as the
        MATLAB script scores it (frames without a key: their people count as missed, where the script stops)."""
        from . import matfiles
        from .scoring import evaluate_pair, ground_truth, official_record

        path = Path(path)
        names = (matfiles.PREDICTIONS_2D_FILE, matfiles.PREDICTIONS_3D_FILE)
        folder = path if path.is_dir() else path.parent if path.name in names else None
        if folder is None or not all((folder / n).is_file() for n in names):
            return None
        if self.layout.testset is None:
            raise DatasetError(f"no MultiPersonTestSet (TS1..TS20 with annot.mat, occlusion.mat) below {self.folder}; "
                               "the official evaluation scores against it: unzip it from the MuPoTS-3D release there")
        pair = matfiles.read_predictions(folder)
        ev, missing = evaluate_pair(ground_truth(self.layout.testset), pair.poses_2d, pair.poses_3d)
        people = sum(int(a.shape[0]) for a in pair.poses_3d.values())
        rec = official_record(ev, people, missing)
        rec.update(joint_set="mupots17", approximate_joint_mapping=False, skipped={},
                   predictions_format="the authors' .mat pair", predictions_folder=str(folder))
        return rec

    def diagnose(self) -> dict:
        from .doctor import diagnose

        return diagnose(self)

    @classmethod
    def synthetic_metadata(cls, folder: Path) -> dict | None:
        return find_mupots(folder).synthetic

    @classmethod
    def synthetic_summary(cls, meta: dict) -> str:
        return (f"{meta.get('images_total')} images in {meta.get('sequences')} sequences, {meta.get('people')} "
                f"annotated people ({meta.get('valid_people')} valid), {meta.get('detections')} RootNet-like boxes")

    @classmethod
    def generate_synthetic(cls, out: Path, size: str = "tiny", seed: int = 0) -> Path:
        from .synthetic import generate

        return generate(out, seed=seed, size=size)
