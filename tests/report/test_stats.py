"""Paired bootstrap CIs (report/stats.py): coverage, known differences, pairing by image id, speed."""
from __future__ import annotations


import numpy as np
import pytest

from pose3dbench.report.stats import (
    CI, bootstrap_mean_ci, bootstrap_means, group_bootstrap, match_by_image_id, paired_bootstrap_diff_ci,
)


def test_ci_of_mean_covers_true_mean_for_large_sample():
    rng = np.random.default_rng(1)
    x = rng.gamma(shape=4.0, scale=12.5, size=8000)  # skewed like per-sample errors; true mean 50 mm
    ci = bootstrap_mean_ci(x)
    assert ci.low < 50.0 < ci.high
    assert ci.low < ci.estimate < ci.high and ci.estimate == pytest.approx(x.mean())
    # width close to the normal-theory interval 2 * 1.96 * sd / sqrt(n)
    assert (ci.high - ci.low) == pytest.approx(2 * 1.96 * x.std() / np.sqrt(x.size), rel=0.15)


def test_coverage_over_repeated_experiments():
    # 60 independent samples of n=200: the 95% CI should miss the true mean only a few times
    rng = np.random.default_rng(7)
    misses = sum(not (c.low < 3.0 < c.high)
                 for c in (bootstrap_mean_ci(rng.exponential(3.0, 200), n_resamples=500, seed=k) for k in range(60)))
    assert misses <= 9


def test_known_difference_is_detected():
    rng = np.random.default_rng(2)
    base = rng.gamma(4.0, 12.5, 500)
    a = base + rng.normal(0, 3, 500)          # same images, model a is 2 mm worse on average
    b = base + rng.normal(0, 3, 500) - 2.0
    ci = paired_bootstrap_diff_ci(a, b)
    assert ci.excludes_zero and ci.low > 0
    assert ci.low < 2.0 < ci.high
    # an unpaired view of the same data could not see this (per-image variance swamps 2 mm)
    assert (bootstrap_mean_ci(a).high - bootstrap_mean_ci(a).low) > 4 * (ci.high - ci.low)


def test_identical_inputs_give_ci_containing_zero():
    x = np.random.default_rng(3).gamma(4.0, 12.5, 300)
    ci = paired_bootstrap_diff_ci(x, x.copy())
    assert ci.low <= 0.0 <= ci.high and not ci.excludes_zero
    e = np.random.default_rng(4).normal(0, 5, x.size)
    e -= e.mean()  # per-image noise, no difference in the mean at all
    ci = paired_bootstrap_diff_ci(x + e, x - e)
    assert ci.estimate == pytest.approx(0.0, abs=1e-9) and ci.low < 0.0 < ci.high


def test_deterministic_and_seed_dependent():
    x = np.random.default_rng(5).random(100)
    assert bootstrap_mean_ci(x, seed=11) == bootstrap_mean_ci(x, seed=11)
    assert bootstrap_mean_ci(x, seed=11) != bootstrap_mean_ci(x, seed=12)
    # chunking is invisible: resample count not a multiple of the chunk size
    m = bootstrap_means(x, n_resamples=300, seed=1)
    assert m.shape == (300, 1) and np.isfinite(m).all()


def test_bootstrap_means_are_paired_across_columns():
    x = np.random.default_rng(6).random(50)
    m = bootstrap_means(np.stack([x, x + 1.0, 2 * x], axis=1), n_resamples=200)
    np.testing.assert_allclose(m[:, 1], m[:, 0] + 1.0)
    np.testing.assert_allclose(m[:, 2], 2 * m[:, 0])


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_mean_ci(np.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean_ci(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap_diff_ci(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="duplicates"):
        match_by_image_id([np.array([1, 2, 2]), np.array([1, 2])])


def test_match_by_image_id():
    a = np.array([30, 10, 20, 40])
    b = np.array([20, 50, 30])
    common, (ra, rb) = match_by_image_id([a, b])
    assert common.tolist() == [20, 30]
    assert a[ra].tolist() == [20, 30] and b[rb].tolist() == [20, 30]


def test_group_bootstrap_pairs_by_image_id():
    rng = np.random.default_rng(8)
    ids = np.arange(400)
    base = rng.gamma(4.0, 12.5, 400)
    good = base + rng.normal(0, 2, 400)
    bad = base + 3.0 + rng.normal(0, 2, 400)
    perm = rng.permutation(400)
    per_sample = {"good": (ids, good), "bad": (ids[perm], bad[perm]), "twin": (ids, good.copy())}
    own, diffs = group_bootstrap(per_sample, n_resamples=1000)
    assert set(own) == {"good", "bad", "twin"}
    assert own["good"].estimate == pytest.approx(good.mean())
    d = {(x.a, x.b): x for x in diffs}
    assert d[("good", "bad")].ci.high < 0 and d[("good", "bad")].num_samples == 400   # order did not matter
    assert d[("good", "bad")].ci.low < -3.0 + 0.5 and d[("good", "bad")].ci.high > -3.0 - 0.5
    assert not d[("good", "twin")].ci.excludes_zero
    # partial overlap: a difference is computed on the shared images only
    per_sample["short"] = (ids[:100], (base + 3.0)[:100])
    own2, diffs2 = group_bootstrap(per_sample, n_resamples=500)
    pair = next(x for x in diffs2 if {x.a, x.b} == {"good", "short"})
    assert pair.num_samples == 100 and pair.ci.excludes_zero
    assert own2["short"].estimate == pytest.approx((base + 3.0)[:100].mean())
    # no shared image: that pair is left out
    own3, diffs3 = group_bootstrap({"x": (ids[:10], good[:10]), "y": (ids[10:20], good[10:20])}, n_resamples=200)
    assert set(own3) == {"x", "y"} and diffs3 == []


def test_ci_excludes_zero_property():
    assert CI(1.0, 0.5, 1.5).excludes_zero and CI(-1.0, -1.5, -0.5).excludes_zero
    assert not CI(0.1, -0.2, 0.4).excludes_zero


def test_full_protocol2_size_gives_every_model_and_pair():
    """8695 Protocol-2 images x 6 models x 2000 resamples, all pairs (its speed: benchmarks/metrics_speed.py)."""
    rng = np.random.default_rng(9)
    ids = np.arange(8695)
    per_sample = {f"m{k}": (ids, rng.gamma(4.0, 12.5, ids.size) + k) for k in range(6)}
    own, diffs = group_bootstrap(per_sample)
    assert len(own) == 6 and len(diffs) == 15
    for k in range(6):  # each CI brackets its mean, and the means are ordered as made (+1 mm per model)
        ci = own[f"m{k}"]
        assert ci.low < ci.estimate < ci.high
    assert [own[f"m{k}"].estimate for k in range(6)] == sorted(own[f"m{k}"].estimate for k in range(6))
