"""No lost data, no stale numbers, no tracebacks on ordinary mistakes.

Commands write only into folders (and files) they wrote themselves; re-used results are keyed on the data
they depend on; ``--force`` keeps the previous results until the new ones are complete; one run per output
folder; inputs that would give silently wrong numbers are refused; ordinary mistakes end in one message that
blames the right thing. Each docstring says what its test guards against. Runs go through
``pose3dbench.cli.main`` in-process (``run_cli``) or, where a second process or a real pipe is the point,
through ``python -m pose3dbench`` in a subprocess.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.helpers.paths import BYO, tiny_spec
from tests.helpers.runs import (assert_clean_failure, base_argv, child_env, results_look_complete, rewrite_json,
                                split_images)

VERY_SLOW = tiny_spec("build_very_slow")
INTERRUPTING = tiny_spec("build_interrupting")


def tree(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (relative path -> sha256): what a refused command must leave untouched."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def kaggle_nested(dataset: Path, root: Path) -> Path:
    """The Kaggle layout of a dataset: ``annotations (1)/annotations/``, images and the RootNet file beside."""
    (root / "annotations (1)").mkdir(parents=True)
    shutil.copytree(dataset / "annotations", root / "annotations (1)" / "annotations")
    shutil.copytree(dataset / "images", root / "images")
    shutil.copytree(dataset / "bbox_root", root / "bbox_root")
    return root


# ---------------------------------------------------------------------------------------------------------
# 1. commands that write refuse folders (and files) they did not write themselves


def test_synth_refuses_a_real_dataset_whatever_its_nesting(dataset, tmp_path, run_cli):
    """synth refuses a real dataset in any nesting (Kaggle's ``annotations (1)/annotations/``), not only one with
    D/annotations/: its images and RootNet file stay untouched."""
    real = kaggle_nested(dataset, tmp_path / "kaggle-h36m")
    before = tree(real)
    rc, _, err = run_cli(["synth", "--out", real])
    assert_clean_failure(rc, err, real, str(real), "did not generate", "'annotations (1)'", "new or empty folder")
    assert tree(real) == before, "synth changed files of a real dataset"
    # what synth wrote itself it may write again
    own = tmp_path / "own"
    assert run_cli(["synth", "--out", own])[0] == 0
    assert run_cli(["synth", "--out", own, "--seed", "1"])[0] == 0


def test_synth_refuses_a_folder_with_any_other_file(tmp_path, run_cli):
    """synth refuses a folder holding any file it did not write (not only annotation files)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("my thesis")
    rc, _, err = run_cli(["synth", "--out", folder])
    assert_clean_failure(rc, err, folder, str(folder), "'thesis.tex'", "new or empty folder")
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]


def test_run_refuses_an_out_folder_that_holds_a_dataset(dataset, tmp_path, run_cli):
    """`run --out` refuses a dataset folder (it would write results.json, predictions/ and the report into it);
    the output of an earlier pose3dbench, without the marker file, is still its own."""
    real = kaggle_nested(dataset, tmp_path / "kaggle-h36m")
    before = tree(real)
    rc, _, err = run_cli(base_argv(dataset, real))
    assert_clean_failure(rc, err, real, str(real), "did not generate", "pose3dbench_output.json", "new or empty folder")
    assert tree(real) == before
    # the output of an older pose3dbench (no marker yet: only what `run` writes) is still its own
    out = tmp_path / "out"
    assert run_cli([a for a in base_argv(dataset, out) if a != "--no-report"])[0] == 0
    (out / "pose3dbench_output.json").unlink()
    rc, stdout, err = run_cli(base_argv(dataset, out, splits=("p1",)))
    assert rc == 0, err
    assert "output of an earlier pose3dbench run" in stdout and (out / "pose3dbench_output.json").is_file()


