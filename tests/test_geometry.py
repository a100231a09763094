"""Back-projection, projection and flip-merge conventions, pinned with hand-computed values."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3dbench.geometry import image_to_camera, project_to_image, world_to_camera
from pose3dbench.joints import H36M_FLIP_PAIRS
from pose3dbench.models.codecs import camera_to_heatmap, flip_merge, heatmap_to_camera

FRAME_DIR = Path(__file__).parent / "fixtures" / "h36m-real" / "s11_frame"


def test_flip_merge_hand_computed_numpy_and_torch():
    coords = np.array([[[10, 1, 2], [20, 3, 4], [30, 5, 6]]], dtype=np.float64)
    flipped = np.array([[[50, 7, 8], [40, 9, 10], [60, 11, 12]]], dtype=np.float64)
    # mirror x -> 63 - x: [13,7,8] [23,9,10] [3,11,12]; swap joints 1 and 2; average with coords.
    expected = np.array([[[11.5, 4, 5], [11.5, 7, 8], [26.5, 7, 8]]])
    before = flipped.copy()
    np.testing.assert_allclose(flip_merge(coords, flipped, 64, ((1, 2),)), expected)
    np.testing.assert_array_equal(flipped, before)  # input untouched
    out_t = flip_merge(torch.from_numpy(coords).float(), torch.from_numpy(flipped).float(), 64, ((1, 2),))
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t.numpy(), expected)


def test_flip_merge_h36m_pairs_and_perfect_mirror():
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 63, (4, 18, 3))
    flipped = rng.uniform(0, 63, (4, 18, 3))
    out = flip_merge(coords, flipped, 64, H36M_FLIP_PAIRS)
    # R_Shoulder (14) takes the mirrored L_Shoulder (11) of the flipped pass, Pelvis stays.
    np.testing.assert_allclose(out[:, 14, 0], (coords[:, 14, 0] + 63 - flipped[:, 11, 0]) / 2)
    np.testing.assert_allclose(out[:, 14, 1:], (coords[:, 14, 1:] + flipped[:, 11, 1:]) / 2)
    np.testing.assert_allclose(out[:, 0, 0], (coords[:, 0, 0] + 63 - flipped[:, 0, 0]) / 2)
    np.testing.assert_allclose(out[:, 17], (coords[:, 17] + np.c_[63 - flipped[:, 17, 0], flipped[:, 17, 1:]]) / 2)
    # a perfect model sees the mirrored person: merging its two passes returns the original.
    perm = np.arange(18)
    for a, b in H36M_FLIP_PAIRS:
        perm[a], perm[b] = b, a
    mirrored = coords[:, perm].copy()
    mirrored[..., 0] = 63 - mirrored[..., 0]
    np.testing.assert_allclose(flip_merge(coords, mirrored, 64, H36M_FLIP_PAIRS), coords, atol=1e-12)


def test_flip_merge_shape_mismatch():
    with pytest.raises(ValueError):
        flip_merge(np.zeros((1, 18, 3)), np.zeros((1, 17, 3)), 64, H36M_FLIP_PAIRS)


def test_heatmap_to_camera_hand_computed():
    coords = np.array([[[32.0, 16.0, 48.0]]])
    bbox = np.array([[100.0, 50.0, 200.0, 400.0]])
    root = np.array([[0.0, 0.0, 5000.0]])
    f = np.array([[1000.0, 1000.0]])
    c = np.array([[500.0, 500.0]])
    # x_img = 32/64*200+100 = 200, y_img = 16/64*400+50 = 150, Z = (48/64*2-1)*1000+5000 = 5500
    out = heatmap_to_camera(coords, bbox, root, f, c, heatmap_size=(64, 64), depth_bins=64, depth_range_mm=2000.0)
    np.testing.assert_allclose(out, [[[-1650.0, -1925.0, 5500.0]]])
    # non-square heatmap: x uses W, y uses H; depth range scales the depth cube
    out2 = heatmap_to_camera(np.array([[[16.0, 16.0, 16.0]]]), bbox, root, f, c, heatmap_size=(64, 32),
                             depth_bins=32, depth_range_mm=3000.0)
    x_img, y_img, z = 16 / 32 * 200 + 100, 16 / 64 * 400 + 50, 5000.0
    np.testing.assert_allclose(out2, [[[(x_img - 500) / 1000 * z, (y_img - 500) / 1000 * z, z]]])


def _real_frame():
    cams = json.loads((FRAME_DIR / "annotations" / "Dummy_subject1_camera.json").read_text())
    joints = json.loads((FRAME_DIR / "annotations" / "Dummy_subject1_joint_3d.json").read_text())
    data = json.loads((FRAME_DIR / "annotations" / "Dummy_subject1_data.json").read_text())
    cam = {k: np.asarray(v, dtype=np.float64) for k, v in cams["1"].items()}
    world = np.asarray(joints["2"]["1"]["0"], dtype=np.float64)
    return cam, world, data["annotations"][0]["bbox"]


def test_world_to_camera_real_frame_matches_annotation():
    cam, world, ann_bbox = _real_frame()
    jc = world_to_camera(world, cam["R"], cam["t"])
    # the pelvis lies ~5.4 m in front of camera 1 and RootNet's published root is within 50 mm
    rootnet = np.array([-184.8753204345703, -546.7608642578125, 5426.8798828125])
    assert np.linalg.norm(jc[0] - rootnet) < 50
    img = project_to_image(jc, cam["f"], cam["c"])
    x, y, w, h = ann_bbox  # the annotated box encloses the projected joints (within a few pixels)
    assert img[:, 0].min() > x - 5 and img[:, 0].max() < x + w + 5
    assert img[:, 1].min() > y - 5 and img[:, 1].max() < y + h + 5
    np.testing.assert_allclose(img[:, 2], jc[:, 2])
    # older convention: t is the camera centre in world mm
    centre = -cam["R"].T @ cam["t"]
    np.testing.assert_allclose(world_to_camera(world, cam["R"], centre, t_is_camera_centre=True), jc, atol=1e-9)


def test_world_to_camera_hand_computed_batched_torch():
    R = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg about Z
    out = world_to_camera(np.array([[[1.0, 2.0, 4.0]]]), R[None], np.array([[10.0, 20.0, 30.0]]))
    np.testing.assert_allclose(out, [[[-2.0 + 10, 1.0 + 20, 4.0 + 30]]])
    out_t = world_to_camera(torch.tensor([[[1.0, 2.0, 4.0]]], dtype=torch.float64), R[None], [[10.0, 20.0, 30.0]])
    np.testing.assert_allclose(out_t.numpy(), out)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_round_trip_camera_heatmap_camera(backend):
    cam, world, _ = _real_frame()
    rng = np.random.default_rng(1)
    n = 5
    jc = world_to_camera(world, cam["R"], cam["t"])[None] + rng.normal(0, 50, (n, 17, 3))
    bbox = np.tile([242.26, 206.95, 458.99, 458.99], (n, 1)) + rng.normal(0, 5, (n, 4))
    root = jc[:, 0] + rng.normal(0, 100, (n, 3))  # e.g. a RootNet root, not the GT pelvis
    f = np.tile(cam["f"], (n, 1))
    c = np.tile(cam["c"], (n, 1))
    src = torch.from_numpy(jc) if backend == "torch" else jc
    hm = camera_to_heatmap(src, bbox, root, f, c, heatmap_size=(64, 48), depth_bins=64, depth_range_mm=2000.0)
    assert 0 < float(hm[..., 0].min()) and float(hm[..., 0].max()) < 48  # inside the crop
    back = heatmap_to_camera(hm, bbox, root, f, c, heatmap_size=(64, 48), depth_bins=64, depth_range_mm=2000.0)
    assert type(back) is type(src)
    np.testing.assert_allclose(np.asarray(back), jc, rtol=0, atol=1e-8)


def test_heatmap_to_camera_torch_float32_matches_numpy():
    rng = np.random.default_rng(2)
    coords = rng.uniform(0, 63, (3, 18, 3))
    args = (np.tile([100.0, 50.0, 300.0, 300.0], (3, 1)), rng.normal([0, 0, 5000], 300, (3, 3)),
            np.full((3, 2), 1145.0), np.full((3, 2), 512.0))
    ref = heatmap_to_camera(coords, *args, heatmap_size=(64, 64), depth_bins=64, depth_range_mm=2000.0)
    out = heatmap_to_camera(torch.from_numpy(coords).float(), *args, heatmap_size=(64, 64), depth_bins=64,
                            depth_range_mm=2000.0)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-2)


def test_image_to_camera_inverts_projection():
    rng = np.random.default_rng(3)
    jc = rng.normal([0, 0, 4000], [500, 500, 300], (2, 18, 3))
    f, c = np.array([[1100.0, 1090.0]] * 2), np.array([[500.0, 510.0]] * 2)
    np.testing.assert_allclose(image_to_camera(project_to_image(jc, f, c), f, c), jc, atol=1e-9)


def test_bad_per_sample_shape_is_rejected():
    with pytest.raises(ValueError, match="bbox"):
        heatmap_to_camera(np.zeros((2, 18, 3)), np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 2)),
                          np.zeros((2, 2)), heatmap_size=(64, 64), depth_bins=64, depth_range_mm=2000.0)
