"""Shared pieces of the bad-input corpus: a tiny synthetic Human3.6M set, a tiny model, a checkpoint,
and ``run_cli`` which runs ``pose3dbench run`` in-process and returns (exit code, stdout, stderr)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch



@pytest.fixture(scope="session")
def synthetic_master(tmp_path_factory) -> Path:
    from pose3dbench.data.h36m.synthetic import generate

    return generate(tmp_path_factory.mktemp("robust-master") / "h36m", seed=5, size="tiny")


@pytest.fixture
def dataset(synthetic_master, tmp_path) -> Path:
    """A private, writable copy of the tiny synthetic set (each test breaks it in its own way)."""
    return Path(shutil.copytree(synthetic_master, tmp_path / "h36m"))


@pytest.fixture(scope="session")
def lpski_checkpoint(tmp_path_factory) -> Path:
    """A MobileHumanPose-LPSKI checkpoint in the authors' layout ({'network': state_dict}, module. prefix)."""
    from pose3dbench.models import registry

    torch.manual_seed(0)
    net = registry.create("mobilehumanpose-lpski")
    path = tmp_path_factory.mktemp("ckpt") / "snapshot_lpski.pth.tar"
    torch.save({"epoch": 3, "network": {"module." + k: v for k, v in net.state_dict().items()}}, path)
    return path


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from pose3dbench.cli import main

    def run(argv: list[str]):
        capsys.readouterr()
        torch.set_num_threads(1)
        rc = main([str(a) for a in argv])
        cap = capsys.readouterr()
        return rc, cap.out, cap.err

    return run


