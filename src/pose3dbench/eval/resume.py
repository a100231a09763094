"""Resumable inference: a split's finished batches saved as chunks under ``<out>/partial/<split>/``.

A killed run resumes mid-split: ``prepare_partial`` keeps the chunks only when they were computed for the
same fingerprint (model, samples, data files, inference settings) and deletes them otherwise;
``save_chunk`` writes one chunk atomically with the sha256 of its arrays; ``load_chunks`` reads them back and keeps
only chunks whose arrays still match that digest (a damaged or foreign chunk is said, deleted and its rows computed
again).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from ..io import atomic_write, atomic_write_json

def array_digest(*arrays) -> str:
    """sha256 over the dtypes, shapes and bytes of ``arrays``."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


_FINGERPRINT_PARTS = {"model": "the model", "samples": "the samples or boxes", "data": "the data files or images"}


def prepare_partial(partial_dir: Path, fingerprint: dict, log: Callable[[str], None] | None = None) -> bool:
    """Make ``partial_dir`` hold only chunks computed for ``fingerprint``; True when it starts empty.

    Chunks left by a run of another model, checkpoint, dataset, split or inference setting are
    deleted (their rows would be silently wrong), then the fingerprint is recorded beside the chunks.
    What is resumed or discarded, and why, goes to ``log``.
    """
    meta = partial_dir / "fingerprint.json"
    if partial_dir.is_dir():
        try:
            recorded = json.loads(meta.read_text())
        except (OSError, ValueError):
            recorded = None
        chunks = len(list(partial_dir.glob("chunk_*.npz")))
        if recorded == fingerprint:
            if log is not None and chunks:
                log(f"resuming from {chunks} saved chunk(s) in {partial_dir} (same model, samples, data and "
                    "inference settings)")
            return False
        if log is not None and chunks:
            differs = [_FINGERPRINT_PARTS.get(k, k) for k in fingerprint
                       if not isinstance(recorded, dict) or recorded.get(k) != fingerprint[k]]
            log(f"discarding {chunks} saved chunk(s) in {partial_dir}: computed for other "
                f"{', '.join(differs) or 'inputs'} (changed since); recomputing")
        shutil.rmtree(partial_dir, ignore_errors=True)
    atomic_write_json(meta, fingerprint)
    return True


def save_chunk(partial_dir: Path, rows_list, c_list, n_list) -> None:
    """One chunk: the rows and their coords_hm [n,J,3] with and without the flip test (heatmap units)."""
    rows = np.concatenate(rows_list).astype(np.int64)
    c = np.concatenate(c_list)
    cn = np.concatenate(n_list)
    name = f"chunk_{int(rows[0]):07d}_{int(rows[-1]):07d}.npz"
    digest = np.array(array_digest(rows, c, cn))
    atomic_write(partial_dir / name, lambda f: np.savez(f, rows=rows, coords=c, coords_noflip=cn, sha256=digest))


def load_chunks(partial_dir: Path, n: int, warn: Callable[[str], None] | None = None):
    """(rows, coords, coords_noflip) of every chunk with rows < n whose arrays match the sha256 saved with them.

    A chunk cut short by a kill is deleted silently (its rows are computed again); one that reads but does not
    match its digest (damaged, or written without one) is said through ``warn``, deleted, and its rows computed
    again: resume state never enters the results unverified."""
    if not partial_dir.is_dir():
        return
    for path in sorted(partial_dir.glob("chunk_*.npz")):
        try:
            with np.load(path) as z:
                rows, c, cn = z["rows"], z["coords"], z["coords_noflip"]
                recorded = str(z["sha256"]) if "sha256" in z.files else None
        except Exception:  # a chunk cut short by a kill: recompute its rows
            path.unlink(missing_ok=True)
            continue
        ok = (recorded == array_digest(rows, c, cn) and rows.ndim == 1 and len(c) == len(cn) == len(rows))
        if not ok:
            if warn is not None:
                warn(f"resume chunk {path} does not match the sha256 saved with it ("
                     + ("damaged" if recorded else "written without one") + "); computing its rows again")
            path.unlink(missing_ok=True)
            continue
        if len(rows) and rows.max() < n and rows.min() >= 0:
            yield rows, c, cn
