"""Image loading (errors), JPEG header reading, the 3DMPPE crop affine and normalisation."""
import cv2
import numpy as np
import pytest

from pose3dbench.data.transforms import (
    crop_patch, jpeg_is_truncated, load_image, load_patch, patch_transform, read_image_size,
)
from pose3dbench.errors import DatasetError


def _noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _jpeg(path, img, **kw):
    params = [cv2.IMWRITE_JPEG_QUALITY, 90]
    if kw.get("progressive"):
        params += [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    assert cv2.imwrite(str(path), img, params)
    return path


def test_patch_transform_maps_box_onto_patch():
    bbox = (100.0, 50.0, 200.0, 400.0)
    T = patch_transform(bbox, (256, 192))
    pts = np.array([[200, 250, 1], [100, 50, 1], [300, 450, 1]], dtype=np.float64)  # centre, top-left, bottom-right
    np.testing.assert_allclose(pts @ T.T, [[96, 128], [0, 0], [192, 256]], atol=1e-3)
    Ti = patch_transform(bbox, (256, 192), inv=True)
    np.testing.assert_allclose(np.array([[96, 128, 1.0]]) @ Ti.T, [[200, 250]], atol=1e-3)


def test_crop_integer_shift_is_exact_and_rgb():
    img = _noise(400, 500)
    patch = crop_patch(img, (10, 20, 256, 256))
    assert patch.dtype == np.uint8 and patch.shape == (256, 256, 3)
    np.testing.assert_array_equal(patch, img[20:276, 10:266, ::-1])


def test_crop_outside_is_black_and_downscale_keeps_layout():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :50] = (255, 0, 0)    # left half blue (BGR)
    img[:, 50:] = (0, 0, 255)    # right half red
    patch = crop_patch(img, (-100, 0, 200, 100), out_hw=(50, 100))  # box's left half is outside the image
    assert (patch[:, :45] == 0).all()
    assert (patch[:, 55:70] == (0, 0, 255)).all()     # blue in RGB
    assert (patch[:, 80:] == (255, 0, 0)).all()       # red in RGB


def test_crop_rejects_bad_box():
    with pytest.raises(ValueError):
        crop_patch(_noise(10, 10), (0, 0, 0, 5))
    with pytest.raises(ValueError):
        crop_patch(_noise(10, 10), (np.nan, 0, 5, 5))


def test_patch_transform_sums_its_points_in_float32():
    """The authors build centre + half extent in float32 (gen_trans_from_patch_cv); a float64 sum differs.

    For this box the two give different matrices: the float32 steps are what the pipeline vectors pin.
    """
    box = np.array([-20.950220681911333, 160.82231891508775, 558.198834562223, 558.198834562223])
    T = patch_transform(box, (256, 256))
    cx, cy = box[0] + 0.5 * box[2], box[1] + 0.5 * box[3]
    src64 = np.array([[cx, cy], [cx, cy + 0.5 * box[3]], [cx + 0.5 * box[2], cy]], dtype=np.float32)
    dst = np.array([[128, 128], [128, 256], [256, 128]], dtype=np.float32)
    T64 = cv2.getAffineTransform(src64, dst)
    assert not np.array_equal(T, T64)
    centre = np.array([cx, cy], np.float32)
    assert np.float32(centre[1] + np.float32(0.5 * box[3])) != np.float32(cy + 0.5 * box[3])


def test_load_image_good_and_sizes(tmp_path):
    img = _noise(30, 40)
    p = _jpeg(tmp_path / "a.jpg", img)
    assert load_image(p, (40, 30)).shape == (30, 40, 3)
    assert read_image_size(p) == (40, 30)
    assert read_image_size(_jpeg(tmp_path / "p.jpg", img, progressive=True)) == (40, 30)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    assert read_image_size(tmp_path / "a.png") is None
    assert not jpeg_is_truncated(p)
    assert load_patch(p, (0, 0, 40, 30), (40, 30), (8, 8)).shape == (8, 8, 3)


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="missing.jpg.*does not exist"):
        load_image(tmp_path / "missing.jpg")
    good = _jpeg(tmp_path / "b.jpg", _noise(60, 80)).read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(good[: len(good) // 2])
    assert jpeg_is_truncated(tmp_path / "trunc.jpg")
    with pytest.raises(DatasetError, match="trunc.jpg is truncated"):
        load_image(tmp_path / "trunc.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image" * 10)
    with pytest.raises(DatasetError, match="junk.jpg cannot be decoded"):
        load_image(tmp_path / "junk.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(DatasetError, match=r"b.jpg is 80x60 pixels but its annotation declares 1000x1002"):
        load_image(tmp_path / "b.jpg", expected_wh=(1000, 1002))


def test_header_size_after_large_metadata_segment(tmp_path):
    import struct

    raw = (tmp_path / "c.jpg")
    _jpeg(raw, _noise(50, 70))
    data = raw.read_bytes()
    app1 = b"\xff\xe1" + struct.pack(">H", 20002) + b"\0" * 20000   # 20 kB metadata before the frame header
    big = tmp_path / "big.jpg"
    big.write_bytes(data[:2] + app1 + data[2:])
    assert read_image_size(big) == (70, 50)
    assert load_image(big, (70, 50)).shape == (50, 70, 3)
