"""MobileHumanPose (LPSKI, LPRES, LPWO): conformance with the original code, config, arch inference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pose3dbench.errors import CheckpointError, ModelConfigError
from pose3dbench.models import registry
from pose3dbench.models import mobilehumanpose as mhp
from pose3dbench.models.config import ModelConfig
from pose3dbench.models.codecs import soft_argmax_3d
from tests.helpers.conformance import (assert_close, check_heatmap, conformance_input, load_vector, recipe_v1,
                                       synthetic_heatmap)

# conformance vector -> (registry variant, joint_num, backbone, heatmap size, depth bins)
CASES = {
    "mhp_lpski": ("mobilehumanpose-lpski", 18, "LPSKI", (32, 32), 32),
    "mhp_lpski_j21": ("mobilehumanpose-lpski", 21, "LPSKI", (32, 32), 32),
    "mhp_lpres": ("mobilehumanpose-lpres", 18, "LPRES", (64, 64), 64),
    "mhp_lpwo": ("mobilehumanpose-lpwo", 18, "LPWO", (64, 64), 64),
}


def _manifest(model: torch.nn.Module) -> list:
    return [[k, list(t.shape), str(t.dtype).removeprefix("torch.")] for k, t in model.state_dict().items()]


def _leaf_modules(model: torch.nn.Module) -> list:
    """Leaf modules in registration order with their repr, BatchNorm abbreviated as in the vectors."""
    out = []
    for name, m in model.named_modules():
        if list(m.children()) or isinstance(m, torch.nn.ReLU):
            continue
        text = f"BatchNorm2d({m.num_features}, eps={m.eps})" if isinstance(m, torch.nn.BatchNorm2d) else repr(m)
        out.append([name, text])
    return out


def _shapes(vector: dict, prefix: str = "") -> dict:
    return {prefix + k: tuple(shape) for k, shape, _ in vector["state_dict"]}


pytestmark = pytest.mark.usefixtures("one_thread")  # the recorded numbers: 1 thread


@pytest.mark.parametrize("name", sorted(CASES))
def test_conformance_with_original(name):
    """Keys/shapes/order, param count, heatmap fingerprint, coordinates and the synthetic check."""
    vector = load_vector(name)
    variant, joints, backbone, hm_size, depth = CASES[name]
    config = registry.get_config(variant, joint_num=joints)
    model = registry.build_from_config(config)
    assert model.config.heatmap_size == hm_size and model.config.depth_bins == depth
    assert model.config.arch["backbone"] == backbone and model.config.joint_num == joints

    assert _manifest(model) == [list(e) for e in vector["state_dict"]]
    assert _leaf_modules(model) == [list(e) for e in vector["modules"]]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == vector["param_count"]
    assert len(model.state_dict()) == vector["state_dict_tensor_count"]
    assert sum(t.numel() for t in model.state_dict().values()) == vector["state_dict_numel"]

    model.load_state_dict(recipe_v1(vector["state_dict"]), strict=True)
    model.eval()
    captured, called = {}, set()
    hooks = [model.backbone.register_forward_hook(lambda m, i, o: captured.__setitem__("hm", o))]
    leaves = {name: m for name, m in model.named_modules() if not list(m.children())}
    hooks += [m.register_forward_hook(lambda m, i, o, n=name: called.add(n)) for name, m in leaves.items()]
    with torch.no_grad():
        coord = model(conformance_input(vector))
    for h in hooks:
        h.remove()
    assert called == set(leaves)  # no module is dead weight (modules_never_called_in_forward is empty)
    tol = vector["verification"]["suggested_tolerances"]
    check_heatmap(captured["hm"], vector)
    assert_close(coord.numpy(), vector["outputs"]["coord"]["values"], tol["coord"], "coord")
    # forward() is exactly the shared soft-argmax of forward_heatmaps()' output
    torch.testing.assert_close(coord, soft_argmax_3d(captured["hm"], joints, depth), rtol=0, atol=0)

    ref = vector["outputs"]["synthetic_heatmap_check"]["coord"]["values"]
    syn = soft_argmax_3d(synthetic_heatmap(vector["outputs"]["heatmap"]["shape"]), joints, model.depth_bins)
    assert_close(syn.numpy(), ref, tol["synthetic_coord"], "synthetic coord")


@pytest.mark.parametrize("name", sorted(CASES))
def test_infer_arch_from_manifest(name):
    vector = load_vector(name)
    _, joints, backbone, _, depth = CASES[name]
    expected = {"backbone": backbone, "width_mult": 1.0, "embedding_size": 2048, "joint_num": joints,
                "depth_bins": depth, "input_channel": 48}
    assert mhp.infer_arch_from_state_dict(_shapes(vector)) == expected
    assert mhp.infer_arch_from_state_dict(_shapes(vector, "module.")) == expected  # DataParallel prefix
    unwrapped = {k.removeprefix("backbone."): v for k, v in _shapes(vector).items()}
    assert mhp.infer_arch_from_state_dict(unwrapped) == expected


@pytest.mark.parametrize("backbone,width,emb,joints", [
    ("LPSKI", 0.75, 512, 18), ("LPSKI", 0.5, 1280, 17), ("LPWO", 0.75, 512, 21),
    ("LPWO", 0.35, 2048, 18), ("LPRES", 1.0, 1024, 17),
])
def test_infer_arch_round_trip(backbone, width, emb, joints):
    """A model built from any arch is recognised, and rebuilding from the inferred arch is identical."""
    config = ModelConfig(family="mobilehumanpose", variant="mobilehumanpose-custom", joint_num=joints,
                         arch={"backbone": backbone, "width_mult": width, "embedding_size": emb})
    model = registry.build_from_config(config)
    arch = mhp.infer_arch_from_state_dict({k: tuple(t.shape) for k, t in model.state_dict().items()})
    assert arch["backbone"] == backbone and arch["embedding_size"] == emb and arch["joint_num"] == joints
    assert arch["depth_bins"] == mhp.DEPTH_BINS[backbone]
    rebuilt = registry.build_from_config(ModelConfig(
        family="mobilehumanpose", variant="mobilehumanpose-custom", joint_num=arch["joint_num"],
        arch={k: arch[k] for k in ("backbone", "width_mult", "embedding_size", "input_channel")}))
    assert _manifest(rebuilt) == _manifest(model)


def test_infer_arch_rejects_other_checkpoints():
    vector = load_vector("mhp_lpski")
    with pytest.raises(CheckpointError, match="ckpt.pth"):
        mhp.infer_arch_from_state_dict(_shapes(load_vector("posenet_r50")), source="ckpt.pth")
    shapes = _shapes(vector)
    del shapes["backbone.final_layer.weight"]
    with pytest.raises(CheckpointError, match="final_layer"):
        mhp.infer_arch_from_state_dict(shapes)
    shapes = {k: v for k, v in _shapes(vector).items() if not k.startswith("backbone.inv_residual.16.")}
    with pytest.raises(CheckpointError, match="inverted residual"):
        mhp.infer_arch_from_state_dict(shapes)
    shapes = _shapes(vector)
    shapes["backbone.deconv0.0.weight"] = (96, 2000, 1, 1)  # neither LPSKI nor LPWO wiring
    with pytest.raises(CheckpointError, match="deconv0"):
        mhp.infer_arch_from_state_dict(shapes)


def test_finalize_derives_volume_and_validates():
    assert registry.get_config("mobilehumanpose-lpwo").heatmap_size == (64, 64)
    # depth bins and heatmap size are fixed by the backbone: overrides are replaced
    config = registry.get_config("mobilehumanpose-lpski", depth_dim=64, output_shape=(64, 64))
    assert (config.depth_bins, config.heatmap_size) == (32, (32, 32))
    assert registry.get_config("mobilehumanpose-lpwo", input_size=(288, 224)).heatmap_size == (72, 56)
    assert registry.get_config("mobilehumanpose-lpski", input_size=(320, 192)).heatmap_size == (40, 24)
    with pytest.raises(ModelConfigError, match="multiple of 64"):
        registry.get_config("mobilehumanpose-lpski", input_size=(288, 288))
    with pytest.raises(ModelConfigError, match="width_mult=0.75"):
        registry.get_config("mobilehumanpose-lpres", width_mult=0.75)
    with pytest.raises(ModelConfigError, match="backbone"):
        registry.get_config("mobilehumanpose-lpwo", backbone="LPXX")
    with pytest.raises(ModelConfigError, match="embedding_size"):
        registry.get_config("mobilehumanpose-lpwo", embedding_size=0)


def test_untrained_init_follows_authors():
    torch.manual_seed(0)
    model = registry.create("mobilehumanpose-lpski")
    bb = model.backbone
    for part in (bb.first_conv, bb.inv_residual, bb.last_conv, bb.final_layer):
        for m in part.modules():
            if isinstance(m, torch.nn.Conv2d):
                assert 0.0005 < m.weight.std().item() < 0.002, m
                assert m.bias is None or torch.count_nonzero(m.bias) == 0
    head_conv = bb.deconv0[0]  # PyTorch default (kaiming-uniform), much wider than N(0, 0.001)
    assert head_conv.weight.abs().max().item() > 0.005
    prelus = [m for m in model.modules() if isinstance(m, torch.nn.PReLU)]
    assert prelus and all(p.weight.numel() > 1 and torch.all(p.weight == 0.25) for p in prelus)
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.modules())


@pytest.mark.parametrize("variant,size", [("mobilehumanpose-lpski", 128), ("mobilehumanpose-lpres", 64),
                                          ("mobilehumanpose-lpwo", 64)])
def test_channels_last_and_inference_mode(variant, size):
    """Small crops (input must be a multiple of 64 / 32): same numbers in channels_last, inference_mode."""
    model = registry.create(variant, input_size=(size, size), joint_num=5)
    model.load_state_dict(recipe_v1(model.state_dict()), strict=True)
    model.eval()
    img = torch.from_numpy(np.random.default_rng(3).standard_normal((2, 3, size, size)).astype(np.float32))
    h, w = model.config.heatmap_size
    with torch.inference_mode():
        ref_hm = model.forward_heatmaps(img)
        ref = model(img)
        model_cl = model.to(memory_format=torch.channels_last)
        out = model_cl(img.contiguous(memory_format=torch.channels_last))
    assert ref_hm.shape == (2, 5 * model.config.depth_bins, h, w)
    assert ref.shape == (2, 5, 3) and torch.isfinite(ref).all()
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)
    assert (ref[..., 0] <= w - 1).all() and (ref[..., 1] <= h - 1).all() and (ref[..., 2] >= 0).all()


def test_registered_variants_and_published_numbers():
    names = registry.available("mobilehumanpose")
    assert {"mobilehumanpose-lpski", "mobilehumanpose-lpski-s", "mobilehumanpose-lpres",
            "mobilehumanpose-lpwo"} <= set(names)
    for name in names:
        config = registry.get_config(name)
        assert "no official" in config.description.lower()
        assert {"p2_mpjpe_mm", "p1_pa_mpjpe_mm", "params_m", "source"} <= set(config.published)
    large = registry.get_config("mobilehumanpose-lpski").published
    small = registry.get_config("mobilehumanpose-lpski-s").published
    assert (large["p2_mpjpe_mm"], large["p1_pa_mpjpe_mm"], large["params_m"]) == (51.4, 35.2, 4.07)
    assert (small["p2_mpjpe_mm"], small["p1_pa_mpjpe_mm"], small["params_m"]) == (56.9, 35.7, 2.24)
    assert registry.get_config("mobilehumanpose-lpski-s").arch["width_mult"] == 0.75
    # the arithmetic behind the notes: the paper's L/S counts = LPWO trunk + skip-concat inputs
    for width, emb, paper in ((1.0, 2048, 4073248), (0.75, 512, 2242000)):
        lpwo = mhp.MobileHumanPose("LPWO", 18, 64, embedding_size=emb, width_mult=width)
        skips = sum(mhp.make_divisible(c * width) ** 2 for c in (160, 96, 64))
        assert sum(p.numel() for p in lpwo.parameters()) + skips == paper
