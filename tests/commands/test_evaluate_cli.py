"""``pose3dbench evaluate`` end to end on a small annotation-only Human3.6M folder built here
(real S11 cameras and a real S11 pose, perturbed), in the 3DMPPE file layout."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pose3dbench.cli import main as cli_main
from pose3dbench.data.h36m import evaluate_pose, load_split
from pose3dbench.results.predictions import save_predictions
from tests.helpers.paths import S11_ANNOTATIONS as FRAME_DIR

# frames per action: uneven, so the sample-weighted total differs from the action mean
FRAMES_PER_ACTION = {2: 12, 3: 3, 5: 6, 14: 9}
#: the dataset's record, plus which dataset, split and root it is (Human3.6M records keep their protocol)
RESULT_KEYS = {"dataset", "split", "protocol", "root", "metric", "total_mm", "action_mean_mm", "per_action_mm",
               "per_joint_mm", "num_samples", "skipped", "joint_set", "approximate_joint_mapping"}


def build_dataset(root: Path, seed: int = 0) -> Path:
    """Annotation files for subjects 9 and 11 (cameras 1..4, every 64th frame) + a bbox_root file."""
    rng = np.random.default_rng(seed)
    cams = json.loads((FRAME_DIR / "Dummy_subject1_camera.json").read_text())
    base = np.asarray(json.loads((FRAME_DIR / "Dummy_subject1_joint_3d.json").read_text())["2"]["1"]["0"])
    ann = root / "annotations"
    ann.mkdir(parents=True)
    bbox_root = []
    next_id = 1
    for subject in (9, 11):
        images, anns, joints = [], [], {}
        for action, nframes in FRAMES_PER_ACTION.items():
            for k in range(nframes):
                frame = 64 * k
                world = base + rng.normal(0, 40, (17, 3)) + [rng.normal(0, 300), rng.normal(0, 300), 0]
                joints.setdefault(str(action), {}).setdefault("1", {})[str(frame)] = world.tolist()
                for cam_idx in (1, 2) if k % 2 else (3,):
                    cam = {q: np.asarray(v) for q, v in cams[str(cam_idx)].items()}
                    jc = world @ cam["R"].T + cam["t"]
                    uv = jc[:, :2] / jc[:, 2:] * cam["f"] + cam["c"]
                    lo, hi = uv.min(0) - 20, uv.max(0) + 20
                    name = f"s_{subject:02d}_act_{action:02d}_subact_01_ca_{cam_idx:02d}"
                    images.append({"id": next_id, "file_name": f"{name}/{name}_{frame + 1:06d}.jpg",
                                   "width": 1000, "height": 1002, "subject": subject, "action_idx": action,
                                   "subaction_idx": 1, "cam_idx": cam_idx, "frame_idx": frame})
                    anns.append({"id": next_id, "image_id": next_id, "bbox": [*lo.tolist(), *(hi - lo).tolist()]})
                    bbox_root.append({"image_id": next_id, "bbox": [*(lo - 30).tolist(), *(hi - lo + 60).tolist()],
                                      "root_cam": (jc[0] + rng.normal(0, 50, 3)).tolist()})
                    next_id += 1
        (ann / f"Human36M_subject{subject}_data.json").write_text(json.dumps({"images": images, "annotations": anns}))
        (ann / f"Human36M_subject{subject}_camera.json").write_text(json.dumps(cams))
        (ann / f"Human36M_subject{subject}_joint_3d.json").write_text(json.dumps(joints))
    (root / "bbox_root").mkdir()
    (root / "bbox_root" / "bbox_root_human36m_output.json").write_text(json.dumps(bbox_root))
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("h36m"))


def write_preds(path, samples, pred_cam, protocol, root="gt", joint_set="h36m18", older=False):
    """A predictions file of ``pose3dbench run`` (rows reversed); ``older``: as earlier versions wrote it (meta
    names the protocol, not the dataset and split; no sample ids)."""
    n, j = pred_cam.shape[:2]
    split = {"protocol": protocol} if older else {"dataset": "h36m", "split": f"p{protocol}"}
    ids = {} if older else {"sample_id": samples.sample_id[::-1]}
    return save_predictions(path, image_id=samples.image_id[::-1], coords_hm=np.zeros((n, j, 3)),
                            bbox=samples.bbox[::-1], root_cam=samples.root_cam[::-1], pred_cam=pred_cam[::-1],
                            meta={"heatmap_size": [64, 64], "depth_bins": 64, "joint_set": joint_set,
                                  **split, "root": root, "model": "test"}, **ids)


def run_json(capsys, *argv) -> dict:
    assert cli_main(["evaluate", *map(str, argv), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # exactly one JSON object
    return json.loads(out)


@pytest.mark.parametrize("protocol", [1, 2])
def test_ground_truth_scores_zero(data_dir, tmp_path, capsys, protocol):
    s = load_split(data_dir, protocol, "gt")
    f = write_preds(tmp_path / "p.npz", s, s.joints_cam + [0.0, 0.0, 80.0], protocol)
    res = run_json(capsys, "--data", data_dir, "--predictions", f)
    # both protocols carry the scaled (similarity-aligned) variant, with its own breakdown
    assert set(res) == RESULT_KEYS | {"pa_mpjpe_scaled_mm", "pa_mpjpe_scaled"}
    assert set(res["pa_mpjpe_scaled"]) == {"total_mm", "action_mean_mm", "per_action_mm", "per_joint_mm"}
    assert res["pa_mpjpe_scaled"]["total_mm"] < 1e-6
    assert list(res["pa_mpjpe_scaled"]["per_action_mm"]) == list(res["per_action_mm"])
    assert res["protocol"] == protocol and res["root"] == "gt"
    assert (res["dataset"], res["split"]) == ("h36m", f"p{protocol}")  # from the file's meta
    assert res["metric"] == ("PA-MPJPE" if protocol == 1 else "MPJPE")
    # 44 images per subject (cameras: 1 on even, 2 on odd frames); Protocol 1 = S11 only
    assert res["num_samples"] == len(s) == (88 if protocol == 2 else 44)
    assert res["total_mm"] < 1e-6 and max(res["per_joint_mm"].values()) < 1e-6
    assert list(res["per_action_mm"]) == ["Directions", "Discussion", "Greeting", "Walking"]


@pytest.mark.parametrize("protocol", [1, 2])
def test_files_of_earlier_versions_score_as_new_ones(data_dir, tmp_path, capsys, protocol):
    """A predictions file whose meta names the protocol (no dataset, split or sample ids) is still read."""
    s = load_split(data_dir, protocol, "gt")
    pred = s.joints_cam + np.random.default_rng(8).normal(0, 12, s.joints_cam.shape)
    new = run_json(capsys, "--data", data_dir, "--predictions", write_preds(tmp_path / "new.npz", s, pred, protocol))
    old = run_json(capsys, "--data", data_dir, "--predictions",
                   write_preds(tmp_path / "old.npz", s, pred, protocol, older=True))
    assert old == new and old["split"] == f"p{protocol}" and old["protocol"] == protocol


def test_gaussian_noise_expected_value(data_dir, tmp_path, capsys):
    s = load_split(data_dir, 2, "gt")
    sigma = 25.0
    pred = s.joints_cam.copy()
    pred[:, 1:] += np.random.default_rng(3).normal(0, sigma, (len(s), 17, 3))  # root exact
    f = write_preds(tmp_path / "p.npz", s, pred, 2)
    res = run_json(capsys, "--data", data_dir, "--predictions", f)
    assert res["total_mm"] == pytest.approx(evaluate_pose(pred, s, 2)["total_mm"], rel=1e-12)
    # E = 16/17 * sigma * sqrt(8/pi); 88 x 16 draws: standard error sigma*sqrt(3-8/pi)/sqrt(1408) ~ 0.018 sigma
    expected = 16 / 17 * sigma * math.sqrt(8 / math.pi)
    assert res["total_mm"] == pytest.approx(expected, abs=4 * 0.018 * sigma * 16 / 17)
    assert res["per_joint_mm"]["Pelvis"] == 0.0


def test_scaled_pose_and_thorax_noise(data_dir, tmp_path, capsys):
    s = load_split(data_dir, 1, "gt")
    rel = s.joints_cam - s.joints_cam[:, :1]
    f = write_preds(tmp_path / "scaled.npz", s, rel * 1.15 + s.joints_cam[:, :1], 1)
    res = run_json(capsys, "--data", data_dir, "--predictions", f)
    assert res["total_mm"] > 5 and res["pa_mpjpe_scaled_mm"] < 1e-6
    scores = {}
    for protocol in (1, 2):
        sp = load_split(data_dir, protocol, "gt")
        pred = sp.joints_cam + np.random.default_rng(4).normal(0, 10, sp.joints_cam.shape)
        thorax = pred.copy()
        thorax[:, 17] += [150.0, -80.0, 60.0]
        for name, arr in (("clean", pred), ("thorax", thorax)):
            f = write_preds(tmp_path / f"{name}{protocol}.npz", sp, arr, protocol)
            scores[name, protocol] = run_json(capsys, "--data", data_dir, "--predictions", f, "--split",
                                              f"p{protocol}")
    assert scores["clean", 2]["total_mm"] == scores["thorax", 2]["total_mm"]
    assert abs(scores["clean", 1]["total_mm"] - scores["thorax", 1]["total_mm"]) > 0.5


def test_total_is_sample_weighted_and_table_output(data_dir, tmp_path, capsys):
    s = load_split(data_dir, 2, "gt")
    pred = s.joints_cam.copy()
    directions = s.groups["action_idx"] == 2
    pred[directions, 1:17, 1] += 34.0  # Directions: 32 mm per sample, the others 0
    f = write_preds(tmp_path / "p.npz", s, pred, 2)
    res = run_json(capsys, "--data", data_dir, "--predictions", f)
    n_dir = int(directions.sum())
    assert res["per_action_mm"]["Directions"] == pytest.approx(32.0)
    assert res["total_mm"] == pytest.approx(32.0 * n_dir / len(s))
    assert res["action_mean_mm"] == pytest.approx(32.0 / 4)
    assert res["total_mm"] != pytest.approx(res["action_mean_mm"])
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(f)]) == 0
    table = capsys.readouterr().out
    for word in ("MPJPE", "Directions", "Walking", "L_Wrist", "total", f"{res['total_mm']:.2f}",
                 f"action mean {res['action_mean_mm']:.2f} mm"):
        assert word in table


def test_authors_json_and_rootnet_split(data_dir, tmp_path, capsys):
    s = load_split(data_dir, 2, "rootnet")
    pred = s.joints_cam + np.random.default_rng(5).normal(0, 15, s.joints_cam.shape)
    rel17 = (pred - pred[:, :1])[:, :17]  # the authors save root-relative, Thorax dropped
    f = tmp_path / "bbox_root_pose_human36m_output.json"
    f.write_text(json.dumps([{"image_id": int(i), "joint_cam": p.tolist()} for i, p in zip(s.image_id, rel17)]))
    res = run_json(capsys, "--data", data_dir, "--predictions", f, "--root", "rootnet")
    assert res["root"] == "rootnet" and res["joint_set"] == "h36m17"
    assert res["total_mm"] == pytest.approx(evaluate_pose(pred, s, 2)["total_mm"], rel=1e-9)
    out = tmp_path / "res" / "metrics.json"
    run_json(capsys, "--data", data_dir, "--predictions", f, "--root", "rootnet", "--out", out)
    assert json.loads(out.read_text())["total_mm"] == res["total_mm"]


def test_rootnet_file_gives_mrpe(data_dir, capsys):
    res = run_json(capsys, "--data", data_dir,
                   "--predictions", data_dir / "bbox_root" / "bbox_root_human36m_output.json",
                   "--root", "rootnet")
    assert res["metric"] == "MRPE" and res["num_samples"] == 88
    assert 40 < res["mrpe_mm"] < 120  # 3D Gaussian, sigma 50 mm: expectation 79.8 mm


def test_mismatched_ids_fail_with_clear_message(data_dir, tmp_path, capsys):
    s2 = load_split(data_dir, 2, "gt")
    f = write_preds(tmp_path / "p2.npz", s2, s2.joints_cam, 2)
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(f), "--split", "p1"]) == 2
    err = capsys.readouterr().err
    assert "p2.npz" in err and "not in the split" in err
    s1 = s2.subset(slice(0, 50))
    f = write_preds(tmp_path / "short.npz", s1, s1.joints_cam, 2)
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(f)]) == 2
    assert f"{len(s2) - 50} sample ids of the split have no prediction" in capsys.readouterr().err
    f = write_preds(tmp_path / "short_older.npz", s1, s1.joints_cam, 2, older=True)  # no sample ids: image ids
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(f)]) == 2
    assert f"{len(s2) - 50} image ids of the split have no prediction" in capsys.readouterr().err


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    from pose3dbench.data.h36m.synthetic import generate

    return generate(tmp_path_factory.mktemp("synth") / "h36m", seed=1, size="tiny")


@pytest.mark.parametrize("protocol", [1, 2])
def test_synthetic_set_heatmap_round_trip_scores_zero(synth_dir, tmp_path, capsys, protocol):
    """GT -> heatmap units (RootNet box and root) -> camera mm -> .npz -> evaluate: ~0 mm."""
    from pose3dbench.models.codecs import camera_to_heatmap, heatmap_to_camera

    data = synth_dir
    s = load_split(data, protocol, "rootnet")
    geo = dict(heatmap_size=(64, 64), depth_bins=64)
    hm = camera_to_heatmap(s.joints_cam, s.bbox, s.root_cam, s.focal, s.princpt, **geo, depth_range_mm=2000.0)
    pred_cam = heatmap_to_camera(hm, s.bbox, s.root_cam, s.focal, s.princpt, **geo, depth_range_mm=2000.0)
    path = save_predictions(tmp_path / "p.npz", image_id=s.image_id, coords_hm=hm, bbox=s.bbox, root_cam=s.root_cam,
                            pred_cam=pred_cam, meta={**geo, "joint_set": "h36m18", "dataset": "h36m",
                                                     "split": f"p{protocol}", "root": "rootnet", "model": "gt"})
    res = run_json(capsys, "--data", data, "--predictions", path)
    assert res["root"] == "rootnet" and res["num_samples"] == len(s) > 0 and res["split"] == f"p{protocol}"
    assert res["total_mm"] < 1e-6 and len(res["per_action_mm"]) == 15


def test_root_only_npz_and_muco21_predictions(data_dir, tmp_path, capsys):
    from pose3dbench.joints import MUCO_TO_H36M17

    s = load_split(data_dir, 2, "gt")
    root = s.joints_cam[:, 0] + [[30.0, -40.0, 0.0]]  # every root 50 mm off
    f = save_predictions(tmp_path / "root.npz", image_id=s.image_id, root_cam=root,
                         meta={"model": "rootnet", "dataset": "h36m", "split": "p2", "root": "gt", "kind": "root"})
    res = run_json(capsys, "--data", data_dir, "--predictions", f)
    assert res["metric"] == "MRPE" and res["mrpe_mm"] == pytest.approx(50.0)
    assert (res["dataset"], res["split"], res["root"], res["protocol"]) == ("h36m", "p2", "gt", 2)
    assert (res["x_mm"], res["y_mm"], res["z_mm"]) == pytest.approx((30.0, 40.0, 0.0))
    muco = np.zeros((len(s), 21, 3))
    muco[:, list(MUCO_TO_H36M17)] = s.joints_cam[:, :17]
    muco[:, 8] += [0.0, 0.0, 17.0]  # MuCo R_Hip -> Human3.6M R_Hip: 17 mm / 17 joints = 1 mm
    f = write_preds(tmp_path / "muco.npz", s, muco, 2, joint_set="muco21")
    res = run_json(capsys, "--data", data_dir, "--predictions", f)
    assert res["approximate_joint_mapping"] is True and res["joint_set"] == "muco21"
    assert res["total_mm"] == pytest.approx(1.0) and res["per_joint_mm"]["R_Hip"] == pytest.approx(17.0)
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(f), "--joint-set", "h36m18"]) == 2
    assert "21 joints" in capsys.readouterr().err
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(f)]) == 0
    assert "approximately" in capsys.readouterr().out


@pytest.mark.parametrize("protocol", [1, 2])
def test_minimal_npz_image_id_and_pred_cam_scores_as_the_full_file(data_dir, tmp_path, capsys, protocol):
    """Predictions from one's own code: np.savez(f, image_id=..., pred_cam=...) is all scoring needs."""
    s = load_split(data_dir, protocol, "gt")
    pred = s.joints_cam + np.random.default_rng(7).normal(0, 12, s.joints_cam.shape)
    full = run_json(capsys, "--data", data_dir, "--predictions", write_preds(tmp_path / "full.npz", s, pred, protocol))
    minimal = tmp_path / "mine.npz"
    np.savez(minimal, image_id=s.image_id[::-1], pred_cam=pred[::-1])
    res = run_json(capsys, "--data", data_dir, "--predictions", minimal, "--split", f"p{protocol}")
    assert res["total_mm"] == full["total_mm"] and res["per_action_mm"] == full["per_action_mm"]
    assert res["joint_set"] == "h36m18"
    rel17 = tmp_path / "mine17.npz"  # 17 joints, root-relative: the joint set comes from the shape
    np.savez(rel17, image_id=s.image_id, pred_cam=(pred - pred[:, :1])[:, :17])
    assert run_json(capsys, "--data", data_dir, "--predictions", rel17, "--split", protocol)["joint_set"] == "h36m17"


def test_minimal_npz_errors_name_the_file_and_the_form(data_dir, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, ids=np.arange(3))
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "bad.npz" in err and "image_id" in err and "pred_cam" in err
    nan = tmp_path / "nan.npz"
    np.savez(nan, image_id=np.arange(2), pred_cam=np.full((2, 18, 3), np.nan))
    assert cli_main(["evaluate", "--data", str(data_dir), "--predictions", str(nan)]) != 0
    assert "NaN" in capsys.readouterr().err
