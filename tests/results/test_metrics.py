"""Human3.6M metrics: vectorised code vs a plain per-sample loop of the authors' algorithm, and
hand-computed / analytic expectations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pose3dbench.data.samples import H36MSamples
from pose3dbench.errors import DatasetError, PredictionsError
from pose3dbench.results.metrics import evaluate_pose, rigid_align, root_errors, similarity_align
from pose3dbench.joints import H36M_JOINT_NAMES, MUCO_TO_H36M17


def make_samples(n: int, actions=None, seed: int = 0, protocol: int = 2, root_source: str = "gt") -> H36MSamples:
    """Hand-built split: plausible poses (camera mm) about 5 m in front of the camera."""
    rng = np.random.default_rng(seed)
    actions = np.resize(np.arange(2, 17), n) if actions is None else np.asarray(actions)
    pelvis = rng.normal([0, 0, 5000], [400, 200, 500], (n, 1, 3))
    joints = pelvis + np.concatenate([np.zeros((n, 1, 3)), rng.normal(0, 300, (n, 16, 3))], axis=1)
    thorax = (joints[:, 11] + joints[:, 14]) / 2
    joints = np.concatenate([joints, thorax[:, None]], axis=1)
    return H36MSamples(
        protocol=protocol, root_source=root_source, image_id=np.arange(1000, 1000 + n, dtype=np.int64),
        image_path=[f"img_{i}.jpg" for i in range(n)], image_size=np.tile([1000, 1000], (n, 1)),
        subject=np.full(n, 11), action_idx=actions, subaction_idx=np.ones(n, int), cam_idx=np.ones(n, int),
        frame_idx=np.arange(n) * 64, bbox=np.tile([300.0, 200.0, 400.0, 400.0], (n, 1)),
        root_cam=joints[:, 0].copy(), joints_cam=joints, focal=np.full((n, 2), 1145.0),
        princpt=np.full((n, 2), 512.0), skipped={"degenerate_bbox": 1},
    )


# ---- reference: one sample at a time, written straight from the authors' description ----------
def ref_rigid_align(a, b):
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    u, s, vt = np.linalg.svd((a - ca).T @ (b - cb))
    r = vt.T @ u.T
    if np.linalg.det(r) < 0:
        vt[2] = -vt[2]
        r = vt.T @ u.T
    t = -r @ ca + cb
    return (r @ a.T).T + t


def ref_scaled_align(a, b):
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ca, b - cb
    na, nb = np.linalg.norm(a0), np.linalg.norm(b0)
    u, s, vt = np.linalg.svd((b0 / nb).T @ (a0 / na))  # VideoPose3D: H = X0^T Y0 (target first)
    v = vt.T
    r = v @ u.T
    sign = np.sign(np.linalg.det(r))
    v[:, -1] *= sign
    s[-1] *= sign
    r = v @ u.T
    scale = s.sum() * nb / na
    return scale * a0 @ r + cb


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
        per_action.setdefault(int(samples.action_idx[i]), []).append(err[i])
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
    from pose3dbench.joints import H36M_ACTIONS
    for k, v in per_action.items():
        assert res["per_action_mm"][H36M_ACTIONS[k]] == pytest.approx(v, rel=1e-10)
    np.testing.assert_allclose(list(res["per_joint_mm"].values()), err.mean(axis=0), rtol=1e-10)
    if protocol == 1:
        ref = [np.sqrt(((ref_scaled_align(pred[i, :17] - pred[i, 0], s.joints_cam[i, :17] - s.joints_cam[i, 0])
                         - (s.joints_cam[i, :17] - s.joints_cam[i, 0])) ** 2).sum(1)).mean() for i in range(len(s))]
        assert res["pa_mpjpe_scaled_mm"] == pytest.approx(np.mean(ref), rel=1e-9)


def test_reflection_is_handled_like_the_authors():
    rng = np.random.default_rng(5)
    b = rng.normal(0, 300, (40, 18, 3))
    a = b * np.array([1.0, -1.0, 1.0]) + rng.normal(0, 5, b.shape)  # a mirror image of b
    c = a.copy()
    out = rigid_align(a, b)
    np.testing.assert_array_equal(a, c)
    for i in range(len(a)):
        np.testing.assert_allclose(out[i], ref_rigid_align(a[i], b[i]), atol=1e-9)
    # a proper rotation can't undo a mirror: the error stays large
    assert np.sqrt(((out - b) ** 2).sum(-1)).mean() > 50


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
        first = s.action_idx == s.action_idx[0]
        assert sc["per_action_mm"]["Directions" if s.action_idx[0] == 2 else "Discussion"] == pytest.approx(
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
    s.action_idx[0] = 40
    with pytest.raises(DatasetError):
        evaluate_pose(s.joints_cam, s, 2)


def test_root_errors_hand_computed():
    gt = np.array([[0.0, 0.0, 5000.0], [100.0, 100.0, 4000.0]])
    pred = gt + [[3.0, 4.0, 0.0], [0.0, -6.0, 8.0]]
    res = root_errors(pred, gt)
    assert res == pytest.approx({"mrpe_mm": 7.5, "x_mm": 1.5, "y_mm": 5.0, "z_mm": 4.0, "num_samples": 2})
    with pytest.raises(PredictionsError):
        root_errors(pred[:, :2], gt)


def test_fast_rotation_equals_authors_svd_rotation():
    from pose3dbench.results.metrics import _kabsch_rotation, _svd_rotation

    rng = np.random.default_rng(15)
    h = rng.normal(0, 1e5, (400, 3, 3))
    h[:50, 2] *= 1e-6  # nearly rank-2 matrices
    h[50:60, 2] = 0.0  # exactly rank-2: SVD fallback
    r = _kabsch_rotation(h)
    np.testing.assert_allclose(r, _svd_rotation(h), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)  # always a proper rotation
    np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    assert (np.linalg.det(h) < 0).sum() > 100  # both branches exercised


def test_coplanar_poses_match_loop():
    s = make_samples(20, seed=16)
    s.joints_cam[:, :, 2] = 5000.0  # every joint in one plane
    s.joints_cam[:, 17] = (s.joints_cam[:, 11] + s.joints_cam[:, 14]) / 2
    pred = s.joints_cam.copy()
    pred[:, 1:, :2] += np.random.default_rng(17).normal(0, 20, (20, 17, 2))
    res = evaluate_pose(pred, s, 1)
    err, _ = ref_evaluate(pred, s, 1)
    np.testing.assert_allclose(res["per_sample_mm"], err.mean(axis=1), rtol=1e-9, atol=1e-9)
