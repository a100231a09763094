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


def test_protocol1_with_the_protocol2_bbox_root_file_warns(tmp_path):
    from pose3dbench.data.h36m import load_split
    from pose3dbench.data.synthetic import generate
    from pose3dbench.eval.runner import _warn_other_protocol_bbox_root

    data = generate(tmp_path / "d", seed=4, size="tiny")  # its bbox_root file covers S9 + S11 (Protocol 2)
    logs = []
    synthetic = load_split(data, 1, "rootnet")
    _warn_other_protocol_bbox_root(synthetic, logs.append)
    assert not logs  # one file for both protocols is how the synthetic set is made
    (data / "pose3dbench_synthetic.json").unlink()  # now it looks like a real dataset folder
    _warn_other_protocol_bbox_root(load_split(data, 1, "rootnet"), logs.append)
    assert logs and "Protocol-2" in logs[0] and "--bbox-root" in logs[0]
    logs.clear()
    _warn_other_protocol_bbox_root(load_split(data, 2, "rootnet"), logs.append)
    assert not logs
