"""``doctor`` for Human3.6M: what a folder holds, what is missing, which protocols can run.

Checks the test split (every 64th frame of S9 and S11): annotation files, images on disk, image sizes against
the annotation (JPEG header only, no decoding), truncated JPEGs, bbox_root coverage per protocol.
"""
from __future__ import annotations

import os
from collections import Counter

import numpy as np

from ...errors import DatasetError
from ..bbox_root import load_bbox_root
from ..health import image_problems
from .layout import ANNOT_KINDS, annotation_name, find_dataset
from .loader import ALL_SUBJECTS, read_subject
from .protocols import ACTIONS as H36M_ACTIONS, TEST_SUBJECTS, split_of

_EXAMPLES = 5


def diagnose(data: str | os.PathLike) -> dict:
    """Inspect a Human3.6M folder; returns a JSON-able report: ``splits`` (``p1``/``p2``: can each run with GT
    and with RootNet boxes, and why not) and the details (annotation files, images per subject, action and
    camera, bbox_root coverage per protocol), ``lines`` what ``doctor`` prints of them."""

    layout = find_dataset(data)
    rep: dict = {
        "data_dir": str(layout.root),
        "synthetic": layout.synthetic,
        "image_root": str(layout.image_root) if layout.image_root else None,
        "sequence_folders": len(layout.sequences),
        "annotation_files": {},
        "bbox_root_files": [str(p) for p in layout.bbox_root_files],
        "duplicates": layout.duplicates,
        "subjects": {},
        "bbox_root": {},
        "splits": {},
    }
    subject_ids: dict[int, np.ndarray] = {}
    subject_problems: dict[int, list[str]] = {}
    for s in sorted(set(ALL_SUBJECTS) | set(layout.annotations)):
        files = layout.annotations.get(s, {})
        rep["annotation_files"][str(s)] = {k: (str(files[k]) if k in files else None) for k in ANNOT_KINDS}
        if s not in (9, 11):
            continue
        probs = subject_problems.setdefault(s, [])
        missing_files = [annotation_name(s, k) for k in ANNOT_KINDS if k not in files]
        if missing_files:
            probs.append(f"missing {', '.join(missing_files)} "
                         f"(put the 3DMPPE annotation files of subject {s} in the annotations folder)")
            continue
        try:
            rec = read_subject(layout, s, 64)
        except DatasetError as exc:
            probs.append(str(exc))
            continue
        m = rec.subject_field == s
        ids = rec.image_id[m]
        subject_ids[s] = ids
        paths = layout.image_paths([n for n, k in zip(rec.file_name, m.tolist()) if k])
        sizes = np.stack([rec.width[m], rec.height[m]], 1)
        img = image_problems(paths, sizes)
        act = Counter(rec.action_idx[m].tolist())
        cam = Counter(rec.cam_idx[m].tolist())
        rep["subjects"][str(s)] = {
            "test_images": int(m.sum()),
            "by_action": {f"{a} {H36M_ACTIONS.get(a, '?')}": int(act[a]) for a in sorted(act)},
            "by_camera": {str(c): int(cam[c]) for c in sorted(cam)},
            "images_missing": len(img["missing"]), "images_broken_link": len(img["broken_link"]),
            "images_unreadable": len(img["unreadable"]),
            "images_size_mismatch": len(img["size_mismatch"]),
            "examples": {k: v[:_EXAMPLES] for k, v in img.items() if v},
        }
        if not m.any():
            probs.append(f"{rec.files['data']} has no test frames (frame_idx % 64 == 0) of subject {s}")
        missing_actions = sorted(set(H36M_ACTIONS) - set(act))
        if missing_actions and m.any():
            rep["subjects"][str(s)]["actions_without_test_images"] = missing_actions
        if img["missing"]:
            probs.append(f"{len(img['missing'])} of {int(m.sum())} S{s} test images missing on disk, "
                         f"e.g. {img['missing'][0]} "
                         "(extract the image archives of this subject below the dataset folder)")
        if img["broken_link"]:
            probs.append(f"{len(img['broken_link'])} S{s} test images are broken symbolic links, e.g. "
                         f"{img['broken_link'][0]} (point the links at the extracted images)")
        if img["unreadable"]:
            probs.append(f"{len(img['unreadable'])} S{s} test images unreadable, "
                         f"e.g. {img['unreadable'][0]} (re-extract them)")
        if img["size_mismatch"]:
            probs.append(f"{len(img['size_mismatch'])} S{s} test images have a size other than annotated, e.g. "
                         f"{img['size_mismatch'][0]} (replace them with the real frames)")

    tables = {}
    for p in layout.bbox_root_files:
        try:
            tables[str(p)] = load_bbox_root(p)
            rep["bbox_root"][str(p)] = {"entries": len(tables[str(p)]), "coverage": {}}
        except DatasetError as exc:
            rep["bbox_root"][str(p)] = {"error": str(exc)}
    preferred = str(layout.bbox_root_file) if layout.bbox_root_file else None
    for proto, subjects in TEST_SUBJECTS.items():
        gt_probs = [msg for s in subjects for msg in subject_problems.get(s, [])]
        ids = np.concatenate([subject_ids[s] for s in subjects if s in subject_ids] or [np.zeros(0, np.int64)])
        cover = {}
        for path, table in tables.items():
            found = table.lookup(ids)[1]
            cover[path] = int(found.sum())
            rep["bbox_root"][path]["coverage"][str(proto)] = f"{int(found.sum())}/{ids.size}"
        rn_probs = list(gt_probs)
        full = [p for p, c in cover.items() if ids.size and c == ids.size]
        if not layout.bbox_root_files:
            rn_probs.append("no bbox_root file (put RootNet's output at bbox_root/bbox_root_human36m_output.json)")
        elif not full and not gt_probs:
            best = max(cover.items(), key=lambda kv: kv[1]) if cover else (preferred, 0)
            rn_probs.append(f"no bbox_root file covers all {ids.size} Protocol-{proto} test images "
                            f"(best: {best[0]} with {best[1]}); "
                            f"use the RootNet output made for Protocol {proto}")
        elif full and preferred not in full and not gt_probs:
            rn_probs.append(f"the default bbox_root file {preferred} does not cover Protocol {proto}; "
                            f"point the run at {full[0]} instead")
        rn_warnings = []
        s9 = subject_ids.get(9)
        if proto == 1 and s9 is not None and s9.size and not rep["synthetic"]:
            # RootNet's Protocol-2 output (trained without S9) also holds S9; the Protocol-1 one holds S11 only
            p2_like = {path for path, table in tables.items() if table.lookup(s9)[1].any()}
            p1_like = [path for path in full if path not in p2_like]
            if preferred in p2_like and preferred in full:
                rn_warnings.append(
                    f"the default bbox_root file {preferred} also holds S9 images: it is RootNet's Protocol-2 output "
                    "(RootNet trained without S9), not the Protocol-1 one of the published numbers; "
                    + (f"use {p1_like[0]} for Protocol 1 (--bbox-root 1={p1_like[0]})" if p1_like else
                       "fetch the Protocol-1 file (`pose3dbench weights get bbox-root:h36m-p1`) and pass it with "
                       "--bbox-root 1=FILE"))
        rep["splits"][split_of(proto)] = {
            "label": f"Protocol {proto} ({'+'.join('S' + str(s) for s in subjects)}, {int(ids.size)} test images)",
            "subjects": list(subjects), "test_images": int(ids.size),
            "gt": {"ok": not gt_probs, "problems": gt_probs, "warnings": []},
            "rootnet": {"ok": not rn_probs, "problems": rn_probs, "files_covering": full, "warnings": rn_warnings},
        }
    rep["lines"] = _lines(rep)
    return rep


