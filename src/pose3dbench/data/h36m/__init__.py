"""Human3.6M in the 3DMPPE annotation format, as a dataset plug-in (``h36m``).

Splits ``p1`` (Protocol 1: S11, PA-MPJPE) and ``p2`` (Protocol 2: S9 + S11, MPJPE), each with GT boxes
(the authors' ``process_bbox`` of the annotation box, GT pelvis) or RootNet's boxes and roots (the
bbox_root file, one per protocol: ``--bbox-root p1=FILE --bbox-root p2=FILE``, or ``1=``/``2=``).
Samples are grouped by subject and action; ``limit_per_group`` keeps the first N of every
(subject, action). Files: ``loader`` (splits), ``layout`` (finding the parts), ``scoring``,
``doctor``, ``synthetic`` (a generated set in the exact format), ``protocols`` (the vocabulary).
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ..bbox_root import load_bbox_root
from ..dataset import Dataset, register_dataset
from ..samples import Samples
from .layout import DatasetLayout, find_dataset
from .loader import load_split, load_train_split, read_cameras, read_subject
from .protocols import ACTIONS, PROTOCOLS, SPLITS, TEST_SUBJECTS, protocol_of, split_of, subjects_text
from .scoring import H36MScoring, evaluate_pose

__all__ = ["ACTIONS", "DatasetLayout", "H36MScoring", "Human36M", "PROTOCOLS", "SPLITS", "TEST_SUBJECTS",
           "evaluate_pose", "find_dataset", "load_bbox_root", "load_split", "load_train_split", "protocol_of",
           "read_cameras", "read_subject", "split_of"]


@register_dataset
class Human36M(Dataset):
    name = "h36m"
    title = "Human3.6M"
    splits = SPLITS
    default_splits = SPLITS
    primary_split = "p2"
    stratify_by = ("subject", "action_idx")
    split_words = "p1 (Protocol 1: S11, PA-MPJPE), p2 (Protocol 2: S9+S11, MPJPE); 1 and 2 are accepted"
    group_words = "(subject, action)"
    synthetic_sizes = ("tiny", "small", "full")
    about = ("Human3.6M errors are in millimetres in camera space, averaged over the 17 Human3.6M joints and then "
             "over images. MPJPE aligns the pelvis; PA-MPJPE first applies a rigid alignment (rotation + "
             "translation, no scale) fitted per image, as the 3DMPPE evaluation does; 'PA-MPJPE with scale' is the "
             "similarity-aligned variant (rotation + translation + scale) of VideoPose3D/MMPose.")

    @cached_property
    def layout(self):
        """The dataset's files below ``folder`` (found once, on first use)."""
        return find_dataset(self.folder)

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        try:
            return bool({9, 11} & set(find_dataset(folder).subjects))
        except DatasetError:
            return False

    @classmethod
    def split_name(cls, text: str) -> str:
        t = str(text).strip().lower()
        name = {"1": "p1", "2": "p2"}.get(t, t)
        if name not in SPLITS:
            raise DatasetError(f"Human3.6M has no split {text!r}; its splits are p1 (Protocol 1) and p2 (Protocol 2)")
        return name

    @classmethod
    def split_label(cls, split: str) -> str:
        p = protocol_of(cls.split_name(split))
        return f"Protocol {p} ({subjects_text(p)})"

    @classmethod
    def record_fields(cls, split: str) -> dict:
        return {"protocol": protocol_of(cls.split_name(split))}

    def load(self, split: str, box: str) -> Samples:
        split = self.split_name(split)
        return load_split(self.layout, protocol_of(split), box, bbox_root_file=self.bbox_root.get(split))

    @classmethod
    def scoring(cls, split: str) -> H36MScoring:
        return H36MScoring(cls.split_name(split))

    def split_warnings(self, samples: Samples) -> list[str]:
        """A Protocol-1 split whose RootNet file also holds S9 images (the Protocol-2 file) gets a warning."""
        path = samples.source.get("bbox_root")
        if samples.split != "p1" or not path or samples.source.get("synthetic"):
            return []  # the synthetic set ships one RootNet-like file for both protocols by design
        extra = int(np.isin(load_bbox_root(path).image_id, samples.image_id, invert=True).sum())
        if not extra:
            return []
        return [f"{path} also holds {extra} entries for images outside Protocol 1 (S11): it looks like RootNet's "
                "Protocol-2 output. Protocol-1 numbers with --root rootnet then use a RootNet trained without S9, "
                "unlike the published ones; pass the Protocol-1 file with --bbox-root p1=FILE "
                "(pose3dbench weights get bbox-root:h36m-p1)."]

    def diagnose(self) -> dict:
        from .doctor import diagnose

        return diagnose(self.folder)

    @classmethod
    def synthetic_metadata(cls, folder: Path) -> dict | None:
        return find_dataset(folder).synthetic

    @classmethod
    def synthetic_summary(cls, meta: dict) -> str:
        p = meta.get("protocol_test_images") or {}
        return f"{meta.get('images_total')} images, Protocol 1 test {p.get('1')}, Protocol 2 test {p.get('2')}"

    @classmethod
    def synthetic_folder_name(cls, size: str, seed: int) -> str:
        return f"{size}-seed{seed}"  # the cache name of versions that had Human3.6M only

    @classmethod
    def generate_synthetic(cls, out: Path, size: str = "tiny", seed: int = 0) -> Path:
        from .synthetic import generate

        return generate(out, seed=seed, size=size)
