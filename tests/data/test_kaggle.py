"""Without --data, a Human3.6M dataset among the Kaggle inputs is found (nested real-world layout)."""
from __future__ import annotations

import shutil

from pose3dbench.data.h36m import Human36M
from pose3dbench.data.h36m.synthetic import generate
from pose3dbench.data.kaggle import find_kaggle_dataset


def test_finds_nested_dataset(tmp_path, monkeypatch):
    src = generate(tmp_path / "src", seed=2, size="tiny")
    inputs = tmp_path / "kaggle-input"
    (inputs / "some-other-dataset").mkdir(parents=True)
    (inputs / "some-other-dataset" / "readme.txt").write_text("not h36m")
    target = inputs / "human36m-3dmppe"
    shutil.copytree(src / "annotations", target / "annotations (1)" / "annotations")
    shutil.copytree(src / "images", target / "images")
    monkeypatch.setenv("POSE3DBENCH_KAGGLE_INPUT", str(inputs))
    assert find_kaggle_dataset() == (Human36M, target)  # the dataset's plug-in class and its folder
    assert find_kaggle_dataset(("h36m",)) == (Human36M, target)


def test_none_without_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE3DBENCH_KAGGLE_INPUT", str(tmp_path / "missing"))
    assert find_kaggle_dataset() is None
    empty = tmp_path / "empty"
    (empty / "x").mkdir(parents=True)
    assert find_kaggle_dataset(empty) is None
