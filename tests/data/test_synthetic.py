"""Synthetic Human3.6M: exact format, determinism, loads through the real loader for P1/P2, gt/rootnet."""
import json
from pathlib import Path

import numpy as np
import pytest

from pose3dbench.data.h36m import ACTIONS, find_dataset, load_split, load_train_split, read_cameras
from pose3dbench.data.h36m.synthetic import generate, real_s11_cameras
from pose3dbench.data.transforms import load_image
from pose3dbench.errors import SynthError

REAL_CAMS = (Path(__file__).resolve().parents[1] / "fixtures" / "h36m-real" / "s11_frame" / "annotations"
             / "Dummy_subject1_camera.json")
JSONS = [f"annotations/Human36M_subject{s}_{k}.json" for s in (1, 5, 6, 7, 8, 9, 11)
         for k in ("data", "camera", "joint_3d")] + [
    "bbox_root/bbox_root_human36m_output.json", "pose3dbench_synthetic.json"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synth") / "h36m", seed=0, size="tiny")


def test_files_and_marker(tiny):
    for rel in JSONS:
        assert (tiny / rel).is_file(), rel
    meta = json.loads((tiny / "pose3dbench_synthetic.json").read_text())
    assert meta["synthetic"] is True and meta["complete"] is True and meta["seed"] == 0 and meta["size"] == "tiny"
    assert find_dataset(tiny).synthetic["size"] == "tiny"
    data = json.loads((tiny / "annotations/Human36M_subject11_data.json").read_text())
    im, ann = data["images"][0], data["annotations"][0]
    assert set(im) == {"id", "file_name", "width", "height", "subject", "action_name", "action_idx", "subaction_idx",
                       "cam_idx", "frame_idx"}
    assert set(ann) == {"id", "image_id", "keypoints_vis", "bbox"}
    assert im["file_name"] == (f"s_11_act_{im['action_idx']:02d}_subact_{im['subaction_idx']:02d}"
                               f"_ca_{im['cam_idx']:02d}/"
                               f"s_11_act_{im['action_idx']:02d}_subact_{im['subaction_idx']:02d}"
                               f"_ca_{im['cam_idx']:02d}_{im['frame_idx'] + 1:06d}.jpg")
    frames = np.array([i["frame_idx"] for i in data["images"]])
    assert (frames % 64 == 0).any() and (frames % 64 != 0).any()
    assert all(ACTIONS[i["action_idx"]] == i["action_name"] for i in data["images"])
    joints = json.loads((tiny / "annotations/Human36M_subject11_joint_3d.json").read_text())
    assert np.array(joints[str(im["action_idx"])][str(im["subaction_idx"])][str(im["frame_idx"])]).shape == (17, 3)


def test_cameras_are_perturbed_real_s11_cameras(tiny):
    real = real_s11_cameras()
    ref = json.loads(REAL_CAMS.read_text())
    assert np.allclose(real[1]["R"], ref["1"]["R"]) and np.allclose(real[4]["t"], ref["4"]["t"])
    for s in (1, 9, 11):
        cams = read_cameras(tiny / f"annotations/Human36M_subject{s}_camera.json")  # validates rotations
        for c in (1, 2, 3, 4):
            angle = np.degrees(np.arccos(np.clip((np.trace(cams[c]["R"] @ real[c]["R"].T) - 1) / 2, -1, 1)))
            assert 0 < angle < 5
            assert np.abs(cams[c]["t"] - real[c]["t"]).max() < 150


def test_deterministic_for_a_seed(tiny, tmp_path):
    again = generate(tmp_path / "again", seed=0, size="tiny")
    for rel in JSONS:
        assert (tiny / rel).read_bytes() == (again / rel).read_bytes(), rel
    seq = sorted((tiny / "images").iterdir())[3]
    img = sorted(seq.iterdir())[0]
    assert img.read_bytes() == (again / "images" / seq.name / img.name).read_bytes()
    other = generate(tmp_path / "other", seed=1, size="tiny")
    assert (other / JSONS[2]).read_bytes() != (tiny / JSONS[2]).read_bytes()


@pytest.mark.parametrize("protocol,n_subjects", [(1, 1), (2, 2)])
def test_loads_for_splits_and_box_sources(tiny, protocol, n_subjects):
    gt = load_split(tiny, protocol, "gt")
    rn = load_split(tiny, protocol, "rootnet")
    meta = json.loads((tiny / "pose3dbench_synthetic.json").read_text())
    assert len(gt) == len(rn) == meta["protocol_test_images"][str(protocol)]
    assert 20 <= len(gt) <= 100 and gt.skipped == {}
    g = gt.groups
    assert (gt.split, rn.split, gt.box, rn.box) == (f"p{protocol}", f"p{protocol}", "gt", "rootnet")
    assert set(np.unique(g["subject"])) == ({11} if protocol == 1 else {9, 11})
    assert (g["frame_idx"] % 64 == 0).all() and np.array_equal(gt.image_id, rn.image_id)
    assert json.loads(gt.source["synthetic"])["size"] == "tiny"
    if protocol == 2:
        assert (set(g["action_idx"]) == set(range(2, 17)) and set(g["subaction_idx"]) == {1, 2}
                and set(g["cam_idx"]) == {1, 2, 3, 4})
    # RootNet-like roots: off by tens of mm, not zero
    err = np.linalg.norm(rn.root_cam - gt.root_cam, axis=1)
    assert 5 < err.mean() < 150 and err.min() > 0
    # boxes: square, extended, containing the projected joints
    uv = gt.joints_cam[..., :2] / gt.joints_cam[..., 2:] * gt.focal[:, None] + gt.princpt[:, None]
    for b in (gt.bbox, rn.bbox):
        np.testing.assert_allclose(b[:, 2], b[:, 3])
        inside = (uv[..., 0] >= b[:, None, 0]) & (uv[..., 0] <= b[:, None, 0] + b[:, None, 2]) & \
                 (uv[..., 1] >= b[:, None, 1]) & (uv[..., 1] <= b[:, None, 1] + b[:, None, 3])
        assert inside.mean() > 0.97
    # images exist at the declared size
    for i in range(0, len(gt), max(1, len(gt) // 5)):
        assert load_image(gt.image_path[i], gt.image_size[i]).shape[:2] == (gt.image_size[i, 1], gt.image_size[i, 0])


def test_constant_bone_lengths_and_plausible_poses(tiny):
    s = load_train_split(tiny, 2, subjects=[9])
    assert len(s) > 10 and (s.groups["frame_idx"] % 5 == 0).all()
    parents = [0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
    bones = np.linalg.norm(s.joints_cam[:, 1:17] - s.joints_cam[:, parents], axis=2)
    assert np.ptp(bones, axis=0).max() < 0.05   # mm (joint coordinates are rounded to 1 um)
    assert 350 < bones[0, 1] < 550 and 1000 < s.joints_cam[0, :, 2].min() < 8000
    other = load_train_split(tiny, 1, subjects=[1])
    assert set(other.groups["subject"]) == {1}


def test_bad_size():
    with pytest.raises(SynthError, match="unknown size"):
        generate("/nonexistent-never-created", size="huge")


def test_never_overwrites_real_annotations(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "Human36M_subject11_data.json").write_text("{}")
    with pytest.raises(SynthError, match="did not generate"):
        generate(tmp_path, size="tiny")
    assert (tmp_path / "annotations" / "Human36M_subject11_data.json").read_text() == "{}"
