"""The demo run (no --data, no --model) gets light defaults; explicit options always win."""
import json
from pathlib import Path

import numpy as np
import pytest

from pose3dbench.eval.options import (DEFAULT_BATCH, DEMO_BATCH, DEMO_PER_ACTION, DEMO_PROFILE_BATCH,
                                      DEMO_PROFILE_ITERS, RunOptions)
from pose3dbench.eval.options import apply_demo_defaults as _apply_demo_defaults
from pose3dbench.eval.inference import model_progress


def test_demo_defaults():
    logs = []
    o = _apply_demo_defaults(RunOptions(), True, logs.append)
    assert (o.limit, o.limit_per_action, o.profile_iters, o.profile_batch) == (
        None, DEMO_PER_ACTION, DEMO_PROFILE_ITERS, DEMO_PROFILE_BATCH)
    assert DEMO_PER_ACTION == 1  # one image of every (subject, action): all 15 actions of each test subject
    assert logs and "every (subject, action)" in logs[0] and "--limit-per-action 0" in logs[0]
    # `run` leaves --batch-size unset: the demo's 15 variants (LPRES ~1 GB per crop) run at batch 1
    assert _apply_demo_defaults(RunOptions(batch_size=None), True, logs.append).batch_size == DEMO_BATCH == 1
    assert _apply_demo_defaults(RunOptions(batch_size=None), False, logs.append).batch_size == DEFAULT_BATCH == 16
    assert _apply_demo_defaults(RunOptions(batch_size=32), True, logs.append).batch_size == 32


def test_explicit_options_win_and_limit_zero_means_all():
    o = _apply_demo_defaults(RunOptions(limit=0, profile_iters=7, profile_batch=16), True, lambda s: None)
    assert (o.limit, o.limit_per_action, o.profile_iters, o.profile_batch) == (None, None, 7, 16)
    o = _apply_demo_defaults(RunOptions(limit=12), True, lambda s: None)
    assert (o.limit, o.limit_per_action) == (12, None)
    o = _apply_demo_defaults(RunOptions(limit_per_action=3), True, lambda s: None)
    assert (o.limit, o.limit_per_action) == (None, 3)
    o = _apply_demo_defaults(RunOptions(limit_per_action=0), True, lambda s: None)
    assert (o.limit, o.limit_per_action) == (None, None)


def test_real_runs_evaluate_everything():
    o = _apply_demo_defaults(RunOptions(), False, lambda s: None)
    assert (o.limit, o.limit_per_action, o.profile_iters, o.profile_batch) == (None, None, 5, None)


def test_model_progress_counts_and_estimates():
    assert model_progress(1, 15, "convnextpose-xs", 0.0) == "[1/15] convnextpose-xs"
    # 2 models took 60 s: 13 left at 30 s each
    assert model_progress(3, 15, "posenet-r50", 60.0) == "[3/15] posenet-r50 (elapsed 1m00s, ETA 6m30s)"
    assert model_progress(15, 15, "x", 7300.0).endswith("(elapsed 2h01m, ETA 8m41s)")


def test_stratified_subset_covers_every_action_of_every_subject(tmp_path):
    from pose3dbench.data.splits import SplitProvider
    from pose3dbench.data.synthetic import generate

    data = generate(tmp_path / "d", seed=2, size="tiny")
    first = SplitProvider(data, limit=15)
    strat = SplitProvider(data, limit_per_action=1)
    for protocol, subjects in ((1, {11}), (2, {9, 11})):
        s = strat.get(protocol, "gt")
        pairs = list(zip(s.subject.tolist(), s.action_idx.tolist()))
        assert len(pairs) == len(set(pairs)) == 15 * len(subjects)  # one image of each (subject, action)
        assert set(s.subject.tolist()) == subjects and set(s.action_idx.tolist()) == set(range(2, 17))
    assert len(set(first.get(1, "gt").action_idx.tolist())) < 15  # the first 15 images do not cover the actions
    two = SplitProvider(data, limit_per_action=2).get(2, "gt")
    full = SplitProvider(data).get(2, "gt")
    counts = {}
    for key in zip(full.subject.tolist(), full.action_idx.tolist()):
        counts[key] = counts.get(key, 0) + 1
    assert len(two) == sum(min(2, c) for c in counts.values())
    settings = {"dataset": {"path": str(data)}, "limit_per_action": 1}
    assert len(SplitProvider.from_settings(settings).get(2, "gt")) == 30  # report re-reads the same subset


