"""Image corruptions of the network-input crop (a Human3.6M-C mode), deterministic per (image, corruption, severity).

The eight ImageNet-C corruptions used here follow Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019 (github.com/hendrycks/robustness,
``ImageNet-C/create_c/make_imagenet_c.py``), with their severity constants, applied to the uint8 RGB
crop (256x256 for every family here) before the model's normalisation:

=================  ===========================================================================
gaussian_noise     x/255 + N(0, c), c = .08 .12 .18 .26 .38
shot_noise         Poisson(x/255 * c) / c, c = 60 25 12 5 3
defocus_blur       anti-aliased disk kernel, (radius, blur) = (3,.1) (4,.5) (6,.5) (8,.5) (10,.5)
motion_blur        Gaussian-weighted line kernel at a random angle in [-45, 45] degrees,
                   (radius, sigma) = (10,3) (15,5) (15,8) (15,12) (20,15)
jpeg_compression   JPEG re-encoding at quality 25 18 15 10 7
brightness         HSV value + c, c = .1 .2 .3 .4 .5
contrast           (x - mean) * c + mean, c = .4 .3 .2 .1 .05
pixelate           PIL BOX resize down by c and back up, c = .6 .5 .4 .3 .25
=================  ===========================================================================

plus ``occluder`` (ours, in the spirit of the 3DMPPE training-time synthetic occlusion): a rectangle of
uniform noise covering 5 10 20 30 40 % of the crop, aspect ratio in [1/2, 2], anywhere inside it.

Written here with NumPy and OpenCV rather than taken from ``imagecorruptions`` (1.1.2, 2020): that
package requires ``opencv-python``, a second ``cv2`` beside the ``opencv-python-headless`` whose
``warpAffine`` the crops depend on (and a different OpenCV version would change the crops), pulls
~500 MB (scikit-image, SciPy), and 3 of its 19 corruptions fail on NumPy 2 / scikit-image >= 0.19.
albumentations has other parameterisations than ImageNet-C. Behaviour is pinned by
``tests/data/test_corruptions.py`` (determinism, monotonic in severity, severity 0 = clean, the constants).

Randomness: ``seed_for(image_id, name, severity)`` (crc32), one ``numpy.random.Generator`` per crop, so
every model sees identical pixels and a re-run is byte-identical.
"""
from __future__ import annotations

import zlib
from typing import Callable

import cv2
import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)
COMMON = ("gaussian_noise", "shot_noise", "motion_blur", "defocus_blur", "jpeg_compression", "brightness",
          "contrast", "pixelate", "occluder")
CORRUPTION_SETS: dict[str, tuple[str, ...]] = {"none": (), "common": COMMON}

_GAUSSIAN = (0.08, 0.12, 0.18, 0.26, 0.38)
_SHOT = (60, 25, 12, 5, 3)
_DEFOCUS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
_MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))
_JPEG = (25, 18, 15, 10, 7)
_BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
_CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
_PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
_OCCLUDER_AREA = (0.05, 0.10, 0.20, 0.30, 0.40)


