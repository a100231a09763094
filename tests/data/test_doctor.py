"""`pose3dbench doctor` / `synth`: nested real-world layouts, missing parts named, exit codes."""
import json
import shutil

import cv2
import numpy as np
import pytest

from pose3dbench.cli import main
from pose3dbench.data.h36m import load_split
from tests.helpers.datasets import make_real_s11


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("doc") / "synth"
    assert main(["synth", "--dataset", "h36m", "--out", str(out), "--size", "tiny", "--seed", "3"]) == 0
    return out


def _doctor(capsys, path, *extra):
    rc = main(["doctor", "--data", str(path), "--json", *extra])
    return rc, json.loads(capsys.readouterr().out)


def test_synthetic_is_healthy(tiny, capsys):
    capsys.readouterr()
    rc, rep = _doctor(capsys, tiny)
    assert rc == 0 and rep["ok"] and rep["synthetic"]["seed"] == 3
    assert rep["dataset"] == "h36m" and list(rep["splits"]) == ["p1", "p2"]
    for p in ("p1", "p2"):
        assert rep["splits"][p]["gt"]["ok"] and rep["splits"][p]["rootnet"]["ok"]
        # every split and box source in the shape Dataset.diagnose declares
        assert rep["splits"][p]["label"].startswith(f"Protocol {p[1]} (")
        for box in ("gt", "rootnet"):
            assert {"ok", "problems", "warnings"} <= set(rep["splits"][p][box])
    assert rep["lines"] and rep["lines"][0].startswith("image sequence folders:")
    s11 = rep["subjects"]["11"]
    assert s11["test_images"] == rep["splits"]["p1"]["test_images"] > 0
    assert sum(s11["by_camera"].values()) == s11["test_images"] and len(s11["by_action"]) == 15
    assert main(["doctor", "--data", str(tiny)]) == 0
    assert "all splits can run" in capsys.readouterr().out


def test_nested_kaggle_layout(tiny, tmp_path, capsys):
    root = tmp_path / "download"
    shutil.copytree(tiny / "annotations", root / "annotations (1)" / "annotations")
    for seq in (tiny / "images").iterdir():
        group = {"s_09": "S9_ACT2_16", "s_11": "S11_ACT2_16"}.get(seq.name[:4], "train_images")
        shutil.copytree(seq, root / group / seq.name)
    shutil.copytree(tiny / "bbox_root", root / "more" / "bbox_root")
    rc, rep = _doctor(capsys, tmp_path)
    assert rc == 0 and rep["subjects"]["9"]["images_missing"] == 0
    s = load_split(tmp_path, 2, "rootnet")
    assert "S9_ACT2_16" in s.image_path[0] and "S11_ACT2_16" in s.image_path[-1]


def test_missing_parts_are_named(tiny, tmp_path, capsys):
    root = tmp_path / "h36m"
    shutil.copytree(tiny, root)
    (root / "annotations" / "Human36M_subject9_data.json").unlink()
    seqs = sorted((root / "images").glob("s_11_*"))
    imgs = sorted(seqs[0].glob("*.jpg"))
    imgs[0].unlink()                                                       # missing
    cv2.imwrite(str(sorted(seqs[1].glob("*.jpg"))[0]), np.zeros((10, 12, 3), np.uint8))   # wrong size
    bad = sorted(seqs[2].glob("*.jpg"))[0]
    bad.write_bytes(bad.read_bytes()[:300])                                # truncated
    rc, rep = _doctor(capsys, root)
    assert rc == 1 and not rep["ok"]
    p2 = rep["splits"]["p2"]
    assert not p2["gt"]["ok"] and any("Human36M_subject9_data.json" in m for m in p2["gt"]["problems"])
    s11 = rep["subjects"]["11"]
    assert (s11["images_missing"], s11["images_size_mismatch"], s11["images_unreadable"]) == (1, 1, 1)
    assert "12x10" in s11["examples"]["size_mismatch"][0]
    assert main(["doctor", "--data", str(root)]) == 1
    out = capsys.readouterr().out
    assert "CANNOT RUN" in out and imgs[0].name in out and "split(s) p1, p2 cannot run" in out


