"""Folders and files that pose3dbench writes: written only where it wrote before, one writer at a time.

A command that writes into a folder (``run --out``, ``synth --out``) first *claims* it: the folder must
be new or empty, or hold the command's own marker file (``pose3dbench_output.json`` for run outputs,
``pose3dbench_synthetic.json`` for synthetic data sets). Anything else -- a real dataset, however deeply
nested, a home folder, another tool's output -- is refused before a single byte is written.

A command that replaces a single file (``evaluate --out``, ``profile --output``) replaces only a file
it wrote itself (recognised from its content), never e.g. an annotation file given by mistake.

While a command writes into a claimed folder it holds an exclusive lock on ``<folder>/.pose3dbench.lock``
(``fcntl.flock``; the kernel releases it when the process ends, however it ends). A second command on the
same folder is refused with the process id of the holder.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from .version import __version__
from .errors import OutputError, Pose3DBenchError
from .io import atomic_write_json

#: marker of a folder written by ``pose3dbench run``
RUN_MARKER = "pose3dbench_output.json"
LOCK_NAME = ".pose3dbench.lock"
_EXAMPLES = 4


def _examples(folder: Path) -> tuple[list[str], int]:
    try:
        names = sorted(e.name for e in os.scandir(folder))
    except OSError:
        return [], 0
    return names[:_EXAMPLES], len(names)


def _foreign_entries(folder: Path) -> list[str]:
    """Entries of ``folder`` other than the transient files of pose3dbench itself (locks, write probes)."""
    try:
        names = [e.name for e in os.scandir(folder)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if n != LOCK_NAME and not n.startswith(".write-test-"))


def _read_json_object(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


#: what ``pose3dbench run`` writes at the top of --out, and inside its partial/ and predictions/ folders
_RUN_TOP = re.compile(r"^(results\.json|results\.csv|report\.md|report\.html|fig_[\w.-]+\.png|predictions|partial|"
                      r"\.force-staging|\.predictions\.old-\d+|\.[\w.-]+\.tmp)$")
_RUN_PARTIAL = re.compile(r"^[\w.-]+__p[12]__(gt|rootnet)__flip[01]$")
_RUN_CHUNK = re.compile(r"^(chunk_\d+_\d+\.npz|fingerprint\.json|\.[\w.-]+\.tmp)$")
_RUN_PREDICTIONS = re.compile(r"^([\w.-]+__p[12]__[\w-]+\.npz|\.[\w.-]+\.tmp)$")


def _names(folder: Path) -> list[str] | None:
    try:
        return [e.name for e in os.scandir(folder)]
    except OSError:
        return None


def looks_like_run_output(out: Path) -> bool:
    """True when everything in ``out`` is what ``pose3dbench run`` writes (an output of a version without the
    marker, e.g. one killed before its first results.json): results, report files, predictions/*.npz and
    partial/<model>__p<P>__<boxes>__flip<F>/ chunk folders, nothing else."""
    for name in _foreign_entries(out):
        if not _RUN_TOP.match(name):
            return False
        path = out / name
        if name in ("partial", "predictions"):
            entries = _names(path)
            if entries is None:
                return False
            for entry in entries:
                if name == "predictions":
                    if not _RUN_PREDICTIONS.match(entry) or not (path / entry).is_file():
                        return False
                elif (not _RUN_PARTIAL.match(entry)
                      or not all(_RUN_CHUNK.match(c) for c in _names(path / entry) or ["?"])):
                    return False
        elif name not in (".force-staging",) and not name.startswith(".predictions.old-") and not path.is_file():
            return False
    return True


def _is_run_marker(obj: dict) -> bool:
    return obj.get("written_by") == "pose3dbench run"


def refuse_foreign_folder(folder: Path, command: str, marker: str, what: str,
                          recognise: Callable[[dict], bool] = lambda obj: True,
                          error: type[Pose3DBenchError] = OutputError) -> None:
    """OutputError unless ``folder`` is absent, empty, or holds ``marker`` at its top level: a JSON object
    that ``recognise`` accepts."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise error(f"{folder} is a file, not a folder; pass {command} --out a new or empty folder")
    if not _foreign_entries(folder):
        return
    obj = _read_json_object(folder / marker)
    if obj is not None and recognise(obj):
        return
    shown, total = _examples(folder)
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    raise error(
        f"{folder} already holds files that pose3dbench did not generate ({', '.join(repr(n) for n in shown)}{more}) "
        f"and no {marker} of its own: it is not {what}. `pose3dbench {command}` never writes into such a folder "
        f"(it could be a dataset); pass --out a new or empty folder")


def claim_run_folder(out: Path, log: Callable[[str], None] = print,
                     prepare: Callable[[Path], None] | None = None) -> None:
    """Make ``out`` a run output folder (see the module docstring); writes the marker.

    Accepted: a new or empty folder, a folder with ``pose3dbench_output.json``, or one written by an older
    pose3dbench (only files and folders ``run`` writes, no marker yet: the marker is added). Nothing is written before
    the folder is accepted; then ``prepare(out)`` (e.g. create it and check it is writable) and the marker.
    """
    out = Path(out)
    marker = _read_json_object(out / RUN_MARKER)
    ours = marker is not None and _is_run_marker(marker)
    if out.is_dir() and not ours and _foreign_entries(out):
        if looks_like_run_output(out):
            log(f"{out} holds the output of an earlier pose3dbench run without {RUN_MARKER}; adding it")
        else:
            refuse_foreign_folder(out, "run", RUN_MARKER, "the output folder of a pose3dbench run", _is_run_marker)
    if prepare is not None:
        prepare(out)
    if not ours:
        try:
            atomic_write_json(out / RUN_MARKER, {"written_by": "pose3dbench run", "pose3dbench_version": __version__,
                                                 "note": "this folder is written by pose3dbench run; "
                                                         "it may be overwritten by the next run with this --out"})
        except OSError as exc:
            raise OutputError(f"output folder {out} is not writable ({exc.strerror or exc}); pass --out to a folder "
                              "you can write to") from None


def refuse_foreign_file(path: Path, option: str, recognise: Callable[[object], bool], what: str) -> None:
    """OutputError when ``path`` exists and is not a JSON file that ``recognise`` accepts as our own output."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; pass a file name")
    try:
        obj = json.loads(path.read_text())
        ours = bool(recognise(obj))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError):
        ours = False
    if not ours:
        raise OutputError(f"{option} {path} exists and is not {what}; pose3dbench replaces only files it wrote "
                          f"itself: pass {option} a new file name (or delete that file if you really mean it)")


def _holder(lock_path: Path) -> str:
    """Who holds the lock, as the holder wrote it (it writes right after locking: wait a moment for it)."""
    text = ""
    for _ in range(20):
        try:
            text = lock_path.read_text().strip()
        except OSError:
            text = ""
        if text:
            break
        time.sleep(0.05)
    return text or "a process that has not written its id yet"


@contextlib.contextmanager
def exclusive(folder: Path, command: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` for the block; OutputError naming the holder when taken."""
    folder = Path(folder)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot create the lock file {path} ({exc.strerror or exc}); pass --out to a folder "
                          "you can write to") from None
    with os.fdopen(fd, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{folder} is in use by another pose3dbench command ({_holder(path)}); wait for it to "
                              f"finish, or pass another --out. The lock ({path}) goes away when that process ends")\
                from None
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}, pose3dbench {command}, since {started}\n")
        handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` that waits for its holder (for caches several runs fill at once)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"  # per process: torchrun ranks probe the same folder
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output folder {out} is not writable ({exc.strerror}); "
                          "pass --out to a folder you can write to") from None
