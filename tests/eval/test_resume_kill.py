"""Interrupted runs and determinism of `pose3dbench run` (CPU).

A run killed with SIGKILL mid-inference (after at least one chunk under <out>/partial) and run again
gives the results.json (timings and creation time aside) and predictions of an uninterrupted run,
and the re-run computes only what was missing. Ctrl-C (SIGINT) exits 130 with a message, no
traceback, and leaves a resumable state (SIGTERM too). Two runs give identical predictions and metrics.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3dbench.cli import main as cli_main
from pose3dbench.data.h36m.synthetic import generate
from tests.helpers.paths import BYO, tiny_spec
from tests.helpers.runs import child_env, comparable_results

SLOW = tiny_spec("build_slow")
CHUNK = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("resume") / "h36m", seed=7, size="tiny")


def _argv(data: Path, out: Path, workers: int = 0) -> list[str]:
    return ["run", "--data", str(data), "--out", str(out), "--model", SLOW, "--split", "p2", "--root", "gt",
            "--batch-size", "4", "--workers", str(workers), "--threads", "1", "--no-profile", "--no-report",
            "--no-progress"]


def _env() -> dict:
    return child_env(POSE3DBENCH_CHUNK_SIZE=str(CHUNK), OMP_NUM_THREADS="1")


def _start(argv):
    return subprocess.Popen([sys.executable, "-m", "pose3dbench", *argv], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _run(argv) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pose3dbench", *argv], env=_env(), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    return proc


def _wait_for_chunk(proc, out: Path, timeout: float = 600.0) -> list[Path]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        chunks = list((out / "partial").glob("*/chunk_*.npz"))
        if chunks:
            return chunks
        assert proc.poll() is None, f"run ended before any chunk was saved: {proc.communicate()}"
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("no chunk file appeared")


def _predictions(out: Path, results: dict) -> dict[str, dict[str, np.ndarray]]:
    preds = {}
    for ev in results["evaluations"]:
        with np.load(out / ev["predictions"]) as z:
            preds[ev["predictions"]] = {k: z[k] for k in z.files}
    return preds


def _assert_same_run(out_a: Path, out_b: Path) -> None:
    ra = json.loads((out_a / "results.json").read_text())
    rb = json.loads((out_b / "results.json").read_text())
    assert ra["complete"] is True and rb["complete"] is True
    assert comparable_results(ra) == comparable_results(rb)
    pa, pb = _predictions(out_a, ra), _predictions(out_b, rb)
    assert pa.keys() == pb.keys() and pa
    for name in pa:
        assert pa[name].keys() == pb[name].keys()
        for key in pa[name]:
            if key == "meta":
                continue
            np.testing.assert_array_equal(pa[name][key], pb[name][key], err_msg=f"{name}:{key}")


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    _run(_argv(data, out))
    return out


def test_sigkill_mid_inference_then_resume(data, reference, tmp_path):
    out = tmp_path / "out"
    proc = _start(_argv(data, out))
    _wait_for_chunk(proc, out)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    results = out / "results.json"
    assert not results.exists() or json.loads(results.read_text())["complete"] is False
    assert not list(out.glob("predictions/*.npz")), "killed before the split finished, yet predictions exist"
    saved_rows = sum(len(np.load(p)["rows"]) for p in (out / "partial").glob("*/chunk_*.npz"))
    assert saved_rows >= CHUNK

    _run(_argv(data, out))
    _assert_same_run(reference, out)
    (ev,) = json.loads((out / "results.json").read_text())["evaluations"]
    assert ev["timing"]["computed_images"] == ev["num_samples"] - saved_rows, "the re-run did not resume"
    assert not (out / "partial").exists(), "resume state outlived the run"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_stops_cleanly_and_resumes(data, reference, tmp_path, sig):
    """Ctrl-C, and SIGTERM as sent by docker stop / SLURM preemption: exit 130, resumable."""
    out = tmp_path / "out"
    proc = _start(_argv(data, out, workers=1))
    _wait_for_chunk(proc, out)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "re-run resumes" in stderr
    assert "Traceback" not in stderr, stderr
    assert json.loads((out / "results.json").read_text())["complete"] is False
    chunks = list((out / "partial").glob("*/chunk_*.npz"))
    assert chunks
    _run(_argv(data, out))
    _assert_same_run(reference, out)


def test_two_runs_identical(data, tmp_path):
    """Same inputs, same CPU: bitwise identical predictions and metrics (a zoo model, in-process)."""
    torch.set_num_threads(1)
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        argv = ["run", "--data", str(data), "--out", str(out), "--model", "mobilehumanpose-lpski", "--split",
                "p1", "p2", "--root", "gt", "rootnet", "--limit", "12", "--batch-size", "6", "--workers", "0",
                "--no-profile", "--no-report", "--no-progress"]
        assert cli_main(argv) == 0
        outs.append(out)
    _assert_same_run(*outs)


def _byo_argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--data", str(data), "--out", str(out), "--model", BYO, "--split", "p2", "--root", "gt",
            "--batch-size", "4", "--workers", "0", "--threads", "1", "--no-profile", "--no-report", "--no-progress",
            *extra]


def _interrupt_after(monkeypatch, batches: int):
    from pose3dbench.eval import inference as runner

    real = runner.PoseInference._forward
    calls = {"n": 0}

    def forward(self, x):
        calls["n"] += 1
        if calls["n"] > batches:
            raise KeyboardInterrupt
        return real(self, x)

    monkeypatch.setattr(runner.PoseInference, "_forward", forward)
    return lambda: monkeypatch.setattr(runner.PoseInference, "_forward", real)


def _tamper_chunks(out: Path) -> np.ndarray:
    """Overwrite every resume chunk's predictions with 7.0, with a matching sha256 (a chunk that is internally
    consistent, so only the fingerprint can keep it out); returns the rows they hold."""
    from pose3dbench.eval.resume import array_digest

    chunks = sorted((out / "partial").glob("*/chunk_*.npz"))
    assert chunks and all((c.parent / "fingerprint.json").exists() for c in chunks)
    all_rows = []
    for chunk in chunks:
        with np.load(chunk) as z:
            rows = z["rows"]
        coords = np.full((len(rows), 18, 3), 7.0, np.float32)
        np.savez(chunk, rows=rows, coords=coords, coords_noflip=coords,
                 sha256=np.array(array_digest(rows, coords, coords)))
        all_rows.append(rows)
    return np.concatenate(all_rows)


def test_chunks_of_another_run_are_never_mixed_in(data, tmp_path, monkeypatch, capsys):
    """Resume chunks are re-used only for the same model, samples and settings, and --force drops them."""
    torch.set_num_threads(1)
    monkeypatch.setenv("POSE3DBENCH_CHUNK_SIZE", "8")
    ref = tmp_path / "ref"
    assert cli_main(_byo_argv(data, ref)) == 0
    out = tmp_path / "out"
    # 1. a chunk without a fingerprint (another model's, an older version's): discarded
    stale = out / "partial" / "tiny-byo__h36m__p2__gt__flip1"
    stale.mkdir(parents=True)
    np.savez(stale / "chunk_0000000_0000007.npz", rows=np.arange(8), coords=np.full((8, 18, 3), 7.0, np.float32),
             coords_noflip=np.full((8, 18, 3), 7.0, np.float32))
    assert cli_main(_byo_argv(data, out)) == 0
    _assert_same_run(ref, out)
    assert not (ref / "partial").exists() and not (out / "partial").exists(), "resume state outlived the run"
    # 2. an interrupted run of the same model leaves chunks with its fingerprint; tamper with them
    out = tmp_path / "out2"
    restore = _interrupt_after(monkeypatch, 3)
    assert cli_main(_byo_argv(data, out)) == 130
    restore()
    rows = _tamper_chunks(out)
    assert len(rows) == 12, "3 batches of 4: one chunk of 8 and, saved on the interrupt, one of 4"
    # --force recomputes everything, chunks included
    assert cli_main(_byo_argv(data, out, "--force")) == 0
    _assert_same_run(ref, out)
    # 3. a run whose fingerprint matches does re-use the chunk (the test above is not vacuous)
    out = tmp_path / "out3"
    restore = _interrupt_after(monkeypatch, 3)
    assert cli_main(_byo_argv(data, out)) == 130
    restore()
    rows = _tamper_chunks(out)
    assert cli_main(_byo_argv(data, out)) == 0
    (ev,) = json.loads((out / "results.json").read_text())["evaluations"]
    with np.load(out / ev["predictions"]) as z:
        assert np.all(z["coords_hm"][rows] == 7.0)
    capsys.readouterr()
