"""End to end: `pose3dbench run` on a tiny synthetic set with two small models, P1+P2, gt+rootnet.

Checks the output files and schema, that a second run does no inference (resume), that
`pose3dbench evaluate` on the saved predictions reproduces the run's metrics exactly, and that a
bring-your-own model defined in a test file runs through the same path.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3dbench.cli import main as cli_main
from pose3dbench.data.h36m.synthetic import generate
from pose3dbench.eval import inference, runner
from pose3dbench.report.tables import summary_table
from pose3dbench.results.schema import validate_results
from tests.helpers.paths import BYO

MODELS = ["mobilehumanpose-lpski", "convnextpose-xs"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("h36m") / "synthetic", seed=3, size="tiny")


@pytest.fixture(scope="module")
def first_run(tiny_data, tmp_path_factory):
    torch.set_num_threads(2)
    out = tmp_path_factory.mktemp("run") / "out"
    argv = ["run", "--data", str(tiny_data), "--out", str(out), "--batch-size", "8", "--workers", "0",
            "--profile-iters", "1", "--no-progress", "--split", "p1", "p2", "--root", "gt", "rootnet"]
    for m in MODELS:
        argv += ["--model", m]
    assert cli_main(argv) == 0
    return out, argv


def test_files_and_schema(first_run):
    out, _ = first_run
    results = json.loads((out / "results.json").read_text())
    validate_results(results)
    assert set(results["models"]) == set(MODELS)
    keys = {(e["model"], e["dataset"], e["split"], e["root"]) for e in results["evaluations"]}
    assert keys == {(m, "h36m", s, r) for m in MODELS for s in ("p1", "p2") for r in ("gt", "rootnet")}
    for ev in results["evaluations"]:
        assert ev["protocol"] == {"p1": 1, "p2": 2}[ev["split"]]  # Human3.6M records keep their protocol
        assert ev["metric"] == ("PA-MPJPE" if ev["split"] == "p1" else "MPJPE")
        assert (out / ev["predictions"]).exists()
        assert ev["num_samples"] > 0 and np.isfinite(ev["total_mm"])
    for m in MODELS:
        cost = results["models"][m]["cost"]
        assert cost["params"] > 0 and cost["macs"] > 0 and cost["latency_ms"]["median"] > 0
    env = results["environment"]
    assert env["device"] == "cpu" and env["torch_version"] == torch.__version__
    (dataset,) = results["settings"]["datasets"]
    assert dataset["name"] == "h36m" and dataset["synthetic"] is True and dataset["splits"] == ["p1", "p2"]
    for name in ("results.csv", "report.md", "report.html"):
        assert (out / name).stat().st_size > 0, name
    assert list(out.glob("*.png")), "report plots missing"
    with np.load(out / "predictions" / "mobilehumanpose-lpski__h36m__p2__gt.npz") as z:
        for key in ("image_id", "sample_id", "coords_hm", "coords_hm_noflip", "bbox", "root_cam", "pred_cam",
                    "pred_img", "per_sample", "per_sample_scaled_mm"):
            assert key in z.files, key
        assert z["coords_hm"].shape[1:] == (18, 3)
        assert not np.allclose(z["coords_hm"], z["coords_hm_noflip"]), "flip test had no effect"
    assert not (out / "partial").exists()


def test_second_run_does_no_inference(first_run, monkeypatch):
    out, argv = first_run
    before = json.loads((out / "results.json").read_text())

    def boom(*a, **k):
        raise AssertionError("inference or profiling ran on a resumed run")

    monkeypatch.setattr(inference.PoseInference, "_forward", boom)
    monkeypatch.setattr(runner, "cost_entry", boom)
    assert cli_main(argv) == 0
    after = json.loads((out / "results.json").read_text())
    assert [e["total_mm"] for e in after["evaluations"]] == [e["total_mm"] for e in before["evaluations"]]


@pytest.mark.parametrize("split,root", [("p1", "gt"), ("p2", "gt"), ("p2", "rootnet")])
def test_evaluate_reproduces_run(first_run, tiny_data, split, root, capsys):
    out, _ = first_run
    results = json.loads((out / "results.json").read_text())
    ev = next(e for e in results["evaluations"]
              if e["model"] == MODELS[0] and e["split"] == split and e["root"] == root)
    capsys.readouterr()
    rc = cli_main(["evaluate", "--data", str(tiny_data), "--predictions", str(out / ev["predictions"]),
                   "--split", split, "--root", root, "--json"])
    assert rc == 0
    scored = json.loads(capsys.readouterr().out)
    assert (scored["dataset"], scored["split"], scored["root"], scored["protocol"]) == (
        "h36m", split, root, ev["protocol"])
    assert scored["total_mm"] == ev["total_mm"]
    assert scored["per_action_mm"] == ev["per_action_mm"]
    assert scored["per_joint_mm"] == ev["per_joint_mm"]


def test_bring_your_own_model(tiny_data, tmp_path):
    out = tmp_path / "byo"
    rc = cli_main(["run", "--data", str(tiny_data), "--out", str(out), "--model", BYO, "--split", "p2",
                   "--root", "gt", "--workers", "0", "--batch-size", "4", "--no-profile", "--no-progress",
                   "--no-report"])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    (ev,) = results["evaluations"]
    assert ev["num_samples"] > 0 and np.isfinite(ev["total_mm"])
    assert results["models"][ev["model"]]["weights"]["kind"] == "custom"


def test_json_quiet_labels_warnings_and_stratified_limit(tiny_data, tmp_path, capsys, monkeypatch):
    import warnings

    from pose3dbench import specs as spec_mod
    from pose3dbench.models.checkpoint import CheckpointWarning

    real = spec_mod.resolve_model_spec

    def warning_resolver(spec, **kw):
        warnings.warn(CheckpointWarning("ep7.pth is named convnextpose-s but holds convnextpose-xs"), stacklevel=2)
        return real(spec, **kw)

    monkeypatch.setattr(spec_mod, "resolve_model_spec", warning_resolver)
    out = tmp_path / "labelled"
    argv = ["run", "--data", str(tiny_data), "--out", str(out), "--model", "small s:=mobilehumanpose-lpski-s",
            "--split", "p2", "--root", "gt", "--limit-per-group", "1", "--workers", "0", "--batch-size", "8",
            "--no-profile", "--no-report", "--json", "--quiet", "--debug"]  # --debug after the command
    assert cli_main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # stdout is exactly one JSON document
    assert captured.err == ""  # --quiet: no log lines, no bars
    (ev,) = summary["evaluations"]
    assert ev["model"] == "small s" and ev["num_samples"] == 30  # 15 actions x (S9, S11)
    assert (ev["dataset"], ev["split"], ev["root"], ev["metric"], ev["unit"]) == ("h36m", "p2", "gt", "MPJPE", "mm")
    assert ev["value"] == json.loads((out / "results.json").read_text())["evaluations"][0]["total_mm"]
    results = json.loads((out / "results.json").read_text())
    validate_results(results)
    assert results["settings"]["limit_per_group"] == 1
    m = results["models"]["small s"]
    assert m["label"] == "small s" and m["spec"] == "mobilehumanpose-lpski-s" and m["weights"]["epoch"] is None
    assert (out / "predictions" / "small_s__h36m__p2__gt.npz").is_file()
    (w,) = results["warnings"]
    assert w == {"source": "small s", "category": "CheckpointWarning",
                 "message": "ep7.pth is named convnextpose-s but holds convnextpose-xs"}
    assert summary["warnings"] == results["warnings"]
    # not quiet: progress per model, the warning as one readable line, and what a resumed run reused
    assert cli_main([a for a in argv if a not in ("--json", "--quiet")]) == 0
    text = capsys.readouterr().out
    assert "[1/1] small s" in text and "warning: [small s] ep7.pth is named" in text
    assert "[small s] Human3.6M p2 root=gt: reused from the previous run" in text
    assert "CheckpointWarning" not in text  # no raw 'file.py:290: CheckpointWarning' line


def test_duplicate_labels_are_refused(tiny_data, tmp_path, capsys):
    argv = ["run", "--data", str(tiny_data), "--out", str(tmp_path / "o"), "--model", "a:=convnextpose-xs",
            "--model", "a:=mobilehumanpose-lpski", "--no-profile"]
    assert cli_main(argv) == 2
    assert "the label 'a' is already used" in capsys.readouterr().err
    assert cli_main(["run", "--model", ":=convnextpose-xs", "--out", str(tmp_path / "o")]) == 2
    assert "row label" in capsys.readouterr().err


def test_summary_attaches_published_numbers_only_where_they_belong():
    from pose3dbench.data.h36m import Human36M
    from pose3dbench.models import registry

    def model(variant):
        cfg = registry.get_config(variant)
        return {"published": dict(cfg.published), "weights": {"kind": "untrained"}}

    ev = {"dataset": "h36m", "split": "p2", "protocol": 2, "root": "gt", "metric": "MPJPE", "total_mm": 400.0,
          "timing": {}}
    dataset = {**Human36M("h36m").describe(), "splits": ["p1", "p2"], "synthetic": False, "synthetic_meta": None}
    results = {"settings": {"datasets": [dataset]},
               "models": {"rootnet-r50": model("rootnet-r50"), "mobilehumanpose-lpski": model("mobilehumanpose-lpski"),
                          "convnextpose-s": model("convnextpose-s")},
               "evaluations": [{**ev, "model": "mobilehumanpose-lpski"}, {**ev, "model": "convnextpose-s"}],
               "root_evaluations": [{"model": "rootnet-r50", "dataset": "h36m", "split": s, "protocol": p,
                                     "root": "rootnet", "mrpe_mm": 300.0} for p, s in ((1, "p1"), (2, "p2"))]}
    table = summary_table(results).splitlines()
    assert table[0].split() == ["model", "split", "root", "metric", "value", "published", "img/s"]
    lines = {tuple(line.split()[:2]): line.split() for line in table[2:]}
    assert lines[("rootnet-r50", "P1")][5] == "-"       # RootNet's paper gives no Protocol-1 MRPE
    assert lines[("rootnet-r50", "P2")][5] == "120.0"
    assert lines[("mobilehumanpose-lpski", "P2")][5] == "(51.4)"  # the paper's L network, another layout
    assert lines[("convnextpose-s", "P2")][5] == "51.8"
