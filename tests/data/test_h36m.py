"""Human3.6M loader on the real S11 record and real RootNet files; layout discovery; input errors."""
import json
import shutil

import numpy as np
import pytest

from pose3dbench.data.bbox import process_bbox
from pose3dbench.data.h36m import find_dataset, load_bbox_root, load_split, load_train_split
from pose3dbench.data.h36m.loader import split_subjects
from pose3dbench.errors import DatasetError
from tests.helpers.datasets import make_real_s11
from tests.helpers.paths import IMAGE_ID, P1_FILE, P2_FILE
from tests.helpers.runs import rewrite_json


def test_real_s11_record_gt(tmp_path):
    root = make_real_s11(tmp_path)
    s = load_split(root, 1, "gt")
    assert len(s) == 1 and (s.dataset, s.split, s.box) == ("h36m", "p1", "gt")
    g = s.groups
    assert s.image_id.tolist() == [IMAGE_ID] and g["subject"].tolist() == [11] and g["frame_idx"].tolist() == [0]
    assert s.sample_id.tolist() == [IMAGE_ID]  # one person per image: the sample id is the image id
    assert (g["action_idx"][0], g["subaction_idx"][0], g["cam_idx"][0]) == (2, 1, 1) and g["action"][0] == "Directions"
    assert s.image_size.tolist() == [[1000, 1002]]
    assert s.image_path[0] == str(root.resolve() / "images" / "s_11_act_02_subact_01_ca_01"
                                  / "s_11_act_02_subact_01_ca_01_000001.jpg")
    assert s.joints_cam.shape == (1, 18, 3)
    np.testing.assert_allclose(s.joints_cam[0, 17], (s.joints_cam[0, 11] + s.joints_cam[0, 14]) / 2)
    np.testing.assert_allclose(s.root_cam[0], s.joints_cam[0, 0])
    # X_cam = R X_world + t with the real camera 1: pelvis ~5.4 m in front of the camera
    np.testing.assert_allclose(s.joints_cam[0, 0], [-187.8398, -522.5399, 5443.7363], atol=1e-3)
    ann_box = [304.0201284041609, 222.305917169553, 328.1488619190915, 412.150330355609]
    np.testing.assert_allclose(s.bbox[0], process_bbox(ann_box, 1000, 1002))
    uv = s.joints_cam[0, :, :2] / s.joints_cam[0, :, 2:] * s.focal[0] + s.princpt[0]
    x, y, w, h = ann_box
    assert (uv[:, 0] > x).all() and (uv[:, 0] < x + w).all() and (uv[:, 1] > y).all() and (uv[:, 1] < y + h).all()
    assert s.source["annotations"].endswith("annotations")


def test_real_s11_record_rootnet(tmp_path):
    root = make_real_s11(tmp_path)
    s = load_split(root, 1, "rootnet")
    entry = next(e for e in json.loads(P1_FILE.read_text()) if e["image_id"] == IMAGE_ID)
    np.testing.assert_array_equal(s.bbox[0], entry["bbox"])          # used as is, not processed again
    np.testing.assert_array_equal(s.root_cam[0], entry["root_cam"])
    gt = load_split(root, 1, "gt").root_cam[0]
    assert np.linalg.norm(s.root_cam[0] - gt) < 100.0
    assert s.source["bbox_root"].endswith("bbox_root_human36m_output.json")
    # the Protocol-2 file covers the image too (explicit file overrides the one found)
    s2 = load_split(root, 1, "rootnet", bbox_root_file=P2_FILE)
    assert np.linalg.norm(s2.root_cam[0] - gt) < 100.0


