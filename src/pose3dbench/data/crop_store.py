"""Decode once, run many: the crops of a run, made once and served to every model.

A crop is identified by what it is made of: the image file (real path, size, modification time),
the box (x, y, w, h pixels, float64 bytes) and the output size (H, W pixels), plus ``CROP_VERSION``
(bumped whenever ``transforms.crop_patch`` changes). Every model with the same input size, both
passes of the flip test (the mirror is taken on the tensor, as the authors do) and every split that
holds the same (image, box) — Protocol 1's S11 inside Protocol 2 — get the same stored bytes, which
are the uint8 RGB output of ``crop_patch(load_image(path), box)`` (tested byte for byte).

Tiers:
- ``memory``: crops kept in RAM for the run.
- ``disk``: crops appended to ``<cache>/crops/v<N>_<H>x<W>/crops.u8`` (raw uint8, one ``H*W*3`` slot
  each) and indexed in ``index.tsv`` (``key<TAB>slot<TAB>crc32`` lines, written after the slot's bytes, so the
  index only names complete crops; a line cut by a crash is ignored). Every slot is checked against its
  crc32 the first time a process reads it: a damaged slot is said once per batch (``CropStore.warn``), decoded
  again and appended anew (the later index line wins), so a damaged store costs time, never a wrong crop.
  Reads go through ``np.memmap``
  (file-backed pages, reclaimable by the OS), so resident memory does not grow with the dataset, and a
  second run on the same data decodes nothing. A changed image file has another key: it is decoded again.
- ``auto``: memory when the run's crops fit ``budget_mb``, else disk (decided by the runner, which knows
  the splits and the models' input sizes before the first model runs).
- ``off``: decode every time (the path before the store).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from .loader import iterate_crops_clean

CROP_VERSION = 2  # 2: index lines carry the crc32 of the slot
MODES = ("auto", "memory", "disk", "off")
DEFAULT_BUDGET_MB = 1024


def crop_bytes(out_hw: Sequence[int]) -> int:
    return int(out_hw[0]) * int(out_hw[1]) * 3


def crop_keys(image_paths: Sequence[str], bbox: np.ndarray, rows: Sequence[int], out_hw: Sequence[int]) -> list[str]:
    """Content keys of the crops of ``rows``: sha1 of (file identity, box float64 bytes, size, version).

    A file that cannot be stat'ed gets a key from its path alone; decoding it then raises the loader's
    clear error.
    """
    h, w = int(out_hw[0]), int(out_hw[1])
    boxes = np.ascontiguousarray(np.asarray(bbox, dtype=np.float64))
    ident: dict[str, str] = {}
    keys = []
    for r in rows:
        p = image_paths[int(r)]
        if p not in ident:
            try:
                st = os.stat(p)
                ident[p] = f"{os.path.realpath(p)}|{st.st_size}|{st.st_mtime_ns}"
            except OSError:
                ident[p] = f"{p}|missing"
        hsh = hashlib.sha1(f"v{CROP_VERSION}|{h}x{w}|{ident[p]}|".encode())
        hsh.update(boxes[int(r)].tobytes())
        keys.append(hsh.hexdigest())
    return keys


class _DiskTier:
    """Append-only crops file + index for one output size, shared between runs (``flock`` while writing)."""

    def __init__(self, root: Path, out_hw: tuple[int, int]):
        self.dir = Path(root) / f"v{CROP_VERSION}_{out_hw[0]}x{out_hw[1]}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.shape = (int(out_hw[0]), int(out_hw[1]), 3)
        self.nbytes = crop_bytes(out_hw)
        self.data_path = self.dir / "crops.u8"
        self.index_path = self.dir / "index.tsv"
        self.lock_path = self.dir / "lock"
        self.index: dict[str, int] = {}
        self.crc: dict[str, int] = {}
        self.verified: set[str] = set()  # keys whose slot matched its crc32 in this process
        self.damaged: set[str] = set()  # keys whose slot did not: decoded again, appended anew
        self._map: np.memmap | None = None
        self._mapped_slots = 0
        self._read_index()

    def _read_index(self) -> None:
        try:
            text = self.index_path.read_text()
        except FileNotFoundError:
            return
        size = self.data_path.stat().st_size if self.data_path.exists() else 0
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # cut by a crash: the slot's bytes may be incomplete
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
                continue  # not a line of this version: its crop is decoded again
            key, slot, crc = parts[0], int(parts[1]), int(parts[2])
            if (slot + 1) * self.nbytes <= size:
                if self.index.get(key) != slot:
                    self.verified.discard(key)
                self.index[key], self.crc[key] = slot, crc

    @contextlib.contextmanager
    def _locked(self):
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def put_many(self, keys: Sequence[str], crops: np.ndarray) -> None:
        with self._locked():
            self._read_index()  # another run may have appended meanwhile
            todo = [(k, c) for k, c in zip(keys, crops) if k not in self.index or k in self.damaged]
            if not todo:
                return
            with open(self.data_path, "ab") as f:
                start = f.tell() // self.nbytes
                if f.tell() % self.nbytes:  # a torn slot at the end (crash while writing): pad it out
                    f.write(b"\0" * (self.nbytes - f.tell() % self.nbytes))
                    start += 1
                crcs = []
                for _, c in todo:
                    data = np.ascontiguousarray(c, dtype=np.uint8).tobytes()
                    crcs.append(zlib.crc32(data))
                    f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with open(self.index_path, "a") as idx:
                idx.write("".join(f"{k}\t{start + i}\t{crcs[i]}\n" for i, (k, _) in enumerate(todo)))
            for i, (k, _) in enumerate(todo):
                self.index[k], self.crc[k] = start + i, crcs[i]
                self.verified.add(k)
                self.damaged.discard(k)

    def get(self, key: str) -> np.ndarray:
        slot = self.index[key]
        if self._map is None or slot >= self._mapped_slots:
            n = self.data_path.stat().st_size // self.nbytes
            self._map = np.memmap(self.data_path, dtype=np.uint8, mode="r", shape=(n,) + self.shape)
            self._mapped_slots = n
        return self._map[slot]

    def check(self, key: str) -> bool:
        """True when ``key`` is stored and its slot matches the crc32 recorded with it (checked once a process);
        a damaged slot is remembered in ``damaged`` (and decoded again by the caller)."""
        if key not in self.index or key in self.damaged:
            return False
        if key not in self.verified:
            try:
                ok = zlib.crc32(np.ascontiguousarray(self.get(key)).tobytes()) == self.crc[key]
            except (OSError, ValueError):
                ok = False
            if not ok:
                self.damaged.add(key)
                return False
            self.verified.add(key)
        return True

    def __contains__(self, key: str) -> bool:
        return self.check(key)


class CropStore:
    """uint8 RGB crops [H, W, 3] of (image, box, size), decoded once and served in batches.

    ``mode``: ``memory`` | ``disk`` | ``off`` (``auto`` is resolved by the caller with ``choose_mode``).
    ``workers``: decode processes for the crops not in the store. ``root``: the disk tier's folder
    (default ``<cache>/crops``). ``stats()`` reports hits (served from the store) and misses (decoded).
    """

    def __init__(self, mode: str = "memory", *, workers: int = 0, root: str | Path | None = None,
                 pin_memory: bool = False, warn=None):
        if mode not in ("memory", "disk", "off"):
            raise ValueError(f"CropStore mode must be memory, disk or off (auto is resolved first), got {mode!r}")
        self.mode = mode
        self.workers = int(workers)
        self.pin_memory = bool(pin_memory)
        if root is None:
            from ..paths import cache_dir

            root = cache_dir() / "crops"
        self.root = Path(root)
        self._memory: dict[str, np.ndarray] = {}
        self._disk: dict[tuple[int, int], _DiskTier] = {}
        self.hits = 0
        self.misses = 0
        self.damaged = 0  # disk slots that failed their crc32 and were decoded again
        self.warn = warn  # where damaged slots are said (the run's warnings); None: Python's warnings

    def _say(self, msg: str) -> None:
        if self.warn is not None:
            self.warn(msg)
        else:
            import warnings

            warnings.warn(msg, stacklevel=3)

    def _tier(self, out_hw: tuple[int, int]) -> _DiskTier:
        if out_hw not in self._disk:
            self._disk[out_hw] = _DiskTier(self.root, out_hw)
        return self._disk[out_hw]

    def _has(self, key: str, out_hw) -> bool:
        if self.mode == "memory":
            return key in self._memory
        if self.mode == "disk":
            return key in self._tier(out_hw)
        return False

    def _get(self, key: str, out_hw) -> np.ndarray:
        return self._memory[key] if self.mode == "memory" else self._tier(out_hw).get(key)

    def _put(self, keys: list[str], crops: np.ndarray, out_hw) -> None:
        if self.mode == "memory":
            for k, c in zip(keys, crops):
                self._memory[k] = np.array(c, dtype=np.uint8, copy=True)
        elif self.mode == "disk":
            self._tier(out_hw).put_many(keys, crops)

    def batches(self, image_paths: Sequence[str], bbox: np.ndarray, rows: Sequence[int], *, batch_size: int,
                out_hw: Sequence[int], image_size: np.ndarray | None = None,
                corruption: tuple[str, int] | None = None, image_ids: np.ndarray | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(rows int64 [b], uint8 crops [b, H, W, 3] RGB)`` in the order of ``rows``.

        Crops not in the store are decoded (in ``workers`` processes, in the same order) and stored.
        ``corruption`` = (name, severity >= 1): the crops corrupted by ``data.corruptions.corrupt`` (seeded by
        ``image_ids[row]``), made once from the stored clean crops and stored under their own keys.
        """
        out_hw = (int(out_hw[0]), int(out_hw[1]))
        rows = np.asarray(rows, dtype=np.int64)
        if corruption is not None and int(corruption[1]) == 0:
            corruption = None
        if corruption is not None and image_ids is None:
            raise ValueError("corrupted crops need image_ids (their seeds)")
        keys = crop_keys(image_paths, bbox, rows, out_hw) if self.mode != "off" else [""] * len(rows)
        if corruption is not None and self.mode != "off":
            keys = [hashlib.sha1(f"{k}|{corruption[0]}|{int(corruption[1])}".encode()).hexdigest() for k in keys]
        seen: set[str] = set()
        miss_rows = []
        damaged_before = len(self._tier(out_hw).damaged) if self.mode == "disk" else 0
        for r, k in zip(rows, keys):
            if self.mode == "off" or (k not in seen and not self._has(k, out_hw)):
                miss_rows.append(int(r))
            seen.add(k)
        if self.mode == "disk" and len(self._tier(out_hw).damaged) > damaged_before:
            n_bad = len(self._tier(out_hw).damaged) - damaged_before
            self.damaged += n_bad
            self._say(f"crop store {self._tier(out_hw).dir}: {n_bad} stored crop(s) do not match their crc32 "
                      "(damaged); decoding them again")
        miss_set = set(miss_rows)
        if not miss_rows:
            stream = iter(())
        elif corruption is None:
            stream = iter(iterate_crops_clean(image_paths, bbox, np.asarray(miss_rows, dtype=np.int64),
                                              batch_size=batch_size, out_hw=out_hw, workers=self.workers,
                                              image_size=image_size))
        else:
            stream = self._corrupted(image_paths, bbox, miss_rows, batch_size, out_hw, image_size, corruption,
                                     image_ids)
        key_of_row = dict(zip((int(r) for r in rows), keys))
        pending: dict[int, np.ndarray] = {}
        try:
            for start in range(0, len(rows), int(batch_size)):
                b_rows = rows[start:start + int(batch_size)]
                out = np.empty((len(b_rows), out_hw[0], out_hw[1], 3), dtype=np.uint8)
                for j, r in enumerate(b_rows):
                    r = int(r)
                    if r in miss_set:
                        while r not in pending:
                            got_rows, got = next(stream)
                            arr = got.numpy()
                            got_rows = [int(x) for x in got_rows]
                            self._put([key_of_row[x] for x in got_rows], arr, out_hw)
                            pending.update(zip(got_rows, arr))
                            self.misses += len(got_rows)
                        out[j] = pending.pop(r)
                    else:  # in the store before this call, or stored by an earlier row with the same crop
                        out[j] = self._get(key_of_row[r], out_hw)
                        self.hits += 1
                t = torch.from_numpy(out)
                yield torch.from_numpy(b_rows), (t.pin_memory() if self.pin_memory else t)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def _corrupted(self, image_paths, bbox, rows, batch_size, out_hw, image_size, corruption, image_ids):
        from .corruptions import corrupt

        name, severity = corruption[0], int(corruption[1])
        for b_rows, clean in self.batches(image_paths, bbox, rows, batch_size=batch_size, out_hw=out_hw,
                                          image_size=image_size):
            arr = clean.numpy()
            out = np.stack([corrupt(c, name, severity, int(image_ids[int(r)])) for r, c in zip(b_rows, arr)])
            yield b_rows, torch.from_numpy(out)

    def stats(self) -> dict:
        total = self.hits + self.misses
        return {"mode": self.mode, "hits": int(self.hits), "misses": int(self.misses), "damaged": int(self.damaged),
                "hit_rate": float(self.hits / total) if total else 0.0,
                "path": str(self.root) if self.mode == "disk" else None}


def choose_mode(requested: str, needed_bytes: int, budget_mb: float = DEFAULT_BUDGET_MB) -> str:
    """``auto`` -> ``memory`` when ``needed_bytes`` fit ``budget_mb``, else ``disk``; other modes as given."""
    if requested not in MODES:
        raise ValueError(f"--crop-cache must be one of {', '.join(MODES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return "memory" if needed_bytes <= budget_mb * 2**20 else "disk"


__all__ = ["CropStore", "CROP_VERSION", "MODES", "choose_mode", "crop_keys", "crop_bytes"]
