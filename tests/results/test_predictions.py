"""Predictions files: .npz round trip (and files of earlier versions), the authors' json, RootNet json, matching
rows to a split by sample id (or image id)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pose3dbench.errors import PredictionsError
from pose3dbench.results.predictions import load_predictions, match_to_samples, save_predictions

from tests.helpers.paths import P1_FILE as REAL_BBOX_ROOT_P1

META = {"heatmap_size": [64, 64], "depth_bins": 64, "joint_set": "h36m18", "dataset": "h36m", "split": "p2",
        "root": "gt", "model": "posenet_r50"}
#: the meta of a Human3.6M file of an earlier version: the protocol instead of dataset and split
OLD_META = {**{k: v for k, v in META.items() if k not in ("dataset", "split")}, "protocol": 2}


def arrays(n=5, j=18, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image_id": np.arange(100, 100 + n), "coords_hm": rng.uniform(0, 63, (n, j, 3)),
        "bbox": rng.uniform(0, 500, (n, 4)), "root_cam": rng.normal(0, 1000, (n, 3)),
        "pred_cam": rng.normal(0, 1000, (n, j, 3)),
    }


def test_npz_round_trip(tmp_path):
    a = arrays()
    a["coords_hm_noflip"] = torch.from_numpy(a["coords_hm"] + 1).float()  # torch accepted
    a["per_sample"] = np.arange(5.0)
    a["per_sample_scaled_mm"] = np.arange(5.0) / 2
    a["sample_id"] = np.arange(5) * 10
    a["pred_img"] = np.random.default_rng(3).uniform(0, 1000, (5, 18, 2))
    path = save_predictions(tmp_path / "sub" / "p.npz", meta=META, **a)
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["p.npz"]  # no temp file left
    p = load_predictions(path)
    assert (p.format, p.kind, p.meta, len(p), p.num_joints) == ("npz", "pose", META, 5, 18)
    assert p.image_id.dtype == np.int64 and p.sample_id.dtype == np.int64
    for k in ("image_id", "coords_hm", "bbox", "root_cam", "pred_cam", "per_sample", "per_sample_scaled_mm",
              "sample_id", "pred_img"):
        np.testing.assert_array_equal(getattr(p, k), a[k])
    np.testing.assert_array_equal(p.key, a["sample_id"])  # rows are matched on the sample ids
    np.testing.assert_array_equal(p.per_row, a["per_sample"])
    assert p.per_sample_mm is None
    np.testing.assert_allclose(p.coords_hm_noflip, a["coords_hm"] + 1, rtol=1e-6)
    with np.load(path, allow_pickle=False) as z:  # metadata is a plain JSON string array
        assert json.loads(str(z["meta"][0])) == META


def test_npz_optional_arrays_absent(tmp_path):
    p = load_predictions(save_predictions(tmp_path / "p.npz", meta=META, coords_hm_noflip=None, **arrays()))
    assert p.coords_hm_noflip is None and p.per_sample_mm is None and p.per_row is None
    assert p.sample_id is None and p.pred_img is None
    np.testing.assert_array_equal(p.key, arrays()["image_id"])  # without sample ids: the image ids


def test_npz_of_an_earlier_version(tmp_path):
    """A Human3.6M file written before datasets were plug-ins: meta names the protocol, per_sample_mm per row."""
    a = {**arrays(), "per_sample_mm": np.arange(5.0)}
    p = load_predictions(save_predictions(tmp_path / "old.npz", meta=OLD_META, **a))
    assert p.meta == OLD_META and p.per_sample is None
    np.testing.assert_array_equal(p.per_row, a["per_sample_mm"])
    np.testing.assert_array_equal(p.key, a["image_id"])
    with pytest.raises(PredictionsError, match="dataset and split"):  # neither the split nor the protocol
        save_predictions(tmp_path / "x.npz", meta={k: v for k, v in META.items() if k != "split"}, **arrays())
    with pytest.raises(PredictionsError, match=r"meta\.protocol is 3"):
        load_predictions(save_predictions(tmp_path / "bad.npz", meta={**OLD_META, "protocol": 3}, **arrays()))


def test_root_only_npz(tmp_path):
    rng = np.random.default_rng(1)
    path = save_predictions(tmp_path / "r.npz", image_id=np.arange(4), root_cam=rng.normal(0, 1, (4, 3)),
                            root_hm=rng.normal(0, 1, (4, 3)), bbox=rng.normal(0, 1, (4, 4)),
                            meta={"model": "rootnet_r50", "dataset": "h36m", "split": "p2", "root": "gt",
                                  "kind": "root"})
    p = load_predictions(path)
    assert p.kind == "root" and p.pred_cam is None and p.root_hm.shape == (4, 3)


def test_save_rejects_bad_input_and_keeps_previous_file(tmp_path):
    path = save_predictions(tmp_path / "p.npz", meta=META, **arrays())
    before = path.read_bytes()
    bad = arrays()
    bad["bbox"] = bad["bbox"][:, :3]
    with pytest.raises(PredictionsError, match="bbox"):
        save_predictions(path, meta=META, **bad)
    with pytest.raises(PredictionsError, match="depth_bins"):
        save_predictions(path, meta={k: v for k, v in META.items() if k != "depth_bins"}, **arrays())
    with pytest.raises(PredictionsError, match="pred_cam"):
        save_predictions(path, meta=META, **{k: v for k, v in arrays().items() if k != "pred_cam"})
    with pytest.raises(PredictionsError, match="unknown"):
        save_predictions(path, meta=META, heatmaps=np.zeros(5), **arrays())
    dup = arrays()
    dup["image_id"][1] = dup["image_id"][0]
    with pytest.raises(PredictionsError, match="duplicate"):
        save_predictions(path, meta=META, **dup)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]


def test_authors_json_detected_by_content(tmp_path):
    rng = np.random.default_rng(2)
    entries = [{"image_id": 7 + i, "joint_cam": rng.normal(0, 300, (17, 3)).tolist(),
                "bbox": [1.0, 2.0, 3.0, 4.0], "root_cam": [0.0, 0.0, 5000.0]} for i in range(3)]
    path = tmp_path / "bbox_root_pose_human36m_output.dat"  # the name does not matter
    path.write_text(json.dumps(entries))
    p = load_predictions(path)
    assert (p.format, p.kind, len(p), p.num_joints) == ("authors_json", "pose", 3, 17)
    np.testing.assert_allclose(p.pred_cam[1], entries[1]["joint_cam"])
    np.testing.assert_array_equal(p.image_id, [7, 8, 9])
    assert p.root_cam.shape == (3, 3) and p.coords_hm is None


def test_real_rootnet_file_loads_as_root_predictions():
    p = load_predictions(REAL_BBOX_ROOT_P1)
    assert (p.format, p.kind, len(p)) == ("rootnet_json", "root", 3683)
    i = int(np.flatnonzero(p.image_id == 1877420)[0])
    np.testing.assert_allclose(p.root_cam[i], [-184.8753204345703, -546.7608642578125, 5426.8798828125])


@pytest.mark.parametrize("content,match", [
    (b"hello", "neither"),
    (b"{\"a\": 1}", "JSON list"),
    (b"[{\"image_id\": 1, \"joint_cam\": [[0, 0, 0]]}, {\"image_id\": 2}]", "lack 'joint_cam'"),
    (b"[{\"image_id\": 1, \"joint_cam\": [[0, 0]]}]", "J x 3"),
    (b"[1, 2", "not valid JSON"),
    (b"PK\x03\x04broken zip", "cannot read"),
])
def test_bad_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "preds.bin"
    path.write_bytes(content)
    with pytest.raises(PredictionsError, match=match) as info:
        load_predictions(path)
    assert str(path) in str(info.value)


def test_missing_file_and_foreign_npz(tmp_path):
    with pytest.raises(PredictionsError, match="cannot open"):
        load_predictions(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(PredictionsError, match="meta"):
        load_predictions(tmp_path / "other.npz")


def test_match_to_samples_reorders_and_reports_ids(tmp_path):
    a = arrays(n=6)
    perm = np.array([3, 0, 5, 1, 4, 2])
    shuffled = {k: v[perm] for k, v in a.items()}
    p = load_predictions(save_predictions(tmp_path / "p.npz", meta=META, **shuffled))
    m = match_to_samples(p, a["image_id"])
    for k in ("image_id", "pred_cam", "bbox", "coords_hm"):
        np.testing.assert_array_equal(getattr(m, k), a[k])
    with pytest.raises(PredictionsError, match=r"1 image ids of the split have no prediction \(e.g. \[999\]\)") as e:
        match_to_samples(p, np.append(a["image_id"], 999))
    assert "p.npz" in str(e.value)
    with pytest.raises(PredictionsError, match=r"2 predicted image ids are not in the split \(e.g. \[104, 105\]\)"):
        match_to_samples(p, a["image_id"][:4])


def test_match_to_samples_by_sample_id_where_an_image_holds_several_people(tmp_path):
    a = arrays(n=4)
    a["image_id"] = np.array([7, 7, 8, 8])  # two people per image
    a["sample_id"] = np.array([70, 71, 80, 81])
    perm = np.array([2, 0, 3, 1])
    p = load_predictions(save_predictions(tmp_path / "p.npz", meta=META, **{k: v[perm] for k, v in a.items()}))
    m = match_to_samples(p, a["sample_id"])
    for k in ("sample_id", "image_id", "pred_cam"):
        np.testing.assert_array_equal(getattr(m, k), a[k])
    with pytest.raises(PredictionsError, match=r"1 sample ids of the split have no prediction \(e.g. \[82\]\)"):
        match_to_samples(p, np.append(a["sample_id"], 82))
    dup = {**a, "sample_id": np.array([70, 70, 80, 81])}
    with pytest.raises(PredictionsError, match="duplicate sample ids"):
        save_predictions(tmp_path / "d.npz", meta=META, **dup)
