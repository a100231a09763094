"""Checkpoint reading (formats, containers, unsafe/corrupt files), config inference from key shapes,
variant matching and warnings, strict-load diffs, and model-spec resolution."""
from __future__ import annotations

import hashlib
import warnings

import pytest
import torch

from pose3dbench import load_model
from pose3dbench.errors import CheckpointError, Pose3DBenchError
from pose3dbench.models import registry
from pose3dbench.models.checkpoint import (CheckpointWarning, closest_variant, infer_architecture, infer_config,
                                           infer_family, read_checkpoint, state_dict_diff)
from pose3dbench.models.checkpoint.load import _variant_shapes
from pose3dbench.models.keys import factor_channels
from pose3dbench.models.info import ModelInfo
from pose3dbench.specs import resolve_model_spec
from pose3dbench.errors import ModelSpecError
from tests.helpers.conformance import CONFIG_NAMES, load_vector, recipe_v1

# conformance file -> (family inferred with model=None, variant, extra overrides needed for the file's head)
EXPECTED = {
    "convnextpose_official": ("convnextpose", "convnextpose-xs"),
    "convnextpose_femto_d256_dd32_up2": ("convnextpose", "convnextpose-s"),
    "convnextpose_femto_d256_dd64_up2": ("convnextpose", "convnextpose-m"),  # keys cannot tell up2 from up3
    "convnextpose_femto_d256_dd64_up3_derived": ("convnextpose", "convnextpose-m"),
    "convnextpose_femto_d512_dd64_up2": ("convnextpose", "convnextpose-l"),
    "posenet_r50": ("posenet", "posenet-r50"),
    "integral_r50_mks": ("posenet", "posenet-r50"),  # same layout as PoseNet
    "integral_r50_msra": ("integral", "integral-r50"),
    "rootnet_r50": ("rootnet", "rootnet-r50"),
    "mhp_lpski": ("mobilehumanpose", "mobilehumanpose-lpski"),
    "mhp_lpski_j21": ("mobilehumanpose", "mobilehumanpose-lpski"),
    "mhp_lpres": ("mobilehumanpose", "mobilehumanpose-lpres"),
    "mhp_lpwo": ("mobilehumanpose", "mobilehumanpose-lpwo"),
}


def shapes_of(name: str) -> dict:
    return {k: tuple(s) for k, s, _ in load_vector(name)["state_dict"]}


@pytest.fixture(scope="module")
def xs_state():
    """Recipe-v1 state dict of the official ConvNeXtPose-XS configuration (3.5 M params: cheap)."""
    return recipe_v1(load_vector("convnextpose_official")["state_dict"])


def save(path, obj, legacy=False):
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


# ------------------------------------------------------------------------------------------------
# inference from shapes


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_infer_config_from_manifest(name):
    vec = load_vector(name)
    family, variant = EXPECTED[name]
    shapes = shapes_of(name)
    assert infer_family(shapes) == family
    config, warns = infer_config(shapes)
    assert (config.family, config.variant, warns) == (family, variant, [])
    if family != "rootnet":
        assert config.joint_num == vec["joint_num"]
        cfg = vec["cfg_values_used"]
        depth = cfg.get("depth_dim", cfg.get("network", {}).get("depth_dim"))
        assert config.depth_bins == depth
    if family == "convnextpose":
        depths, dims = vec["cfg_values_used"]["backbone_cfg"]
        assert config.arch["depths"] == depths and config.arch["dims"] == dims
        assert config.arch["head_width"] == vec["cfg_values_used"]["depth"]
        assert config.arch["upsample_layers"] == (3 if config.depth_bins == 64 else 2)


def test_integral_family_selects_3dmppe_layout_and_overrides_apply():
    config, warns = infer_config(shapes_of("integral_r50_mks"), "integral")
    assert ((config.family, config.variant, config.arch["head_layout"], warns)
            == ("integral", "integral-r50", "3dmppe", []))
    config, _ = infer_config(shapes_of("integral_r50_msra"), "integral")
    assert config.arch["head_layout"] == "msra"
    config, _ = infer_config(shapes_of("convnextpose_femto_d512_dd64_up2"), "convnextpose", upsample_layers=2)
    assert (config.variant, config.heatmap_size, config.published) == ("convnextpose-custom", (32, 32), {})
    assert "convnextpose-l" in config.description


def test_named_variant_that_the_file_contradicts():
    config, warns = infer_config(shapes_of("convnextpose_femto_d256_dd32_up2"), "convnextpose-l")
    assert config.variant == "convnextpose-s" and config.arch["head_width"] == 256
    assert len(warns) == 1 and "asked for convnextpose-l but the file is convnextpose-s" in warns[0]
    assert "head_width=256 (not 512)" in warns[0]
    config, warns = infer_config(shapes_of("posenet_r50"), "posenet-r152")
    assert config.variant == "posenet-r50" and "resnet_depth=50 (not 152)" in warns[0]
    config, warns = infer_config(shapes_of("mhp_lpski_j21"), "mobilehumanpose-lpski")
    assert config.joint_num == 21 and "predicts 21 joints" in warns[0]


