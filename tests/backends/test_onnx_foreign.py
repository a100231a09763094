"""FOREIGN ONNX files (`--model file.onnx`): layouts detected from shapes (heatmaps [N, J*D, H, W],
[N, J, D, H, W], coordinates [N, J, 3]), fixed batch 1 handled by slicing, MuCo-21 scored through the
approximate map to Human3.6M-17 and flagged, clear errors for unusable files. The ONNX files are built
here from small zoo models with a 21-joint config, without pose3dbench metadata."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (optional extra pose3dbench[onnx])")
pytest.importorskip("onnx", reason="onnx not installed (optional extra pose3dbench[onnx])")

from pose3dbench.backends import BackendError, detect_layout, export_onnx, load_onnx_model  # noqa: E402
from pose3dbench.models import registry  # noqa: E402
from pose3dbench.specs import ModelSpecError, resolve_model_spec  # noqa: E402

TOL = 1e-3  # heatmap units


@pytest.fixture(scope="module")
def mhp21():
    """mobilehumanpose-lpski with MuCo-21 joints (J*D = 672 channels, 32x32x32), input-dependent output."""
    torch.manual_seed(1)
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    model = registry.create("mobilehumanpose-lpski", joint_num=21)
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
            m.reset_running_stats()
    x = torch.randn(4, 3, 256, 256)
    with torch.no_grad():
        model(x)
        model.eval()
        last = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
        last.weight.mul_(3.0 / model.forward_heatmaps(x).std())
    yield model
    torch.set_num_threads(prev)


@pytest.fixture(scope="module")
def heatmap_file(mhp21, tmp_path_factory):
    """Like the public conversions: fixed batch 1, raw heatmaps out, no pose3dbench metadata."""
    return export_onnx(mhp21, tmp_path_factory.mktemp("onnx") / "mhp21_heatmaps.onnx", output="heatmaps",
                       fixed_batch=1, metadata=False)


def test_detect_layout_from_shapes():
    assert detect_layout([1, 21 * 64, 64, 64]) == {"kind": "heatmaps", "joint_num": 21, "depth_bins": 64,
                                                   "heatmap_size": (64, 64)}
    assert detect_layout(["n", 18 * 64, 64, 64])["joint_num"] == 18
    assert detect_layout([1, 17 * 64, 64, 64])["joint_num"] == 17
    assert detect_layout([1, 21 * 32, 32, 32])["depth_bins"] == 32
    assert detect_layout([1, 21, 32, 64, 64])["depth_bins"] == 32
    assert detect_layout(["batch", 21, 3]) == {"kind": "coords", "joint_num": 21, "depth_bins": None,
                                               "heatmap_size": None}
    with pytest.raises(BackendError, match="several joint counts"):
        detect_layout([1, 18 * 21, 8, 8])  # 18 joints x 21 bins or 21 x 18: shapes cannot tell
    assert detect_layout([1, 18 * 21, 8, 8], joint_num=21)["depth_bins"] == 18
    with pytest.raises(BackendError, match="no joint count"):
        detect_layout([1, 100, 8, 8])
    with pytest.raises(BackendError, match="neither coordinates"):
        detect_layout([1, 1000])


def test_heatmap_output_fixed_batch(mhp21, heatmap_file):
    model, info = resolve_model_spec(str(heatmap_file))
    cfg = model.config
    assert info.onnx["layout"] == "heatmaps" and info.onnx["fixed_batch"] == 1
    assert ((cfg.joint_num, cfg.depth_bins, tuple(cfg.heatmap_size), tuple(cfg.input_size))
            == (21, 32, (32, 32), (256, 256)))
    assert cfg.joint_set == "muco21" and info.onnx["approximate_joint_mapping"] is True
    assert info.weights == "checkpoint" and len(info.sha256) == 64
    x = torch.randn(3, 3, 256, 256)  # 3 images through a batch-1 graph: sliced
    with torch.no_grad():
        ref = mhp21(x)
        got = model(x)
    assert ref.std(dim=0).mean() > 0.05
    assert got.shape == (3, 21, 3) and (got - ref).abs().max().item() < TOL


def test_coordinate_output_with_sidecar(mhp21, tmp_path):
    path = export_onnx(mhp21, tmp_path / "mhp21_coords.onnx", metadata=False)
    model, info = load_onnx_model(path)
    assert info.onnx["layout"] == "coords" and info.onnx["fixed_batch"] is None
    assert tuple(model.config.heatmap_size) == (64, 64) and model.config.depth_bins == 64  # 3DMPPE defaults ...
    assert any("heatmap_size" in a for a in info.onnx["assumed"])  # ... said to be assumed
    path.with_name(path.name + ".json").write_text(json.dumps({"heatmap_size": [32, 32], "depth_bins": 32}))
    model, info = load_onnx_model(path)
    assert tuple(model.config.heatmap_size) == (32, 32) and model.config.depth_bins == 32
    assert not any("heatmap_size" in a for a in info.onnx["assumed"])
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        assert (model(x) - mhp21(x)).abs().max().item() < TOL


def test_run_scores_muco21_on_h36m(heatmap_file, tmp_path):
    from pose3dbench.cli import main as cli_main
    from pose3dbench.data.h36m.synthetic import generate

    data = generate(tmp_path / "synthetic", seed=2, size="tiny")
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--out", str(out), "--model", f"muco={heatmap_file}", "--split", "p1", "p2",
            "--root", "gt", "--limit", "5", "--batch-size", "4", "--workers", "0", "--threads", "1",
            "--profile-iters", "1", "--no-report", "--no-progress"]
    assert cli_main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"muco"}
    assert results["models"]["muco"]["config"]["joint_set"] == "muco21"
    assert results["models"]["muco"]["backend"] == "onnxruntime"  # whatever --backend said
    assert [(ev["dataset"], ev["split"]) for ev in results["evaluations"]] == [("h36m", "p1"), ("h36m", "p2")]
    for ev in results["evaluations"]:
        assert ev["approximate_joint_mapping"] is True and ev["joint_set"] == "muco21"
        assert np.isfinite(ev["total_mm"]) and ev["num_samples"] == 5
        with np.load(out / ev["predictions"]) as z:
            assert z["coords_hm"].shape == (5, 21, 3)


def test_unusable_files(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"this is not protobuf")
    with pytest.raises(ModelSpecError, match="garbage.onnx"):
        resolve_model_spec(str(bad))
    ten = registry.create("mobilehumanpose-lpski", joint_num=10).eval()
    path = export_onnx(ten, tmp_path / "ten.onnx", output="heatmaps", metadata=False)
    with pytest.raises(BackendError, match="no joint count"):
        load_onnx_model(path)
    (tmp_path / "ten.onnx.json").write_text(json.dumps({"joint_num": 10}))
    with pytest.raises(BackendError, match="10 joints"):
        load_onnx_model(path)
    (tmp_path / "ten.onnx.json").write_text("{not json")
    with pytest.raises(BackendError, match="ten.onnx.json"):
        load_onnx_model(path)


def test_unknown_input_convention_is_assumed_said_and_overridable(heatmap_file):
    """A file without metadata: the 3DMPPE convention (0-255) is assumed and said; `@input_pixel_range=0-1`
    states another convention, on the plain and on the NAME=FILE spec."""
    model, info = resolve_model_spec(str(heatmap_file))
    assert model.config.input_pixel_range == "0-255"
    assert any(a.startswith("input: RGB, pixel range 0-255") for a in info.onnx["assumed"])
    model, info = resolve_model_spec(f"{heatmap_file}@input_pixel_range=0-1,input_channel_order=BGR")
    assert (model.config.input_pixel_range, model.config.input_channel_order) == ("0-1", "BGR")
    assert not any(a.startswith("input:") for a in info.onnx["assumed"])
    assert info.onnx["layout"] == "heatmaps"  # still the ONNX backend, not the checkpoint loader
    model, info = resolve_model_spec(f"mhp={heatmap_file}@input_pixel_range=0-1")
    assert model.config.input_pixel_range == "0-1" and info.name == "mhp"
    with pytest.raises(ModelSpecError, match="input_pixel_range must be one of"):
        resolve_model_spec(f"{heatmap_file}@input_pixel_range=255")
    with pytest.raises(ModelSpecError, match="unknown override"):
        resolve_model_spec(f"{heatmap_file}@upsample_layers=2")


def test_exported_file_states_its_input_convention(tmp_path):
    import onnx

    model = registry.create("mobilehumanpose-lpski", input_pixel_range="0-1")
    path = export_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    conv = json.loads(meta["pose3dbench.input"])
    assert conv["pixel_range"] == "0-1" and conv["channel_order"] == "RGB"
    img = next(i for i in proto.graph.input if i.name == "img")
    assert "pixel / 255" in img.doc_string
    loaded, info = load_onnx_model(path)
    assert loaded.config.input_pixel_range == "0-1" and not any(a.startswith("input:") for a in info.onnx["assumed"])
