"""process_bbox as in the 3DMPPE code: hand-computed cases (pixels, x, y, w, h)."""
import numpy as np
import pytest

from pose3dbench.data.bbox import bbox_from_points, process_bbox, process_bboxes


def test_inside_wide_box_is_squared_and_scaled():
    # x2 = 10 + 40 = 50, y2 = 20 + 20 = 40 -> (10, 20, 40, 20); centre (30, 30); h -> 40; x1.25 -> 50
    np.testing.assert_allclose(process_bbox([10, 20, 41, 21], 100, 100), [5, 5, 50, 50])


def test_negative_origin_is_clipped_then_box_keeps_its_size():
    # x1 = y1 = 0; x2 = 0 + 29, y2 = 0 + 49 (the authors add w-1 to the CLIPPED corner)
    # -> (0, 0, 29, 49); centre (14.5, 24.5); w -> 49; x1.25 -> 61.25
    np.testing.assert_allclose(process_bbox([-10, -5, 30, 50], 100, 100), [-16.125, -6.125, 61.25, 61.25])


def test_box_past_the_border_is_clipped_to_w_minus_1():
    # x2 = min(99, 80 + 49) = 99, y2 = min(99, 90 + 29) = 99 -> (80, 90, 19, 9); centre (89.5, 94.5)
    # h -> 19; x1.25 -> 23.75
    np.testing.assert_allclose(process_bbox([80, 90, 50, 30], 100, 100), [77.625, 82.625, 23.75, 23.75])


def test_image_height_is_used_for_y():
    # W = 1000, H = 60: y2 = min(59, 40 + 99) = 59 -> (0, 40, 9, 19); centre (4.5, 49.5); w -> 19 -> 23.75
    np.testing.assert_allclose(process_bbox([0, 40, 10, 100], 1000, 60), [-7.375, 37.625, 23.75, 23.75])


@pytest.mark.parametrize("box", [
    [10, 10, 0, 20],            # zero width
    [10, 10, 20, 0],            # zero height
    [10, 10, -5, 20],           # negative width
    [10, 10, 20, -5],           # negative height
    [120, 10, 20, 20],          # starts right of the image: x2 = 99 < x1 = 120
    [10, 130, 20, 20],          # starts below the image
    [np.nan, 10, 20, 20],       # NaN
    [10, 10, -5, -5],           # w*h > 0 passes the authors' test but the box is 0x0
])
def test_degenerate_boxes_are_rejected(box):
    assert process_bbox(box, 100, 100) is None
    out, valid = process_bboxes([box], 100, 100)
    assert not valid[0] and np.isnan(out[0]).all()


def test_aspect_ratio_other_than_one():
    # 192x256 input (w/h = 0.75): (0, 0, 30, 40) already has that ratio -> only x1.25 about (15, 20)
    np.testing.assert_allclose(process_bbox([0, 0, 31, 41], 1000, 1000, aspect_ratio=0.75), [-3.75, -5, 37.5, 50])
    # too wide: (0, 0, 60, 40) -> h = 60 / 0.75 = 80 -> (75, 100) about (30, 20)
    np.testing.assert_allclose(process_bbox([0, 0, 61, 41], 1000, 1000, aspect_ratio=0.75), [-7.5, -30, 75, 100])


def test_one_pixel_box_becomes_square_of_its_height():
    # w = 1 -> x2 = x1 -> width 0; height 9 -> w = 9 -> 11.25 about (50, 54.5)
    np.testing.assert_allclose(process_bbox([50, 50, 1, 10], 100, 100), [44.375, 48.875, 11.25, 11.25])


def test_vectorised_equals_scalar_and_per_row_sizes():
    rng = np.random.default_rng(0)
    boxes = np.column_stack([rng.uniform(-50, 1050, 500), rng.uniform(-50, 1050, 500),
                             rng.uniform(-20, 600, 500), rng.uniform(-20, 600, 500)])
    W = rng.choice([1000, 320], 500)
    H = W + rng.choice([0, 2], 500)
    out, valid = process_bboxes(boxes, W, H)
    assert 0 < valid.sum() < 500
    for i in range(500):
        ref = process_bbox(boxes[i], W[i], H[i])
        if ref is None:
            assert not valid[i]
        else:
            assert valid[i]
            np.testing.assert_allclose(out[i], ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out[valid, 2], out[valid, 3])  # square for aspect 1


def test_real_rootnet_box_is_process_bbox_of_the_detection():
    # MobileHumanPose dummy detection for image 1877420 and the released RootNet box for that id.
    det = [309.1705017089844, 252.84469604492188, 326.1686096191406, 368.1951599121094]
    rootnet = [242.25783157348633, 206.9453010559082, 458.9939498901367, 458.9939498901367]
    np.testing.assert_allclose(process_bbox(det, 1000, 1002), rootnet, atol=1e-4)


def test_bbox_from_points():
    pts = np.array([[10.0, 20.0], [30.0, 60.0], [20.0, 40.0]])
    np.testing.assert_allclose(bbox_from_points(pts, 1.0), [10, 20, 20, 40])
    np.testing.assert_allclose(bbox_from_points(pts[None], 1.2), [[8, 16, 24, 48]])