def test_every_registered_variant_round_trips():
    for name in registry.available():
        shapes = dict(_variant_shapes(name))
        config, warns = infer_config(shapes)
        assert (config.variant, warns) == (name, []), name
        assert config.to_dict() == registry.get_config(name).to_dict()
        assert closest_variant(shapes) == (name, 1.0)


def test_resnet_depth_from_block_counts():
    base = dict(_variant_shapes("posenet-r50"))
    head = {k: v for k, v in base.items() if not k.startswith("backbone.layer")}
    for counts, depth in (((2, 2, 2, 2), 18), ((3, 4, 6, 3), 34)):  # basic blocks: no conv3
        shapes = dict(head)
        for i, n in enumerate(counts, 1):
            for b in range(n):
                shapes[f"backbone.layer{i}.{b}.conv1.weight"] = (64, 64, 3, 3)
                shapes[f"backbone.layer{i}.{b}.conv2.weight"] = (64, 64, 3, 3)
        assert infer_architecture(shapes)["arch"]["resnet_depth"] == depth
    shapes = {k: v for k, v in base.items() if not k.startswith("backbone.layer3.")}
    for b in range(13):
        shapes[f"backbone.layer3.{b}.conv3.weight"] = (1024, 256, 1, 1)
    with pytest.raises(CheckpointError, match=r"block counts \[3, 4, 13, 3\]"):
        infer_architecture(shapes)


def test_factor_channels():
    assert factor_channels(1152) == (18, 64)
    assert factor_channels(576) == (18, 32)
    assert factor_channels(672) == (21, 32)
    assert factor_channels(1088) == (17, 64)
    assert factor_channels(1152, joint_num=36) == (36, 32)
    assert factor_channels(1152, depth_bins=16) == (72, 16)
    with pytest.raises(CheckpointError, match="joint_num"):
        factor_channels(1000)
    with pytest.raises(CheckpointError, match="not divisible"):
        factor_channels(1152, joint_num=17)
    with pytest.raises(CheckpointError, match="fix the overrides"):
        factor_channels(1152, joint_num=18, depth_bins=32)


def test_unknown_layout_and_unknown_model_name():
    with pytest.raises(CheckpointError, match="cannot tell the network family.*fc"):
        infer_family({"fc.weight": (10, 3), "features.0.weight": (3, 3)})
    with pytest.raises(CheckpointError, match="unknown model 'convnextpose-xxl'"):
        infer_config(shapes_of("convnextpose_official"), "convnextpose-xxl")


# ------------------------------------------------------------------------------------------------
# reading


def test_formats_and_containers_give_the_same_weights(tmp_path, xs_state):
    prefixed = {"module." + k: v for k, v in xs_state.items()}
    files = {
        "zip.pth": ({"network": prefixed, "epoch": 3}, False, "zip", 3, ["network", "epoch"]),
        "legacy.pth.tar": ({"network": prefixed, "epoch": torch.tensor(5)}, True, "legacy", 5, ["network", "epoch"]),
        "zip_named.tar": ({"state_dict": xs_state}, False, "zip", None, ["state_dict"]),
        "model.pth": ({"model": prefixed, "optimizer": {"lr": 0.1}}, True, "legacy", None, ["model", "optimizer"]),
        "bare.pth": (xs_state, False, "zip", None, []),
    }
    for fname, (obj, legacy, fmt, epoch, top) in files.items():
        path = save(tmp_path / fname, obj, legacy)
        state, info = read_checkpoint(path)
        assert list(state) == list(xs_state) and all(torch.equal(state[k], xs_state[k]) for k in xs_state)
        assert (info["format"], info["epoch"], info["top_level_keys"]) == (fmt, epoch, top), fname
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert info["stripped_prefix"] == ("module." if obj is not xs_state and "state_dict" not in obj else None)
    state, info = read_checkpoint({"network": prefixed})
    assert (info["format"], info["path"], info["sha256"], list(state)) == ("state_dict", None, None, list(xs_state))
    model = load_model(xs_state)
    assert model.checkpoint_info["format"] == "state_dict" and model.config.variant == "convnextpose-xs"