def test_real_bbox_root_files_parse_and_index():
    p1, p2 = load_bbox_root(P1_FILE), load_bbox_root(P2_FILE)
    assert len(p1) == 3683 and len(p2) == 8695
    rows, found = p2.lookup(p1.image_id)
    assert found.all()
    np.testing.assert_array_equal(p2.image_id[rows], p1.image_id)
    same = np.isclose(p2.bbox[rows], p1.bbox).all(axis=1)   # mostly the same detections, other RootNet roots
    assert same.mean() > 0.9 and not np.allclose(p2.root_cam[rows], p1.root_cam)
    assert (p2.bbox[:, 2] == p2.bbox[:, 3]).all()           # extended to the 1:1 input aspect ratio
    assert IMAGE_ID in p1 and 12345 not in p1
    assert p1[IMAGE_ID]["bbox"].shape == (4,)
    _, f = p1.lookup([IMAGE_ID, 1, IMAGE_ID + 64])
    assert f.tolist() == [True, False, True]
    assert len(p1.as_dict()) == 3683


def test_nested_kaggle_layout_is_found(tmp_path):
    root = make_real_s11(tmp_path / "h36m", ann_dir="annotations (1)/annotations", bbox_root=None)
    seq = root / "images" / "S11_ACT2_16" / "s_11_act_02_subact_01_ca_01"
    seq.mkdir(parents=True)
    (root / "extra" / "bbox_root").mkdir(parents=True)
    shutil.copy(P2_FILE, root / "extra" / "bbox_root" / "bbox_root_human36m_output.json")
    shutil.copy(P1_FILE, root / "extra" / "bbox_root" / P1_FILE.name)
    layout = find_dataset(tmp_path)
    assert layout.subjects == [11]
    assert layout.sequences["s_11_act_02_subact_01_ca_01"] == seq.resolve()
    assert layout.bbox_root_file.name == "bbox_root_human36m_output.json" and len(layout.bbox_root_files) == 2
    s = load_split(tmp_path, 1, "rootnet")
    assert s.image_path[0] == str(seq.resolve() / "s_11_act_02_subact_01_ca_01_000001.jpg")


def test_split_definitions():
    assert split_subjects(1) == (11,) and split_subjects(2) == (9, 11)
    assert split_subjects(1, "train") == (1, 5, 6, 7, 8, 9) and split_subjects(2, "train") == (1, 5, 6, 7, 8)
    with pytest.raises(DatasetError, match="protocol"):
        split_subjects(3)


def test_train_split_and_subject_override(tmp_path):
    root = make_real_s11(tmp_path)
    s = load_train_split(root, 1, subjects=[11])  # frame 0 is also a train frame (every 5th)
    assert len(s) == 1 and s.box == "gt"
    with pytest.raises(DatasetError, match="only for the test split"):
        load_split(root, 1, "rootnet", split="train")


def test_missing_subject_file_names_expected_file(tmp_path):
    root = make_real_s11(tmp_path)
    with pytest.raises(DatasetError, match="Human36M_subject9_data.json not found"):
        load_split(root, 2, "gt")
    (root / "annotations" / "Human36M_subject11_joint_3d.json").unlink()
    with pytest.raises(DatasetError, match="Human36M_subject11_joint_3d.json not found"):
        load_split(root, 1, "gt")


def test_malformed_json_names_the_file(tmp_path):
    root = make_real_s11(tmp_path)
    p = root / "annotations" / "Human36M_subject11_data.json"
    p.write_text(p.read_text()[:-20])
    with pytest.raises(DatasetError, match=r"Human36M_subject11_data.json is not valid JSON"):
        load_split(root, 1, "gt")


def test_data_file_that_is_not_coco_style_names_the_file(tmp_path):
    root = make_real_s11(tmp_path)
    rewrite_json(root / "annotations" / "Human36M_subject11_data.json", lambda d: d.update({"images": {}}))
    with pytest.raises(DatasetError, match=r"Human36M_subject11_data.json: expected a COCO-style object with 'images' "
                                           r"and 'annotations' lists"):
        load_split(root, 1, "gt")


