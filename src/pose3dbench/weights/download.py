"""Fetch registry files into the cache: resumable HTTP(S) (stdlib urllib) and Google Drive (gdown).

``fetch(entry)`` returns the path of a verified file: an existing cached file (also one placed
there by hand) is size/sha256-checked against the registry and the lock file; otherwise each source
is tried in turn. HTTP downloads go to ``<file>.part`` and resume with a ``Range`` request (a
server that ignores ``Range`` answers 200 and the transfer restarts from zero). HTML pages saved
instead of the file (quota/login/404 pages) are detected by content type and first bytes.
"""
from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from ..version import __version__
from . import cache
from ..errors import DownloadError, IntegrityError, WeightsError
from .registry import Entry, Source, get_entry

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
CHUNK = 1 << 20
_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_TRANSIENT = (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError, http.client.HTTPException)


def _progress(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not enabled, file=sys.stderr, leave=False)


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": f"pose3dbench/{__version__}", "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection dropped after {len(exc.partial)} bytes of a block"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def http_download(url: str, dest: str | os.PathLike, *, expected_size: int | None = None,
                  timeout: float = DEFAULT_TIMEOUT, retries: int = 2, progress: bool = True,
                  desc: str | None = None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a partial file; return ``dest``.

    A dropped connection is resumed up to ``retries`` times; if it still fails, the ``.part`` file
    is kept (a later call resumes it) and ``DownloadError`` is raised. ``expected_size`` (bytes),
    when given, is checked against the server's length and the final file (``IntegrityError``).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = cache.part_path(dest)
    attempts = 0
    while True:
        start = part.stat().st_size if part.exists() else 0
        if expected_size is not None and start > expected_size:
            part.unlink()
            start = 0
        try:
            done = _transfer(url, part, start, expected_size, timeout, progress, desc or dest.name)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start > 0:
                # Range not satisfiable: the part is already complete, or stale. Check, else restart.
                m = re.match(r"bytes\s+\*/(\d+)", exc.headers.get("Content-Range") or "") if exc.headers else None
                if start == (expected_size if expected_size is not None else (int(m.group(1)) if m else -1)):
                    break
                part.unlink()
                attempts += 1
                if attempts > retries:
                    raise DownloadError(f"{url}: server refused to resume ({_describe(exc)})") from exc
                continue
            raise DownloadError(f"{url}: {_describe(exc)}") from exc
        except urllib.error.URLError as exc:
            raise DownloadError(f"{url}: {_describe(exc)}") from exc
        except _TRANSIENT as exc:
            attempts += 1
            have = part.stat().st_size if part.exists() else 0
            if attempts > retries:
                raise DownloadError(
                    f"{url}: transfer interrupted ({_describe(exc)}); {have} bytes kept in {part}, "
                    f"re-run to resume"
                ) from exc
            log.warning("%s: transfer interrupted at %d bytes (%s); resuming", url, have, _describe(exc))
            continue
        if done:
            break
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()
        raise IntegrityError(f"{url}: downloaded {size} bytes, expected {expected_size}; partial file removed")
    if cache.file_looks_like_html(part):
        part.unlink()
        raise cache.html_error(dest, url)
    os.replace(part, dest)
    return dest


def _transfer(url: str, part: Path, start: int, expected_size: int | None, timeout: float,
              progress: bool, desc: str) -> bool:
    """One request. Returns True when the file is complete; raises on errors."""
    with _open(url, start, timeout) as resp:
        status = getattr(resp, "status", 200)
        ctype = (resp.headers.get("Content-Type") or "").lower()
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if status == 206:
            m = _RANGE_RE.match(resp.headers.get("Content-Range") or "")
            if not m or int(m.group(1)) != start:
                raise DownloadError(f"{url}: server answered a range request with a different range "
                                    f"({resp.headers.get('Content-Range')!r}); delete {part} and retry")
            total = int(m.group(3)) if m.group(3) != "*" else None
            mode = "ab"
        else:
            if start:
                log.info("%s ignores Range requests; restarting from byte 0", url)
            start, total, mode = 0, length, "wb"
        if "text/html" in ctype:
            raise IntegrityError(
                f"{url} sent an HTML page (Content-Type {ctype}) instead of {part.name[:-5]}: usually a "
                f"quota, login or 'not found' page; download the file in a browser and put it in {part.parent}"
            )
        if expected_size is not None and total is not None and total != expected_size:
            raise IntegrityError(
                f"{url} serves {total} bytes but the registry expects {expected_size}: the file on the "
                f"server is not the one registered"
            )
        with open(part, mode) as out, _progress(total, start, desc, progress) as bar:
            first = start == 0
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                if first:
                    first = False
                    if cache.looks_like_html(block[:512]):
                        out.close()
                        part.unlink()
                        raise cache.html_error(part.with_name(part.name[:-5]), url)
                out.write(block)
                bar.update(len(block))
        got = part.stat().st_size
        if total is not None and got < total:
            raise http.client.IncompleteRead(b"", total - got)
        return True


