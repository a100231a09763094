"""``pose3dbench inspect`` on conformance-built checkpoints of every family, a mis-named file, a file
that does not load, an unsafe pickle and a non-checkpoint."""
from __future__ import annotations

import json
import shlex

import pytest
import torch

from pose3dbench.cli import main
from tests.helpers.conformance import load_vector, recipe_v1

# one conformance configuration per family -> (family, variant, arch line fragment)
FAMILIES = {
    "convnextpose_official": ("convnextpose", "convnextpose-xs",
                              "depths=[2, 2, 6, 2], dims=[40, 80, 160, 320], head_width=128"),
    "posenet_r50": ("posenet", "posenet-r50", "resnet_depth=50"),
    "rootnet_r50": ("rootnet", "rootnet-r50", "resnet_depth=50"),
    "mhp_lpski_j21": ("mobilehumanpose", "mobilehumanpose-lpski", "backbone=LPSKI"),
    "integral_r50_msra": ("integral", "integral-r50", "resnet_depth=50, head_layout=msra"),
}


def build_checkpoint(path, name: str, legacy: bool = False, **extra):
    """Recipe-v1 weights of a conformance configuration, saved as the authors' code did."""
    state = recipe_v1(load_vector(name)["state_dict"])
    ckpt = {"network": {"module." + k: v for k, v in state.items()}, "epoch": 24,
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]}, **extra}
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return path


def inspect(capsys, *argv):
    rc = main(["inspect", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_inspect_each_family(tmp_path, capsys, name):
    family, variant, arch = FAMILIES[name]
    vec = load_vector(name)
    path = build_checkpoint(tmp_path / f"{name}.pth.tar", name, legacy=name == "posenet_r50")
    rc, out, err = inspect(capsys, path)
    assert rc == 0, err
    fields = {line[:13].strip(): line[13:] for line in out.splitlines()}
    assert fields["format"] == ("legacy" if name == "posenet_r50" else "zip")
    assert fields["top-level"].startswith("network, epoch, optimizer")
    assert fields["epoch"] == "24"
    assert fields["family"].split()[0] == family and "inferred from keys" in fields["family"]
    assert fields["variant"] == variant
    assert arch in fields["arch"]
    assert fields["params"].startswith(f"{vec['param_count']:,} ")
    assert fields["strict load"] == "yes"
    assert fields["benchmark"] == f"pose3dbench run --model {shlex.quote(f'{variant}={path}')}"
    if family == "mobilehumanpose":
        assert fields["config"].startswith("joints 21 (muco21), depth bins 32, heatmap 32x32")
    if family == "rootnet":
        assert "heatmap 64x64" in fields["config"]

    if vec["param_count"] > 10_000_000:
        return  # the JSON path is the same report: check it on the small networks only (runtime)
    rc, out, _ = inspect(capsys, path, "--json")
    report = json.loads(out)
    assert rc == 0 and report["family"] == family and report["variant"] == variant
    assert report["params"] == vec["param_count"] and report["strict_load"] is True and report["epoch"] == 24
    assert report["config"]["arch"] == {k: v for k, v in report["config"]["arch"].items()}  # plain JSON
    assert report["run_command"] == fields["benchmark"]


def test_inspect_detects_a_misnamed_file(tmp_path, capsys):
    path = build_checkpoint(tmp_path / "convnextpose_l_h36m.pth.tar", "convnextpose_official")
    rc, out, _ = inspect(capsys, path, "--model", "convnextpose-l")
    assert rc == 0
    assert "variant      convnextpose-xs" in out
    warning = next(line for line in out.splitlines() if line.startswith("warning"))
    assert "asked for convnextpose-l but the file is convnextpose-xs" in warning
    assert f"--model {shlex.quote(f'convnextpose-xs={path}')}" in out


def test_inspect_reports_a_file_that_does_not_load(tmp_path, capsys):
    state = recipe_v1(load_vector("convnextpose_official")["state_dict"])
    del state["head.final_layer.bias"]
    torch.save({"state_dict": state}, tmp_path / "partial.pth")
    rc, out, _ = inspect(capsys, tmp_path / "partial.pth")
    assert rc == 1
    assert "strict load  NO" in out and "head.final_layer: 1 (head.final_layer.bias)" in out
    assert "benchmark" not in out


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def test_inspect_unsafe_and_foreign_files(tmp_path, capsys):
    marker = tmp_path / "marker"
    path = build_checkpoint(tmp_path / "evil.pth", "mhp_lpski", payload=_Exploit(marker))
    rc, out, err = inspect(capsys, path)
    assert rc == 2 and out == "" and "--trust-checkpoint" in err and str(path) in err
    assert not marker.exists()
    rc, out, err = inspect(capsys, path, "--trust-checkpoint")
    assert rc == 0 and marker.exists()
    assert "full unpickling" in out and out.rstrip().endswith("--trust-checkpoint")

    jpeg = tmp_path / "snapshot_24.pth.tar"
    jpeg.write_bytes(b"\xff\xd8\xff\xdb\x00\x43\x00" + bytes(500))
    rc, out, err = inspect(capsys, jpeg)
    assert rc == 2 and "not a PyTorch checkpoint: it is a JPEG image" in err
