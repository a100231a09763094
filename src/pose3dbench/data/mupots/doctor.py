"""``doctor`` for MuPoTS-3D: what a folder holds, what is missing, whether the test split can run.

Checks MuPoTS-3D.json (valid people per sequence), the frames on disk (JPEG header and end marker only), the
official evaluation's annot.mat / occlusion.mat of TS1..TS20 (read), and RootNet's bbox_root file (entries,
frames it covers).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ...errors import DatasetError
from ..health import image_problems
from .layout import ANNOTATION_NAME, TESTSET_NAME

_EXAMPLES = 5


def diagnose(ds) -> dict:
    """The report of ``Dataset.diagnose`` for a ``MuPoTS3D`` instance ``ds``."""
    from . import matfiles
    from .loader import read_annotations

    layout = ds.layout
    rep: dict = {"dataset": ds.name, "data_dir": str(layout.root), "synthetic": layout.synthetic,
                 "annotation_file": str(layout.annotation_file) if layout.annotation_file else None,
                 "testset": str(layout.testset) if layout.testset else None,
                 "bbox_root_files": [str(p) for p in layout.bbox_root_files], "splits": {}, "lines": []}
    common: list[str] = []
    lines = rep["lines"]
    if layout.annotation_file is None:
        common.append(f"{ANNOTATION_NAME} not found (put the 3DMPPE file data/MuPoTS/data/{ANNOTATION_NAME} below "
                      "the folder)")
    else:
        try:
            ann = read_annotations(layout.annotation_file)
            per_seq = Counter(ann.sequence[ann.rows_of(ann.ann_image[ann.valid], str(layout.annotation_file))].tolist())
            lines.append(f"{ANNOTATION_NAME}: {len(ann.image_ids)} frames, {len(ann.ann_id)} people, "
                         f"{int(ann.valid.sum())} valid; per sequence: "
                         + ", ".join(f"TS{s} {per_seq[s]}" for s in sorted(per_seq)))
        except DatasetError as exc:
            common.append(str(exc))
    if layout.testset is None:
        common.append(f"no {TESTSET_NAME} folder with TS1..TS20 (unzip MultiPersonTestSet.zip of the MuPoTS-3D "
                      "release below the folder): the frames and the official annot.mat / occlusion.mat live there")
    else:
        missing = [f"TS{i}" for i in range(1, matfiles.NUM_SEQUENCES + 1) if i not in layout.sequences]
        if missing:
            common.append(f"{layout.testset} lacks {', '.join(missing)}")
        else:
            try:
                gt = matfiles.read_ground_truth(layout.testset)
                lines.append(f"official ground truth: {sum(s.num_frames for s in gt.sequences)} frames, "
                             f"{int(sum(s.valid.sum() for s in gt.sequences))} valid people (annot.mat, "
                             "occlusion.mat read)")
            except DatasetError as exc:
                common.append(str(exc))
    entry: dict = {"label": ds.split_label("test")}
    for box in ds.box_sources:
        problems, warnings = list(common), []
        if not common:
            try:
                s = ds.load("test", box)
                img = image_problems(list(dict.fromkeys(s.image_path)), _sizes(s))
                for kind, items in img.items():
                    if items:
                        problems.append(f"{len(items)} frames {kind.replace('_', ' ')}, e.g. "
                                        + "; ".join(items[:_EXAMPLES]))
                entry[f"{box}_samples"] = len(s)
                if box == "rootnet":
                    lines.append(f"bbox_root {s.source.get('bbox_root')}: {len(s)} detections on "
                                 f"{len(set(s.image_id.tolist()))} frames")
            except DatasetError as exc:
                problems.append(str(exc))
        entry[box] = {"ok": not problems, "problems": problems, "warnings": warnings}
    rep["splits"]["test"] = entry
    return rep


def _sizes(samples) -> np.ndarray:
    """(width, height) of each distinct frame of ``samples``, in first-seen order (matching its image paths)."""
    first = {}
    for i, p in enumerate(samples.image_path):
        first.setdefault(p, i)
    return np.asarray(samples.image_size)[list(first.values())]


__all__ = ["diagnose"]