# --------------------------------------------------------------------------- Google Drive


def _gdown():
    try:
        import gdown  # optional dependency: pip install 'pose3dbench[weights]'
    except ImportError:
        return None
    return gdown


def gdrive_download(source: Source, file_name: str, dest: str | os.PathLike, *,
                    progress: bool = True) -> Path:
    """Download a Google Drive file (``gdrive_file``) or the file named ``file_name`` inside a
    Drive folder (``gdrive_folder``, matched by name and ``source.path_contains``) with gdown."""
    dest = Path(dest)
    gdown = _gdown()
    if gdown is None:
        raise DownloadError(
            f"{source.display}: Google Drive downloads need the optional package gdown "
            f"(`pip install gdown`, or `pip install 'pose3dbench[weights]'`)"
        )
    file_id = source.id
    if source.kind == "gdrive_folder":
        try:
            listing = gdown.download_folder(id=source.id, skip_download=True, quiet=True)
        except TypeError as exc:  # gdown < 4.7.3 has no skip_download
            raise DownloadError(f"{source.display}: gdown is too old to list a folder; pip install -U gdown") from exc
        except Exception as exc:  # gdown raises its own exception types for quota/permission pages
            raise DownloadError(f"{source.display}: cannot list the Drive folder ({_describe(exc)})") from exc
        listing = list(listing or [])
        matches = [f for f in listing
                   if Path(str(f.path)).name == file_name and all(s in str(f.path) for s in source.path_contains)]
        if len(matches) != 1:
            found = ", ".join(str(f.path) for f in listing[:20]) or "nothing"
            raise DownloadError(
                f"{source.display}: expected exactly one {file_name!r} in the folder, found "
                f"{len(matches)} (folder lists: {found})"
            )
        file_id = matches[0].id
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(dest.name + ".gdown")
    try:
        out = gdown.download(id=file_id, output=str(staging), quiet=not progress, resume=True)
    except Exception as exc:
        raise DownloadError(f"{source.display}: gdown failed ({_describe(exc)})") from exc
    if not out or not staging.exists():
        raise DownloadError(f"{source.display}: gdown returned no file (quota exceeded or access denied?)")
    if cache.file_looks_like_html(staging):
        staging.unlink()
        raise cache.html_error(dest, source.display)
    os.replace(staging, dest)
    return dest


# --------------------------------------------------------------------------- fetch / verify


def check_integrity(entry: Entry, path: Path) -> tuple[int, str]:
    """Size, HTML and registry-sha256 checks of a local file; returns (size, sha256).

    Raises ``IntegrityError`` saying what is wrong and what to do.
    """
    size = path.stat().st_size
    if size == 0 or cache.file_looks_like_html(path):
        raise IntegrityError(
            f"{path} is {'empty' if size == 0 else 'an HTML page, not the file'}; delete it and run "
            f"`pose3dbench weights get {entry.name}` again, or put the real {entry.file_name} there"
        )
    if entry.size is not None and size != entry.size:
        raise IntegrityError(
            f"{path} has {size} bytes but {entry.name} is {entry.size} bytes: incomplete or a different "
            f"file. Delete it and run `pose3dbench weights get {entry.name}` again"
        )
    digest = cache.sha256_file(path)
    if entry.sha256 and digest != entry.sha256.lower():
        raise IntegrityError(
            f"{path}: sha256 {digest} does not match the registry's {entry.sha256} for {entry.name}: "
            f"corrupted or a different file. Delete it and fetch it again"
        )
    return size, digest


