"""Every conformance configuration through ``load_model``: a recipe-v1 state dict saved the way the
authors' code did ({'network': {'module.' + k: v}, 'epoch', 'optimizer'}), in torch's zip format and
the legacy format, loaded with the family given and inferred; outputs compared with the recorded ones.

One forward per configuration (zip file, family given); the legacy file with the family inferred (and,
for the networks under 10 M parameters, the two mixed cases) must give the same module type, config
and bit-identical weights, which fixes their outputs too.
"""
from __future__ import annotations

import hashlib
import shutil
import warnings

import pytest
import torch

from pose3dbench import load_model
from pose3dbench.models.codecs import codec_for
from tests.helpers.conformance import (CONFIG_NAMES, ROOTNET_K_VALUE, assert_close, check_heatmap, conformance_input,
                                       load_vector, recipe_v1)

GIVEN = {
    "convnextpose_official": "convnextpose", "convnextpose_femto_d256_dd32_up2": "convnextpose",
    "convnextpose_femto_d256_dd64_up2": "convnextpose", "convnextpose_femto_d512_dd64_up2": "convnextpose",
    "convnextpose_femto_d256_dd64_up3_derived": "convnextpose", "posenet_r50": "posenet",
    "rootnet_r50": "rootnet", "mhp_lpski": "mobilehumanpose", "mhp_lpski_j21": "mobilehumanpose",
    "mhp_lpres": "mobilehumanpose", "mhp_lpwo": "mobilehumanpose", "integral_r50_msra": "integral",
    "integral_r50_mks": "integral",
}
# What model=None must infer (integral_r50_mks has PoseNet's exact layout: posenet is the right answer).
INFERRED = {**GIVEN, "integral_r50_mks": "posenet"}
# The state dict cannot tell the head's upsampling; 64-bin files default to 3 upsampling blocks.
OVERRIDES = {"convnextpose_femto_d256_dd64_up2": {"upsample_layers": 2},
             "convnextpose_femto_d512_dd64_up2": {"upsample_layers": 2}}
EXPECTED_VARIANT = {
    "convnextpose_official": "convnextpose-xs", "convnextpose_femto_d256_dd32_up2": "convnextpose-s",
    "convnextpose_femto_d256_dd64_up2": "convnextpose-custom",
    "convnextpose_femto_d512_dd64_up2": "convnextpose-custom",
    "convnextpose_femto_d256_dd64_up3_derived": "convnextpose-m", "posenet_r50": "posenet-r50",
    "rootnet_r50": "rootnet-r50", "mhp_lpski": "mobilehumanpose-lpski", "mhp_lpski_j21": "mobilehumanpose-lpski",
    "mhp_lpres": "mobilehumanpose-lpres", "mhp_lpwo": "mobilehumanpose-lpwo", "integral_r50_msra": "integral-r50",
    "integral_r50_mks": "integral-r50",
}


def test_every_configuration_is_covered():
    assert sorted(GIVEN) == CONFIG_NAMES and len(CONFIG_NAMES) == 13


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (vector, zip path, legacy path); files written once, removed at module end."""
    cache: dict[str, tuple] = {}
    dirs = []

    def get(name: str):
        if name not in cache:
            vec = load_vector(name)
            state = recipe_v1(vec["state_dict"])
            ckpt = {"network": {"module." + k: v for k, v in state.items()}, "epoch": 24,
                    "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1]}]}}
            d = tmp_path_factory.mktemp(name)
            dirs.append(d)
            zip_path, legacy_path = d / "snapshot_24.pth.tar", d / "snapshot_24_legacy.pth"
            torch.save(ckpt, zip_path)
            torch.save(ckpt, legacy_path, _use_new_zipfile_serialization=False)
            cache[name] = (vec, zip_path, legacy_path)
        return cache[name]

    yield get
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_outputs(name: str, model, vec: dict) -> None:
    tols = vec["verification"]["suggested_tolerances"]
    img = conformance_input(vec)
    with torch.no_grad():
        heat = model.forward_heatmaps(img)
        check_heatmap(heat, vec)
        coord = model(img, ROOTNET_K_VALUE) if codec_for(model).takes_k_value else model(img)
    ref = vec["outputs"]["coord"]["values"]
    if name == "integral_r50_msra":  # recorded normalised: x/W - 0.5, y/H - 0.5, z/D - 0.5
        h, w = model.config.heatmap_size
        scale = torch.tensor([w, h, model.config.depth_bins], dtype=torch.float64)
        norm = coord.double() / scale - 0.5
        assert_close(norm, ref, tols["coord"], f"{name} coord (normalised)")
        # the repo's patch-pixel conversion ((x+0.5)*256, (y+0.5)*256, z*256) of the same numbers
        patch = torch.stack(((norm[..., 0] + 0.5) * 256, (norm[..., 1] + 0.5) * 256, norm[..., 2] * 256), dim=-1)
        assert_close(patch, vec["outputs"]["coord_patch_px"]["values"], tols["coord_patch_px"],
                     f"{name} coord_patch_px")
    else:
        assert_close(coord, ref, tols["coord"], f"{name} coord")


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_load_conformance_checkpoint(name, saved, one_thread):
    vec, zip_path, legacy_path = saved(name)
    over = OVERRIDES.get(name, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a correct family must not warn
        ref = load_model(zip_path, GIVEN[name], **over)
    assert not ref.training
    assert ref.config.family == GIVEN[name]
    assert ref.config.variant == EXPECTED_VARIANT[name]
    assert [(k, list(v.shape)) for k, v in ref.state_dict().items()] == [(k, s) for k, s, _ in vec["state_dict"]]
    assert sum(p.numel() for p in ref.parameters() if p.requires_grad) == vec["param_count"]
    _check_outputs(name, ref, vec)

    info = ref.checkpoint_info
    assert info["path"] == str(zip_path) and info["sha256"] == _sha(zip_path)
    assert info["format"] == "zip" and info["epoch"] == 24
    assert info["top_level_keys"] == ["network", "epoch", "optimizer"]
    assert info["stripped_prefix"] == "module." and info["warnings"] == []
    assert info["variant"] == ref.config.variant and info["config"] == ref.config.to_dict()

    ref_state = ref.state_dict()
    # zip + given is `ref`; legacy + inferred always; the two mixed cases on the small networks (runtime)
    cases = [(legacy_path, "legacy", None)]
    if vec["param_count"] < 10_000_000:
        cases += [(legacy_path, "legacy", GIVEN[name]), (zip_path, "zip", None)]
    for path, fmt, model_arg in cases:
        other = load_model(path, model_arg, **over)
        assert other.checkpoint_info["format"] == fmt and other.checkpoint_info["epoch"] == 24
        assert other.checkpoint_info["sha256"] == _sha(path)
        fam = INFERRED[name] if model_arg is None else GIVEN[name]
        assert other.config.family == fam, (path, model_arg)
        if fam == GIVEN[name]:
            assert type(other) is type(ref) and other.config.to_dict() == ref.config.to_dict()
        state = other.state_dict()
        assert list(state) == list(ref_state)
        assert all(torch.equal(state[k], ref_state[k]) for k in ref_state), (path, model_arg)
        if fam != GIVEN[name]:  # integral_r50_mks inferred as PoseNet: same numbers, PoseNet's own forward
            assert other.config.variant == "posenet-r50"
            _check_outputs(name, other, vec)
