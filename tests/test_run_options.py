"""The demo run (no --data, no --model) gets light defaults; explicit options always win."""
from pose3dbench.eval.runner import DEMO_LIMIT, DEMO_PROFILE_BATCH, DEMO_PROFILE_ITERS, RunOptions, _apply_demo_defaults


def test_demo_defaults():
    logs = []
    o = _apply_demo_defaults(RunOptions(), True, logs.append)
    assert (o.limit, o.profile_iters, o.profile_batch) == (DEMO_LIMIT, DEMO_PROFILE_ITERS, DEMO_PROFILE_BATCH)
    assert logs and "--limit 0" in logs[0]


def test_explicit_options_win_and_limit_zero_means_all():
    o = _apply_demo_defaults(RunOptions(limit=0, profile_iters=7, profile_batch=16), True, lambda s: None)
    assert (o.limit, o.profile_iters, o.profile_batch) == (None, 7, 16)
    o = _apply_demo_defaults(RunOptions(limit=12), True, lambda s: None)
    assert o.limit == 12


def test_real_runs_evaluate_everything():
    o = _apply_demo_defaults(RunOptions(), False, lambda s: None)
    assert (o.limit, o.profile_iters, o.profile_batch) == (None, 5, None)
