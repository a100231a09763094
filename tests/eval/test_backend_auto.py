"""`--backend auto` (the default): onnxruntime on CPU when its first batch matches eager, recorded per model."""
from __future__ import annotations

import json

import pytest
import torch

from pose3dbench.cli import main as cli_main
from pose3dbench.eval import planning

pytest.importorskip("onnxruntime")


def _run(tmp_path, data, out, *extra):
    torch.set_num_threads(1)
    assert cli_main(["run", "--data", str(data), "--out", str(out), "--split", "p2", "--root", "rootnet",
                     "--model", "mobilehumanpose-lpski", "--no-profile", "--no-report", "--no-progress", *extra]) == 0
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tests.helpers.pipeline import build_dataset

    return build_dataset(tmp_path_factory.mktemp("auto") / "h36m")


def test_auto_picks_onnxruntime_when_parity_holds_and_says_so(data, tmp_path, monkeypatch):
    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 1)
    res = _run(tmp_path, data, tmp_path / "out")
    m = res["models"]["mobilehumanpose-lpski"]
    assert res["settings"]["backend"] == "auto"
    assert m["backend"] == "onnxruntime" and m["backend_choice"]["requested"] == "auto"
    assert 0 <= m["backend_choice"]["parity_hm"] <= planning.AUTO_PARITY_HM
    from pose3dbench.report.tables import provenance

    assert "backend auto: onnxruntime (all)" in provenance(res)


def test_auto_falls_back_to_eager_when_parity_fails_or_the_run_is_small(data, tmp_path, monkeypatch):
    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 1)
    monkeypatch.setattr(planning, "AUTO_PARITY_HM", -1.0)  # nothing passes
    m = _run(tmp_path, data, tmp_path / "a")["models"]["mobilehumanpose-lpski"]
    assert m["backend"] == "eager" and "parity" in m["backend_choice"]["reason"]
    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 10**6)
    m = _run(tmp_path, data, tmp_path / "b")["models"]["mobilehumanpose-lpski"]
    assert m["backend"] == "eager" and "fewer than" in m["backend_choice"]["reason"]
    m = _run(tmp_path, data, tmp_path / "c", "--backend", "eager")["models"]["mobilehumanpose-lpski"]
    assert m["backend"] == "eager" and m["backend_choice"]["reason"] == "asked for"


def test_amp_run_reports_what_half_precision_costs(data, tmp_path):
    res = _run(tmp_path, data, tmp_path / "amp", "--amp", "bf16")
    assert res["settings"]["amp"] == "bf16"
    ev = res["evaluations"][0]
    amp = ev["amp"]
    assert amp["dtype"] == "bf16" and amp["check_samples"] == ev["num_samples"]
    assert (amp["metric"], amp["unit"]) == (ev["metric"], "mm") == ("MPJPE", "mm")  # the split's metric, in its unit
    assert amp["mean_joint_shift_mm"] > 0  # bf16 really ran: the poses moved
    assert amp["error_amp"] == pytest.approx(ev["total_mm"], rel=1e-9)  # the whole split is the check subset here
    assert amp["error_change"] == pytest.approx(amp["error_amp"] - amp["error_float32"])
    ref = _run(tmp_path, data, tmp_path / "fp32")["evaluations"][0]
    assert amp["error_float32"] == pytest.approx(ref["total_mm"], abs=1e-6)
    assert res["models"]["mobilehumanpose-lpski"]["backend"] == "eager"
    from pose3dbench.report.tables import provenance

    assert "autocast bf16" in provenance(res)
