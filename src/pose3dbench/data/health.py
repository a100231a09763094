"""Are a split's images usable? The image checks behind ``pose3dbench doctor`` and ``run``, for any dataset.

``image_problems``: missing, broken-link, unreadable/truncated and wrongly sized images (JPEG header and
end-marker reads only, no decoding). ``check_images``: the same for one split, raising a DatasetError with
the fix before inference starts. Each dataset's own folder report (``Dataset.diagnose``) uses them.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import DatasetError

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
        raise DatasetError(f"{len(samples)} images of the {samples.dataset} {samples.split} split were checked before "
                           "inference and some are not usable:\n  " + "\n  ".join(problems)
                           + "\n  (`pose3dbench doctor --data DIR` lists every problem of a dataset folder)")
    if checked is not None:
        checked.update(paths)
