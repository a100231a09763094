"""Drawing of the synthetic datasets' frames: a room-like background and stick figures from projected joints.

Shared by the generators of ``data/h36m/synthetic.py`` and ``data/mupots/synthetic.py``. Pixels are BGR uint8;
joint positions ``uv`` are image pixels, depths ``z`` camera mm, ``f`` the focal length in pixels.
"""
from __future__ import annotations

import cv2
import numpy as np

LEFT_COLOR = (200, 120, 40)
RIGHT_COLOR = (40, 60, 210)
CENTRE_COLOR = (60, 190, 60)


def background(rng: np.random.Generator, wh: tuple[int, int]) -> np.ndarray:
    """A plain room-like BGR background: vertical gradient, a floor band and two dark panels."""
    w, h = wh
    top, bottom = rng.uniform(60, 200, 3), rng.uniform(40, 160, 3)
    a = np.linspace(0, 1, h)[:, None]
    col = (top[None] * (1 - a) + bottom[None] * a).astype(np.uint8)
    img = np.ascontiguousarray(np.broadcast_to(col[:, None, :], (h, w, 3)))
    img[int(h * 0.72):] = (img[int(h * 0.72):] * 0.8).astype(np.uint8)
    for _ in range(2):
        x0, y0 = int(rng.uniform(0, w * 0.8)), int(rng.uniform(0, h * 0.5))
        cv2.rectangle(img, (x0, y0), (x0 + int(w * 0.15), y0 + int(h * 0.2)),
                      tuple(float(v) for v in rng.uniform(20, 90, 3)), -1)
    return img


def draw_figure(bg: np.ndarray, uv: np.ndarray, z: np.ndarray, f: float, bones, left: set[int], right: set[int],
                head: int) -> np.ndarray:
    """A copy of ``bg`` with one figure: limbs as thick lines (farther first; coloured by the child joint's side),
    joints as dots, a head disc at joint ``head``."""
    img = bg.copy()
    pts = np.round(uv * 16).astype(np.int64)  # 4 fractional bits for cv2's shift
    order = sorted(bones, key=lambda e: -(z[e[0]] + z[e[1]]))
    zm = float(np.mean(z))
    thick = max(2, int(round(f * 70.0 / zm)))
    for a, b in order:
        color = LEFT_COLOR if b in left else RIGHT_COLOR if b in right else CENTRE_COLOR
        cv2.line(img, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, thick, cv2.LINE_AA, 4)
    for j in range(len(uv)):
        cv2.circle(img, tuple(map(int, pts[j])), max(1, thick // 2) * 16, (230, 230, 230), -1, cv2.LINE_AA, 4)
    cv2.circle(img, tuple(map(int, pts[head])), int(f * 95.0 / max(z[head], 1.0) * 16), (150, 190, 230), -1,
               cv2.LINE_AA, 4)
    return img


__all__ = ["background", "draw_figure"]
