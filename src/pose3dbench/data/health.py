"""Is a Human3.6M folder usable? The dataset checks behind ``pose3dbench doctor`` and ``run``.

``image_problems``: missing, broken-link, unreadable/truncated and wrongly sized images (JPEG header and
end-marker reads only, no decoding). ``check_images``: the same for one split, raising a DatasetError with
the fix before inference starts. ``diagnose``: the whole-folder report ``doctor`` prints (test split:
every 64th frame of S9 and S11; annotation files, images, bbox_root coverage per protocol).
"""
from __future__ import annotations

import os
from collections import Counter

import numpy as np

from ..errors import DatasetError
from ..joints import H36M_ACTIONS

_EXAMPLES = 5


def image_problems(paths: list[str], sizes: np.ndarray) -> dict:
    """Missing, broken-link, unreadable/truncated and wrongly sized images (header reads only)."""
    from .transforms import broken_link, jpeg_is_truncated, read_image_size

    listing: dict[str, dict[str, bool]] = {}
    missing, links, bad, wrong = [], [], [], []
    for p, (w, h) in zip(paths, sizes.tolist()):
        folder, name = os.path.split(p)
        names = listing.get(folder)
        if names is None:
            try:
                names = {e.name: e.is_symlink() for e in os.scandir(folder)}  # name -> is a link
            except OSError:
                names = {}
            listing[folder] = names
        if name not in names or (names[name] and not os.path.exists(p)):
            link = broken_link(p)
            if link:
                links.append(f"{p} ({link})")
            else:
                missing.append(p)
            continue
        wh = read_image_size(p)
        if wh is None:
            bad.append(f"{p} (not a readable JPEG)")
        elif jpeg_is_truncated(p):
            bad.append(f"{p} (truncated: no JPEG end marker)")
        elif wh != (w, h):
            wrong.append(f"{p} is {wh[0]}x{wh[1]}, annotation says {w}x{h}")
    return {"missing": missing, "broken_link": links, "unreadable": bad, "size_mismatch": wrong}


def check_images(samples, checked: set[str] | None = None) -> None:
    """Fail before inference on missing, truncated or wrongly sized images of a split.

    Reads JPEG headers and the last bytes only (no decoding). ``checked``: paths already found good,
    skipped and extended in place. Raises DatasetError listing examples, counts and the fix.
    """
    paths = list(samples.image_path)
    sizes = np.asarray(samples.image_size)
    if checked is not None:
        todo = [i for i, p in enumerate(paths) if p not in checked]
        paths = [paths[i] for i in todo]
        sizes = sizes[todo]
    if not paths:
        return
    found = image_problems(paths, sizes)
    # non-JPEG files (no header to read) are left to the decoder, which names them if they are broken
    found["unreadable"] = [b for b in found.get("unreadable", []) if "not a readable JPEG" not in b]
    problems = []
    fixes = {
        "missing": ("missing", "extract the Human3.6M images so that these files are present"),
        "broken_link": ("broken symbolic links", "point the links at the extracted images (or replace them with "
                                                 "the files)"),
        "unreadable": ("unreadable or truncated", "re-extract them from the dataset archive"),
        "size_mismatch": ("of another size than their annotation says",
                          "these files are not the annotated frames: replace them with the real Human3.6M frames"),
    }
    for key, (what, fix) in fixes.items():
        bad = found.get(key) or []
        if bad:
            more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            problems.append(f"{len(bad)} image(s) {what}: {'; '.join(bad[:3])}{more}; {fix}")
    if problems:
        raise DatasetError(f"{len(samples)} images of the Protocol-{samples.protocol} test split were checked before "
                           "inference and some are not usable:\n  " + "\n  ".join(problems)
                           + "\n  (`pose3dbench doctor --data DIR` lists every problem of a dataset folder)")
    if checked is not None:
        checked.update(paths)


def diagnose(data: str | os.PathLike) -> dict:
    """Inspect a dataset folder; returns a JSON-able report (see module docstring)."""
    from ..protocols import TEST_SUBJECTS
    from .h36m import ALL_SUBJECTS, load_bbox_root, read_subject
    from .layout import ANNOT_KINDS, annotation_name, find_dataset

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
        "protocols": {},
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
        rep["protocols"][str(proto)] = {
            "subjects": list(subjects), "test_images": int(ids.size),
            "gt": {"ok": not gt_probs, "problems": gt_probs},
            "rootnet": {"ok": not rn_probs, "problems": rn_probs, "files_covering": full, "warnings": rn_warnings},
        }
    return rep
