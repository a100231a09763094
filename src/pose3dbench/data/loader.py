"""Batched crop loading for inference: decode + affine crop in worker processes.

Each item of ``CropBatches`` is a whole batch (uint8 patches, RGB, [B, H, W, 3]) so that worker
processes send one array per batch instead of one per image; normalisation to the model's input
convention happens on the consumer side in torch (``pose3dbench.models.input.normalize_crops``: cheap,
and 4x less inter-process traffic than float32).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .. import allocator
from ..allocator import release_free_memory, tune_allocator
from ..errors import Pose3DBenchError
from .transforms import crop_patch, load_image


class CropBatches(Dataset):
    """Batches of crops of ``bbox`` (pixels, x, y, w, h) from ``image_paths``.

    Item ``k`` covers rows ``order[k*batch_size:(k+1)*batch_size]`` and returns
    ``(rows int64 [b], patches uint8 [b, H, W, 3] RGB)``.
    """

    def __init__(self, image_paths: Sequence[str], bbox: np.ndarray, rows: np.ndarray,
                 batch_size: int, out_hw: tuple[int, int], image_size: np.ndarray | None = None):
        self.image_paths = list(image_paths)
        self.bbox = np.asarray(bbox, dtype=np.float64)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.out_hw = tuple(out_hw)
        self.image_size = None if image_size is None else np.asarray(image_size)

    def __len__(self) -> int:
        return (len(self.rows) + self.batch_size - 1) // self.batch_size

    def __getitem__(self, k: int):
        rows = self.rows[k * self.batch_size:(k + 1) * self.batch_size]
        patches = np.empty((len(rows), self.out_hw[0], self.out_hw[1], 3), dtype=np.uint8)
        for j, r in enumerate(rows):
            expected = None if self.image_size is None else tuple(int(v) for v in self.image_size[r])
            img = load_image(self.image_paths[r], expected_wh=expected)
            patches[j] = crop_patch(img, self.bbox[r], out_hw=self.out_hw)
        return torch.from_numpy(rows), torch.from_numpy(patches)


def _worker_init(_worker_id: int) -> None:
    allocator.reset()  # a forked worker inherits the flag, not necessarily the setting (spawn)
    tune_allocator()  # (no cv2.setNumThreads here: after fork from a parent that used cv2's pool it hangs)


def iterate_crops(image_paths, bbox, rows, *, batch_size: int, out_hw, workers: int,
                  image_size=None, pin_memory: bool = False):
    """Yield ``(rows, uint8 patches [b, H, W, 3])`` in order, decoding in ``workers`` processes."""
    tune_allocator()
    dataset = CropBatches(image_paths, bbox, rows, batch_size, out_hw, image_size)
    loader = DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=workers,
        pin_memory=pin_memory, prefetch_factor=4 if workers > 0 else None,
        persistent_workers=False, worker_init_fn=_worker_init if workers > 0 else None,
    )
    for k, item in enumerate(loader, 1):
        yield item
        if k % TRIM_EVERY_BATCHES == 0:
            release_free_memory()


TRIM_EVERY_BATCHES = 8


def unwrap_worker_error(exc: Pose3DBenchError) -> Pose3DBenchError:
    """The original error of a DataLoader worker, without the worker traceback torch folds into the message.

    torch re-raises a worker's exception as ``type(exc)("Caught X in DataLoader worker process k.\n
    Original Traceback ...\nmodule.X: <message>")``; this returns ``type(exc)(<message>)``.
    """
    msg = str(exc)
    if "Original Traceback" not in msg:
        return exc
    marker = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    i = msg.rfind(marker)
    if i < 0:
        return exc
    try:
        return type(exc)(msg[i + len(marker):].rstrip("\n"))
    except Exception:  # noqa: BLE001 - an exception class with another signature: keep the wrapped one
        return exc


def iterate_crops_clean(*args, **kwargs):
    """``data.loader.iterate_crops`` whose worker-side Pose3DBenchErrors reach the caller unwrapped."""
    clean = None
    try:
        yield from iterate_crops(*args, **kwargs)
    except Pose3DBenchError as exc:
        clean = unwrap_worker_error(exc)
        if clean is exc:
            raise
    if clean is not None:
        # Raised outside the except block and dropped from this frame: no reference cycle keeps the wrapped
        # error's traceback, and with it the DataLoader iterator, alive until interpreter exit (where its
        # pin-memory thread would die noisily); the iterator is shut down as soon as the error is handled.
        try:
            raise clean
        finally:
            clean = None