@pytest.mark.parametrize("command", ["evaluate", "profile"])
def test_single_file_outputs_never_replace_a_foreign_file(command, dataset, tmp_path, run_cli):
    """`evaluate --out` / `profile --output` replace only a file they wrote, never another one (here a camera
    file)."""
    victim = dataset / "annotations" / "Human36M_subject9_camera.json"
    before = victim.read_bytes()
    if command == "evaluate":
        argv = ["evaluate", "--data", dataset,
                "--predictions", dataset / "bbox_root" / "bbox_root_human36m_output.json",
                "--root", "rootnet", "--out", victim]
        option = "--out"
    else:
        argv = ["profile", "--model", BYO, "--iters", "1", "--warmup", "0",
                "--threads", "1", "--no-memory", "--output", victim]
        option = "--output"
    rc, _, err = run_cli(argv)
    assert_clean_failure(rc, err, tmp_path, option, str(victim), "replaces only files it wrote", "new file name")
    assert victim.read_bytes() == before
    # its own earlier output it does replace
    own = tmp_path / "own.json"
    argv[-1] = own
    assert run_cli(argv)[0] == 0 and run_cli(argv)[0] == 0


# ---------------------------------------------------------------------------------------------------------
# 2. re-use is keyed on the data the numbers depend on, and said


def test_fixed_annotation_file_is_not_served_with_the_old_numbers(dataset, tmp_path, run_cli):
    """Re-use is keyed on the content of the data files (their fingerprint), not the dataset path: a fixed joint
    file is recomputed, and the log says why."""
    out = tmp_path / "out"
    argv = base_argv(dataset, out)
    rc, _, err = run_cli(argv)
    assert rc == 0, err
    first = json.loads((out / "results.json").read_text())["evaluations"][0]

    rc, stdout, err = run_cli(argv)  # nothing changed: re-used, and said so
    assert rc == 0, err
    assert "re-using the evaluation" in stdout and "same model, settings and data" in stdout

    joints = dataset / "annotations" / "Human36M_subject9_joint_3d.json"

    def move_wrist(obj):  # the "fix": a test frame's joint moves by 300 mm
        frames = obj["2"]["1"]
        frames["0"][16] = [v + 300.0 for v in frames["0"][16]]

    rewrite_json(joints, move_wrist)
    rc, stdout, err = run_cli(argv)
    assert rc == 0, err
    assert "recomputing, the data changed" in stdout and "Human36M_subject9_joint_3d.json changed" in stdout
    again = json.loads((out / "results.json").read_text())["evaluations"][0]
    fresh_out = tmp_path / "fresh"
    assert run_cli(base_argv(dataset, fresh_out))[0] == 0
    fresh = json.loads((fresh_out / "results.json").read_text())["evaluations"][0]
    assert again["total_mm"] == fresh["total_mm"] != first["total_mm"]
    # results.json records what the numbers depend on
    files = again["data"]["files"]
    assert set(files) == {"S9 data", "S9 camera", "S9 joint_3d", "S11 data", "S11 camera", "S11 joint_3d"}
    assert all(len(rec["sha256"]) == 64 and rec["size"] > 0 for rec in files.values())
    assert files["S9 joint_3d"]["sha256"] == hashlib.sha256(joints.read_bytes()).hexdigest()
    assert again["data"]["images"]["count"] == again["num_samples"]


