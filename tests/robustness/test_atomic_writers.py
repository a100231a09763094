"""Every writer that replaces a file: a failure in the middle of the write (a full disk) leaves the previous
file byte-identical and no temporary file behind (atomic writes everywhere).

``fail_writing(name)`` makes the write of any temporary file for ``name`` fail with ENOSPC after 64 bytes,
as a full disk does. A writer that writes the target in place is not affected by it and replaces the old
file: its test fails on the "previous file intact" check.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.paths import BYO
from tests.helpers.runs import base_argv, split_images

BUDGET = 64


class _FullDisk:
    """A file object whose writes fail with ENOSPC once ``budget`` bytes (or characters) are written."""

    def __init__(self, f, budget: int):
        self._f, self._budget = f, budget

    def write(self, data):
        if len(data) > self._budget:
            self._f.write(data[:self._budget])
            self._f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture
def fail_writing(monkeypatch):
    def arm(name: str) -> list[str]:
        real = os.fdopen
        hits: list[str] = []

        def fdopen(fd, *args, **kwargs):
            f = real(fd, *args, **kwargs)
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                return f
            if os.path.basename(path).startswith(f".{name}."):
                hits.append(path)
                return _FullDisk(f, BUDGET)
            return f

        monkeypatch.setattr(os, "fdopen", fdopen)
        return hits

    return arm


def assert_intact(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before, f"{path} was damaged by a failed write"
    left = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert not left, f"temporary files left behind: {left}"


def test_predictions_file(tmp_path, fail_writing):
    from pose3dbench.results.predictions import save_predictions

    path = tmp_path / "predictions" / "m__h36m__p2__gt.npz"
    ids = np.arange(5)
    args = dict(image_id=ids, coords_hm=np.zeros((5, 18, 3)), bbox=np.ones((5, 4)), root_cam=np.ones((5, 3)),
                pred_cam=np.ones((5, 18, 3)))
    meta = {"heatmap_size": [32, 32], "depth_bins": 8, "joint_set": "h36m18", "dataset": "h36m", "split": "p2",
            "root": "gt", "model": "m"}
    save_predictions(path, meta=meta, **args)
    before = path.read_bytes()
    hits = fail_writing(path.name)
    with pytest.raises(OSError, match="No space left"):
        save_predictions(path, meta=meta, **{**args, "pred_cam": np.full((5, 18, 3), 7.0)})
    assert_intact(path, before)
    assert hits


def test_resume_chunk(tmp_path, fail_writing):
    from pose3dbench.eval.resume import save_chunk as _save_chunk

    rows = [np.arange(4)]
    _save_chunk(tmp_path, rows, [np.zeros((4, 18, 3), np.float32)], [np.zeros((4, 18, 3), np.float32)])
    (path,) = tmp_path.glob("chunk_*.npz")
    before = path.read_bytes()
    hits = fail_writing(path.name)
    with pytest.raises(OSError, match="No space left"):
        _save_chunk(tmp_path, rows, [np.ones((4, 18, 3), np.float32)], [np.ones((4, 18, 3), np.float32)])
    assert_intact(path, before)
    assert hits


def test_results_json(dataset, tmp_path, run_cli, fail_writing):
    out = tmp_path / "out"
    assert run_cli(base_argv(dataset, out))[0] == 0
    path = out / "results.json"
    before = path.read_bytes()
    hits = fail_writing(path.name)
    rc, _, err = run_cli(base_argv(dataset, out, splits=("p1", "p2")))  # a new evaluation: results.json rewritten
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert_intact(path, before)
    assert hits


@pytest.fixture(scope="module")
def reported_run(synthetic_master, tmp_path_factory):
    """A finished run with its report (report.md/html, results.csv, figures)."""
    import torch

    from pose3dbench.cli import main

    out = tmp_path_factory.mktemp("reported") / "out"
    torch.set_num_threads(1)
    argv = [a for a in base_argv(synthetic_master, out) if a != "--no-report"]
    assert main(argv) == 0
    return out


@pytest.mark.parametrize("name", ["report.md", "report.html", "results.csv", "figure"])
def test_report_files(name, reported_run, run_cli, fail_writing):
    out = reported_run
    if name == "figure":
        name = sorted(p.name for p in out.glob("*.png"))[0]
    path = out / name
    before = path.read_bytes()
    hits = fail_writing(name)
    rc, _, err = run_cli(["report", "--out", out, "--no-dataset"])
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert_intact(path, before)
    assert hits


def test_weights_lock_file(tmp_path, monkeypatch, fail_writing):
    from pose3dbench.weights import cache

    monkeypatch.setenv("POSE3DBENCH_CACHE", str(tmp_path / "cache"))
    blob = tmp_path / "w.pth"
    blob.write_bytes(b"x" * 100)
    cache.record("convnextpose-s:h36m", blob, 100, "a" * 64, "test")
    path = cache.lock_path()
    before = path.read_bytes()
    hits = fail_writing(path.name)
    with pytest.raises(OSError, match="No space left"):
        cache.record("convnextpose-xs:h36m", blob, 100, "b" * 64, "test")
    assert_intact(path, before)
    assert hits


@pytest.mark.parametrize("which", ["annotation", "bbox_root", "marker", "image"])
def test_synth_output(which, dataset, fail_writing):
    """Regenerating a synthetic set (another seed) that fails mid-write keeps the previous file."""
    from pose3dbench.data.h36m.synthetic import generate
    from pose3dbench.errors import SynthError
    path = {
        "annotation": dataset / "annotations" / "Human36M_subject9_data.json",
        "bbox_root": dataset / "bbox_root" / "bbox_root_human36m_output.json",
        "marker": dataset / "pose3dbench_synthetic.json",
        "image": split_images(dataset, 9)[0],
    }[which]
    before = path.read_bytes()
    hits = fail_writing(path.name)
    with pytest.raises(SynthError, match="No space left"):
        generate(dataset, seed=9, size="tiny", workers=1)
    assert_intact(path, before)
    assert hits


@pytest.mark.parametrize("command", ["evaluate", "profile"])
def test_single_file_outputs(command, dataset, tmp_path, run_cli, fail_writing):
    path = tmp_path / "result.json"
    if command == "evaluate":
        argv = ["evaluate", "--data", dataset,
                "--predictions", dataset / "bbox_root" / "bbox_root_human36m_output.json",
                "--root", "rootnet", "--out", path]
    else:
        argv = ["profile", "--model", BYO, "--iters", "1", "--warmup", "0",
                "--threads", "1", "--no-memory", "--output", path]
    assert run_cli(argv)[0] == 0
    before = path.read_bytes()
    json.loads(before)
    hits = fail_writing(path.name)
    rc, _, err = run_cli(argv)
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert_intact(path, before)
    assert hits
