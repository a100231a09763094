"""ConvNeXtPose: checkpoint-exact conformance with medialab-ku/ConvNeXtPose and the registry variants."""
from __future__ import annotations

import pytest
import torch

from pose3dbench.errors import ModelConfigError, Pose3DBenchError
from pose3dbench.models import registry
from tests.helpers.conformance import (assert_close, check_heatmap, conformance_input, leaf_modules, load_vector,
                                       manifest, recipe_v1, synthetic_heatmap)

# conformance file -> (variant, overrides)
CASES = {
    "convnextpose_official": ("convnextpose-xs", {}),
    "convnextpose_femto_d256_dd32_up2": ("convnextpose-s", {}),
    "convnextpose_femto_d512_dd64_up2": ("convnextpose-l", {"upsample_layers": 2}),
    "convnextpose_femto_d256_dd64_up2": ("convnextpose-m", {"upsample_layers": 2}),
    "convnextpose_femto_d256_dd64_up3_derived": ("convnextpose-m", {}),
}

# README of the conformance vectors / paper: trainable parameters of each variant.
VARIANT_PARAMS = {"convnextpose-xs": 3_528_008, "convnextpose-s": 7_438_976,
                  "convnextpose-m": 7_587_008, "convnextpose-l": 8_380_352}


@pytest.mark.parametrize("vector_name", sorted(CASES))
def test_conformance(vector_name, one_thread):
    vec = load_vector(vector_name)
    variant, overrides = CASES[vector_name]
    model = registry.create(variant, **overrides)
    cfg = model.config
    used = vec["cfg_values_used"]
    assert list(cfg.heatmap_size) == used["output_shape"]
    assert cfg.depth_bins == used["depth_dim"] and cfg.arch["head_width"] == used["depth"]
    assert [cfg.arch["depths"], cfg.arch["dims"]] == used["backbone_cfg"]
    assert cfg.arch["upsample_layers"] == vec["constructor_args"]["HeadNet"]["upsampling_blocks"]

    assert manifest(model) == vec["state_dict"]
    assert leaf_modules(model) == vec["modules"]
    assert sum(p.numel() for p in model.parameters()) == vec["param_count"]
    assert sum(t.numel() for t in model.state_dict().values()) == vec["state_dict_numel"]

    model.load_state_dict(recipe_v1(vec["state_dict"]), strict=True)
    model.eval()
    tol = vec["verification"]["suggested_tolerances"]
    captured = {}
    model.head.register_forward_hook(lambda mod, inp, out: captured.setdefault("hm", out))
    with torch.no_grad():
        coord = model(conformance_input(vec))
    check_heatmap(captured["hm"], vec)
    ref = vec["outputs"]["coord"]
    assert list(coord.shape) == ref["shape"]
    assert_close(coord.numpy(), ref["values"], tol["coord"], "coord")

    syn = model.coords_from_heatmaps(synthetic_heatmap(vec["outputs"]["heatmap"]["shape"]))
    assert_close(syn.numpy(), vec["outputs"]["synthetic_heatmap_check"]["coord"]["values"],
                 tol["synthetic_coord"], "synthetic coord")


def test_conformance_catches_wrong_upsampling(one_thread):
    """The up3 vector must fail against the authors' up2 head (same keys, different heatmap)."""
    vec = load_vector("convnextpose_femto_d256_dd64_up3_derived")
    model = registry.create("convnextpose-m", upsample_layers=2)
    assert manifest(model) == vec["state_dict"]
    model.load_state_dict(recipe_v1(vec["state_dict"]), strict=True)
    with torch.no_grad():
        hm = model.eval().forward_heatmaps(conformance_input(vec))
    with pytest.raises(AssertionError):
        check_heatmap(hm, vec)


@pytest.mark.parametrize("variant", sorted(VARIANT_PARAMS))
def test_variant_params_and_published(variant):
    cfg = registry.get_config(variant)
    model = registry.build_from_config(cfg)
    n = sum(p.numel() for p in model.parameters())
    assert n == VARIANT_PARAMS[variant]
    pub = cfg.published
    assert {"p2_mpjpe_mm", "p1_pa_mpjpe_mm", "params_m", "gmacs", "source"} <= set(pub)
    assert round(n / 1e6, 2) == pub["params_m"]
    assert cfg.input_size == (256, 256) and cfg.joint_num == 18 and cfg.description
    expect_hm = {"convnextpose-xs": (32, 32, 32), "convnextpose-s": (32, 32, 32),
                 "convnextpose-m": (64, 64, 64), "convnextpose-l": (64, 64, 64)}[variant]
    assert (*cfg.heatmap_size, cfg.depth_bins) == expect_hm


def test_published_numbers():
    assert registry.get_config("convnextpose-xs").published["p2_mpjpe_mm"] == 56.61
    assert registry.get_config("convnextpose-s").published["gmacs"] == 1.76
    m = registry.get_config("convnextpose-m").published
    assert (m["p2_mpjpe_mm"], m["p1_pa_mpjpe_mm"], m["gmacs"]) == (51.05, 34.5, 2.82)
    lg = registry.get_config("convnextpose-l").published
    assert (lg["p2_mpjpe_mm"], lg["p1_pa_mpjpe_mm"], lg["gmacs"]) == (49.75, 32.8, 4.30)


def test_finalize_derives_heatmap_size():
    assert registry.get_config("convnextpose-s", upsample_layers=3).heatmap_size == (64, 64)
    assert registry.get_config("convnextpose-m", upsample_layers=1).heatmap_size == (16, 16)
    assert registry.get_config("convnextpose-xs", input_size=(384, 288)).heatmap_size == (48, 36)
    assert registry.get_config("convnextpose-xs", depth_dim=64).depth_bins == 64


@pytest.mark.parametrize("overrides", [
    {"upsample_layers": 4}, {"upsample_layers": "2"}, {"input_size": (250, 256)},
    {"depths": [2, 2, 6]}, {"dims": [40, 80, 0, 320]}, {"head_width": -1}, {"joint_num": 0},
])
def test_bad_config_raises(overrides):
    with pytest.raises(ModelConfigError) as exc:
        registry.get_config("convnextpose-xs", **overrides)
    assert isinstance(exc.value, Pose3DBenchError) and "convnextpose-xs" in str(exc.value)


def test_untrained_init_and_output_range():
    torch.manual_seed(0)
    model = registry.create("convnextpose-xs").eval()
    w = model.backbone.stages[2][0].pwconv1.weight
    assert abs(w.std().item() - 0.02) < 0.002 and w.abs().max().item() <= 2.0
    assert torch.all(model.head.final_layer.bias == 0) and torch.all(model.backbone.norm.weight == 1)
    img = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        coord = model(img)
    assert coord.shape == (2, 18, 3) and torch.isfinite(coord).all()
    assert coord[..., :2].min() >= 0 and coord[..., :2].max() <= 31 and coord[..., 2].max() <= 31


def test_channels_last_and_inference_mode(one_thread):
    vec = load_vector("convnextpose_official")
    model = registry.create("convnextpose-xs")
    model.load_state_dict(recipe_v1(vec["state_dict"]), strict=True)
    model.eval()
    img = conformance_input(vec)
    with torch.no_grad():
        ref = model(img)
    with torch.inference_mode():
        hm = model.forward_heatmaps(img.to(memory_format=torch.channels_last))
        cl = model(img.to(memory_format=torch.channels_last))
    check_heatmap(hm, vec)
    assert torch.allclose(cl, ref, atol=1e-4, rtol=1e-5)
