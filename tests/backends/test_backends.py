"""ONNX export (soft-argmax inside the graph) and the onnxruntime backend: parity with eager within
1e-3 heatmap units, dynamic batch, RootNet's k input, cost accounting, `run --backend onnxruntime`,
and the clear error when the optional packages are missing."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (optional extra pose3dbench[onnx])")
pytest.importorskip("onnx", reason="onnx not installed (optional extra pose3dbench[onnx])")

from pose3dbench.backends import BackendError, OrtModel, export_onnx, onnx_config, require_onnxruntime, wrap_model  # noqa: E402
from pose3dbench.backends.parity import make_input_dependent  # noqa: E402
from pose3dbench.models import registry  # noqa: E402

PARITY_TOL = 1e-3  # heatmap units


pytestmark = pytest.mark.usefixtures("one_thread")  # the recorded numbers: 1 thread


@pytest.mark.parametrize("name,logit_std", [("mobilehumanpose-lpski", 3.0), ("convnextpose-xs", 3.0),
                                            ("posenet-r50", 1.0)])
def test_parity_with_eager(name, logit_std):
    torch.manual_seed(0)
    x = torch.randn(3, 3, 256, 256)  # batch 3: the graph was traced at 2, so this checks the dynamic axis
    model = make_input_dependent(registry.create(name), torch.randn(4, 3, 256, 256), logit_std)
    ort_model = wrap_model(model, "onnxruntime", threads=1)
    assert isinstance(ort_model, OrtModel) and ort_model.config is model.config and ort_model.source is model
    with torch.no_grad():
        ref = model(x)
        got = ort_model(x)
    assert got.shape == ref.shape == (3, model.config.joint_num, 3) and got.dtype == torch.float32
    assert ref.std(dim=0).mean() > 0.05, "outputs do not depend on the input: the parity check would be vacuous"
    assert (got - ref).abs().max().item() < PARITY_TOL
    assert list(ort_model.parameters()) == []  # the eager source is not a submodule


def test_prelu_export_form_equals_prelu():
    """The exported PReLU form (1 - a) relu(x) + a x equals nn.PReLU within float32 rounding, for slopes below 0,
    inside [0, 1] and above 1, per channel and shared."""
    from pose3dbench.backends.export import _PReLUAffine

    torch.manual_seed(0)
    x = torch.randn(4, 5, 7, 7) * 10
    for prelu in (torch.nn.PReLU(5), torch.nn.PReLU(1)):
        with torch.no_grad():
            prelu.weight.copy_(torch.tensor([-0.7, 0.0, 0.25, 1.0, 3.5][:prelu.weight.numel()]))
        ref, got = prelu(x), _PReLUAffine(prelu)(x)
        assert torch.allclose(got, ref, rtol=5e-7, atol=0), (got - ref).abs().max()
        assert (got[x < 0] == ref[x < 0]).all()  # negative inputs: the product a * x exactly


def test_prelu_models_stay_in_onnxruntimes_blocked_layout(tmp_path):
    """MobileHumanPose's export has no Clip/PRelu around its activations, and where onnxruntime uses its blocked
    NCHWc layout (x86 with AVX2 or better) the optimised graph reorders in and out once, not per activation:
    the min/max form cost a reorder pair per PReLU and 1.38x throughput (benchmarks/onnx_speed.py --prelu-forms)."""
    import onnx
    import onnxruntime as ort

    from pose3dbench.backends.export import export_onnx_bytes
    from pose3dbench.backends.ort import session_options

    model = registry.create("mobilehumanpose-lpski").eval()
    data = export_onnx_bytes(model)
    ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
    assert "Clip" not in ops and "PRelu" not in ops and ops.count("Relu") == 41
    so = session_options(1)
    so.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"])
    nodes = onnx.load(str(tmp_path / "optimised.onnx")).graph.node
    optimised = [n.op_type for n in nodes]
    if not any(n.domain == "com.microsoft.nchwc" for n in nodes):
        pytest.skip("onnxruntime does not use its NCHWc layout on this CPU")
    assert optimised.count("ReorderInput") + optimised.count("ReorderOutput") <= 2, optimised


def test_rootnet_k_input():
    torch.manual_seed(0)
    model = make_input_dependent(registry.create("rootnet-r50"), torch.randn(4, 3, 256, 256), 3.0)
    ort_model = wrap_model(model, "onnxruntime", threads=1)
    x = torch.randn(2, 3, 256, 256)
    k = torch.tensor([[2500.0], [4100.0]])
    with torch.no_grad():
        ref, got = model(x, k), ort_model(x, k)
    assert got.shape == (2, 3)
    assert (got[:, :2] - ref[:, :2]).abs().max().item() < PARITY_TOL
    assert torch.allclose(got[:, 2], ref[:, 2], rtol=1e-4, atol=1e-3)  # depth in mm scales with k
    with pytest.raises(BackendError, match="k_value"):
        ort_model(x)


def test_export_file_round_trip(tmp_path):
    from pose3dbench.backends import load_onnx_model

    model = registry.create("mobilehumanpose-lpski").eval()
    path = export_onnx(model, tmp_path / "mhp.onnx")
    assert onnx_config(path)["variant"] == "mobilehumanpose-lpski"
    loaded, info = load_onnx_model(path)
    assert loaded.config.to_dict() == model.config.to_dict()
    assert info.onnx["layout"] == "coords" and info.onnx["fixed_batch"] is None and info.onnx["assumed"] == []
    n_params = sum(p.numel() for p in model.parameters())  # batch norms are folded into the convs on export
    assert 0.9 * n_params < info.onnx["params"] < 1.1 * n_params
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        assert (loaded(x) - model(x)).abs().max().item() < PARITY_TOL


def test_eager_passthrough_and_bad_backend():
    model = registry.create("mobilehumanpose-lpski")
    assert wrap_model(model, "eager") is model
    with pytest.raises(BackendError, match="unknown backend"):
        wrap_model(model, "tensorrt")


def test_compile_model_keeps_the_module():
    from pose3dbench.backends import compile_model

    model = registry.create("mobilehumanpose-lpski")
    assert compile_model(model) is model and model.config.variant == "mobilehumanpose-lpski"
    with pytest.raises(BackendError, match="eager backend only"):
        compile_model(wrap_model(registry.create("mobilehumanpose-lpski"), "onnxruntime"))


def test_missing_onnxruntime_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(BackendError, match=r"pip install 'pose3dbench\[onnx\]'"):
        require_onnxruntime()
    with pytest.raises(BackendError, match="onnxruntime"):
        wrap_model(registry.create("mobilehumanpose-lpski"), "onnxruntime")


def test_run_with_onnxruntime_backend(tmp_path):
    from pose3dbench.cli import main as cli_main
    from pose3dbench.data.h36m.synthetic import generate
    from pose3dbench.results.schema import validate_results

    data = generate(tmp_path / "synthetic", seed=5, size="tiny")
    results = {}
    for backend in ("eager", "onnxruntime"):
        out = tmp_path / backend
        argv = ["run", "--data", str(data), "--out", str(out), "--model", "mobilehumanpose-lpski", "--backend",
                backend, "--split", "p2", "--root", "gt", "--limit", "6", "--batch-size", "4", "--workers", "0",
                "--threads", "1", "--profile-iters", "1", "--no-report", "--no-progress"]
        torch.manual_seed(0)  # the same untrained weights in both runs
        assert cli_main(argv) == 0
        results[backend] = json.loads((out / "results.json").read_text())
        validate_results(results[backend])
    ort_res, eager_res = results["onnxruntime"], results["eager"]
    assert ort_res["settings"]["backend"] == "onnxruntime" and eager_res["settings"]["backend"] == "eager"
    cost_o, cost_e = (r["models"]["mobilehumanpose-lpski"]["cost"] for r in (ort_res, eager_res))
    assert cost_o["params"] == cost_e["params"] > 0 and cost_o["macs"] == cost_e["macs"] > 0
    import numpy as np

    preds = [np.load(Path(tmp_path / b / r["evaluations"][0]["predictions"]))["coords_hm"]
             for b, r in (("eager", eager_res), ("onnxruntime", ort_res))]
    assert np.abs(preds[0] - preds[1]).max() < PARITY_TOL
