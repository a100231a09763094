"""Running ``pose3dbench run`` in tests: command lines, clean-failure checks, and comparing whole runs."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .paths import BYO, REPO


def base_argv(data: Path, out: Path, *extra: str, model: str = BYO, roots=("gt",), splits=("p2",)) -> list[str]:
    """A small, quiet ``run`` of one model on ``data`` (one thread, no profile, no report)."""
    return ["run", "--data", str(data), "--out", str(out), "--model", model, "--split", *splits,
            "--root", *roots, "--workers", "0", "--batch-size", "8", "--threads", "1",
            "--no-profile", "--no-report", "--no-progress", *extra]


def child_env(**extra: str) -> dict:
    """The environment of a ``python -m pose3dbench`` subprocess: the repository root first on PYTHONPATH, so that
    the helper models loaded by path (``tiny_models.py``) import the ``tests`` package whatever the working
    directory."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
            **extra}


def results_look_complete(out: Path) -> bool:
    """True when ``out/results.json`` exists and says the run finished."""
    path = out / "results.json"
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text()).get("complete") is True
    except ValueError:
        return False


def assert_clean_failure(rc: int, err: str, out: Path, *needles: str) -> None:
    """Non-zero exit, one 'pose3dbench: error:' message holding every needle, no traceback, no complete results."""
    assert rc != 0, err
    assert "pose3dbench: error:" in err, err
    assert "Traceback" not in err and "DataLoader worker" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in the message:\n{err}"
    assert not results_look_complete(out), "a failed run left a results.json that says it is complete"


def rewrite_json(path: Path, fn) -> None:
    """Apply ``fn`` to the parsed JSON file at ``path`` (in place) and write it back."""
    obj = json.loads(path.read_text())
    fn(obj)
    path.write_text(json.dumps(obj))


def split_images(data: Path, subject: int) -> list[Path]:
    """Images of one Human3.6M test subject that the test splits use (frame_idx % 64 == 0), sorted."""
    obj = json.loads((data / "annotations" / f"Human36M_subject{subject}_data.json").read_text())
    names = sorted(im["file_name"] for im in obj["images"] if im["frame_idx"] % 64 == 0)
    return [data / "images" / n for n in names]


def comparable_results(results: dict) -> dict:
    """results.json without what legitimately differs between equal runs: creation time, timings and the
    crop store's hit counts (a resumed or sharded run decodes other crops than one uninterrupted run)."""
    r = json.loads(json.dumps(results))
    r.pop("created_utc")
    r.pop("crop_cache", None)
    r.pop("_checksum", None)  # of the whole document, creation time included
    for ev in r["evaluations"] + r["root_evaluations"] + r.get("corruption_evaluations", []):
        ev.pop("timing", None)
        ev.pop("predictions_sha256", None)  # the .npz zip members carry their write time
    return r
