"""Image loading and the test-time crop of the 3DMPPE code (no augmentation).

``crop_patch`` maps the box (x, y, w, h image pixels) onto the output patch: box centre -> patch
centre, box width/height -> patch width/height (a 3-point affine as in the authors'
``generate_patch_image``, ``cv2.warpAffine`` bilinear, zero border), then BGR -> RGB, kept as uint8 (the authors
cast the same values to float32; the network input is made from it by ``pose3dbench.models.input.normalize_crops``).
"""
from __future__ import annotations

import os
import struct

import cv2
import numpy as np

from ..errors import DatasetError

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
# Start-of-frame markers (baseline, progressive, ...) that carry the image size.
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_truncated(buf: bytes | np.ndarray) -> bool:
    """True when a JPEG lacks its end-of-image marker (FFD9) near the end (trailing padding allowed)."""
    tail = bytes(buf[-64:])
    return _JPEG_EOI not in tail


def load_image(path: str | os.PathLike, expected_wh=None) -> np.ndarray:
    """Read an image as BGR uint8 (H, W, 3) pixels, EXIF orientation ignored (as the authors).

    expected_wh: (width, height) declared by the annotation; a different decoded size raises.
    DatasetError (naming the file and the fix) for missing, unreadable, truncated or corrupt images.
    """
    path = os.fspath(path)
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        link = broken_link(path)
        if link:
            raise DatasetError(f"image {path} is a broken symbolic link: {link}; point the link at the extracted "
                               "image (or replace it with the file)") from None
        raise DatasetError(f"image {path} does not exist; "
                           "extract the Human3.6M images so that this file is present") from None
    except OSError as exc:
        raise DatasetError(f"cannot read image {path} ({exc}); check the file and its permissions") from None
    if buf.size == 0:
        raise DatasetError(f"image {path} is empty (0 bytes); re-extract it from the dataset archive")
    if bytes(buf[:2]) == _JPEG_SOI and _jpeg_truncated(buf):
        raise DatasetError(f"image {path} is truncated (no JPEG end marker); re-extract it from the dataset archive")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise DatasetError(f"image {path} cannot be decoded (corrupt or not an image); "
                           "re-extract it from the dataset archive")
    if expected_wh is not None:
        ew, eh = int(expected_wh[0]), int(expected_wh[1])
        if (img.shape[1], img.shape[0]) != (ew, eh):
            raise DatasetError(
                f"image {path} is {img.shape[1]}x{img.shape[0]} pixels but its annotation declares {ew}x{eh}; "
                "the file is not the annotated frame (replace it with the real Human3.6M frame)"
            )
    return img


def broken_link(path: str | os.PathLike) -> str | None:
    """Why ``path`` does not resolve when it (or a folder above it) is a dangling symbolic link, else None.

    ``'it points to /mnt/h36m/S9/x.jpg, which does not exist'`` (the link named is the first dangling one).
    """
    p = os.path.abspath(os.fspath(path))
    parts = []
    head = p
    while True:
        parts.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for q in reversed(parts):  # from the root down: the first link whose target is missing
        if os.path.islink(q) and not os.path.exists(q):
            try:
                target = os.readlink(q)
            except OSError:
                target = "?"
            where = "" if q == p else f" (the folder link {q})"
            return f"it{where} points to {target}, which does not exist"
    return None


def read_image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from a JPEG header (SOF marker) without decoding; None if not a readable JPEG."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
            if head[:2] != _JPEG_SOI:
                return None
            pos = 2
            while True:
                while pos + 4 > len(head):
                    more = f.read(65536)
                    if not more:
                        return None
                    head += more
                if head[pos] != 0xFF:
                    return None
                marker = head[pos + 1]
                if marker == 0xFF:  # fill byte
                    pos += 1
                    continue
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    pos += 2
                    continue
                seg_len = struct.unpack(">H", head[pos + 2:pos + 4])[0]
                if marker in _SOF_MARKERS:
                    while pos + 9 > len(head):
                        more = f.read(65536)
                        if not more:
                            return None
                        head += more
                    h, w = struct.unpack(">HH", head[pos + 5:pos + 9])
                    return int(w), int(h)
                if marker in (0xD9, 0xDA):  # end of image / start of scan before any SOF
                    return None
                pos += 2 + seg_len
    except OSError:
        return None


def jpeg_is_truncated(path: str | os.PathLike) -> bool:
    """True when the file does not end with the JPEG end marker (reads only the last 64 bytes)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64))
        return _jpeg_truncated(f.read())


def patch_transform(bbox, out_hw=(256, 256), inv: bool = False) -> np.ndarray:
    """2x3 affine from image pixels to patch pixels (``inv``: patch -> image) for box (x, y, w, h).

    The 3DMPPE ``gen_trans_from_patch_cv`` (scale 1, rotation 0; e.g. 3DMPPE_POSENET_RELEASE
    ``data/dataset.py``), step for step in the same precision, because OpenCV's fixed-point bilinear
    sampling turns a last-bit difference of the matrix into a different crop (2e-3 to 3e-2 heatmap units
    downstream, measured with the pipeline vectors):
    centre ``float32([float64(x + 0.5 w), float64(y + 0.5 h)])``; half extents ``float32(0.5 h)``,
    ``float32(0.5 w)``; the second and third source points are *float32* sums centre + half extent;
    destination points the same with the patch size; ``cv2.getAffineTransform`` of those float32 points.
    """
    b = np.asarray(bbox, dtype=np.float64).reshape(4)
    oh, ow = int(out_hw[0]), int(out_hw[1])
    src = _three_points(float(b[0] + 0.5 * b[2]), float(b[1] + 0.5 * b[3]), float(b[2]), float(b[3]))
    dst = _three_points(ow * 0.5, oh * 0.5, float(ow), float(oh))
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def _three_points(cx: float, cy: float, w: float, h: float) -> np.ndarray:
    """[centre, centre + (0, h/2), centre + (w/2, 0)] as float32, summed in float32 (the authors' steps)."""
    centre = np.array([cx, cy], dtype=np.float32)
    pts = np.zeros((3, 2), dtype=np.float32)
    pts[0] = centre
    pts[1] = centre + np.array([0, h * 0.5], dtype=np.float32)
    pts[2] = centre + np.array([w * 0.5, 0], dtype=np.float32)
    return pts


def crop_patch(img_bgr: np.ndarray, bbox, out_hw=(256, 256)) -> np.ndarray:
    """Crop box (x, y, w, h pixels) of a BGR image into an (H, W, 3) RGB uint8 patch (bilinear, black border)."""
    if img_bgr is None or img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
        raise ValueError(f"crop_patch needs an (H, W, 3) BGR image, got shape {getattr(img_bgr, 'shape', None)}")
    b = np.asarray(bbox, dtype=np.float64).reshape(4)
    if not (np.isfinite(b).all() and b[2] > 0 and b[3] > 0):
        raise ValueError(f"crop_patch needs a finite box with positive width and height, got {b.tolist()}")
    trans = patch_transform(b, out_hw)
    patch = cv2.warpAffine(img_bgr, trans, (int(out_hw[1]), int(out_hw[0])), flags=cv2.INTER_LINEAR)
    return np.ascontiguousarray(patch[:, :, ::-1])


def load_patch(path, bbox, expected_wh=None, out_hw=(256, 256)) -> np.ndarray:
    """``crop_patch(load_image(path, expected_wh), bbox, out_hw)``: RGB uint8 (H, W, 3)."""
    return crop_patch(load_image(path, expected_wh), bbox, out_hw)
