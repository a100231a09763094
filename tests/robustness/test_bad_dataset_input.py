"""Bad dataset input through `pose3dbench run`: each case ends in one clear error naming the file and
the fix, a non-zero exit code, no traceback, and no results.json that says the run is complete."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import cv2
import numpy as np

from tests.helpers.paths import REAL_FRAME
from tests.helpers.runs import assert_clean_failure, base_argv, rewrite_json, split_images


def test_truncated_jpeg(dataset, tmp_path, run_cli):
    img = split_images(dataset, 9)[3]
    img.write_bytes(img.read_bytes()[:1500])  # cut mid-scan: no end-of-image marker
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, str(img), "truncated", "re-extract")


def test_corrupt_jpeg_in_worker_process(dataset, tmp_path):
    """Header and end marker intact, scan data garbage: only decoding finds it, inside a DataLoader worker.

    Runs in a subprocess (as a user would) with --workers 1: the message must be the decoder's own,
    without the worker traceback torch wraps around it.
    """
    img = split_images(dataset, 11)[2]
    raw = img.read_bytes()
    garbage = np.random.default_rng(0).integers(0, 256, len(raw) - 602, dtype=np.uint8).tobytes()
    img.write_bytes(raw[:600] + garbage + b"\xff\xd9")
    out = tmp_path / "out"
    argv = base_argv(dataset, out, "--workers", "1")
    proc = subprocess.run([sys.executable, "-m", "pose3dbench", *argv], capture_output=True, text=True, timeout=900)
    assert_clean_failure(proc.returncode, proc.stderr, out, str(img), "cannot be decoded", "re-extract")
    # --debug shows the traceback (for bug reports), still with the clean message at its end
    proc = subprocess.run([sys.executable, "-m", "pose3dbench", "--debug", *argv], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and str(img) in proc.stderr


def test_missing_image(dataset, tmp_path, run_cli):
    img = split_images(dataset, 9)[0]
    img.unlink()
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, str(img), "missing", "extract the Human3.6M images")


def test_image_size_contradicts_annotation_real_frame(tmp_path, run_cli):
    """The real S11 record (1000x1002) with a 3024x4032 photo under its file name, as the
    MobileHumanPose dummy data shipped it (tests/fixtures/h36m-real/README.md)."""
    root = tmp_path / "h36m"
    ann = root / "annotations"
    ann.mkdir(parents=True)
    data = json.loads((REAL_FRAME / "annotations" / "Dummy_subject1_data.json").read_text())
    for im in data["images"]:
        im["subject"] = 11
    (ann / "Human36M_subject11_data.json").write_text(json.dumps(data))
    for kind in ("camera", "joint_3d"):
        shutil.copy(REAL_FRAME / "annotations" / f"Dummy_subject1_{kind}.json", ann / f"Human36M_subject11_{kind}.json")
    img = root / "images" / data["images"][0]["file_name"]
    img.parent.mkdir(parents=True)
    assert cv2.imwrite(str(img), np.full((4032, 3024, 3), 90, np.uint8))
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(root, out, splits=("p1",)))
    assert_clean_failure(rc, err, out, str(img), "3024x4032", "1000x1002", "replace them with the real")


def test_malformed_json(dataset, tmp_path, run_cli):
    path = dataset / "annotations" / "Human36M_subject11_data.json"
    path.write_text(path.read_text()[:-40])
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, str(path), "not valid JSON", "re-download")


def test_subject_annotation_file_missing(dataset, tmp_path, run_cli):
    (dataset / "annotations" / "Human36M_subject9_joint_3d.json").unlink()
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, "Human36M_subject9_joint_3d.json", "not found below",
                         "copy the 3DMPPE annotation")


def test_bbox_root_missing_ids(dataset, tmp_path, run_cli):
    path = dataset / "bbox_root" / "bbox_root_human36m_output.json"
    entries = json.loads(path.read_text())
    dropped = entries[5]["image_id"]
    path.write_text(json.dumps(entries[:5] + entries[6:]))
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, roots=("rootnet",)))
    assert_clean_failure(rc, err, out, str(path), "no entry for 1 of", str(dropped), "RootNet output made for")


def test_bbox_root_entry_with_nan(dataset, tmp_path, run_cli):
    path = dataset / "bbox_root" / "bbox_root_human36m_output.json"
    entries = json.loads(path.read_text())
    entries[2]["root_cam"][2] = math.nan
    path.write_text(json.dumps(entries))  # json writes NaN, as numpy-based tools do
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, roots=("rootnet",)))
    assert_clean_failure(rc, err, out, str(path), "NaN", str(entries[2]["image_id"]), "regenerate")


def test_camera_r_is_not_a_rotation(dataset, tmp_path, run_cli):
    path = dataset / "annotations" / "Human36M_subject11_camera.json"

    def scale(cams):
        cams["2"]["R"] = (np.asarray(cams["2"]["R"]) * 1.5).tolist()

    rewrite_json(path, scale)
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, str(path), "camera 2 R is not a rotation", "re-download")


def test_empty_split_after_filtering(dataset, tmp_path, run_cli):
    """No S11 frame passes the test stride (frame_idx % 64 == 0): Protocol 1 has nothing to evaluate."""
    path = dataset / "annotations" / "Human36M_subject11_data.json"

    def shift(obj):
        for im in obj["images"]:
            im["frame_idx"] = im["frame_idx"] * 2 + 1

    rewrite_json(path, shift)
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, splits=("p1",)))
    assert_clean_failure(rc, err, out, str(path), "no test images", "right annotation files")


def test_degenerate_gt_boxes_are_counted_not_silent(dataset, tmp_path, run_cli):
    """Skipping degenerate GT boxes is the protocol; the count shows in the log and in results.json."""
    path = dataset / "annotations" / "Human36M_subject9_data.json"
    test_ids = []

    def degenerate(obj):
        keep = {im["id"] for im in obj["images"] if im["frame_idx"] % 64 == 0}
        for a in obj["annotations"]:
            if a["image_id"] in keep and len(test_ids) < 3:
                a["bbox"] = [a["bbox"][0], a["bbox"][1], 0.0, 0.0]
                test_ids.append(a["image_id"])

    rewrite_json(path, degenerate)
    out = tmp_path / "out"
    rc, stdout, err = run_cli(base_argv(dataset, out))
    assert rc == 0, err
    assert "3 skipped: degenerate bbox" in stdout
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is True
    (ev,) = results["evaluations"]
    assert ev["skipped"] == {"degenerate_bbox": 3}
    with np.load(out / ev["predictions"]) as z:
        assert ev["num_samples"] == len(z["image_id"])
        assert not set(test_ids) & set(z["image_id"].tolist())


def test_failure_after_finished_evaluations_leaves_results_marked_incomplete(dataset, tmp_path, run_cli):
    """Protocol 1 (S11) finishes, then Protocol 2 meets a missing S9 image: the results.json written so far
    keeps the finished evaluation (a re-run re-uses it) but says complete: false."""
    img = split_images(dataset, 9)[1]
    img.unlink()
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, splits=("p1", "p2")))
    assert_clean_failure(rc, err, out, str(img), "missing")
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is False
    assert [(e["dataset"], e["split"], e["root"]) for e in results["evaluations"]] == [("h36m", "p1", "gt")]
