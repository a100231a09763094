"""Everything a run reads back from a cache or from resume state is checked first: a damaged entry is detected,
said, and recomputed; it never stops or falsifies a run. (The crop store's test is in tests/data/test_crop_store.py.)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pose3dbench.cli import main as cli_main


def _flip_bytes(path: Path, offset: int, n: int = 16) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        data = f.read(n)
        f.seek(offset)
        f.write(bytes(255 - b for b in data))


def test_damaged_onnx_export_in_the_cache_is_detected_and_exported_again(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    from pose3dbench.backends import export_cache
    from pose3dbench.models import registry

    torch.manual_seed(0)
    model = registry.create("mobilehumanpose-lpski").eval()
    logs, warns = [], []
    first = export_cache.cached_export_bytes(model, root=tmp_path, log=logs.append, warn=warns.append)
    (entry,) = tmp_path.glob("*.onnx")
    assert not logs and not warns and entry.read_bytes() == first
    again = export_cache.cached_export_bytes(model, root=tmp_path, log=logs.append, warn=warns.append)
    assert again == first and len(logs) == 1 and "sha256 verified" in logs[0] and not warns
    _flip_bytes(entry, len(first) // 2)
    fixed = export_cache.cached_export_bytes(model, root=tmp_path, log=logs.append, warn=warns.append)
    assert len(warns) == 1 and "cannot be used" in warns[0] and "sha256" in warns[0]
    onnx.load_from_string(fixed)
    assert export_cache.read_entry(entry, entry.with_suffix(".json")) == (fixed, None)
    # another checkpoint (one weight changed) is another key: never served the first model's graph
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1.0
    assert export_cache.export_key(model, opset=17, output="coords")[0] != entry.stem


def test_damaged_resume_chunk_is_detected_and_its_rows_computed_again(tmp_path):
    from pose3dbench.eval.resume import load_chunks, save_chunk

    c = np.random.default_rng(0).normal(size=(4, 18, 3)).astype(np.float32)
    save_chunk(tmp_path, [np.arange(4)], [c], [c + 1])
    save_chunk(tmp_path, [np.arange(4, 8)], [c], [c + 1])
    (good, bad) = sorted(tmp_path.glob("chunk_*.npz"))
    with np.load(bad) as z:  # same digest, other numbers: what a damaged or tampered chunk looks like
        arrays = dict(z)
    arrays["coords"][1, 2, 0] += 0.5
    np.savez(bad, **arrays)
    said = []
    loaded = list(load_chunks(tmp_path, 8, said.append))
    assert [list(r) for r, _, _ in loaded] == [[0, 1, 2, 3]] and np.array_equal(loaded[0][1], c)
    assert len(said) == 1 and "does not match the sha256" in said[0] and not bad.exists() and good.exists()


def test_results_document_and_predictions_are_checked_before_reuse(tmp_path):
    from pose3dbench.results.store import ResultsStore, document_checksum

    out = tmp_path / "out"
    (out / "predictions").mkdir(parents=True)
    pred = out / "predictions" / "m__h36m__p2__gt.npz"
    np.savez(pred, x=np.arange(3))
    doc = {"settings": {}, "models": {"m": {"_identity": {"a": 1}}},
           "evaluations": [{"model": "m", "dataset": "h36m", "split": "p2", "root": "gt",
                            "predictions": "predictions/m__h36m__p2__gt.npz"}]}
    store = ResultsStore(out, force=False, document=doc)
    store.seal()
    (out / "results.json").write_text(json.dumps({**doc, "_checksum": document_checksum(doc)}))
    fresh = ResultsStore(out, force=False, document={})
    prev = fresh.load_previous()
    assert prev is not None and not fresh.notes
    assert fresh.check_predictions(prev["evaluations"][0]) is None
    _flip_bytes(pred, 10, 4)
    assert "does not match the sha256" in fresh.check_predictions(prev["evaluations"][0])
    text = (out / "results.json").read_text().replace('"m"', '"n"', 1)  # any edit of the document
    (out / "results.json").write_text(text)
    edited = ResultsStore(out, force=False, document={})
    assert edited.load_previous() is None and "does not match its checksum" in edited.notes[0]


def test_run_recomputes_an_evaluation_whose_predictions_file_was_damaged(tmp_path, capsys):
    from tests.helpers.pipeline import build_dataset

    data = build_dataset(tmp_path / "h36m")
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--out", str(out), "--protocol", "2", "--root", "rootnet", "--model",
            "mobilehumanpose-lpski", "--no-profile", "--no-report", "--no-progress", "--backend", "eager"]
    torch.set_num_threads(1)
    assert cli_main(argv) == 0
    name = "predictions/mobilehumanpose-lpski__h36m__p2__rootnet.npz"
    with np.load(out / name) as z:
        before = z["coords_hm"].copy()
    capsys.readouterr()
    assert cli_main(argv) == 0  # intact: re-used
    assert "re-using the evaluation" in capsys.readouterr().out
    _flip_bytes(out / name, 200, 8)
    assert cli_main(argv) == 0
    log = capsys.readouterr().out
    assert "not re-using the previous evaluation" in log and "does not match the sha256" in log
    res = json.loads((out / "results.json").read_text())
    assert any("does not match the sha256" in w["message"] for w in res["warnings"])
    with np.load(out / name) as z:
        assert np.array_equal(z["coords_hm"], before)


def test_damaged_synthetic_set_in_the_cache_is_generated_again(tmp_path, monkeypatch):
    from pose3dbench.data.h36m import Human36M
    from pose3dbench.data.sources import check_synthetic, ensure_synthetic

    monkeypatch.setenv("POSE3DBENCH_CACHE", str(tmp_path / "cache"))
    logs, warns = [], []
    target = ensure_synthetic(Human36M, "tiny", logs.append, warn=warns.append)
    assert check_synthetic(target) is None and len(logs) == 1 and not warns
    assert ensure_synthetic(Human36M, "tiny", logs.append, warn=warns.append) == target and len(logs) == 1
    jpg = next(target.rglob("*.jpg"))
    original = jpg.read_bytes()
    _flip_bytes(jpg, len(original) // 2)
    assert "differ from its manifest" in check_synthetic(target)
    ensure_synthetic(Human36M, "tiny", logs.append, warn=warns.append)
    assert len(warns) == 1 and "cannot be used" in warns[0] and jpg.read_bytes() == original
    assert check_synthetic(target) is None


def test_damaged_cost_profile_in_the_cache_is_detected_and_measured_again(tmp_path):
    from pose3dbench.eval.cost_cache import cached_cost
    from pose3dbench.models import registry

    pytest.importorskip("onnx")
    model = registry.create("mobilehumanpose-lpski").eval()
    measured = []

    def measure():
        measured.append(1)
        return {"params": 1, "latency_ms": {"batch": 1, "median": 2.5, "p90": 3.0}}

    settings = {"device": "cpu", "batch_sizes": [1, 16], "iters": 5}
    logs, warns = [], []
    first = cached_cost(model, settings, measure, logs.append, warns.append, root=tmp_path)
    second = cached_cost(model, settings, measure, logs.append, warns.append, root=tmp_path)
    assert len(measured) == 1 and second["cached"] and {k: second[k] for k in first} == first and not warns
    (entry,) = tmp_path.glob("*.json")
    entry.write_text(entry.read_text().replace("2.5", "1.5"))  # a figure changed on disk
    third = cached_cost(model, settings, measure, logs.append, warns.append, root=tmp_path)
    assert len(measured) == 2 and third == first and "does not match its sha256" in warns[0]
    other = cached_cost(model, {**settings, "iters": 7}, measure, logs.append, warns.append, root=tmp_path)
    assert len(measured) == 3 and "cached" not in other  # other profiler settings: another key
