"""Sharded evaluation: shard arithmetic, and `torchrun --nproc_per_node=2 -m pose3dbench run` with gloo on
CPU giving the metrics and predictions of the 1-process run (uneven tail, RootNet model roots included)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pose3dbench.data.h36m.synthetic import generate
from pose3dbench.distributed import DistContext, setup, shard_batches
from tests.helpers.paths import BYO as POSE
from tests.helpers.paths import tiny_spec
from tests.helpers.runs import child_env, comparable_results

ROOT = tiny_spec("build_rootnet")


@pytest.mark.parametrize("n,bs,world", [(0, 4, 2), (1, 4, 3), (27, 4, 2), (28, 4, 2), (30, 4, 3), (5, 2, 8),
                                        (101, 7, 4), (64, 64, 2)])
def test_shards_cover_every_row_once_in_whole_batches(n, bs, world):
    rows = np.arange(100, 100 + n) * 3  # any row ids, in the order a 1-process run would batch them
    parts = [shard_batches(rows, bs, r, world) for r in range(world)]
    np.testing.assert_array_equal(np.concatenate(parts), rows)  # no drops, no duplicates, order kept
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
    for p, s in zip(parts, starts):
        assert s % bs == 0, "a shard starts inside a batch: its batches would differ from a 1-process run"
    sizes = [-(-len(p) // bs) for p in parts]
    assert max(sizes) - min(sizes) <= 1, f"batches per rank too uneven: {sizes}"


def test_single_process_context_is_a_no_op(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = setup("cpu")
    assert not ctx.enabled and ctx.is_main and ctx == DistContext()
    assert ctx.broadcast({"a": 1}) == {"a": 1}
    rows, a = ctx.all_gather_rows(np.array([3, 1]), np.ones((2, 2)))
    assert rows.tolist() == [3, 1] and a.shape == (2, 2)
    np.testing.assert_array_equal(ctx.shard(np.arange(10), 3), np.arange(10))


def test_world_size_without_torchrun_env_is_a_clear_error(monkeypatch):
    from pose3dbench.errors import DistributedError
    monkeypatch.setenv("WORLD_SIZE", "2")
    for key in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(DistributedError, match="torchrun"):
        setup("cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _argv(data: Path, out: Path) -> list[str]:
    # 27 samples per split in batches of 4: 7 batches, split 3/4 across 2 ranks, last batch of 3
    return ["run", "--data", str(data), "--out", str(out), "--model", ROOT, "--model", POSE,
            "--split", "p1", "p2", "--root", "gt", "rootnet-model", "--limit", "27", "--batch-size", "4",
            "--workers", "0", "--threads", "1", "--device", "cpu", "--no-profile", "--no-progress"]


def _env() -> dict:
    env = child_env(OMP_NUM_THREADS="1")
    return {k: v for k, v in env.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}


def _torchrun(argv: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           f"--master_port={_free_port()}", "-m", "pose3dbench", *argv]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("dist") / "h36m", seed=11, size="tiny")


def test_two_gloo_ranks_equal_one_process(data, tmp_path):
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    proc = subprocess.run([sys.executable, "-m", "pose3dbench", *_argv(data, single)], env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    proc = _torchrun(_argv(data, sharded))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("results:") == 1, "only rank 0 prints the summary"
    assert "on 2 ranks" in proc.stdout

    a = json.loads((single / "results.json").read_text())
    b = json.loads((sharded / "results.json").read_text())
    assert b["complete"] is True and len(b["evaluations"]) == 4 and len(b["root_evaluations"]) == 4
    assert comparable_results(a) == comparable_results(b)
    for ev in a["evaluations"] + a["root_evaluations"]:
        with np.load(single / ev["predictions"]) as za, np.load(sharded / ev["predictions"]) as zb:
            assert za.files == zb.files
            for key in za.files:
                np.testing.assert_array_equal(za[key], zb[key], err_msg=f"{ev['predictions']}:{key}")
    assert (sharded / "report.html").exists()
    assert sorted(p.name for p in sharded.iterdir()) == sorted(p.name for p in single.iterdir())


def test_sharded_run_reports_bad_input_cleanly(data, tmp_path):
    broken = tmp_path / "h36m"
    import shutil

    shutil.copytree(data, broken)
    obj = json.loads((broken / "annotations" / "Human36M_subject11_data.json").read_text())
    name = sorted(im["file_name"] for im in obj["images"] if im["frame_idx"] % 64 == 0)[0]
    (broken / "images" / name).unlink()
    out = tmp_path / "out"
    proc = _torchrun(_argv(broken, out))
    assert proc.returncode != 0
    assert "pose3dbench: error:" in proc.stderr and name.split("/")[-1] in proc.stderr
    assert not (out / "results.json").exists() or json.loads((out / "results.json").read_text())["complete"] is False