def check_lock(entry: Entry, path: Path, size: int, digest: str, *, source: str) -> dict[str, Any]:
    """Compare with the lock file's record of ``entry``, or record this copy if there is none."""
    rec = cache.locked_record(entry.name)
    if rec is None:
        return cache.record(entry.name, path, size, digest, source)
    if rec.get("sha256") != digest or rec.get("size") != size:
        raise IntegrityError(
            f"{path}: sha256 {digest} ({size} bytes) differs from the copy first verified on "
            f"{rec.get('recorded_at')} (sha256 {rec.get('sha256')}, {rec.get('size')} bytes, recorded in "
            f"{cache.lock_path()}). If you replaced the file on purpose run "
            f"`pose3dbench weights verify {entry.name} --relock`; otherwise delete it and fetch it again"
        )
    return rec


def check_file(entry: Entry, path: Path, *, source: str = "cache") -> dict[str, Any]:
    """``check_integrity`` then ``check_lock``: returns the lock record; raises ``IntegrityError``."""
    size, digest = check_integrity(entry, path)
    return check_lock(entry, path, size, digest, source=source)


def cached_path(entry: Entry | str) -> Path:
    """Where the file of ``entry`` is (or will be) stored."""
    entry = get_entry(entry)
    return cache.entry_dir(entry.name) / entry.file_name


def status(entry: Entry | str) -> str:
    """``cached`` | ``partial`` (a resumable ``.part`` exists) | ``missing``."""
    path = cached_path(entry)
    if path.is_file():
        return "cached"
    if cache.part_path(path).exists():
        return "partial"
    return "missing"


def _manual_hint(entry: Entry, path: Path) -> str:
    how = entry.instructions or "download it from " + (entry.page or "the authors' page")
    return (f"To install it by hand: {how}; save it as {entry.file_name} in {path.parent} "
            f"(exact folder; it is picked up and verified on the next run)")


def fetch(entry: Entry | str, *, progress: bool = True, timeout: float = DEFAULT_TIMEOUT,
          retries: int = 2, force: bool = False,
          downloaders: dict[str, Callable[..., Path]] | None = None) -> Path:
    """Return the verified local path of a registry file, downloading it if needed.

    ``entry`` is an ``Entry`` or a registered name. ``force`` re-downloads (and re-locks) a cached
    file. Raises ``WeightsError`` naming every source tried, the file name and the folder for a
    manual download.
    """
    entry = get_entry(entry)
    path = cached_path(entry)
    if path.is_file() and not force:
        check_file(entry, path, source="cache (found in place)")
        return path
    if entry.manual_only:
        raise WeightsError(f"{entry.name} cannot be downloaded automatically. {_manual_hint(entry, path)}")
    failures: list[str] = []
    staging = path.with_name(path.name + ".new") if path.exists() else path
    for src in entry.sources:
        try:
            if src.kind == "url":
                http_download(src.url, staging, expected_size=entry.size, timeout=timeout, retries=retries,
                              progress=progress, desc=entry.name)
            else:
                gdrive_download(src, entry.file_name, staging, progress=progress)
            size, digest = check_integrity(entry, staging)
        except WeightsError as exc:
            msg = str(exc)
            failures.append(f"  - {msg}" if msg.startswith(src.display) else f"  - {src.display}: {msg}")
            if isinstance(exc, IntegrityError) and staging.exists():
                # A complete but wrong file: set it aside so the next source (or run) starts clean.
                os.replace(staging, staging.with_name(entry.file_name + ".rejected"))
            continue
        if force:
            cache.forget(entry.name)
        try:
            check_lock(entry, staging, size, digest, source=src.display)
        except IntegrityError:
            os.replace(staging, staging.with_name(entry.file_name + ".rejected"))
            raise
        if staging != path:
            os.replace(staging, path)
            cache.record(entry.name, path, size, digest, src.display)
        return path
    raise DownloadError(
        f"could not fetch {entry.name} ({entry.file_name}); tried:\n" + "\n".join(failures)
        + f"\n{_manual_hint(entry, path)}"
    )