def test_resume_chunks_are_not_reused_after_an_image_changed(dataset, tmp_path, run_cli, monkeypatch):
    """Resume chunks are keyed on the images too, not only image ids and boxes: a re-extracted (different) image
    does not keep the predictions of the old one."""
    monkeypatch.setenv("POSE3DBENCH_CHUNK_SIZE", "8")
    out = tmp_path / "out"
    argv = base_argv(dataset, out, model=INTERRUPTING)
    # forward 1 checks the model interface; Ctrl-C in forward 4 (the 3rd batch): 2 chunks of 8 rows are saved
    monkeypatch.setenv("ROBUST_INTERRUPT_AT", "4")
    rc, _, err = run_cli(argv)
    assert rc == 130, err
    assert len(list((out / "partial").rglob("chunk_*.npz"))) == 2
    monkeypatch.delenv("ROBUST_INTERRUPT_AT")

    for img in split_images(dataset, 9):  # Protocol 2 starts with S9: the saved chunks hold S9 rows
        pixels = cv2.imread(str(img))
        assert cv2.imwrite(str(img), 255 - pixels)  # re-extracted: same name and size, other content (and mtime)
    rc, stdout, err = run_cli(argv)
    assert rc == 0, err
    assert "discarding 2 saved chunk(s)" in stdout and "the data files or images" in stdout
    fresh = tmp_path / "fresh"
    assert run_cli(base_argv(dataset, fresh, model=INTERRUPTING))[0] == 0
    name = json.loads((out / "results.json").read_text())["evaluations"][0]["predictions"]
    with np.load(out / name) as a, np.load(fresh / name) as b:
        np.testing.assert_array_equal(a["coords_hm"], b["coords_hm"])


def test_report_does_not_pair_old_numbers_with_changed_data(dataset, tmp_path, run_cli):
    """`pose3dbench report` re-reads the dataset for the qualitative panel: a dataset changed since the run is not
    paired with the run's numbers, and the report says so."""
    out = tmp_path / "out"
    assert run_cli(base_argv(dataset, out))[0] == 0
    rewrite_json(dataset / "annotations" / "Human36M_subject9_joint_3d.json",
                 lambda obj: obj["2"]["1"]["0"][0].__setitem__(2, obj["2"]["1"]["0"][0][2] + 50.0))
    rc, _, err = run_cli(["report", "--out", out, "--resamples", "100"])
    assert rc == 0, err
    assert "changed since the run" in err and "Human36M_subject9_joint_3d.json changed" in err
    assert "building without the qualitative panel" in err


# ---------------------------------------------------------------------------------------------------------
# 3. --force keeps the previous results until the new ones are complete


def test_force_on_a_full_disk_keeps_the_previous_results(dataset, tmp_path, run_cli, monkeypatch):
    """--force computes beside the previous results and replaces them only once complete: a full disk during
    the new run leaves the previous results.json and predictions as they were."""
    out = tmp_path / "out"
    argv = base_argv(dataset, out, splits=("p1", "p2"))
    assert run_cli(argv)[0] == 0
    before = tree(out)
    assert any(k.startswith("predictions/") for k in before)

    def full_disk(file, *a, **k):
        file.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    rc, _, err = run_cli([*argv, "--force"])
    assert rc != 0
    assert {k: v for k, v in tree(out).items() if not k.startswith(".")} == \
        {k: v for k, v in before.items() if not k.startswith(".")}, "--force damaged the previous run"
    assert_clean_failure(rc, err, tmp_path / "nothing-here", "No space left on device", str(out / "results.json"),
                         "unchanged")
    monkeypatch.undo()

    rc, stdout, err = run_cli([*argv, "--force"])  # with room, --force replaces the run as a whole
    assert rc == 0, err
    assert "replace the previous ones" in stdout
    assert results_look_complete(out) and not (out / ".force-staging").exists()
    results = json.loads((out / "results.json").read_text())
    assert all((out / ev["predictions"]).is_file() for ev in results["evaluations"])


# ---------------------------------------------------------------------------------------------------------
# 4. one run per output folder