def test_missing_field_and_joint_frame(tmp_path):
    root = make_real_s11(tmp_path)
    rewrite_json(root / "annotations" / "Human36M_subject11_data.json", lambda d: d["images"][0].pop("cam_idx"))
    with pytest.raises(DatasetError, match="cam_idx"):
        load_split(root, 1, "gt")
    root = make_real_s11(tmp_path / "b")
    rewrite_json(root / "annotations" / "Human36M_subject11_joint_3d.json",
             lambda d: d["2"]["1"].update({"64": d["2"]["1"].pop("0")}))
    with pytest.raises(DatasetError, match="no 3D joints for action 2, subaction 1, frame 0"):
        load_split(root, 1, "gt")


@pytest.mark.parametrize("bad", ["scaled", "reflection"])
def test_non_rotation_camera_is_rejected(tmp_path, bad):
    root = make_real_s11(tmp_path)

    def spoil(cams):
        R = np.array(cams["1"]["R"])
        cams["1"]["R"] = (R * 1.01 if bad == "scaled" else -R).tolist()

    rewrite_json(root / "annotations" / "Human36M_subject11_camera.json", spoil)
    with pytest.raises(DatasetError, match="camera 1 R is not a rotation"):
        load_split(root, 1, "gt")


def test_bbox_root_missing_ids_and_nan(tmp_path):
    root = make_real_s11(tmp_path)
    rewrite_json(root / "bbox_root" / "bbox_root_human36m_output.json", lambda d: d.pop(0))
    with pytest.raises(DatasetError, match=r"bbox_root_human36m_output.json has no entry for 1 of the 1 .*1877420"):
        load_split(root, 1, "rootnet")
    assert len(load_split(root, 1, "gt")) == 1   # GT boxes/roots still work
    p = tmp_path / "nan.json"
    p.write_text('[{"image_id": 1, "bbox": [1, 2, 3, NaN], "root_cam": [0, 0, 5000]}]')
    with pytest.raises(DatasetError, match="nan.json: 1 entries have NaN"):
        load_bbox_root(p)
    p.write_text('[{"image_id": 1, "bbox": [1, 2, 3, 4]}]')
    with pytest.raises(DatasetError, match="root_cam"):
        load_bbox_root(p)
    shutil.rmtree(root / "bbox_root")
    with pytest.raises(DatasetError, match="no bbox_root file"):
        load_split(root, 1, "rootnet")


def test_empty_split_and_degenerate_boxes(tmp_path):
    root = make_real_s11(tmp_path)
    data_p = root / "annotations" / "Human36M_subject11_data.json"
    joint_p = root / "annotations" / "Human36M_subject11_joint_3d.json"

    def add_frame(d, frame, box, new_id):
        im = dict(d["images"][0], id=new_id, frame_idx=frame)
        d["images"].append(im)
        d["annotations"].append(dict(d["annotations"][0], id=new_id, image_id=new_id, bbox=box))

    rewrite_json(joint_p, lambda d: d["2"]["1"].update({"64": d["2"]["1"]["0"], "3": d["2"]["1"]["0"]}))
    rewrite_json(data_p, lambda d: (add_frame(d, 64, [10, 10, 0, 50], 7), add_frame(d, 3, [10, 10, 50, 50], 8)))
    s = load_split(root, 1, "gt")
    assert s.image_id.tolist() == [IMAGE_ID]          # frame 3 is not a test frame, frame 64's box is degenerate
    assert s.skipped == {"degenerate_bbox": 1}
    rewrite_json(data_p, lambda d: [im.update(frame_idx=im["frame_idx"] + 1) for im in d["images"]])
    rewrite_json(joint_p, lambda d: d["2"]["1"].update({str(k): d["2"]["1"]["0"] for k in (1, 4, 65)}))
    with pytest.raises(DatasetError, match="no test images"):
        load_split(root, 1, "gt")


def test_not_a_folder(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        load_split(tmp_path / "nope", 1)