class _Exploit:
    """Unpickling this runs code (creates a marker file): the canonical unsafe checkpoint."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("legacy", [False, True])
def test_code_executing_pickle_is_refused_unless_trusted(tmp_path, xs_state, legacy):
    marker = tmp_path / "pwned"
    path = save(tmp_path / "evil.pth", {"network": xs_state, "epoch": 1, "extra": _Exploit(marker)}, legacy)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert str(path) in msg and "exec" in msg and "--trust-checkpoint" in msg and "trust_checkpoint=True" in msg
    assert not marker.exists()
    model = load_model(path, trust_checkpoint=True)
    assert marker.exists()
    assert model.checkpoint_info["trusted"] is True and model.config.variant == "convnextpose-xs"


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_files(tmp_path, xs_state, legacy):
    path = save(tmp_path / "full.pth", {"network": xs_state, "epoch": 1}, legacy)
    data = path.read_bytes()
    for cut in (len(data) // 2, 200, 20):
        bad = tmp_path / f"cut{cut}.pth"
        bad.write_bytes(data[:cut])
        for trust in (False, True):
            with pytest.raises(CheckpointError) as err:
                load_model(bad, trust_checkpoint=trust)
            msg = str(err.value)
            assert str(bad) in msg and ("truncated" in msg or "corrupt" in msg), msg
            assert "--trust-checkpoint" not in msg


def test_non_checkpoint_files(tmp_path):
    cases = {
        "photo.pth": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8, "JPEG image"),
        "page.pth.tar": (b"<!DOCTYPE html><html><body>Google Drive quota exceeded</body></html>", "HTML page"),
        "empty.pth": (b"", "empty"),
        "random.bin": (bytes(range(7, 200)), "not a PyTorch checkpoint"),
    }
    for fname, (data, expect) in cases.items():
        path = tmp_path / fname
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=expect) as err:
            load_model(path)
        assert str(path) in str(err.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pth")


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_weights(tmp_path, xs_state, bad_value):
    state = dict(xs_state)
    state["backbone.stages.2.1.pwconv1.weight"] = state["backbone.stages.2.1.pwconv1.weight"].clone()
    state["backbone.stages.2.1.pwconv1.weight"][0, :3] = bad_value
    path = save(tmp_path / "nan.pth", {"network": state})
    with pytest.raises(CheckpointError, match=r"NaN/Inf.*backbone\.stages\.2\.1\.pwconv1\.weight \(3 of") as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_no_state_dict_inside(tmp_path):
    path = save(tmp_path / "odd.pth", {"weights_v2": {"a": 1}, "epoch": 2})
    with pytest.raises(CheckpointError, match=r"no state dict found; top-level keys are \['weights_v2', 'epoch'\]"):
        load_model(path)


# ------------------------------------------------------------------------------------------------
# variants, warnings, strict-load diff


def test_wrong_variant_name_warns_and_uses_the_file(tmp_path, xs_state):
    path = save(tmp_path / "convnextpose_l_snapshot.pth", {"network": xs_state})
    with pytest.warns(CheckpointWarning, match=r"asked for convnextpose-l but the file is convnextpose-xs"):
        model = load_model(path, "convnextpose-l")
    assert model.config.variant == "convnextpose-xs" and model.config.arch["dims"] == [40, 80, 160, 320]
    assert "convnextpose-xs" in model.checkpoint_info["warnings"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(path, "convnextpose-xs").config.variant == "convnextpose-xs"
    with pytest.warns(CheckpointWarning, match=r"asked for 'mobilehumanpose' .* convnextpose network"):
        assert load_model(path, "mobilehumanpose").config.family == "convnextpose"


def test_strict_load_failure_reports_a_grouped_diff(tmp_path, xs_state):
    state = dict(xs_state)
    for k in [k for k in state if k.startswith(("backbone.stages.2.", "head.deconv_layers_2.norm."))
              and not k.startswith("backbone.stages.2.0.")]:
        del state[k]  # stage 2 keeps one of 6 blocks (11 keys each), the head loses a BatchNorm
    state["head.extra.weight"] = torch.zeros(3)
    state["head.final_layer.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError) as err:
        load_model(state, "convnextpose")
    msg = str(err.value)
    assert "missing keys (4), by module" in msg and "head.deconv_layers_2: 4 (head.deconv_layers_2.norm.weight" in msg
    assert "unexpected keys (1)" in msg and "head.extra: 1 (head.extra.weight)" in msg
    assert "head.final_layer.bias: model [576], file [7]" in msg
    assert "closest registered variant: convnextpose-xs" in msg
    # a file whose shapes form no valid config is compared with the variant asked for
    for k in [k for k in state if k.startswith("backbone.stages.3.")]:
        del state[k]
    with pytest.warns(CheckpointWarning, match="do not form a valid convnextpose configuration"):
        with pytest.raises(CheckpointError) as err:
            load_model(state, "convnextpose-xs")
    msg = str(err.value)
    # 7 blocks x 10 keys + 4 BatchNorm keys (num_batches_tracked is filled in by torch, not reported)
    assert "missing keys (74), by module:" in msg and "backbone.stages: 70 (backbone.stages.2.1.dwconv.weight" in msg
    diff = state_dict_diff(_variant_shapes_dict("convnextpose-xs"), state)
    assert len(diff["missing"]) == 74 and diff["unexpected"] == ["head.extra.weight"]
    assert diff["shape_mismatch"] == [("head.final_layer.bias", (576,), (7,))]


def _variant_shapes_dict(name):
    return dict(_variant_shapes(name))


def test_overrides(tmp_path):
    state = recipe_v1(load_vector("mhp_lpski_j21")["state_dict"])
    model = load_model(state)
    assert (model.config.joint_num, model.config.joint_set, model.config.depth_bins) == (21, "muco21", 32)
    with pytest.raises(CheckpointError, match="final layer has 672 channels"):
        load_model(state, joint_num=17)
    cfg, _ = infer_config(shapes_of("convnextpose_femto_d256_dd32_up2"), "convnextpose-s", depth_dim=32,
                          input_size=(384, 384))
    assert (cfg.variant, cfg.input_size, cfg.heatmap_size) == ("convnextpose-s", (384, 384), (48, 48))
    with pytest.raises(CheckpointError, match="unknown override"):
        infer_config(shapes_of("posenet_r50"), upsample_layers=3)


# ------------------------------------------------------------------------------------------------
# model specs


def test_spec_registry_name_and_checkpoints(tmp_path, xs_state):
    model, info = resolve_model_spec("convnextpose-xs")
    assert not model.training and info == ModelInfo(name="convnextpose-xs", spec="convnextpose-xs", weights="untrained",
                                                    family="convnextpose", variant="convnextpose-xs")
    path = save(tmp_path / "snap.pth.tar", {"network": {"module." + k: v for k, v in xs_state.items()}})
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for spec, name in ((f"convnextpose={path}", "convnextpose"), (f"convnextpose-xs={path}", "convnextpose-xs"),
                       (str(path), "convnextpose-xs")):
        model, info = resolve_model_spec(spec)
        assert (info.name, info.spec, info.weights, info.checkpoint, info.sha256) == (
            name, spec, "checkpoint", str(path), sha)
        assert torch.equal(model.state_dict()["head.final_layer.weight"], xs_state["head.final_layer.weight"])


def test_spec_custom_models(tmp_path):
    model, info = resolve_model_spec("tests/helpers/byo_model.py:build")  # a path, as the README shows it
    assert (info.weights, info.name, info.checkpoint) == ("custom", "tiny-byo", None)
    assert info.sha256 == hashlib.sha256(open("tests/helpers/byo_model.py", "rb").read()).hexdigest()
    assert model(torch.zeros(2, 3, 256, 256)).shape == (2, 18, 3)
    # importable module (the repository root is on sys.path: tests is a package)
    model2, info2 = resolve_model_spec("tests.helpers.byo_model:build")
    assert info2.weights == "custom" and type(model2).__name__ == "TinyPose"

    bad = tmp_path / "bad_models.py"
    bad.write_text(
        "import torch\nfrom torch import nn\nfrom tests.helpers import byo_model\n"
        "def not_module():\n    return 42\n"
        "def no_config():\n    return nn.Conv2d(3, 3, 1)\n"
        "def wrong_shape():\n    m = byo_model.TinyPose()\n"
        "    m.forward = lambda img: torch.zeros(img.shape[0], 5)\n    return m\n"
        "def raises():\n    raise RuntimeError('boom')\n")
    for func, expect in (("not_module", "not a torch.nn.Module"), ("no_config", "no `config` attribute"),
                         ("wrong_shape", r"forward returned \(1, 5\), expected .*\[1, 18, 3\]"),
                         ("raises", "boom"), ("missing", "no callable 'missing'")):
        with pytest.raises(ModelSpecError, match=expect):
            resolve_model_spec(f"{bad}:{func}")
    with pytest.raises(ModelSpecError, match="cannot import module 'no_such_module_xyz'"):
        resolve_model_spec("no_such_module_xyz:build")


def test_spec_errors(tmp_path):
    with pytest.raises(ModelSpecError, match="onnx backend"):
        resolve_model_spec(str(tmp_path / "model.onnx"))
    with pytest.raises(ModelSpecError, match="onnx backend"):
        resolve_model_spec(f"mobilehumanpose-lpski={tmp_path / 'model.onnx'}")
    with pytest.raises(ModelSpecError, match="not a registered model"):
        resolve_model_spec("convnextpose-xxl")
    with pytest.raises(ModelSpecError, match="no such checkpoint file"):
        resolve_model_spec(str(tmp_path / "nope.pth"))
    with pytest.raises(ModelSpecError, match="unknown model 'resnet'"):
        resolve_model_spec(f"resnet={tmp_path / 'x.pth'}")
    with pytest.raises(Pose3DBenchError, match="does not exist"):
        resolve_model_spec(f"convnextpose={tmp_path / 'x.pth'}")