def test_second_run_on_the_same_out_is_refused_with_the_holder(dataset, tmp_path, run_cli):
    """A second run on an --out folder in use is refused, naming the process that holds it (two runs would race
    on the same files)."""
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "pose3dbench", *base_argv(dataset, out, model=VERY_SLOW)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        deadline = time.monotonic() + 600  # a hang guard, not a speed limit
        while not (out / "results.json").exists():  # written once the first run holds the folder
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.1)
        rc, _, err = run_cli(base_argv(dataset, out))
        assert_clean_failure(rc, err, tmp_path / "nothing-here", str(out), "in use by another pose3dbench",
                             f"process {first.pid}", "pass another --out")
        assert first.poll() is None, "the first run ended before the second one was refused (test too slow?)"
    finally:
        stdout, stderr = first.communicate(timeout=900)
    assert first.returncode == 0, stderr
    assert results_look_complete(out)
    assert run_cli(base_argv(dataset, out))[0] == 0, "the lock outlived its process"


# ---------------------------------------------------------------------------------------------------------
# 5. silently wrong numbers


def test_negative_limit_is_refused(dataset, tmp_path, run_cli):
    """--limit -1 is refused (as a Python slice it would evaluate all samples but the last)."""
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, "--limit", "-1"))
    assert_clean_failure(rc, err, out, "argument --limit", "integer >= 0", "'-1'")
    assert not out.exists()


def test_integer_tensor_for_float_weights_is_refused(dataset, lpski_checkpoint, tmp_path, run_cli):
    """An int64 tensor where the model has float32 is refused, not converted on load (another network)."""
    ck = torch.load(lpski_checkpoint, weights_only=True)
    key = next(k for k, v in ck["network"].items() if v.is_floating_point() and v.dim() == 4)
    ck["network"][key] = (ck["network"][key] * 100).to(torch.int64)
    path = tmp_path / "int64.pth"
    torch.save(ck, path)
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=f"mobilehumanpose-lpski={path}"))
    assert_clean_failure(rc, err, out, str(path), key[len("module."):], "int64 in the file, float32 in the model",
                         "original float checkpoint")


def test_half_precision_checkpoint_loads_and_says_so(dataset, lpski_checkpoint, tmp_path, run_cli):
    """float16 -> float32 is allowed, and said."""
    ck = torch.load(lpski_checkpoint, weights_only=True)
    floats = [k for k, v in ck["network"].items() if v.is_floating_point()]
    ck["network"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["network"].items()}
    path = tmp_path / "half.pth"
    torch.save(ck, path)
    out = tmp_path / "out"
    rc, stdout, err = run_cli(base_argv(dataset, out, "--limit", "4", model=f"mobilehumanpose-lpski={path}"))
    assert rc == 0, err
    assert f"{len(floats)} tensor(s) stored as float16 are converted to float32" in stdout


# ---------------------------------------------------------------------------------------------------------
# 6. no tracebacks on ordinary mistakes


@pytest.mark.parametrize("argv, option, allowed", [
    (["run", "--batch-size", "0"], "--batch-size", "integer >= 1"),
    (["run", "--workers", "-1"], "--workers", "integer >= 0"),
    (["run", "--threads", "-1"], "--threads", "integer >= 1"),
    (["run", "--threads", "0"], "--threads", "integer >= 1"),
    (["run", "--profile-iters", "0"], "--profile-iters", "integer >= 1"),
    (["profile", "--model", "posenet-r50", "--batch-size", "0"], "--batch-size", "integer >= 1"),
    (["profile", "--model", "posenet-r50", "--threads", "-2"], "--threads", "integer >= 1"),
    (["synth", "--seed", "-1"], "--seed", "integer from 0 to"),
    (["report", "--seed", "-3"], "--seed", "integer from 0 to"),
])
def test_options_are_validated_where_parsed(argv, option, allowed, dataset, tmp_path, run_cli):
    """Out-of-range integers are refused where parsed, with the allowed range: not a ZeroDivisionError
    (--batch-size 0), a torch/numpy traceback (--workers/--threads -1, synth --seed -1) or silently ignored
    (--threads 0)."""
    out = tmp_path / "out"
    if argv[0] == "run":
        argv = base_argv(dataset, out) + argv[1:]
    elif argv[0] in ("synth", "report"):
        argv = [*argv, "--out", out]
    rc, _, err = run_cli(argv)
    assert_clean_failure(rc, err, out, f"argument {option}", allowed, "--help")
    assert rc == 2 and not out.exists()


