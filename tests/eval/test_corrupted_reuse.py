"""Corrupted evaluations take the clean path, re-use rule included: a previous corrupted result is re-used only for
the same model, settings and data content (its data fingerprint), and the log says which and why."""
from __future__ import annotations

import json

from pose3dbench.cli import main as cli_main
from pose3dbench.data.h36m.synthetic import generate


def test_corrupted_results_are_recomputed_when_the_data_changed(tmp_path, capsys):
    data = generate(tmp_path / "h36m", seed=4)
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--model", "mobilehumanpose-lpski", "--split", "p2", "--root", "gt",
            "--corruptions", "contrast", "--severities", "1", "--limit", "4", "--no-profile", "--no-report",
            "--no-progress", "--backend", "eager", "--out", str(out)]
    assert cli_main(argv) == 0
    first = json.loads((out / "results.json").read_text())["corruption_evaluations"]
    assert len(first) == 1 and first[0]["data"]["files"] and first[0]["timing"]["seconds"] >= 0
    capsys.readouterr()

    assert cli_main(argv) == 0  # nothing changed: the corrupted evaluation is re-used, and said so
    log = capsys.readouterr().out
    assert "contrast s1: re-using the evaluation" in log

    joints = data / "annotations" / "Human36M_subject9_joint_3d.json"
    obj = json.loads(joints.read_text())
    frame = obj["2"]["1"]["0"]
    frame[16] = [v + 300.0 for v in frame[16]]  # a fixed annotation: a test frame's wrist moves by 300 mm
    joints.write_text(json.dumps(obj))
    assert cli_main(argv) == 0
    log = capsys.readouterr().out
    assert "contrast s1: recomputing, the data changed" in log and "Human36M_subject9_joint_3d.json changed" in log
    again = json.loads((out / "results.json").read_text())["corruption_evaluations"][0]
    assert again["data"]["files"]["S9 joint_3d"]["sha256"] != first[0]["data"]["files"]["S9 joint_3d"]["sha256"]
