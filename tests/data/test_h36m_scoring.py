"""Human3.6M scoring (``data.h36m.scoring``): vectorised code vs a plain per-sample loop of the authors' algorithm,
hand-computed / analytic expectations, and the split's scoring declaration."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pose3dbench.data.dataset import PosePredictions
from pose3dbench.data.h36m import ACTIONS, H36MScoring, Human36M, evaluate_pose
from pose3dbench.data.samples import Samples
from pose3dbench.errors import DatasetError, PredictionsError
from pose3dbench.joints import H36M_JOINT_NAMES, MUCO_TO_H36M17
from pose3dbench.metrics import similarity_align
from tests.helpers.reference import ref_rigid_align, ref_scaled_align


def make_samples(n: int, actions=None, seed: int = 0, protocol: int = 2, box: str = "gt") -> Samples:
    """Hand-built Human3.6M split ``p<protocol>``: plausible poses (camera mm) about 5 m in front of the camera."""
    rng = np.random.default_rng(seed)
    actions = np.resize(np.arange(2, 17), n) if actions is None else np.asarray(actions)
    pelvis = rng.normal([0, 0, 5000], [400, 200, 500], (n, 1, 3))
    joints = pelvis + np.concatenate([np.zeros((n, 1, 3)), rng.normal(0, 300, (n, 16, 3))], axis=1)
    thorax = (joints[:, 11] + joints[:, 14]) / 2
    joints = np.concatenate([joints, thorax[:, None]], axis=1)
    ids = np.arange(1000, 1000 + n, dtype=np.int64)
    groups = {"subject": np.full(n, 11), "action_idx": actions, "subaction_idx": np.ones(n, int),
              "cam_idx": np.ones(n, int), "frame_idx": np.arange(n) * 64}
    return Samples(
        dataset="h36m", split=f"p{protocol}", box=box, sample_id=ids.copy(), image_id=ids,
        image_path=[f"img_{i}.jpg" for i in range(n)], image_size=np.tile([1000, 1000], (n, 1)),
        bbox=np.tile([300.0, 200.0, 400.0, 400.0], (n, 1)), root_cam=joints[:, 0].copy(), joints_cam=joints,
        focal=np.full((n, 2), 1145.0), princpt=np.full((n, 2), 512.0), groups=groups,
        skipped={"degenerate_bbox": 1},
    )


def ref_evaluate(pred, samples, protocol):
    n = len(samples)
    err = np.zeros((n, 17))
    per_action = {}
    for i in range(n):
        p = pred[i] - pred[i][0]
        g = samples.joints_cam[i] - samples.joints_cam[i][0]
        if protocol == 1:
            p = ref_rigid_align(p, g)
        err[i] = np.sqrt(((p[:17] - g[:17]) ** 2).sum(axis=1))
        per_action.setdefault(int(samples.groups["action_idx"][i]), []).append(err[i])
    return err, {k: float(np.mean(v)) for k, v in per_action.items()}


def noisy(samples, sigma, seed=1):
    return samples.joints_cam + np.random.default_rng(seed).normal(0, sigma, samples.joints_cam.shape)


@pytest.mark.parametrize("protocol", [1, 2])
def test_vectorised_matches_per_sample_loop(protocol):
    s = make_samples(60, seed=3)
    pred = noisy(s, 40.0)
    pred[::3] = pred[::3] * np.array([-1.0, 1.0, 1.0])  # mirrored poses: the reflection branch fires
    res = evaluate_pose(pred, s, protocol)
    err, per_action = ref_evaluate(pred, s, protocol)
    rel = lambda x: x - x[:, :1]  # noqa: E731
    h = np.einsum("nji,njk->nik", rel(pred) - rel(pred).mean(1, keepdims=True), rel(s.joints_cam))
    u, _, vt = np.linalg.svd(h)
    assert (np.linalg.det(np.swapaxes(vt, 1, 2) @ np.swapaxes(u, 1, 2)) < 0).sum() >= 10  # det<0 branch used
    np.testing.assert_allclose(res["per_sample_mm"], err.mean(axis=1), rtol=1e-10)
    assert res["total_mm"] == pytest.approx(err.mean(), rel=1e-10)
    for k, v in per_action.items():
        assert res["per_action_mm"][ACTIONS[k]] == pytest.approx(v, rel=1e-10)
    np.testing.assert_allclose(list(res["per_joint_mm"].values()), err.mean(axis=0), rtol=1e-10)
    if protocol == 1:
        ref = [np.sqrt(((ref_scaled_align(pred[i, :17] - pred[i, 0], s.joints_cam[i, :17] - s.joints_cam[i, 0])
                         - (s.joints_cam[i, :17] - s.joints_cam[i, 0])) ** 2).sum(1)).mean() for i in range(len(s))]
        assert res["pa_mpjpe_scaled_mm"] == pytest.approx(np.mean(ref), rel=1e-9)


def test_mpjpe_hand_computed_and_result_keys():
    s = make_samples(2, actions=[2, 3])
    pred = s.joints_cam + 1234.0  # absolute offset disappears (root-relative)
    pred[0, 5] += [3.0, 4.0, 0.0]  # 5 mm on L_Knee of sample 0
    res = evaluate_pose(pred, s, 2)
    assert res["total_mm"] == pytest.approx(5 / 34)
    assert res["per_action_mm"] == pytest.approx({"Directions": 5 / 17, "Discussion": 0.0})
    assert res["per_joint_mm"]["L_Knee"] == pytest.approx(2.5)
    assert res["per_joint_mm"]["Pelvis"] == 0.0
    assert list(res["per_joint_mm"]) == list(H36M_JOINT_NAMES[:17])
    np.testing.assert_allclose(res["per_sample_mm"], [5 / 17, 0.0], atol=1e-9)
    assert set(res) == {"protocol", "root", "metric", "total_mm", "action_mean_mm", "per_action_mm",
                        "per_joint_mm", "num_samples", "skipped", "joint_set", "approximate_joint_mapping",
                        "per_sample_mm", "pa_mpjpe_scaled_mm", "pa_mpjpe_scaled"}
    assert (res["protocol"], res["root"], res["metric"], res["num_samples"]) == (2, "gt", "MPJPE", 2)
    assert res["skipped"] == {"degenerate_bbox": 1} and res["approximate_joint_mapping"] is False
    p1 = evaluate_pose(pred, s, 1)
    assert p1["metric"] == "PA-MPJPE" and "pa_mpjpe_scaled_mm" in p1


def test_scaled_variant_per_action_joint_and_sample_on_both_protocols():
    s = make_samples(6, actions=[2, 3, 2, 3, 2, 3], seed=3)
    rng = np.random.default_rng(1)
    rel = s.joints_cam - s.joints_cam[:, :1]
    pred = 0.8 * rel + rng.normal(0, 5.0, rel.shape)  # 20% too small: the scaled fit undoes it, the rigid one not
    for protocol in (1, 2):
        res = evaluate_pose(pred, s, protocol, scaled_per_sample=True)
        sc = res["pa_mpjpe_scaled"]
        assert sc["total_mm"] == pytest.approx(res["pa_mpjpe_scaled_mm"]) and sc["total_mm"] < res["total_mm"]
        assert set(sc["per_action_mm"]) == set(res["per_action_mm"]) == {"Directions", "Discussion"}
        assert list(sc["per_joint_mm"]) == list(H36M_JOINT_NAMES[:17])
        per_sample = res["per_sample_scaled_mm"]
        assert per_sample.shape == (6,) and per_sample.mean() == pytest.approx(sc["total_mm"])
        action_idx = s.groups["action_idx"]
        first = action_idx == action_idx[0]
        assert sc["per_action_mm"]["Directions" if action_idx[0] == 2 else "Discussion"] == pytest.approx(
            per_sample[first].mean())
    assert "per_sample_scaled_mm" not in evaluate_pose(pred, s, 1)  # only on request: results.json stays small


def test_rigid_motion_gives_zero_pa_but_not_mpjpe():
    s = make_samples(10, seed=7)
    th = 0.4
    r = np.array([[math.cos(th), 0, math.sin(th)], [0, 1, 0], [-math.sin(th), 0, math.cos(th)]])
    pred = s.joints_cam @ r.T + [50.0, -20.0, 300.0]
    assert evaluate_pose(pred, s, 2)["total_mm"] > 50
    p1 = evaluate_pose(pred, s, 1)
    assert p1["total_mm"] < 1e-9 and p1["pa_mpjpe_scaled_mm"] < 1e-9


def test_scaled_pose_pa_without_scale_nonzero_scaled_variant_zero():
    s = make_samples(10, seed=8)
    pred = s.joints_cam * 1.2
    p1 = evaluate_pose(pred, s, 1)
    assert p1["total_mm"] > 10
    assert p1["pa_mpjpe_scaled_mm"] < 1e-9
    np.testing.assert_allclose(similarity_align(pred, s.joints_cam), s.joints_cam, atol=1e-8)


def test_thorax_noise_changes_p1_but_not_p2():
    s = make_samples(30, seed=9)
    pred = noisy(s, 20.0)
    pred2 = pred.copy()
    pred2[:, 17] += np.random.default_rng(4).normal(0, 200, (30, 3))
    assert evaluate_pose(pred2, s, 2)["total_mm"] == evaluate_pose(pred, s, 2)["total_mm"]
    assert abs(evaluate_pose(pred2, s, 1)["total_mm"] - evaluate_pose(pred, s, 1)["total_mm"]) > 0.1
    # the scaled variant is fitted on the 17 scored joints only
    assert evaluate_pose(pred2, s, 1)["pa_mpjpe_scaled_mm"] == pytest.approx(
        evaluate_pose(pred, s, 1)["pa_mpjpe_scaled_mm"], rel=1e-12)


def test_sample_weighted_total_differs_from_action_mean():
    s = make_samples(4, actions=[2, 2, 2, 5])
    pred = s.joints_cam.copy()
    pred[:3, 1:17, 0] += 17.0  # 16 joints x 17 mm over 17 joints -> 16 mm per sample
    res = evaluate_pose(pred, s, 2)
    assert res["per_action_mm"] == pytest.approx({"Directions": 16.0, "Greeting": 0.0})
    assert res["total_mm"] == pytest.approx(12.0)
    assert res["action_mean_mm"] == pytest.approx(8.0)


def test_gaussian_noise_matches_analytic_expectation():
    s = make_samples(3000, seed=10)
    sigma = 30.0
    pred = s.joints_cam.copy()
    pred[:, 1:] += np.random.default_rng(11).normal(0, sigma, (3000, 17, 3))  # root left exact
    res = evaluate_pose(pred, s, 2)
    expected = 16 / 17 * sigma * math.sqrt(8 / math.pi)  # Pelvis contributes 0
    # standard error: sigma*sqrt(3-8/pi)/sqrt(48000) ~ 0.003*sigma, allow ~5 standard errors
    assert res["total_mm"] == pytest.approx(expected, rel=0.016)
    assert res["per_joint_mm"]["Head"] == pytest.approx(sigma * math.sqrt(8 / math.pi), rel=0.05)


def test_muco21_mapping_is_marked_approximate():
    s = make_samples(8, seed=12)
    muco = np.random.default_rng(0).normal(0, 100, (8, 21, 3))
    muco[:, list(MUCO_TO_H36M17)] = s.joints_cam[:, :17] + 500.0
    res = evaluate_pose(muco, s, 2, joint_set="muco21")
    assert res["total_mm"] < 1e-9 and res["approximate_joint_mapping"] is True
    assert evaluate_pose(muco, s, 1, joint_set="muco21")["total_mm"] < 1e-9
    muco[:, 14, 0] += 10.0  # MuCo root (Pelvis) moves: every other joint is off by 10 mm
    assert evaluate_pose(muco, s, 2, joint_set="muco21")["total_mm"] == pytest.approx(10 * 16 / 17)


def test_h36m17_joint_set_aligns_on_17():
    s = make_samples(5, seed=13)
    res = evaluate_pose(s.joints_cam[:, :17], s, 1, joint_set="h36m17")
    assert res["total_mm"] < 1e-9 and res["approximate_joint_mapping"] is False


def test_bad_inputs_raise_clear_errors():
    s = make_samples(4)
    with pytest.raises(PredictionsError, match=r"\(4, 18, 3\)"):
        evaluate_pose(np.zeros((3, 18, 3)), s, 2)
    bad = s.joints_cam.copy()
    bad[2, 3, 0] = np.nan
    with pytest.raises(PredictionsError, match="1002"):
        evaluate_pose(bad, s, 2)
    with pytest.raises(PredictionsError):
        evaluate_pose(s.joints_cam, s, 3)
    s.groups["action_idx"][0] = 40
    with pytest.raises(DatasetError):
        evaluate_pose(s.joints_cam, s, 2)


def test_coplanar_poses_match_loop():
    s = make_samples(20, seed=16)
    s.joints_cam[:, :, 2] = 5000.0  # every joint in one plane
    s.joints_cam[:, 17] = (s.joints_cam[:, 11] + s.joints_cam[:, 14]) / 2
    pred = s.joints_cam.copy()
    pred[:, 1:, :2] += np.random.default_rng(17).normal(0, 20, (20, 17, 2))
    res = evaluate_pose(pred, s, 1)
    err, _ = ref_evaluate(pred, s, 1)
    np.testing.assert_allclose(res["per_sample_mm"], err.mean(axis=1), rtol=1e-9, atol=1e-9)


def test_the_protocol_comes_from_the_split():
    for protocol in (1, 2):
        s = make_samples(12, seed=20, protocol=protocol)
        pred = noisy(s, 30.0)
        res = evaluate_pose(pred, s)  # no protocol: the samples' split (p1 -> 1, p2 -> 2)
        assert res["protocol"] == protocol and res["total_mm"] == evaluate_pose(pred, s, protocol)["total_mm"]


@pytest.mark.parametrize("protocol", [1, 2])
def test_scoring_of_a_split_is_evaluate_pose(protocol):
    """``Human36M.scoring(split)`` (what a run and ``evaluate`` use) gives evaluate_pose's record and per-sample
    values, and declares how a report reads them."""
    s = make_samples(30, seed=21, protocol=protocol)
    pred = noisy(s, 25.0)
    scoring = Human36M.scoring(f"p{protocol}")
    assert isinstance(scoring, H36MScoring) and Human36M.scoring(str(protocol)).metric == scoring.metric
    scored = scoring.score(s, PosePredictions(pred, "h36m18"))
    ref = evaluate_pose(pred, s, protocol, scaled_per_sample=True)
    np.testing.assert_array_equal(scored.per_sample, ref.pop("per_sample_mm"))
    np.testing.assert_array_equal(scored.arrays["per_sample_scaled_mm"], ref.pop("per_sample_scaled_mm"))
    assert scored.record == ref and scored.weights is None
    scoring.check_record(scored.record, "evaluations[0]")
    decl = scoring.declaration()
    assert (decl["metric"], decl["unit"], decl["lower_is_better"], decl["value"]) == (
        "PA-MPJPE" if protocol == 1 else "MPJPE", "mm", True, "total_mm")
    assert decl["groups"] == {"per_action_mm": "action"} and decl["joints"] == "per_joint_mm"
    assert decl["group_mean"] == {"per_action_mm": "action_mean_mm"} and decl["short"] == f"P{protocol}"
    assert decl["group_order"]["per_action_mm"] == list(ACTIONS.values())
    assert decl["published"]["gt"] == ("p1_pa_mpjpe_mm" if protocol == 1 else "p2_mpjpe_mm")
    assert decl["root_independent"] is (protocol == 1)  # PA-MPJPE removes the root: one published number
    with pytest.raises(ValueError, match=r"evaluations\[0\]\.per_joint_mm\.Head"):
        scoring.check_record({**scored.record, "per_joint_mm": {"Head": -1.0}}, "evaluations[0]")


def test_split_names_and_labels():
    assert [Human36M.split_name(t) for t in ("1", "p1", "P1", " 2 ", "p2")] == ["p1", "p1", "p1", "p2", "p2"]
    with pytest.raises(DatasetError, match="no split '3'"):
        Human36M.split_name("3")
    assert Human36M.split_label("p1") == "Protocol 1 (S11)" and Human36M.split_label("2") == "Protocol 2 (S9, S11)"
    assert Human36M.record_fields("p2") == {"protocol": 2}
    assert (Human36M.name, Human36M.splits, Human36M.primary_split) == ("h36m", ("p1", "p2"), "p2")
