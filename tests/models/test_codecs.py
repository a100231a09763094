"""The codecs: what a model's output means (kinds, inputs, heatmap units -> pixels -> camera mm, RootNet's k)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from pose3dbench.errors import ModelConfigError
from pose3dbench.joints import H36M_FLIP_PAIRS
from pose3dbench.models import ModelConfig, create, get_config
from pose3dbench.models.codecs import (
    DEFAULT_K_VALUE, RootCodec, VolumetricCodec, codec_for, flip_merge, rootnet_k_value, soft_argmax_3d,
)


def test_codec_for_gives_root_and_pose_kinds():
    root = codec_for(get_config("rootnet-r50"))
    assert isinstance(root, RootCodec) and root.output_kind == "root" and root.takes_k_value
    assert root.input_names == ("img", "k_value") and root.output_shape(4) == (4, 3)
    for name in ("posenet-r50", "integral-r50", "convnextpose-s", "mobilehumanpose-lpski"):
        pose = codec_for(get_config(name))
        assert isinstance(pose, VolumetricCodec) and pose.output_kind == "pose" and not pose.takes_k_value
        assert pose.input_names == ("img",) and pose.output_shape(2) == (2, 18, 3)
    # a model, a config and a family name give the same kind
    assert codec_for(create("rootnet-r50", resnet_depth=18)).output_kind == "root"
    assert codec_for("rootnet").output_kind == "root" and codec_for("posenet").output_kind == "pose"
    # families the registry does not know: pose, unless the model declares that it takes k
    assert codec_for(ModelConfig(family="custom", variant="x")).output_kind == "pose"
    assert codec_for("onnx").output_kind == "pose"

    class ByoRoot(nn.Module):
        takes_k_value = True

        def __init__(self):
            super().__init__()
            self.config = ModelConfig(family="my-root", variant="r", joint_num=1, depth_bins=1)

    assert codec_for(ByoRoot()).output_kind == "root" and codec_for(ByoRoot().config).output_kind == "pose"
    assert codec_for(nn.Linear(2, 2)).output_kind == "pose"  # no config at all: still answers


def test_example_and_forward_inputs():
    img = torch.zeros(3, 3, 8, 8)
    (only,) = codec_for(get_config("posenet-r50")).example_inputs(img)
    assert only is img
    assert codec_for(get_config("posenet-r50")).forward_inputs(img, np.ones((3, 2)), np.ones((3, 4)))[0] is img
    root = codec_for(get_config("rootnet-r50"))
    x, k = root.example_inputs(img)
    assert x is img and k.shape == (3, 1) and k.dtype == torch.float32 and bool((k == DEFAULT_K_VALUE).all())
    focal = np.array([[1000.0, 1000.0]] * 3)
    bbox = np.array([[0.0, 0.0, 500.0, 500.0]] * 3)
    x, k = root.forward_inputs(img, focal, bbox)
    assert x is img and k.shape == (3, 1) and k.dtype == torch.float32
    np.testing.assert_array_equal(k.numpy(), root.k_value(focal, bbox))
    with pytest.raises(ValueError, match="focal"):
        root.forward_inputs(img)


def test_k_from_focal_and_box_is_the_authors_formula():
    """k = sqrt(bbox_real[0] * bbox_real[1] * f[0] * f[1] / area) with bbox_real = (2000, 2000) mm (RootNet's
    data/dataset.py and data/Human36M/Human36M.py)."""
    root = codec_for(get_config("rootnet-r50"))
    # f = 1000 px, a 500 x 500 px box: sqrt(2000 * 2000 * 1000 * 1000 / 250000) = 4000 mm exactly
    k = root.k_value(np.array([[1000.0, 1000.0]]), np.array([[10.0, 20.0, 500.0, 500.0]]))
    assert k.shape == (1, 1) and k.dtype == np.float32 and k[0, 0] == 4000.0
    f, box = (1145.04940795898, 1143.78064), (242.25783157348633, 206.9453010559082, 458.9939498901367, 229.0)
    want = math.sqrt(2000.0 * 2000.0 * f[0] * f[1] / (box[2] * box[3]))
    got = root.k_value(torch.tensor([f]), torch.tensor([box]))
    assert isinstance(got, torch.Tensor) and float(got[0, 0]) == pytest.approx(want, rel=1e-7)
    assert rootnet_k_value(np.array([f]), np.array([box]))[0, 0] == np.float32(want)


def test_depth_range_mm_is_a_config_field_the_codec_uses():
    cfg = get_config("posenet-r50")
    assert cfg.depth_range_mm == 2000.0 and cfg.to_dict()["depth_range_mm"] == 2000.0
    wide = cfg.with_overrides(depth_range_mm=3000)
    assert wide.depth_range_mm == 3000.0 and wide.to_dict()["depth_range_mm"] == 3000.0
    coords = np.array([[[32.0, 16.0, 48.0]]])
    bbox = np.array([[100.0, 50.0, 200.0, 400.0]])
    root = np.array([[0.0, 0.0, 5000.0]])
    f, c = np.array([[1000.0, 1000.0]]), np.array([[500.0, 500.0]])
    # x_img = 32/64*200+100 = 200, y_img = 16/64*400+50 = 150 px; Z = (48/64*2-1) * range/2 + 5000 mm
    np.testing.assert_allclose(codec_for(cfg).to_camera(coords, bbox, root, f, c), [[[-1650.0, -1925.0, 5500.0]]])
    np.testing.assert_allclose(codec_for(wide).to_camera(coords, bbox, root, f, c), [[[-1725.0, -2012.5, 5750.0]]])
    np.testing.assert_allclose(codec_for(wide).to_image(coords, bbox), [[[200.0, 150.0, 48.0]]])
    # the inverse uses the same cube
    back = codec_for(wide).from_camera(codec_for(wide).to_camera(coords, bbox, root, f, c), bbox, root, f, c)
    np.testing.assert_allclose(back, coords, atol=1e-9)

    class Byo:  # a bring-your-own config without the field: the 3DMPPE 2000 mm
        family, variant, joint_num, depth_bins, heatmap_size = "custom", "byo", 1, 64, (64, 64)

    np.testing.assert_allclose(codec_for(Byo()).to_camera(coords, bbox, root, f, c), [[[-1650.0, -1925.0, 5500.0]]])
    for bad in (0, -5.0, float("nan"), "wide", True):
        with pytest.raises(ModelConfigError, match="depth_range_mm"):
            cfg.with_overrides(depth_range_mm=bad)


def test_root_output_to_camera_hand_computed():
    codec = codec_for(get_config("rootnet-r50"))  # heatmap 64 x 64
    out = np.array([[32.0, 16.0, 5000.0], [0.0, 64.0, 4000.0]])
    bbox = np.array([[100.0, 50.0, 200.0, 400.0], [0.0, 0.0, 100.0, 100.0]])
    f, c = np.array([[1000.0, 1000.0]] * 2), np.array([[500.0, 500.0]] * 2)
    # (200 px, 150 px, 5000 mm) and (0 px, 100 px, 4000 mm) back-projected
    want = [[(200 - 500) / 1000 * 5000, (150 - 500) / 1000 * 5000, 5000.0],
            [(0 - 500) / 1000 * 4000, (100 - 500) / 1000 * 4000, 4000.0]]
    np.testing.assert_allclose(codec.to_camera(out, bbox, f, c), want)
    np.testing.assert_allclose(codec.to_image(out, bbox), [[200.0, 150.0, 5000.0], [0.0, 100.0, 4000.0]])


def test_merge_flip_uses_the_config_mirror_and_joint_set():
    rng = np.random.default_rng(0)
    coords, flipped = rng.uniform(0, 63, (2, 18, 3)), rng.uniform(0, 63, (2, 18, 3))
    posenet = codec_for(get_config("posenet-r50"))
    assert posenet.flip_mirror == "heatmap" and posenet.flip_pairs == tuple(H36M_FLIP_PAIRS)
    np.testing.assert_array_equal(posenet.merge_flip(coords, flipped), flip_merge(coords, flipped, 64, H36M_FLIP_PAIRS))
    msra = codec_for(get_config("integral-r50"))
    assert msra.flip_mirror == "patch"
    np.testing.assert_array_equal(msra.merge_flip(coords, flipped),
                                  flip_merge(coords, flipped, 64, H36M_FLIP_PAIRS, mirror="patch", input_w=256))
    odd = codec_for(ModelConfig(family="custom", variant="j5", joint_num=5))
    assert odd.flip_pairs == ()  # no joint set has 5 joints: mirrored, not swapped


def test_decode_is_the_shared_soft_argmax():
    cfg = get_config("posenet-r50").with_overrides(joint_num=17, depth_dim=8)
    logits = torch.randn(2, 17 * 8, 4, 4)
    torch.testing.assert_close(codec_for(cfg).decode(logits), soft_argmax_3d(logits, 17, 8), rtol=0, atol=0)
    torch.testing.assert_close(codec_for(cfg).decode(logits.reshape(2, 17, 8, 4, 4)), soft_argmax_3d(logits, 17, 8),
                               rtol=0, atol=0)
