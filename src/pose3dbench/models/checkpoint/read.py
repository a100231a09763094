"""Reading checkpoint files safely: ``read_checkpoint`` -> (bare state dict, info).

Accepted: ``.pth``, ``.pth.tar`` and torch zip archives under any name, legacy (pre-1.6, non-zip) torch
files, or an in-memory dict. Files are always opened with ``torch.load(weights_only=True)`` first; full
unpickling only with ``trust_checkpoint``. What is not a checkpoint (empty, truncated, a tar or gzip archive,
an image, an HTML page, TorchScript, a zip without ``data.pkl``) is refused with a sentence saying what it is
and what to do. The state dict inside is found by ``checkpoint.state``.
"""
from __future__ import annotations

import io
import pickletools
import re
import shlex
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ...io import sha256_file
from .state import check_finite, epoch_of, find_state_dict, strip_module_prefix

TRUST_HINT = ("If you trust where this file came from, load it with full unpickling: "
              "--trust-checkpoint (CLI) or trust_checkpoint=True (Python). Never do that for files of unknown origin.")
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _foreign_kind(head: bytes) -> str | None:
    """Name the file type for common non-checkpoint files (from the first bytes)."""
    text = head.lstrip().lower()
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")):
        return "an HTML page (e.g. a Google Drive quota or virus-scan warning page saved instead of the file)"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive (unpack it first)"
    if head.startswith(b"ustar", 257) or (len(head) > 262 and head[257:262] == b"ustar"):
        return "a tar archive (unpack it first)"
    if text.startswith((b"{", b"[")):
        return "a JSON/text file"
    return None


_CHECKPOINT_SUFFIXES = (".pth", ".pth.tar", ".pt", ".ckpt", ".bin", ".tar")
_OLD_TORCH_TAR = {"pickle", "storages", "tensors"}


def _tar_members(path: Path, gz: bool, limit: int = 8) -> list[tarfile.TarInfo] | None:
    """The first members of a (gzip-compressed) tar archive, reading headers only; None when it is no tar."""
    members = []
    try:
        with tarfile.open(path, "r|gz" if gz else "r|") as tf:
            for m in tf:
                members.append(m)
                if len(members) >= limit or (m.isfile() and m.name.lower().endswith(_CHECKPOINT_SUFFIXES)):
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        return members or None
    return members or None


def _refuse_tar(path: Path, members: list[tarfile.TarInfo], gz: bool) -> None:
    """CheckpointError explaining that ``path`` is an archive and how to get the checkpoint out of it."""
    names = {m.name for m in members}
    if not gz and _OLD_TORCH_TAR <= names:
        raise CheckpointError(f"{path} is a checkpoint in PyTorch's pre-0.4 tar format, which safe loading cannot "
                              "read; load it with an old torch and save the state dict again with torch.save.")
    files = [m for m in members if m.isfile()]
    ckpts = [m.name for m in files if m.name.lower().endswith(_CHECKPOINT_SUFFIXES)]
    listing = ", ".join(f"{m.name} ({m.size} bytes)" for m in files[:5]) or "no files"
    inner = ckpts[0] if ckpts else "the .pth file inside"
    cmd = f"tar -x{'z' if gz else ''}f {shlex.quote(str(path))} -C DIR"
    raise CheckpointError(
        f"{path} is a {'gzip-compressed ' if gz else ''}tar archive, not a checkpoint itself; it holds {listing}. "
        f"Extract it first ({cmd}, or Python's tarfile module) and pass the checkpoint inside: "
        f"--model NAME=DIR/{inner}.")


def _sniff_format(path: Path) -> str:
    """``zip`` or ``legacy`` from the file's bytes; CheckpointError for anything else."""
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): the download or copy failed; fetch the file again.")
    with open(path, "rb") as f:
        head = f.read(512)
    # a tar archive first: one holding a zip-format .pth ends with that zip's directory, so it passes is_zipfile
    if len(head) >= 262 and head[257:262] == b"ustar" or (not head.startswith((b"PK", b"\x80", b"\x1f\x8b"))
                                                          and tarfile.is_tarfile(path)):
        _refuse_tar(path, _tar_members(path, gz=False) or [], gz=False)
    if head.startswith(b"\x1f\x8b"):
        members = _tar_members(path, gz=True)
        if members:
            _refuse_tar(path, members, gz=True)
    if head.startswith(b"PK\x03\x04") or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            raise CheckpointError(
                f"{path} is a truncated or corrupt zip archive (its central directory is missing or broken); the "
                "download was probably cut short: fetch the file again.") from None
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise CheckpointError(f"{path} is a zip archive but not a PyTorch checkpoint (no data.pkl inside); "
                                  "pass the .pth/.pth.tar file the authors released.")
        if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
            raise CheckpointError(f"{path} is a TorchScript archive, not a state-dict checkpoint; save "
                                  "model.state_dict() with torch.save and pass that file.")
        return "zip"
    if head[:1] == b"\x80" and _LEGACY_MAGIC in head[:32]:
        return "legacy"
    kind = _foreign_kind(head)
    what = (f"it is {kind}" if kind
            else f"it starts with bytes {head[:8].hex(' ')}, neither a torch zip archive nor a legacy torch file")
    raise CheckpointError(f"{path} is not a PyTorch checkpoint: {what}. Pass the .pth/.pth.tar file itself "
                          f"({size} bytes here).")


