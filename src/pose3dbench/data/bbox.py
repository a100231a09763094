"""Bounding boxes in image pixels, ``(x, y, w, h)`` with ``(x, y)`` the top-left corner.

``process_bboxes`` reproduces the 3DMPPE ``process_bbox`` (sanitise to the image, then grow to the
network input's aspect ratio about the box centre and scale width and height by 1.25), vectorised.
"""
from __future__ import annotations

import numpy as np

#: Factor by which the 3DMPPE code enlarges a sanitised box (both sides).
BBOX_SCALE = 1.25


def process_bboxes(bboxes, widths, heights, aspect_ratio: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Sanitise and extend N boxes as the 3DMPPE ``process_bbox`` does.

    bboxes: (N, 4) x, y, w, h in pixels; widths, heights: image size in pixels, scalars or (N,).
    aspect_ratio: input width / input height of the network (1.0 for 256x256).
    Steps per box: x1 = max(0, x), y1 = max(0, y), x2 = min(W-1, x1 + max(0, w-1)),
    y2 = min(H-1, y1 + max(0, h-1)); rejected unless w*h > 0 and x2 >= x1 and y2 >= y1 (NaN rejects);
    then (x1, y1, x2-x1, y2-y1) is grown about its centre to ``aspect_ratio`` and w, h are scaled by 1.25.
    One addition to the authors' rule: a box that is still 0x0 after sanitising (e.g. w and h both
    negative, which passes ``w*h > 0``) is rejected too, since it cannot be cropped.
    Returns (boxes (N, 4) float64 pixels, NaN rows where rejected; valid (N,) bool).
    """
    b = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    n = b.shape[0]
    W = np.broadcast_to(np.asarray(widths, dtype=np.float64), (n,))
    H = np.broadcast_to(np.asarray(heights, dtype=np.float64), (n,))
    x, y, w, h = b.T
    with np.errstate(invalid="ignore"):
        x1 = np.maximum(0.0, x)
        y1 = np.maximum(0.0, y)
        x2 = np.minimum(W - 1.0, x1 + np.maximum(0.0, w - 1.0))
        y2 = np.minimum(H - 1.0, y1 + np.maximum(0.0, h - 1.0))
        valid = (w * h > 0) & (x2 >= x1) & (y2 >= y1)
    # np.maximum/minimum propagate NaN, and every comparison with NaN is False, so NaN rows are invalid.
    bw = x2 - x1
    bh = y2 - y1
    cx = x1 + bw / 2.0
    cy = y1 + bh / 2.0
    wider = bw > aspect_ratio * bh
    taller = bw < aspect_ratio * bh
    bh = np.where(wider, bw / aspect_ratio, bh)
    bw = np.where(taller, bh * aspect_ratio, bw)
    bw = bw * BBOX_SCALE
    bh = bh * BBOX_SCALE
    valid &= (bw > 0) & (bh > 0)
    out = np.stack([cx - bw / 2.0, cy - bh / 2.0, bw, bh], axis=1)
    out[~valid] = np.nan
    return out, valid


def process_bbox(bbox, width: float, height: float, aspect_ratio: float = 1.0) -> np.ndarray | None:
    """One box (x, y, w, h pixels) through ``process_bboxes``; ``None`` when it is degenerate."""
    out, valid = process_bboxes(np.asarray(bbox, dtype=np.float64).reshape(1, 4), width, height, aspect_ratio)
    return out[0] if valid[0] else None


def bbox_from_points(points, scale: float = 1.2) -> np.ndarray:
    """Box around 2D points, enlarged about its centre by ``scale`` (pixels).

    points: (..., J, 2+) pixel coordinates; returns (..., 4) x, y, w, h. With ``scale=1.2`` this is
    how the Human3.6M annotation boxes relate to the projected joints.
    """
    p = np.asarray(points, dtype=np.float64)[..., :2]
    lo = p.min(axis=-2)
    hi = p.max(axis=-2)
    c = (lo + hi) / 2.0
    size = (hi - lo) * scale
    return np.concatenate([c - size / 2.0, size], axis=-1)