def test_bbox_root_gaps_fail_only_with_strict(tiny, tmp_path, capsys):
    root = tmp_path / "h36m"
    shutil.copytree(tiny, root)
    p = root / "bbox_root" / "bbox_root_human36m_output.json"
    entries = json.loads(p.read_text())
    p2_gt = load_split(root, 2, "gt")
    s9 = {int(i) for i in p2_gt.image_id[p2_gt.groups["subject"] == 9]}
    p.write_text(json.dumps([e for e in entries if e["image_id"] not in s9]))   # a Protocol-1 file
    rc, rep = _doctor(capsys, root)
    assert rc == 0
    assert rep["splits"]["p1"]["rootnet"]["ok"] and not rep["splits"]["p2"]["rootnet"]["ok"]
    assert "no bbox_root file covers all" in rep["splits"]["p2"]["rootnet"]["problems"][0]
    assert main(["doctor", "--data", str(root), "--json", "--strict"]) == 1
    capsys.readouterr()
    p.unlink()
    rc, rep = _doctor(capsys, root)
    assert rc == 0 and "no bbox_root file" in rep["splits"]["p1"]["rootnet"]["problems"][0]


def test_real_record_with_placeholder_image(tmp_path, capsys):
    # The released dummy set ships a 3024x4032 photo under this frame's name; the record declares 1000x1002.
    root = make_real_s11(tmp_path / "real")
    seq = root / "images" / "s_11_act_02_subact_01_ca_01"
    seq.mkdir(parents=True)
    cv2.imwrite(str(seq / "s_11_act_02_subact_01_ca_01_000001.jpg"), np.full((64, 48, 3), 128, np.uint8))
    rc, rep = _doctor(capsys, root)
    assert rc == 1
    assert rep["subjects"]["11"]["images_size_mismatch"] == 1
    assert "48x64, annotation says 1000x1002" in rep["splits"]["p1"]["gt"]["problems"][0]
    assert (rep["bbox_root"][str((root / "bbox_root" / "bbox_root_human36m_output.json").resolve())]["coverage"]["1"]
            == "1/1")


def test_protocol2_bbox_root_file_is_flagged_for_protocol1(tiny, tmp_path, capsys):
    data = tmp_path / "h36m"
    shutil.copytree(tiny, data)
    capsys.readouterr()
    assert _doctor(capsys, data)[1]["splits"]["p1"]["rootnet"]["warnings"] == []  # synthetic: one file by design
    (data / "pose3dbench_synthetic.json").unlink()  # now it looks like a real dataset folder
    rc, rep = _doctor(capsys, data)
    (warning,) = rep["splits"]["p1"]["rootnet"]["warnings"]
    assert "also holds S9 images: it is RootNet's Protocol-2 output" in warning
    assert "weights get bbox-root:h36m-p1" in warning and "--bbox-root 1=FILE" in warning
    assert rep["splits"]["p2"]["rootnet"]["warnings"] == [] and rc == 0  # a warning, not a failure
    # a Protocol-1 file (S11 entries only) beside it is named as the one to use
    src = next((data / "bbox_root").glob("*.json"))
    s11 = set(load_split(data, 1, "gt").image_id.tolist())
    p1 = data / "bbox_root_p1" / "bbox_root_human36m_output.json"
    p1.parent.mkdir()
    p1.write_text(json.dumps([r for r in json.loads(src.read_text()) if r["image_id"] in s11]))
    rep = _doctor(capsys, data)[1]
    (warning,) = rep["splits"]["p1"]["rootnet"]["warnings"]
    assert f"use {p1} for Protocol 1 (--bbox-root 1={p1})" in warning
    assert main(["doctor", "--data", str(data)]) == 0
    assert "    - warning: the default bbox_root file" in capsys.readouterr().out
