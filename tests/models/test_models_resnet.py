"""ResNet backbone and the ResNet families (PoseNet, RootNet, Integral): conformance with the authors' code."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from pose3dbench.errors import DatasetError, ModelConfigError
from pose3dbench.models import registry
from pose3dbench.models.resnet import ResNetBackbone, resnet_out_channels
from pose3dbench.models.codecs import rootnet_k_value
from pose3dbench.models.resnet_pose import from_msra_normalised, to_msra_normalised
from tests.helpers.conformance import (ROOTNET_K_VALUE, assert_close, check_heatmap, conformance_input, leaf_modules,
                                       load_vector, manifest, recipe_v1, synthetic_heatmap)

# torchvision's resnetN parameter counts minus the 1000-class fc (512*1000+1000 or 2048*1000+1000).
BACKBONE_PARAMS = {18: 11_689_512 - 513_000, 34: 21_797_672 - 513_000, 50: 25_557_032 - 2_049_000,
                   101: 44_549_160 - 2_049_000, 152: 60_192_808 - 2_049_000}
POSE_HEAD_PARAMS = 34_291_392 - BACKBONE_PARAMS[50]  # 3 deconv (2048->256->256->256) + 1x1 -> 18*64
VARIANT_PARAMS = {
    "posenet-r50": 34_291_392, "integral-r50": 34_291_392, "rootnet-r50": 33_997_634,
    "posenet-r101": BACKBONE_PARAMS[101] + POSE_HEAD_PARAMS, "posenet-r152": BACKBONE_PARAMS[152] + POSE_HEAD_PARAMS,
    "integral-r101": BACKBONE_PARAMS[101] + POSE_HEAD_PARAMS, "integral-r152": BACKBONE_PARAMS[152] + POSE_HEAD_PARAMS,
}


def load_conformant(variant: str, vec: dict, **overrides) -> nn.Module:
    model = registry.create(variant, **overrides)
    assert manifest(model) == vec["state_dict"]
    assert leaf_modules(model) == vec["modules"]
    assert sum(p.numel() for p in model.parameters()) == vec["param_count"]
    assert sum(t.numel() for t in model.state_dict().values()) == vec["state_dict_numel"]
    model.load_state_dict(recipe_v1(vec["state_dict"]), strict=True)
    return model.eval()


# ----------------------------------------------------------------------------- backbone


@pytest.mark.parametrize("depth", sorted(BACKBONE_PARAMS))
def test_backbone_param_counts(depth):
    net = ResNetBackbone(depth)
    assert sum(p.numel() for p in net.parameters()) == BACKBONE_PARAMS[depth]
    assert net.out_channels == resnet_out_channels(depth) == (512 if depth < 50 else 2048)
    assert not any(k.startswith("fc") for k in net.state_dict())


def test_backbone_layout_v15_and_shapes():
    net = ResNetBackbone(18).eval()
    sd = net.state_dict()
    assert "layer1.0.downsample.0.weight" not in sd and "layer2.0.downsample.1.running_var" in sd
    assert net.layer2[0].conv1.stride == (2, 2) and net.layer2[0].conv1.kernel_size == (3, 3)
    b50 = ResNetBackbone(50)
    assert b50.layer2[0].conv2.stride == (2, 2) and b50.layer2[0].conv1.stride == (1, 1)  # v1.5: stride on 3x3
    assert b50.layer1[0].downsample[0].stride == (1, 1) and b50.layer3[0].downsample[0].stride == (2, 2)
    with torch.no_grad():
        assert net(torch.randn(1, 3, 256, 192)).shape == (1, 512, 8, 6)
    w = b50.layer3[1].conv2.weight
    assert abs(w.std().item() - 0.001) < 1e-4 and torch.all(b50.layer3[1].bn2.weight == 1)


def test_backbone_bad_depth():
    with pytest.raises(ModelConfigError, match="18, 34, 50, 101, 152"):
        ResNetBackbone(42)


# ----------------------------------------------------------------------------- conformance


@pytest.mark.parametrize("vector_name,variant,overrides", [
    ("posenet_r50", "posenet-r50", {}),
    ("integral_r50_mks", "integral-r50", {"head_layout": "3dmppe"}),
])
def test_conformance_3dmppe_layout(vector_name, variant, overrides, one_thread):
    vec = load_vector(vector_name)
    model = load_conformant(variant, vec, **overrides)
    assert list(model.config.heatmap_size) == vec["cfg_values_used"]["output_shape"]
    assert model.config.depth_bins == vec["cfg_values_used"]["depth_dim"]
    tol = vec["verification"]["suggested_tolerances"]
    captured = {}
    model.head.register_forward_hook(lambda mod, inp, out: captured.setdefault("hm", out))
    with torch.no_grad():
        coord = model(conformance_input(vec))
    check_heatmap(captured["hm"], vec)
    assert list(coord.shape) == vec["outputs"]["coord"]["shape"]
    assert_close(coord.numpy(), vec["outputs"]["coord"]["values"], tol["coord"], "coord")
    syn = model.coords_from_heatmaps(synthetic_heatmap(vec["outputs"]["heatmap"]["shape"]))
    assert_close(syn.numpy(), vec["outputs"]["synthetic_heatmap_check"]["coord"]["values"],
                 tol["synthetic_coord"], "synthetic coord")


def _patch_px(norm: torch.Tensor) -> torch.Tensor:
    """The MSRA test-time conversion: ((x+0.5)*256, (y+0.5)*256, z*256) for a 256x256 patch."""
    return torch.stack(((norm[..., 0] + 0.5) * 256, (norm[..., 1] + 0.5) * 256, norm[..., 2] * 256), dim=-1)


def test_conformance_integral_msra(one_thread):
    vec = load_vector("integral_r50_msra")
    model = load_conformant("integral-r50", vec)
    assert model.config.arch["head_layout"] == "msra"
    tol = vec["verification"]["suggested_tolerances"]
    hm_size, bins = model.config.heatmap_size, model.config.depth_bins
    captured = {}
    model.head.register_forward_hook(lambda mod, inp, out: captured.setdefault("hm", out))
    with torch.no_grad():
        coord = model(conformance_input(vec))  # heatmap units
    check_heatmap(captured["hm"], vec)
    norm = to_msra_normalised(coord, hm_size, bins)
    assert_close(norm.numpy(), vec["outputs"]["coord"]["values"], tol["coord"], "normalised coord")
    assert_close(_patch_px(norm).numpy(), vec["outputs"]["coord_patch_px"]["values"], tol["coord_patch_px"],
                 "coord_patch_px")
    assert torch.allclose(from_msra_normalised(norm, hm_size, bins), coord, atol=1e-5)

    syn = to_msra_normalised(model.coords_from_heatmaps(synthetic_heatmap(vec["outputs"]["heatmap"]["shape"])),
                             hm_size, bins)
    ref = vec["outputs"]["synthetic_heatmap_check"]
    assert_close(syn.numpy(), ref["coord"]["values"], tol["synthetic_coord"], "synthetic coord")
    assert_close(_patch_px(syn).numpy(), ref["coord_patch_px"]["values"], tol["synthetic_coord_patch_px"],
                 "synthetic coord_patch_px")


def test_conformance_rootnet(one_thread):
    vec = load_vector("rootnet_r50")
    model = load_conformant("rootnet-r50", vec)
    tol = vec["verification"]["suggested_tolerances"]
    captured = {}
    model.root.xy_layer.register_forward_hook(lambda mod, inp, out: captured.setdefault("xy", out))
    with torch.no_grad():
        coord, gamma = model.forward_with_gamma(conformance_input(vec), ROOTNET_K_VALUE)
    check_heatmap(captured["xy"], vec)
    assert list(coord.shape) == vec["outputs"]["coord"]["shape"] == [2, 3]
    assert_close(coord.numpy(), vec["outputs"]["coord"]["values"], tol["coord"], "coord")
    assert_close(gamma.reshape(-1).numpy(), vec["outputs"]["gamma"]["values"], tol["gamma"], "gamma")
    xy = model.coords_from_heatmaps(synthetic_heatmap(vec["outputs"]["heatmap"]["shape"]))
    syn = torch.cat((xy, coord[:, 2:]), dim=1)
    assert_close(syn.numpy(), vec["outputs"]["synthetic_heatmap_check"]["coord"]["values"],
                 tol["synthetic_coord"], "synthetic coord")


def test_rootnet_forward_variants_small(one_thread):
    """forward / forward_heatmaps / forward_gamma agree; k accepted as [B,1] or [B]; channels_last + inference_mode."""
    torch.manual_seed(0)
    model = registry.create("rootnet-r50", resnet_depth=18, input_size=(128, 128)).eval()
    img = torch.randn(2, 3, 128, 128)
    k = torch.tensor([[1000.0], [3000.0]])
    with torch.inference_mode():
        coord = model(img, k)
        hm = model.forward_heatmaps(img.to(memory_format=torch.channels_last))
        gamma = model.forward_gamma(img)
        coord_flat_k = model(img.to(memory_format=torch.channels_last), k.reshape(-1))
    assert hm.shape == (2, 1, 32, 32) and model.config.heatmap_size == (32, 32)
    assert torch.allclose(coord[:, 2:], gamma * k, rtol=1e-6)
    assert torch.allclose(coord[:, :2], model.coords_from_heatmaps(hm), atol=1e-4)
    assert torch.allclose(coord_flat_k, coord, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="k_value"):
        model(img, torch.ones(3, 1))


def test_pose_channels_last_and_inference_mode(one_thread):
    torch.manual_seed(0)
    for variant, extra in (("posenet-r50", {}), ("integral-r50", {"head_layout": "msra"})):
        model = registry.create(variant, resnet_depth=18, joint_num=17, depth_bins=8, input_size=(128, 96),
                                **extra).eval()
        img = torch.randn(1, 3, 128, 96)
        with torch.no_grad():
            ref = model(img)
        with torch.inference_mode():
            cl = model(img.to(memory_format=torch.channels_last))
        assert ref.shape == (1, 17, 3) and torch.allclose(cl, ref, atol=1e-4)
        assert model.forward_heatmaps(img).shape == (1, 17 * 8, 32, 24) and model.config.heatmap_size == (32, 24)
        assert ref[..., 0].max() <= 23 and ref[..., 1].max() <= 31 and ref[..., 2].max() <= 7


# ----------------------------------------------------------------------------- registry


@pytest.mark.parametrize("variant", sorted(VARIANT_PARAMS))
def test_variant_param_counts(variant):
    cfg = registry.get_config(variant)
    model = registry.build_from_config(cfg)
    assert sum(p.numel() for p in model.parameters()) == VARIANT_PARAMS[variant]
    assert {"p2_mpjpe_mm", "p1_pa_mpjpe_mm", "params_m", "gmacs", "source"} <= set(cfg.published)
    assert cfg.input_size == (256, 256) and cfg.heatmap_size == (64, 64) and cfg.description


def test_registry_variants_and_published():
    names = set(registry.available())
    assert {"posenet-r50", "posenet-r101", "posenet-r152", "rootnet-r50",
            "integral-r50", "integral-r101", "integral-r152"} <= names
    pn = registry.get_config("posenet-r50").published
    assert (pn["p2_mpjpe_mm"], pn["p2_mpjpe_rootnet_mm"], pn["p1_pa_mpjpe_mm"]) == (53.3, 54.4, 34.0)
    assert registry.get_config("posenet-r101").published["p2_mpjpe_mm"] is None
    rn = registry.get_config("rootnet-r50")
    assert (rn.published["mrpe_mm"], rn.published["mrpe_x_mm"], rn.published["mrpe_y_mm"],
            rn.published["mrpe_z_mm"]) == (120.0, 23.3, 23.0, 108.1)
    assert (rn.joint_num, rn.depth_bins) == (1, 1)
    ig = registry.get_config("integral-r50")
    assert (ig.published["p2_mpjpe_mm"], ig.published["p1_pa_mpjpe_mm"], ig.published["p2_mpjpe_reimpl_mm"]) == \
        (49.6, 40.6, 53.9)
    assert ig.arch["head_layout"] == "msra" and ig.depth_bins == 64 and ig.joint_num == 18


def test_config_overrides_and_errors():
    model = registry.create("posenet-r50", resnet_depth=34, joint_num=21, depth_dim=32, input_size=(192, 160))
    assert model.head.final_layer.out_channels == 21 * 32 and model.head.deconv_layers[0].in_channels == 512
    assert model.config.heatmap_size == (48, 40)
    assert torch.all(model.head.final_layer.bias == 0)
    assert abs(model.head.deconv_layers[3].weight.std().item() - 0.001) < 1e-4
    assert registry.get_config("rootnet-r50", joint_num=18).joint_num == 1
    with pytest.raises(ModelConfigError, match="posenet-r50"):
        registry.get_config("posenet-r50", input_size=(250, 256))
    with pytest.raises(ModelConfigError, match="head_layout"):
        registry.get_config("integral-r50", head_layout="caffe")
    with pytest.raises(ModelConfigError):
        registry.get_config("posenet-r50", resnet_depth=42)


# ----------------------------------------------------------------------------- helpers


def test_rootnet_k_value():
    focal = np.array([[1145.0, 1144.0], [1000.0, 1000.0]])
    bbox = np.array([[10.0, 20.0, 500.0, 500.0], [0.0, 0.0, 2000.0, 1000.0]])
    k = rootnet_k_value(focal, bbox)
    assert k.shape == (2, 1) and k.dtype == np.float32
    assert k[0, 0] == pytest.approx(math.sqrt(2000 * 2000 * 1145 * 1144 / 250000), rel=1e-6)
    assert k[1, 0] == pytest.approx(math.sqrt(2000 * 2000 * 1e6 / 2e6), rel=1e-6)
    kt = rootnet_k_value(torch.tensor(focal), torch.tensor(bbox))
    assert isinstance(kt, torch.Tensor) and kt.dtype == torch.float32 and np.allclose(kt.numpy(), k)
    assert rootnet_k_value(focal[0], bbox[0], bbox_real_mm=(1000.0, 1000.0))[0, 0] == pytest.approx(k[0, 0] / 2)
    with pytest.raises(DatasetError, match="row 1"):
        rootnet_k_value(focal, np.array([[0, 0, 10, 10], [0, 0, 0, 10.0]]))
    with pytest.raises(DatasetError, match=r"\[N, 4\]"):
        rootnet_k_value(focal, bbox[:, :3])