def test_bbox_root_per_protocol(tmp_path):
    from pose3dbench.data.splits import (BboxRootSpecError, SplitProvider, bbox_root_for, bbox_root_setting,
                                         parse_bbox_root)

    assert parse_bbox_root(None) is None
    assert parse_bbox_root(["a.json"]) == Path("a.json")  # one file for every protocol, as before
    per = parse_bbox_root(["1=p1.json", "2=/x/p2.json"])
    assert per == {1: Path("p1.json"), 2: Path("/x/p2.json")}
    assert bbox_root_for(per, 1) == Path("p1.json") and bbox_root_for(per, 2) == Path("/x/p2.json")
    assert bbox_root_for({1: Path("p1.json")}, 2) is None  # Protocol 2 then uses the file below --data
    assert bbox_root_setting(per) == {"1": str(Path("p1.json").resolve()), "2": "/x/p2.json"}
    for bad, msg in ((["1=a", "1=b"], "Protocol 1 twice"), (["3=a"], "protocols are 1 and 2"),
                     (["a", "2=b"], "not both")):
        with pytest.raises(BboxRootSpecError, match=msg):
            parse_bbox_root(bad)
    from pose3dbench.data.synthetic import generate

    data = generate(tmp_path / "d", seed=4, size="tiny")
    src = next((data / "bbox_root").glob("*.json"))
    rows = json.loads(src.read_text())
    p1_file = tmp_path / "p1" / "bbox_root_human36m_output.json"
    p1_file.parent.mkdir()
    p1_file.write_text(json.dumps([{**r, "root_cam": [v + 100.0 for v in r["root_cam"]]} for r in rows]))
    provider = SplitProvider(data, bbox_root={1: p1_file})
    own = SplitProvider(data).get(1, "rootnet")
    p1 = provider.get(1, "rootnet")
    assert p1.source["bbox_root"] == str(p1_file) and np.allclose(p1.root_cam, own.root_cam + 100.0)
    assert np.allclose(provider.get(2, "rootnet").root_cam, SplitProvider(data).get(2, "rootnet").root_cam)
    settings = {"dataset": {"path": str(data)}, "bbox_root": bbox_root_setting({1: p1_file})}
    assert np.allclose(SplitProvider.from_settings(settings).get(1, "rootnet").root_cam, p1.root_cam)


def test_protocol1_with_the_protocol2_bbox_root_file_warns(tmp_path):
    from pose3dbench.data.h36m import load_split
    from pose3dbench.data.synthetic import generate
    from pose3dbench.data.splits import warn_other_protocol_bbox_root as _warn_other_protocol_bbox_root

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


def test_progress_bars_only_on_a_terminal(monkeypatch):
    import io
    import sys

    from pose3dbench.eval.inference import progress_bar as _progress

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a log file, CI, a pipe
    bar = _progress(10, "model", True)
    bar.update(5)
    bar.close()
    assert sys.stderr.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    bar = _progress(10, "model", True)
    bar.update(5)
    bar.close()
    assert "model" in sys.stderr.getvalue()


def test_demo_splits_the_flip_pass_and_it_gives_the_same_coordinates():
    """The demo runs the mirrored pass as its own call (half the activation memory); same numbers as one [2B] call."""
    import torch

    from pose3dbench.eval.inference import PoseInference
    from pose3dbench.models import create

    assert _apply_demo_defaults(RunOptions(), True, lambda m: None).split_flip is True
    assert _apply_demo_defaults(RunOptions(), False, lambda m: None).split_flip is False
    torch.manual_seed(0)
    model = create("mobilehumanpose-lpski").eval()
    x = torch.randn(2, 3, 256, 256)
    out, seen = [], []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    for split in (False, True):
        engine = PoseInference(model, RunOptions(split_flip=split, crop_cache="off"), torch.device("cpu"), "t")
        with torch.inference_mode():
            out.append(engine._forward(x))
    hook.remove()
    assert seen == [4, 2, 2]  # one [2B] call, then two [B] calls
    assert torch.allclose(out[0][0], out[1][0], atol=1e-4) and torch.allclose(out[0][1], out[1][1], atol=1e-4)
