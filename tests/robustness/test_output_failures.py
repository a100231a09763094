"""Output failures: an --out that cannot be a folder, and a results write that fails (full disk)
leaving the previous results.json byte-identical."""
from __future__ import annotations

import errno
import json
import os

import pose3dbench.io as pio
from tests.helpers.runs import assert_clean_failure, base_argv


def test_output_folder_not_writable(dataset, tmp_path, run_cli):
    """A path below a regular file: mkdir fails with ENOTDIR even for root (chmod would not stop root)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    out = blocker / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert_clean_failure(rc, err, out, str(out), "not writable", "pass --out")
    assert blocker.read_text() == "a file"


def test_full_disk_keeps_previous_results(dataset, tmp_path, run_cli, monkeypatch):
    out = tmp_path / "out"
    rc, _, err = run_cli(base_argv(dataset, out))
    assert rc == 0, err
    before = (out / "results.json").read_bytes()
    assert json.loads(before)["complete"] is True

    real_replace = os.replace

    def full_disk(src, dst, *a, **k):
        if os.path.basename(dst) == "results.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(pio.os, "replace", full_disk)
    rc, _, err = run_cli(base_argv(dataset, out, "--force"))
    assert rc != 0
    assert "pose3dbench: error:" in err and "Traceback" not in err
    assert str(out / "results.json") in err and "No space left on device" in err and "free disk space" in err
    assert (out / "results.json").read_bytes() == before, "the previous results.json was damaged"
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")], "a temp file was left behind"