def _pickle_complete(path: Path, fmt: str) -> bool:
    """Walk the pickle opcodes (nothing is executed) to tell a truncated file from an unsafe one."""
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                name = next(n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl"))
                streams = [io.BytesIO(zf.read(name))]
                count = 1
        else:
            streams = [open(path, "rb")]
            count = 5  # magic, protocol, sys_info, the object, the storage keys
        try:
            for _ in range(count):
                for _op in pickletools.genops(streams[0]):
                    pass
        finally:
            streams[0].close()
    except (ValueError, EOFError, zipfile.BadZipFile, KeyError, OSError):
        return False
    return True


def _refusal_reason(exc: Exception) -> str:
    msg = str(exc)
    m = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\s+Please use|\n|$)", msg)
    reason = (m.group(1) if m else msg.splitlines()[0] if msg else type(exc).__name__).strip()
    return reason.rstrip(".")


def _torch_load(path: Path, fmt: str, trust: bool) -> tuple[Any, bool]:
    """torch.load with weights_only first; returns (object, whether full unpickling was used)."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as exc:
        if not _pickle_complete(path, fmt):
            raise CheckpointError(f"{path} is truncated or corrupt ({fmt} format, its pickle data ends early); "
                                  "fetch the file again.") from None
        if not trust:
            raise CheckpointError(
                f"{path} was refused by the safe loader (torch.load weights_only=True): "
                f"{_refusal_reason(exc)}. The file contains Python objects besides tensors and plain "
                f"containers, and unpickling them can run arbitrary code. {TRUST_HINT}") from None
        reason = exc
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, KeyError) as exc:
        raise CheckpointError(f"{path} could not be read "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              "the file is probably truncated or corrupt: fetch it again.") from None
    try:  # trusted: full unpickling, only after the safe loader refused it
        return torch.load(path, map_location="cpu", weights_only=False), True
    except Exception as exc:  # noqa: BLE001 - any failure of an arbitrary pickle is a bad file
        raise CheckpointError(f"{path} could not be unpickled even with trust_checkpoint=True "
                              f"({type(exc).__name__}: {exc}); safe loader said: {_refusal_reason(reason)}.") from None


def read_checkpoint(checkpoint: str | PathLike | Mapping, *, trust_checkpoint: bool = False
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint file (or an in-memory dict) -> (bare state dict, info).

    info: path (str or None), sha256 (of the file, or None), format (``zip`` | ``legacy`` |
    ``state_dict`` for an in-memory dict), top_level_keys ([] for a bare state dict), epoch (int or
    None), container (key the state dict sat under, None when bare), stripped_prefix (``module.`` or None), trusted
    (full unpickling used), tensors, numel. Raises CheckpointError naming the file for anything unusable.
    """
    if isinstance(checkpoint, Mapping):
        path, sha, fmt, where, trusted = None, None, "state_dict", "the given state dict", False
        obj: Any = checkpoint
    elif isinstance(checkpoint, (str, PathLike)):
        p = Path(checkpoint).expanduser()
        if not p.exists():
            raise CheckpointError(f"checkpoint {p} does not exist; check the path.")
        if not p.is_file():
            raise CheckpointError(f"checkpoint {p} is not a file; pass the .pth/.pth.tar file inside it.")
        fmt = _sniff_format(p)
        sha = sha256_file(p)
        obj, trusted = _torch_load(p, fmt, trust_checkpoint)
        path, where = str(p), str(p)
    else:
        raise CheckpointError(f"checkpoint must be a path or a state dict, got {type(checkpoint).__name__}.")
    state, container = find_state_dict(obj, where)
    state, stripped = strip_module_prefix(state)
    check_finite(state, where)
    info = {
        "path": path, "sha256": sha, "format": fmt,
        "top_level_keys": [str(k) for k in obj.keys()] if isinstance(obj, Mapping) and container else [],
        "epoch": epoch_of(obj), "container": container, "stripped_prefix": stripped, "trusted": trusted,
        "tensors": len(state), "numel": int(sum(t.numel() for t in state.values())),
    }
    return state, info