def test_nan_in_joint_file_names_file_and_record(dataset, tmp_path, run_cli):
    """NaN in a joint file names the file and the record (not a ValueError traceback from the results
    validator)."""
    joints = dataset / "annotations" / "Human36M_subject11_joint_3d.json"
    obj = json.loads(joints.read_text())
    obj["3"]["2"]["0"][5][1] = math.nan
    joints.write_text(json.dumps(obj))  # json writes NaN, as numpy-based tools do
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, splits=("p1",)))
    assert_clean_failure(rc, err, out, str(joints), "action 3, subaction 2, frame 0", "joint 5", "NaN/inf",
                         "re-download")


def test_output_into_a_closed_pipe_ends_quietly(dataset, tmp_path):
    """`pose3dbench evaluate ... | head` ends quietly with 141 (no BrokenPipeError traceback, no 'Exception
    ignored')."""
    argv = ["evaluate", "--data", str(dataset), "--predictions",
            str(dataset / "bbox_root" / "bbox_root_human36m_output.json"), "--root", "rootnet"]
    proc = subprocess.Popen([sys.executable, "-m", "pose3dbench", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env())
    proc.stdout.close()  # the reader is gone before anything was written
    err = proc.stderr.read().decode()
    proc.wait(timeout=600)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


# ---------------------------------------------------------------------------------------------------------
# 7. messages that blame the right thing


@pytest.mark.parametrize("what", ["image and annotation", "image only", "annotation only"])
def test_duplicated_image_entry_is_blamed_on_the_data_file(what, dataset, tmp_path, run_cli):
    """A duplicated image (or annotation) entry is blamed on the data file, not on the tool's own predictions
    file, and an image entry alone is not silently kept."""
    path = dataset / "annotations" / "Human36M_subject9_data.json"
    obj = json.loads(path.read_text())
    im = next(i for i in obj["images"] if i["frame_idx"] % 64 == 0)
    if what != "annotation only":
        obj["images"].append(dict(im))
    if what != "image only":
        obj["annotations"].append(dict(next(a for a in obj["annotations"] if a["image_id"] == im["id"])))
    path.write_text(json.dumps(obj))
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, str(path), "more than once", f"id {im['id']}, 2 times", "remove the duplicates")
    assert "predictions" not in err


def test_tar_archive_given_as_checkpoint(dataset, lpski_checkpoint, tmp_path, run_cli):
    """A tar archive given as a checkpoint is called a tar archive, with the command to unpack it (not 'probably
    truncated or corrupt: fetch it again')."""
    archive = tmp_path / "MobileHumanPose_LPSKI.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(lpski_checkpoint, arcname="snapshot_lpski.pth.tar")
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=f"mobilehumanpose-lpski={archive}"))
    assert_clean_failure(rc, err, out, str(archive), "is a tar archive", "snapshot_lpski.pth.tar", "tar -xf")
    assert "truncated" not in err and "fetch" not in err


@pytest.mark.parametrize("name", ["convnextpose_xs", "ConvNeXtPose-XS", "CONVNEXTPOSE XS"])
def test_model_name_close_to_a_registered_one_is_suggested(name, dataset, tmp_path, run_cli):
    """A model name close to a registered one gets the registered name suggested."""
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=name))
    assert_clean_failure(rc, err, out, repr(name), "Did you mean 'convnextpose-xs'?")


def test_dangling_symlink_is_called_a_broken_link(dataset, tmp_path, run_cli):
    """A dangling symbolic link is called a broken link, with its target (not a missing image)."""
    img = split_images(dataset, 11)[1]
    target = tmp_path / "elsewhere" / img.name
    img.unlink()
    img.symlink_to(target)
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, str(img), "broken symbolic link", str(target))
