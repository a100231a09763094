"""`--backend auto` (the default): onnxruntime on CPU when two parity checks against eager pass (the first batch with
margin under the bound, a second sample spread over the run's splits within it), recorded per model."""
from __future__ import annotations

import json

import pytest
import torch

from pose3dbench.cli import main as cli_main
from pose3dbench.eval import backend_gate, planning

pytest.importorskip("onnxruntime")


def _run(tmp_path, data, out, *extra):
    torch.set_num_threads(1)
    assert cli_main(["run", "--data", str(data), "--out", str(out), "--split", "p2", "--root", "rootnet",
                     "--model", "mobilehumanpose-lpski", "--no-profile", "--no-report", "--no-progress",
                     "--batch-size", "2", *extra]) == 0
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
    choice = m["backend_choice"]
    assert 0 <= choice["first_batch"]["parity_hm"] <= choice["gate_hm"] == backend_gate.AUTO_PARITY_HM / 4
    assert 0 <= choice["second_sample"]["parity_hm"] <= choice["bound_hm"] == backend_gate.AUTO_PARITY_HM
    assert choice["parity_hm"] == max(choice["first_batch"]["parity_hm"], choice["second_sample"]["parity_hm"])
    # which rows: the first batch of the first split, and a second sample of other rows
    (first,), (second,) = choice["first_batch"]["rows"].values(), choice["second_sample"]["rows"].values()
    assert first == [0, 1] and second and not set(first) & set(second)
    from pose3dbench.report.tables import provenance

    text = provenance(res)
    assert "backend auto: onnxruntime (all)" in text and "within 0.001 heatmap units of eager (measured max" in text


def test_auto_falls_back_to_eager_when_parity_fails_or_the_run_is_small(data, tmp_path, monkeypatch):
    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 1)
    monkeypatch.setattr(backend_gate, "AUTO_PARITY_HM", -1.0)  # nothing passes
    m = _run(tmp_path, data, tmp_path / "a")["models"]["mobilehumanpose-lpski"]
    assert m["backend"] == "eager" and "first batch" in m["backend_choice"]["reason"]
    assert "second_sample" not in m["backend_choice"]
    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 10**6)
    m = _run(tmp_path, data, tmp_path / "b")["models"]["mobilehumanpose-lpski"]
    assert m["backend"] == "eager" and "fewer than" in m["backend_choice"]["reason"]
    m = _run(tmp_path, data, tmp_path / "c", "--backend", "eager")["models"]["mobilehumanpose-lpski"]
    assert m["backend"] == "eager" and m["backend_choice"]["reason"] == "asked for"


def test_auto_falls_back_to_eager_when_the_second_parity_check_breaks_the_bound(data, tmp_path, monkeypatch, capsys):
    """onnxruntime agrees on the first batch and deviates on later inputs (1e-2 units added to its output on every
    crop outside the first batch): the run must use eager, say so, record both checks, and save eager's numbers."""
    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 1)
    real = backend_gate.sample_outputs
    calls = []

    def deviating(model, split, rows, *args):
        res = real(model, split, rows, *args)
        if getattr(model, "backend", "eager") == "onnxruntime":
            calls.append(list(rows))
            if len(calls) > 1:  # every crop after the first batch
                res.raw += 1e-2
                res.coords, res.noflip = res.coords + 1e-2, res.noflip + 1e-2
        return res

    monkeypatch.setattr(backend_gate, "sample_outputs", deviating)
    res = _run(tmp_path, data, tmp_path / "fell")
    monkeypatch.undo()
    lines = capsys.readouterr().out.splitlines()
    m = res["models"]["mobilehumanpose-lpski"]
    choice = m["backend_choice"]
    assert m["backend"] == "eager" and choice["requested"] == "auto"
    assert "second parity check broke the bound" in choice["reason"]
    assert choice["first_batch"]["parity_hm"] <= choice["gate_hm"]
    assert choice["second_sample"]["parity_hm"] >= 1e-2 > choice["bound_hm"]
    assert sum(map(len, choice["second_sample"]["rows"].values())) == choice["second_sample"]["crops"] >= 1
    assert any("second parity check broke the bound" in line and line.endswith(": eager") for line in lines)
    from pose3dbench.report.tables import provenance

    assert "eager after a failed parity check: mobilehumanpose-lpski" in provenance(res)
    # the numbers saved are eager's (the rows the checks computed are re-used from eager, the rest computed)
    _run(tmp_path, data, tmp_path / "eager", "--backend", "eager")
    name = "predictions/mobilehumanpose-lpski__h36m__p2__rootnet.npz"
    import numpy as np

    with np.load(tmp_path / "fell" / name) as a, np.load(tmp_path / "eager" / name) as b:
        assert np.abs(a["coords_hm"] - b["coords_hm"]).max() <= 1e-5
        assert np.abs(a["coords_hm_noflip"] - b["coords_hm_noflip"]).max() <= 1e-5