def seed_for(image_id: int, name: str, severity: int) -> int:
    """The seed of one corrupted crop: crc32 of ``image_id|name|severity``."""
    return zlib.crc32(f"{int(image_id)}|{name}|{int(severity)}".encode("utf-8"))


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """float image in [0, 1] -> uint8 (clip, x255, round half to even as np.rint)."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def gaussian_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    f = x.astype(np.float64) / 255.0
    return _to_uint8(f + rng.normal(0.0, _GAUSSIAN[s - 1], size=f.shape))


def shot_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = _SHOT[s - 1]
    f = x.astype(np.float64) / 255.0
    return _to_uint8(rng.poisson(f * c) / c)


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    if radius <= 8:
        span, ksize = np.arange(-8, 8 + 1), (3, 3)
    else:
        span, ksize = np.arange(-radius, radius + 1), (5, 5)
    xx, yy = np.meshgrid(span, span)
    kernel = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    kernel /= kernel.sum()
    return cv2.GaussianBlur(kernel, ksize=ksize, sigmaX=alias_blur)


def defocus_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    radius, blur = _DEFOCUS[s - 1]
    f = x.astype(np.float32) / 255.0
    out = cv2.filter2D(f, -1, _disk(radius, blur), borderType=cv2.BORDER_REFLECT)
    return _to_uint8(out)


def _motion_kernel(radius: int, sigma: float, angle_deg: float) -> np.ndarray:
    """A line of ``2 * radius + 1`` Gaussian weights (``sigma``) from the centre towards ``angle_deg``."""
    size = 2 * radius + 1
    kernel = np.zeros((size, size), dtype=np.float32)
    t = np.arange(radius + 1, dtype=np.float64)
    w = np.exp(-(t ** 2) / (2.0 * sigma ** 2))
    a = np.deg2rad(angle_deg)
    cols = np.rint(radius + t * np.cos(a)).astype(int)
    rows = np.rint(radius - t * np.sin(a)).astype(int)
    np.add.at(kernel, (rows, cols), w.astype(np.float32))
    return kernel / kernel.sum()


def motion_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = _MOTION[s - 1]
    kernel = _motion_kernel(radius, sigma, rng.uniform(-45.0, 45.0))
    f = x.astype(np.float32) / 255.0
    return _to_uint8(cv2.filter2D(f, -1, kernel, borderType=cv2.BORDER_REFLECT))


def jpeg_compression(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(x[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, _JPEG[s - 1]])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def brightness(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(x.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # float: H in [0, 360), S, V in [0, 1]
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + _BRIGHTNESS[s - 1], 0.0, 1.0)
    return _to_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def contrast(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    f = x.astype(np.float64) / 255.0
    means = f.mean(axis=(0, 1), keepdims=True)
    return _to_uint8((f - means) * _CONTRAST[s - 1] + means)


def pixelate(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """PIL ``BOX`` resampling down by c and back up, as ImageNet-C (Pillow comes with matplotlib)."""
    from PIL import Image

    h, w = x.shape[:2]
    c = _PIXELATE[s - 1]
    small = Image.fromarray(np.ascontiguousarray(x)).resize((max(1, int(w * c)), max(1, int(h * c))), Image.BOX)
    return np.asarray(small.resize((w, h), Image.BOX), dtype=np.uint8).copy()


def occluder(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[:2]
    area = _OCCLUDER_AREA[s - 1] * h * w
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    oh = int(min(h, max(1, round(np.sqrt(area * aspect)))))
    ow = int(min(w, max(1, round(area / oh))))
    top = int(rng.integers(0, h - oh + 1))
    left = int(rng.integers(0, w - ow + 1))
    out = x.copy()
    out[top:top + oh, left:left + ow] = rng.integers(0, 256, (oh, ow, 3), dtype=np.uint8)
    return out


CORRUPTIONS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "motion_blur": motion_blur,
    "defocus_blur": defocus_blur, "jpeg_compression": jpeg_compression, "brightness": brightness,
    "contrast": contrast, "pixelate": pixelate, "occluder": occluder,
}


def corrupt(crop: np.ndarray, name: str, severity: int, image_id: int) -> np.ndarray:
    """The uint8 RGB ``crop`` [H, W, 3] with corruption ``name`` at ``severity`` (0 = the crop itself)."""
    if severity == 0:
        return crop
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 0..5, got {severity!r}")
    rng = np.random.default_rng(seed_for(image_id, name, severity))
    out = CORRUPTIONS[name](np.ascontiguousarray(crop), int(severity), rng)
    assert out.dtype == np.uint8 and out.shape == crop.shape
    return out


def resolve_corruptions(spec: str) -> tuple[str, ...]:
    """``--corruptions`` value -> corruption names: a set name (none, common) or comma-separated names."""
    spec = spec.strip()
    if spec in CORRUPTION_SETS:
        return CORRUPTION_SETS[spec]
    names = tuple(n.strip() for n in spec.split(",") if n.strip())
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown or not names:
        raise ValueError(f"--corruptions {spec!r}: unknown {', '.join(unknown) or 'value'}; use a set "
                         f"({', '.join(CORRUPTION_SETS)}) or names from {', '.join(CORRUPTIONS)}")
    return names


__all__ = ["COMMON", "CORRUPTIONS", "CORRUPTION_SETS", "SEVERITIES", "corrupt", "resolve_corruptions", "seed_for"]
