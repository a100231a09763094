"""The input convention (pixel range, channel order, mean/std, flip mirror) is a property of the model."""
import numpy as np
import pytest
import torch

from pose3dbench.errors import ModelConfigError
from pose3dbench.models.codecs import flip_merge
from pose3dbench.models import ModelConfig, create, get_config
from pose3dbench.models.input import describe_input_convention, input_convention, normalize_crops

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _crops(seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8))


def test_0_255_is_the_3dmppe_path_float32_crop_then_normalize():
    """3DMPPE: img_patch.astype(float32) (0..255), ToTensor leaves it, Normalize: (p - mean) / std."""
    p = _crops()
    x = normalize_crops(p, ModelConfig(family="custom", variant="a"))
    ref = (p.permute(0, 3, 1, 2).float() - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert x.dtype == torch.float32 and x.shape == (2, 3, 4, 5)
    assert torch.equal(x, ref)
    assert x.max() > 100  # the scale the released weights were trained on (up to ~1100)


def test_0_1_divides_by_255_first_and_bgr_reverses_channels():
    p = _crops(1)
    cfg = ModelConfig(family="custom", variant="b", input_pixel_range="0-1")
    x = normalize_crops(p, cfg)
    ref = ((p.permute(0, 3, 1, 2).float().div(255) - torch.tensor(MEAN).view(1, 3, 1, 1))
           / torch.tensor(STD).view(1, 3, 1, 1))
    assert torch.equal(x, ref)
    bgr = normalize_crops(p, ModelConfig(family="custom", variant="c", input_channel_order="BGR"))
    ref_bgr = ((p.permute(0, 3, 1, 2).float().flip(1) - torch.tensor(MEAN).view(1, 3, 1, 1))
               / torch.tensor(STD).view(1, 3, 1, 1))
    assert torch.equal(bgr, ref_bgr)


def test_zoo_conventions_per_family():
    for name in ("posenet-r50", "rootnet-r50", "convnextpose-s", "mobilehumanpose-lpski"):
        conv = input_convention(get_config(name))
        assert (conv["pixel_range"], conv["channel_order"], conv["flip_mirror"]) == ("0-255", "RGB", "heatmap"), name
        assert conv["mean"] == list(MEAN) and conv["std"] == list(STD)
    msra = get_config("integral-r50")
    assert msra.arch["head_layout"] == "msra" and msra.flip_mirror == "patch"
    assert msra.mean == tuple(v * 255 for v in MEAN) and msra.std == tuple(v * 255 for v in STD)
    reimpl = get_config("integral-r50", head_layout="3dmppe")  # mks0601's re-implementation: PoseNet's convention
    assert reimpl.mean == MEAN and reimpl.std == STD and reimpl.flip_mirror == "heatmap"
    assert "0-255" in describe_input_convention(msra) and "patch" in describe_input_convention(msra)


def test_integral_head_layouts_declare_their_convention():
    """The convention of each Integral key layout is the declared table (resnet_pose.HEAD_LAYOUTS), whichever
    layout the config starts from; an explicit override the table does not hold is kept."""
    from pose3dbench.models.registry import get_family
    from pose3dbench.models.resnet_pose import HEAD_LAYOUTS, MSRADeconvHead, PoseNetHead

    assert set(HEAD_LAYOUTS) == {"msra", "3dmppe"}
    assert HEAD_LAYOUTS["msra"].head is MSRADeconvHead and HEAD_LAYOUTS["3dmppe"].head is PoseNetHead
    for start in HEAD_LAYOUTS:
        base = get_config("integral-r50", head_layout=start)
        for layout, conv in HEAD_LAYOUTS.items():
            cfg = get_family("integral").finalize(base.with_overrides(head_layout=layout))
            assert (cfg.mean, cfg.std, cfg.flip_mirror) == (tuple(conv.mean), tuple(conv.std), conv.flip_mirror)
    kept = get_config("integral-r50", head_layout="3dmppe", mean="0.5;0.5;0.5", std="0.2;0.2;0.2")
    assert kept.mean == (0.5, 0.5, 0.5) and kept.std == (0.2, 0.2, 0.2) and kept.flip_mirror == "heatmap"


def test_bad_convention_is_refused_with_the_fix():
    with pytest.raises(ModelConfigError, match="input_pixel_range must be one of 0-255, 0-1"):
        ModelConfig(family="custom", variant="x", input_pixel_range="0-65535")
    with pytest.raises(ModelConfigError, match="RGB or BGR"):
        get_config("posenet-r50").with_overrides(input_channel_order="rgb")
    cfg = get_config("posenet-r50").with_overrides(mean="0.5;0.5;0.5", std="0.25 0.25 0.25")
    assert cfg.mean == (0.5, 0.5, 0.5) and cfg.std == (0.25, 0.25, 0.25)


def test_flip_merge_patch_mirror_is_msra_validnet():
    """MSRA: x_px = x_hm * 256/64, mirrored as 256 - x_px - 1: 63.75 - x in heatmap units, not 63 - x."""
    c = np.zeros((1, 18, 3))
    f = np.zeros((1, 18, 3))
    f[0, 0, 0] = 10.0
    heat = flip_merge(c, f, 64, (), mirror="heatmap")
    patch = flip_merge(c, f, 64, (), mirror="patch", input_w=256)
    assert heat[0, 0, 0] == pytest.approx((63 - 10) / 2)
    assert patch[0, 0, 0] == pytest.approx((63.75 - 10) / 2)
    with pytest.raises(ValueError, match="input_w"):
        flip_merge(c, f, 64, (), mirror="patch")


def test_convention_is_part_of_the_model_identity():
    """results.json reuse is keyed on the config: a changed convention must not reuse old numbers."""
    a = create("mobilehumanpose-lpski").config.to_dict()
    b = create("mobilehumanpose-lpski", input_pixel_range="0-1").config.to_dict()
    assert a["input_pixel_range"] == "0-255" and b["input_pixel_range"] == "0-1" and a != b