def _lines(rep: dict) -> list[str]:
    """What ``doctor`` prints of the details (the per-split verdicts are printed by the command)."""
    out = [f"image sequence folders: {rep['sequence_folders']} (under {rep['image_root']})"]
    have = [s for s, f in rep["annotation_files"].items() if all(f.values())]
    out.append(f"subjects with all annotation files: {', '.join(have) or 'none'}")
    for s, d in rep["subjects"].items():
        out.append(f"S{s}: {d['test_images']} test images; missing {d['images_missing']}, broken links "
                   f"{d['images_broken_link']}, unreadable {d['images_unreadable']}, "
                   f"size mismatch {d['images_size_mismatch']}")
        out.append("  by action: " + ", ".join(f"{k}: {v}" for k, v in d["by_action"].items()))
        out.append("  by camera: " + ", ".join(f"{k}: {v}" for k, v in d["by_camera"].items()))
    for path, d in rep["bbox_root"].items():
        if "error" in d:
            out.append(f"bbox_root {path}: ERROR {d['error']}")
        else:
            cov = ", ".join(f"P{p} {c}" for p, c in d["coverage"].items())
            out.append(f"bbox_root {path}: {d['entries']} entries; covers {cov}")
    if not rep["bbox_root"]:
        out.append("bbox_root: none found")
    return out
