"""Dataset-free pose metrics (``pose3dbench.metrics``): Procrustes fits against a per-sample loop, the fast rotation
solve against the authors' SVD, errors under each alignment, group means, PCK/AUC and root errors by hand."""
from __future__ import annotations

import numpy as np
import pytest

from pose3dbench.metrics import (aligned_errors, auc, errors, group_means, pck, rigid_align, root_errors,
                                 similarity_align)
from tests.helpers.reference import ref_rigid_align, ref_scaled_align


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


def test_aligned_errors_fit_rigid_on_all_joints_and_similarity_on_the_scored_ones():
    rng = np.random.default_rng(6)
    gt = rng.normal(0, 300, (25, 18, 3))
    pred = 1.1 * gt + rng.normal(0, 20, gt.shape)
    pred[:, 17] += 100.0  # the extra (18th) joint is in the rigid fit only
    rigid, scaled = aligned_errors(pred, gt, 17)
    assert rigid.shape == scaled.shape == (25, 17)
    for i in range(len(gt)):
        want = np.linalg.norm(ref_rigid_align(pred[i], gt[i])[:17] - gt[i, :17], axis=1)
        np.testing.assert_allclose(rigid[i], want, atol=1e-8)
        want = np.linalg.norm(ref_scaled_align(pred[i, :17], gt[i, :17]) - gt[i, :17], axis=1)
        np.testing.assert_allclose(scaled[i], want, atol=1e-8)
    fitted = similarity_align(pred[:, :17], gt[:, :17])
    np.testing.assert_allclose(np.linalg.norm(fitted - gt[:, :17], axis=2), scaled, atol=1e-8)
    r17, s17 = aligned_errors(pred[:, :17], gt[:, :17], 17)  # J == scored: both fits on the 17 joints
    np.testing.assert_allclose(s17, scaled, atol=1e-8)
    assert not np.allclose(r17, rigid)


def test_errors_under_each_alignment():
    rng = np.random.default_rng(7)
    gt = rng.normal(0, 300, (10, 17, 3)) + [0.0, 0.0, 5000.0]
    shifted = gt + [10.0, 0.0, 0.0]
    np.testing.assert_allclose(errors(shifted, gt, "none"), 10.0)
    np.testing.assert_allclose(errors(shifted, gt, "root"), 0.0, atol=1e-9)
    th = 0.3
    r = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    turned = (gt - gt[:, :1]) @ r.T
    assert errors(turned, gt, "root").mean() > 10
    np.testing.assert_allclose(errors(turned, gt, "rigid"), 0.0, atol=1e-8)
    np.testing.assert_allclose(errors(2 * turned, gt, "similarity"), 0.0, atol=1e-8)
    assert errors(shifted, gt, "root", scored=5).shape == (10, 5)
    mask = np.ones((10, 17), bool)
    mask[:, 3] = False
    assert np.isnan(errors(shifted, gt, "none", mask=mask)[:, 3]).all()
    with pytest.raises(ValueError, match="unknown alignment"):
        errors(gt, gt, "affine")
    with pytest.raises(ValueError, match=r"\[N, J, 3\]"):
        errors(gt[:, :, :2], gt[:, :, :2])


def test_group_means_pck_and_auc_by_hand():
    values = np.array([1.0, 3.0, 10.0, 20.0])
    keys = np.array([5, 5, 2, 9])
    assert group_means(values, keys) == {2: 10.0, 5: 2.0, 9: 20.0}
    assert list(group_means(values, keys, order=[9, 5, 7, 2])) == [9, 5, 2]  # declared order, absent keys left out
    err = np.array([[0.0, 100.0, 150.0, 200.0], [np.nan, 50.0, 151.0, 1.0]])
    assert pck(err) == pytest.approx(100 * 5 / 7)  # NaN = not scored
    assert pck(err, 50.0) == pytest.approx(100 * 3 / 7)
    assert np.isnan(pck(np.array([np.nan])))
    assert auc(err, [0.0, 150.0]) == pytest.approx((100 / 7 + 100 * 5 / 7) / 2)


def test_root_errors_hand_computed():
    gt = np.array([[0.0, 0.0, 5000.0], [100.0, 100.0, 4000.0]])
    pred = gt + [[3.0, 4.0, 0.0], [0.0, -6.0, 8.0]]
    res = root_errors(pred, gt)
    assert res == pytest.approx({"mrpe_mm": 7.5, "x_mm": 1.5, "y_mm": 5.0, "z_mm": 4.0, "num_samples": 2})
    with pytest.raises(ValueError, match=r"\(N, 3\)"):  # dataset-free: a ValueError, not a PredictionsError
        root_errors(pred[:, :2], gt)


def test_fast_rotation_equals_authors_svd_rotation():
    from pose3dbench.metrics.align import _kabsch_rotation, _svd_rotation

    rng = np.random.default_rng(15)
    h = rng.normal(0, 1e5, (400, 3, 3))
    h[:50, 2] *= 1e-6  # nearly rank-2 matrices
    h[50:60, 2] = 0.0  # exactly rank-2: SVD fallback
    r = _kabsch_rotation(h)
    np.testing.assert_allclose(r, _svd_rotation(h), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)  # always a proper rotation
    np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    assert (np.linalg.det(h) < 0).sum() > 100  # both branches exercised