def test_second_sample_spreads_over_every_split_and_skips_the_first_batch():
    sizes = {("h36m", "p1", "gt"): 40, ("h36m", "p2", "gt"): 100, ("h36m", "p2", "rootnet"): 3}
    boxes = list(sizes)
    rows = backend_gate.second_sample(boxes, lambda *k: sizes[k], boxes[1], list(range(16)), n=16, seed=0)
    assert set(rows) == set(boxes) and sum(map(len, rows.values())) == 16
    assert len(rows[boxes[2]]) == 3 and not set(rows[boxes[1]]) & set(range(16))
    assert rows == backend_gate.second_sample(boxes, lambda *k: sizes[k], boxes[1], list(range(16)), n=16, seed=0)


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


def test_a_rerun_that_reuses_every_evaluation_makes_no_backend_choice(data, tmp_path, monkeypatch, capsys):
    """Nothing to compute: no export, no parity check; the model keeps the backend (and the parity) its outputs were
    computed with."""
    from pose3dbench.eval import runner

    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 1)
    out = tmp_path / "out"
    first = _run(tmp_path, data, out)["models"]["mobilehumanpose-lpski"]
    assert first["backend"] == "onnxruntime"

    def no_choice(*args, **kwargs):
        raise AssertionError("choose_backend ran although every evaluation is re-used")

    monkeypatch.setattr(runner, "choose_backend", no_choice)
    capsys.readouterr()
    second = _run(tmp_path, data, out)
    m = second["models"]["mobilehumanpose-lpski"]
    assert m["backend"] == "onnxruntime" and "re-used from the previous run" in m["backend_choice"]["reused"]
    assert m["backend_choice"]["parity_hm"] == first["backend_choice"]["parity_hm"]
    assert "every evaluation is re-used: no export and no parity check" in capsys.readouterr().out
    assert not second["warnings"]


def test_evaluations_computed_on_another_backend_are_computed_again(data, tmp_path, monkeypatch):
    """One evaluation to compute makes the gate run; when it now picks eager, the evaluations computed on
    onnxruntime before are not mixed in: every one is computed again, and the log says why."""
    monkeypatch.setattr(planning, "AUTO_ONNX_MIN_IMAGES", 1)
    out = tmp_path / "out"
    first = _run(tmp_path, data, out, "--root", "gt", "rootnet")
    assert first["models"]["mobilehumanpose-lpski"]["backend"] == "onnxruntime" and len(first["evaluations"]) == 2
    gt_file = out / next(e["predictions"] for e in first["evaluations"] if e["root"] == "gt")
    gt_file.write_bytes(gt_file.read_bytes() + b"\0")  # damaged: recomputed, so the gate runs
    monkeypatch.setattr(backend_gate, "AUTO_PARITY_HM", -1.0)  # the gate now picks eager
    second = _run(tmp_path, data, out, "--root", "gt", "rootnet")
    assert second["models"]["mobilehumanpose-lpski"]["backend"] == "eager"
    said = " ".join(w["message"] for w in second["warnings"])
    assert "computed on onnxruntime, this run uses eager" in said
    eager = _run(tmp_path, data, tmp_path / "eager", "--root", "gt", "rootnet", "--backend", "eager")
    for ev in second["evaluations"]:  # equal to a run on eager: nothing of the onnxruntime run is left
        same = next(e for e in eager["evaluations"] if e["root"] == ev["root"])
        assert ev["predictions_sha256"] != next(e for e in first["evaluations"] if e["root"] == ev["root"])[
            "predictions_sha256"]
        assert ev["total_mm"] == same["total_mm"] and ev["per_joint_mm"] == same["per_joint_mm"]
