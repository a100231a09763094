"""What an evaluation's numbers depend on in a dataset folder, cheaply.

The fingerprint of a split (``Samples``) records every file the split was read from (for Human3.6M the
annotation data, camera and joint_3d files of its subjects; the bbox_root file for RootNet boxes:
size, mtime and sha256 of the content) and the list of its images (path relative to the dataset
root, size and mtime of each file: images are not hashed, that would read gigabytes). Finished
evaluations and resume chunks are re-used only when the fingerprint is the same, so a fixed
annotation file or a re-extracted image is never scored with the numbers of the old one. Moving the
whole dataset folder keeps it (paths are compared relative to the root, files by content).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..io import sha256_file

#: (real path, size, mtime_ns) -> sha256, so that one process hashes each file once
_HASHES: dict[tuple[str, int, int], str] = {}


def file_record(path: str | os.PathLike) -> dict:
    """{file, size, mtime_ns, sha256} of one file (hashed once per process for an unchanged file)."""
    st = os.stat(path)
    key = (os.path.realpath(path), int(st.st_size), int(st.st_mtime_ns))
    sha = _HASHES.get(key)
    if sha is None:
        sha = _HASHES[key] = sha256_file(path)
    return {"file": str(path), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns), "sha256": sha}


def source_files(samples) -> dict[str, str]:
    """Role (``S9 data``, ``S11 joint_3d``, ``bbox_root``) -> path of every file a split was read from."""
    files = dict(json.loads(samples.source.get("files", "{}")))
    if samples.source.get("bbox_root"):
        files["bbox_root"] = samples.source["bbox_root"]
    return files


def split_fingerprint(samples) -> dict:
    """The fingerprint of a split (JSON-able): ``{"files": {role: file_record}, "images": {count, sha256}}``."""
    root = samples.source.get("data_dir")
    h = hashlib.sha256()
    for p in samples.image_path:
        try:
            st = os.stat(p)
            size, mtime = int(st.st_size), int(st.st_mtime_ns)
        except OSError:
            size, mtime = -1, -1
        rel = os.path.relpath(p, root) if root else p
        h.update(f"{rel}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    files = {role: file_record(p) for role, p in sorted(source_files(samples).items())}
    return {"files": files, "images": {"count": len(samples.image_path), "sha256": h.hexdigest()}}


def comparable(fp: dict) -> dict:
    """The part of a fingerprint that must be equal for re-use: file contents and the image list."""
    return {"files": {role: (rec.get("size"), rec.get("sha256")) for role, rec in fp.get("files", {}).items()},
            "images": fp.get("images")}


def describe_change(old, new: dict) -> str | None:
    """None when ``old`` and ``new`` fingerprints agree on what the numbers depend on, else why not."""
    if not isinstance(old, dict) or not isinstance(old.get("files"), dict):
        return "the previous evaluation records no data fingerprint (written by an older pose3dbench)"
    reasons = []
    for role, rec in new["files"].items():
        prev = old["files"].get(role)
        name = Path(rec["file"]).name
        if not isinstance(prev, dict):
            reasons.append(f"{name} was not read before")
        elif prev.get("sha256") != rec["sha256"] or prev.get("size") != rec["size"]:
            reasons.append(f"{name} changed (sha256 {str(prev.get('sha256'))[:12]}... -> {rec['sha256'][:12]}...)")
    reasons += [f"{role} is no longer read" for role in old["files"] if role not in new["files"]]
    if old.get("images") != new["images"]:
        reasons.append(f"the {new['images']['count']} images differ in names, sizes or modification times")
    return "; ".join(reasons) or None


def summary(fp: dict) -> str:
    """``3 data files with the same sha256 and 62 images with the same sizes and times``."""
    return (f"{len(fp['files'])} data files with the same content and {fp['images']['count']} images with the "
            "same names, sizes and modification times")
