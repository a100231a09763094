"""Verify a cached or local weights file: integrity (size, sha256, lock file) and content.

Content check: a checkpoint must load strictly as its variant and the loaded config must equal the registry
variant's (``models.checkpoint.check_checkpoint``, given as ``load_checkpoint``: this layer holds files, not
models); a bbox_root data file must be a JSON list of {image_id, bbox[4] px, root_cam[3] mm}.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import Pose3DBenchError
from . import cache
from .download import cached_path, check_integrity, fetch
from ..errors import IntegrityError, WeightsError
from .registry import Entry, get_entry



def _resolve(target: str | os.PathLike | Entry) -> tuple[Entry | None, Path]:
    if isinstance(target, Entry):
        return target, cached_path(target)
    text = str(target)
    try:
        entry = get_entry(text)
    except WeightsError:
        entry = None
    if entry is not None:
        return entry, cached_path(entry)
    path = Path(text).expanduser()
    if path.is_file():
        name = cache.entry_for_path(path)
        if name is not None:
            try:
                return get_entry(name), path
            except WeightsError:
                return None, path
        return None, path
    raise WeightsError(
        f"{text!r} is neither a weights entry nor an existing file; see `pose3dbench weights list`"
    )


def check_bbox_root(path: Path) -> dict[str, Any]:
    """Validate a RootNet bbox_root JSON (list of {image_id, bbox [x,y,w,h] px, root_cam [X,Y,Z] mm})."""
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, list) or not data:
            raise ValueError("expected a non-empty JSON list")
        ids = np.asarray([d["image_id"] for d in data])
        bbox = np.asarray([d["bbox"] for d in data], dtype=np.float64)
        root = np.asarray([d["root_cam"] for d in data], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {"ok": False, "error": f"not a bbox_root file: {exc}"}
    problems = []
    if bbox.shape != (len(data), 4) or root.shape != (len(data), 3):
        problems.append(f"bbox/root_cam shapes {bbox.shape}/{root.shape}")
    elif not (np.isfinite(bbox).all() and np.isfinite(root).all()):
        problems.append("non-finite values")
    elif (bbox[:, 2:] <= 0).any() or (root[:, 2] <= 0).any():
        problems.append("non-positive box sizes or root depths")
    if len(np.unique(ids)) != len(ids):
        problems.append("duplicate image ids")
    return {"ok": not problems, "entries": len(data), "problems": problems}


def verify(target: str | os.PathLike | Entry, *, load: bool = True, relock: bool = False,
           load_checkpoint: Callable[[Path, str | None, dict], dict] | None = None) -> dict[str, Any]:
    """Check a registry entry's cached file, or any local file, and report what it is.

    ``load_checkpoint(path, variant, overrides)`` checks a checkpoint's content (``load`` only; the models
    layer's ``models.checkpoint.check_checkpoint``, passed by ``pose3dbench.specs.verify_weights``).

    Returns a JSON-serialisable dict: name, path, size, sha256, lock (``match`` | ``recorded`` |
    ``mismatch`` | ``not in registry``), content (see ``check_checkpoint``/``check_bbox_root``),
    problems (list of strings) and ok. ``relock`` replaces the lock record by this file's hash.
    """
    entry, path = _resolve(target)
    if not path.is_file():
        raise WeightsError(
            f"{entry.name if entry else path} is not downloaded (expected {path}); run "
            f"`pose3dbench weights get {entry.name if entry else '<name>'}`"
        )
    report: dict[str, Any] = {"name": entry.name if entry else None, "path": str(path), "problems": []}
    problems: list[str] = report["problems"]
    if entry is not None:
        try:
            size, digest = check_integrity(entry, path)
        except IntegrityError as exc:
            size, digest = path.stat().st_size, cache.sha256_file(path)
            problems.append(str(exc))
        report.update(size=size, sha256=digest, expected_sha256=entry.sha256, expected_size=entry.size)
        if relock:
            cache.forget(entry.name)
        rec = cache.locked_record(entry.name)
        if rec is None:
            report["lock"] = "to record"
        elif rec.get("sha256") == digest and rec.get("size") == size:
            report["lock"] = "match"
        else:
            report["lock"] = "mismatch"
            problems.append(
                f"sha256 differs from the copy recorded on {rec.get('recorded_at')} ({rec.get('sha256')}); "
                f"use --relock if you replaced it on purpose"
            )
    else:
        report.update(size=path.stat().st_size, sha256=cache.sha256_file(path), lock="not in registry")
        if cache.file_looks_like_html(path):
            problems.append("the file is an HTML page, not a checkpoint")
    if load and not problems:
        kind = entry.kind if entry else ("data" if path.suffix == ".json" else "checkpoint")
        if kind == "data":
            content = check_bbox_root(path)
            if not content["ok"]:
                problems.append(content.get("error") or "; ".join(content["problems"]))
        else:
            if load_checkpoint is None:
                raise ValueError("verify(load=True) of a checkpoint needs load_checkpoint (use "
                                 "pose3dbench.specs.verify_weights, or load=False)")
            try:
                content = load_checkpoint(path, entry.variant if entry else None,
                                          dict(entry.overrides) if entry else {})
            except Pose3DBenchError as exc:
                content = {"ok": False, "error": str(exc)}
                problems.append(f"does not load strictly: {exc}")
            else:
                if content["config_differences"]:
                    problems.append(
                        f"loads, but not as {entry.variant}: " + "; ".join(content["config_differences"])
                    )
        report["content"] = content
    report["ok"] = not problems
    if report.get("lock") == "to record":
        if problems:
            report["lock"] = "not recorded (the file failed the checks)"
        else:
            cache.record(entry.name, path, report["size"], report["sha256"], "verify")
            report["lock"] = "recorded"
    return report


def resolve_pretrained(name: str, *, progress: bool = True) -> tuple[Path, Entry]:
    """Path (downloaded and verified if needed) and registry entry of a checkpoint name such as
    ``convnextpose-s:pretrained``, ``convnextpose-s`` or ``posenet-r50:h36m-p1``.

    Load it with ``pose3dbench.load_model(path, entry.variant, **entry.overrides)``.
    """
    entry = get_entry(name)
    if entry.kind != "checkpoint":
        raise WeightsError(f"{entry.name} is a data file, not model weights")
    return fetch(entry, progress=progress), entry
