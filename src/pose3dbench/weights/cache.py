"""On-disk cache of released weights and the lock file that pins their sha256.

Layout: ``cache_dir()/weights/<entry slug>/<file name>`` (one folder per registry entry, so two
entries may share a file name such as ``snapshot_24.pth.tar``), partial downloads beside it as
``<file name>.part``, and ``cache_dir()/weights/weights.lock.json`` recording, per entry, the size
and sha256 of the first verified copy. Later runs re-hash the cached file and compare.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from ..io import atomic_write_json, sha256_file  # noqa: F401  (sha256_file re-exported for the weights code)
from ..paths import cache_dir
from ..errors import IntegrityError, WeightsError

LOCK_NAME = "weights.lock.json"
LOCK_VERSION = 1
_HTML_PREFIXES = (b"<!doctype", b"<html", b"<head", b"<body")


def weights_dir() -> Path:
    """``$POSE3DBENCH_CACHE/weights`` (default ``~/.cache/pose3dbench/weights``)."""
    return cache_dir() / "weights"


def slug(name: str) -> str:
    """File-system safe folder name of a registry entry (``convnextpose-s:h36m`` -> ``convnextpose-s_h36m``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "entry"


def entry_dir(name: str) -> Path:
    """The exact folder where the file of entry ``name`` lives (and where a manual download goes)."""
    return weights_dir() / slug(name)


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")




def looks_like_html(head: bytes) -> bool:
    """True when the first bytes of a file are an HTML page (error, quota or login page)."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return text.startswith(_HTML_PREFIXES)


def file_looks_like_html(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return looks_like_html(f.read(512))


def html_error(path: Path, source: str) -> IntegrityError:
    return IntegrityError(
        f"{source} returned an HTML page instead of the file (saved as {path}): usually a quota, "
        f"login or 'file not found' page. The page was removed; download the file in a browser "
        f"instead and put it in {path.parent}"
    )


# --------------------------------------------------------------------------- lock file


def lock_path() -> Path:
    return weights_dir() / LOCK_NAME


def read_lock() -> dict[str, Any]:
    """The lock file's content ``{"version": 1, "files": {entry name: record}}`` (empty if absent)."""
    path = lock_path()
    if not path.exists():
        return {"version": LOCK_VERSION, "files": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(
            f"cannot read the weights lock file {path}: {exc}. Delete it to start over "
            f"(the cached files will be re-hashed and recorded again)"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise WeightsError(f"weights lock file {path} has no 'files' table; delete it to start over")
    return data


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialise read-modify-write of the lock file between processes (POSIX flock; no-op elsewhere)."""
    weights_dir().mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(weights_dir() / (LOCK_NAME + ".flock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def locked_record(name: str) -> dict[str, Any] | None:
    """The lock record of entry ``name`` (keys: file, size, sha256, source, recorded_at) or None."""
    return read_lock()["files"].get(name)


def record(name: str, path: Path, size: int, sha256: str, source: str) -> dict[str, Any]:
    """Record the first verified copy of entry ``name`` in the lock file (atomic write)."""
    rec = {
        "file": str(Path(path).resolve()),
        "size": int(size),
        "sha256": sha256,
        "source": source,
        "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    with _locked():
        data = read_lock()
        data["version"] = LOCK_VERSION
        data["files"][name] = rec
        atomic_write_json(lock_path(), data)
    return rec


def forget(name: str) -> bool:
    """Remove entry ``name`` from the lock file; True if it was there."""
    with _locked():
        data = read_lock()
        if name not in data["files"]:
            return False
        del data["files"][name]
        atomic_write_json(lock_path(), data)
    return True


def entry_for_path(path: str | os.PathLike) -> str | None:
    """Name of the lock entry whose recorded file is ``path`` (resolved), or None."""
    target = str(Path(path).resolve())
    for name, rec in read_lock()["files"].items():
        if rec.get("file") == target:
            return name
    return None
