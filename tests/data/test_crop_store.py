"""The crop store: byte-identical crops, decoded once, invalidated when an image changes, re-used across runs."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
import torch

from pose3dbench.cli import main as cli_main
from pose3dbench.data import crop_store as cs
from pose3dbench.data.crop_store import CropStore, choose_mode
from pose3dbench.data.transforms import crop_patch, load_image
from tests.helpers.paths import BYO


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        p = tmp_path / f"img{i}.jpg"
        cv2.imwrite(str(p), rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
        paths.append(str(p))
    bbox = np.array([[10.3, 5.7, 90.0, 90.0], [0, 0, 160, 120], [-20.5, 10.25, 100.125, 100.125],
                     [30, 30, 60, 60], [10.3, 5.7, 90.0, 90.0]], dtype=np.float64)
    return paths, bbox


def _fresh(paths, bbox, rows, hw):
    return np.stack([crop_patch(load_image(paths[r]), bbox[r], hw) for r in rows])


def _collect(store, paths, bbox, rows, hw, bs=2):
    got = [(r.numpy(), p.numpy()) for r, p in store.batches(paths, bbox, rows, batch_size=bs, out_hw=hw)]
    return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])


@pytest.mark.parametrize("mode", ["memory", "disk", "off"])
def test_stored_crops_are_byte_identical_to_fresh_ones(images, tmp_path, mode):
    paths, bbox = images
    store = CropStore(mode, root=tmp_path / "crops")
    rows = np.array([3, 0, 2, 1, 4])
    for _ in range(2):  # second pass served from the store
        got_rows, crops = _collect(store, paths, bbox, rows, (64, 48))
        assert np.array_equal(got_rows, rows)
        assert crops.dtype == np.uint8 and np.array_equal(crops, _fresh(paths, bbox, rows, (64, 48)))
    st = store.stats()
    if mode == "off":
        assert st["misses"] == 10 and st["hits"] == 0
    else:  # rows 0 and 4 share a box but not a file: 5 crops decoded once, then 5 hits
        assert st["misses"] == 5 and st["hits"] == 5 and st["hit_rate"] == 0.5


def test_same_image_and_box_is_decoded_once_and_sizes_are_separate(images, tmp_path):
    paths, bbox = images
    paths = [paths[0]] * 5  # one file, rows 0 and 4 have the same box
    store = CropStore("memory")
    _collect(store, paths, bbox, np.arange(5), (32, 32))
    assert store.stats()["misses"] == 4 and store.stats()["hits"] == 1
    _collect(store, paths, bbox, np.arange(5), (64, 64))  # another input size is another crop
    assert store.stats()["misses"] == 8


def test_disk_store_is_reused_by_a_new_store_and_invalidated_by_a_changed_file(images, tmp_path):
    paths, bbox = images
    root = tmp_path / "crops"
    rows = np.arange(5)
    _collect(CropStore("disk", root=root), paths, bbox, rows, (40, 40))
    second = CropStore("disk", root=root)  # a later run: nothing decoded
    _, crops = _collect(second, paths, bbox, rows, (40, 40))
    assert second.stats() == {**second.stats(), "misses": 0, "hits": 5}
    assert np.array_equal(crops, _fresh(paths, bbox, rows, (40, 40)))
    cv2.imwrite(paths[2], np.full((120, 160, 3), 200, np.uint8))  # the file changes (size and mtime)
    st = os.stat(paths[2])
    os.utime(paths[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = CropStore("disk", root=root)
    _, crops = _collect(third, paths, bbox, rows, (40, 40))
    assert third.stats()["misses"] == 1 and np.array_equal(crops[2], _fresh(paths, bbox, [2], (40, 40))[0])


def test_disk_index_cut_by_a_crash_is_ignored(images, tmp_path):
    paths, bbox = images
    root = tmp_path / "crops"
    _collect(CropStore("disk", root=root), paths, bbox, np.arange(3), (40, 40))
    tier = root / f"v{cs.CROP_VERSION}_40x40"
    with open(tier / "index.tsv", "a") as f:
        f.write("deadbeef\t99\t0")  # no newline: cut mid-line
    with open(tier / "crops.u8", "ab") as f:
        f.write(b"\1" * 100)  # a torn slot
    store = CropStore("disk", root=root)
    _, crops = _collect(store, paths, bbox, np.arange(5), (40, 40))
    assert store.stats()["misses"] == 2 and np.array_equal(crops, _fresh(paths, bbox, np.arange(5), (40, 40)))
    _, again = _collect(CropStore("disk", root=root), paths, bbox, np.arange(5), (40, 40))
    assert np.array_equal(again, crops)


def test_damaged_disk_slot_is_detected_and_decoded_again(images, tmp_path):
    """A stored crop whose bytes changed on disk (bit rot, a stray write) fails its crc32: it is said once, decoded
    again and appended anew; the crops served are the fresh ones, and a later store reads the good copy."""
    paths, bbox = images
    root = tmp_path / "crops"
    rows = np.arange(4)
    _collect(CropStore("disk", root=root), paths, bbox, rows, (40, 40))
    tier = root / f"v{cs.CROP_VERSION}_40x40"
    index = dict(line.split("\t")[:2] for line in (tier / "index.tsv").read_text().splitlines())
    slot = int(sorted(index.values())[1])
    with open(tier / "crops.u8", "r+b") as f:  # flip bytes in the middle of the second slot
        f.seek(slot * 40 * 40 * 3 + 1000)
        f.write(bytes(255 - b for b in f.read(16)))
    said = []
    store = CropStore("disk", root=root, warn=said.append)
    _, crops = _collect(store, paths, bbox, rows, (40, 40))
    assert np.array_equal(crops, _fresh(paths, bbox, rows, (40, 40)))
    assert store.stats()["misses"] == 1 and store.stats()["hits"] == 3 and store.stats()["damaged"] == 1
    assert len(said) == 1 and "do not match their crc32" in said[0]
    again = CropStore("disk", root=root, warn=said.append)
    _, crops2 = _collect(again, paths, bbox, rows, (40, 40))
    assert np.array_equal(crops2, crops) and again.stats()["misses"] == 0 and len(said) == 1


def test_auto_mode_choice():
    assert choose_mode("auto", 10 * 2**20, budget_mb=64) == "memory"
    assert choose_mode("auto", 100 * 2**20, budget_mb=64) == "disk"
    assert choose_mode("off", 10**12) == "off"
    with pytest.raises(ValueError, match="--crop-cache must be one of"):
        choose_mode("ram", 0)


def test_run_records_the_store_and_a_second_run_decodes_nothing(tmp_path, monkeypatch):
    """Two models of the same input size: the second one is served entirely from the store; a second run
    with --crop-cache disk (another output folder) decodes nothing."""
    from tests.helpers.pipeline import build_dataset

    monkeypatch.setenv("POSE3DBENCH_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    data = build_dataset(tmp_path / "h36m")
    common = ["--data", str(data), "--split", "p2", "--root", "rootnet", "--model", BYO,
              "--model", "mobilehumanpose-lpski", "--no-profile", "--no-report", "--no-progress",
              "--crop-cache", "disk"]
    assert cli_main(["run", "--out", str(tmp_path / "a"), *common]) == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["settings"]["crop_cache"]["mode"] == "disk"
    n = res["evaluations"][0]["num_samples"]
    assert res["crop_cache"]["misses"] == n and res["crop_cache"]["hits"] == n  # model 2 reads model 1's crops
    assert cli_main(["run", "--out", str(tmp_path / "b"), *common]) == 0
    res2 = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res2["crop_cache"]["misses"] == 0 and res2["crop_cache"]["hit_rate"] == 1.0
    assert [e["total_mm"] for e in res2["evaluations"]] == [e["total_mm"] for e in res["evaluations"]]
