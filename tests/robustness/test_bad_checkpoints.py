"""Bad checkpoints through `pose3dbench run --model NAME=CKPT`: clear error naming the file and the fix,
non-zero exit, no traceback, no complete results; a pickle that runs code is refused unless trusted."""
from __future__ import annotations

import builtins

import cv2
import numpy as np
import torch

from tests.helpers.runs import assert_clean_failure, base_argv


class _Payload:
    """Unpickling this calls open(marker, 'w'): stands for any code a malicious pickle could run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


def test_wrong_family_for_named_model(dataset, lpski_checkpoint, tmp_path, run_cli):
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=f"posenet-r50={lpski_checkpoint}"))
    assert_clean_failure(rc, err, out, str(lpski_checkpoint), "holds a mobilehumanpose network", "not a posenet",
                         f"--model mobilehumanpose-lpski={lpski_checkpoint}")


def test_nan_inf_weights(dataset, lpski_checkpoint, tmp_path, run_cli):
    ck = torch.load(lpski_checkpoint, weights_only=True)
    key = next(k for k, v in ck["network"].items() if v.is_floating_point() and v.dim() == 4)
    ck["network"][key] = ck["network"][key].clone()
    ck["network"][key].view(-1)[:3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    path = tmp_path / "diverged.pth"
    torch.save(ck, path)
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=f"mobilehumanpose-lpski={path}"))
    assert_clean_failure(rc, err, out, str(path), "NaN/Inf", key[len("module."):], "use another checkpoint")


def test_truncated_checkpoint(dataset, lpski_checkpoint, tmp_path, run_cli):
    path = tmp_path / "cut.pth.tar"
    raw = lpski_checkpoint.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=f"mobilehumanpose-lpski={path}"))
    assert_clean_failure(rc, err, out, str(path), "truncated or corrupt", "fetch the file again")


def test_code_executing_pickle_is_refused_unless_trusted(dataset, tmp_path, run_cli):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"network": _Payload(marker)}, path)
    assert not marker.exists()
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=f"posenet-r50={path}"))
    assert_clean_failure(rc, err, out, str(path), "refused by the safe loader", "--trust-checkpoint")
    assert not marker.exists(), "the refused pickle ran code"
    # the payload is real: trusting the file runs it (then the file is rejected as no state dict)
    rc, _, err = run_cli(base_argv(dataset, out, "--trust-checkpoint", model=f"posenet-r50={path}"))
    assert marker.exists()
    assert_clean_failure(rc, err, out, str(path), "no state dict found")


def test_jpeg_given_as_checkpoint(dataset, tmp_path, run_cli):
    path = tmp_path / "weights.pth"
    ok, buf = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    path.write_bytes(buf.tobytes())
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out, model=f"convnextpose-xs={path}"))
    assert_clean_failure(rc, err, out, str(path), "not a PyTorch checkpoint", "JPEG image", "Pass the .pth")
