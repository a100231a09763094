"""The demo run (no --data, no --model) gets light defaults; explicit options always win."""
import json
from pathlib import Path

import numpy as np
import pytest

from pose3dbench.eval.options import (DEFAULT_BATCH, DEMO_BATCH, DEMO_DATASETS, DEMO_PER_GROUP, DEMO_PROFILE_BATCH,
                                      DEMO_PROFILE_ITERS, RunOptions)
from pose3dbench.eval.options import apply_demo_defaults as _apply_demo_defaults
from pose3dbench.eval.inference import model_progress


def test_demo_defaults():
    logs = []
    o = _apply_demo_defaults(RunOptions(), True, logs.append)
    assert (o.limit, o.limit_per_group, o.profile_iters, o.profile_batch) == (
        None, DEMO_PER_GROUP, DEMO_PROFILE_ITERS, DEMO_PROFILE_BATCH)
    # one image of every group the dataset declares: Human3.6M, the demo's dataset, groups by (subject, action),
    # so all 15 actions of each test subject
    assert DEMO_PER_GROUP == 1 and DEMO_DATASETS == ("h36m", "mupots")
    assert logs and "the first 1 sample(s) of every group each dataset declares" in logs[0]
    assert "--limit-per-group 0" in logs[0]
    # `run` leaves --batch-size unset: the demo's 15 variants (LPRES ~1 GB per crop) run at batch 1
    assert _apply_demo_defaults(RunOptions(batch_size=None), True, logs.append).batch_size == DEMO_BATCH == 1
    assert _apply_demo_defaults(RunOptions(batch_size=None), False, logs.append).batch_size == DEFAULT_BATCH == 16
    assert _apply_demo_defaults(RunOptions(batch_size=32), True, logs.append).batch_size == 32


def test_explicit_options_win_and_limit_zero_means_all():
    o = _apply_demo_defaults(RunOptions(limit=0, profile_iters=7, profile_batch=16), True, lambda s: None)
    assert (o.limit, o.limit_per_group, o.profile_iters, o.profile_batch) == (None, None, 7, 16)
    o = _apply_demo_defaults(RunOptions(limit=12), True, lambda s: None)
    assert (o.limit, o.limit_per_group) == (12, None)
    o = _apply_demo_defaults(RunOptions(limit_per_group=3), True, lambda s: None)
    assert (o.limit, o.limit_per_group) == (None, 3)
    o = _apply_demo_defaults(RunOptions(limit_per_group=0), True, lambda s: None)
    assert (o.limit, o.limit_per_group) == (None, None)


def test_real_runs_evaluate_everything():
    o = _apply_demo_defaults(RunOptions(), False, lambda s: None)
    assert (o.limit, o.limit_per_group, o.profile_iters, o.profile_batch) == (None, None, 5, None)


def test_model_progress_counts_and_estimates():
    assert model_progress(1, 15, "convnextpose-xs", 0.0) == "[1/15] convnextpose-xs"
    # 2 models took 60 s: 13 left at 30 s each
    assert model_progress(3, 15, "posenet-r50", 60.0) == "[3/15] posenet-r50 (elapsed 1m00s, ETA 6m30s)"
    assert model_progress(15, 15, "x", 7300.0).endswith("(elapsed 2h01m, ETA 8m41s)")


def test_stratified_subset_covers_every_action_of_every_subject(tmp_path):
    from pose3dbench.data.h36m import Human36M
    from pose3dbench.data.h36m.synthetic import generate
    from pose3dbench.data.splits import datasets_from_settings

    data = generate(tmp_path / "d", seed=2, size="tiny")
    assert Human36M.stratify_by == ("subject", "action_idx")  # --limit-per-group N: N of every (subject, action)
    first = Human36M(data, limit=15)
    strat = Human36M(data, limit_per_group=1)
    for split, subjects in (("p1", {11}), ("p2", {9, 11})):
        s = strat.samples(split, "gt")
        pairs = list(zip(s.groups["subject"].tolist(), s.groups["action_idx"].tolist()))
        assert len(pairs) == len(set(pairs)) == 15 * len(subjects)  # one image of each (subject, action)
        assert set(s.groups["subject"].tolist()) == subjects
        assert set(s.groups["action_idx"].tolist()) == set(range(2, 17))
    assert len(set(first.samples("p1", "gt").groups["action_idx"].tolist())) < 15  # the first 15 miss actions
    two = Human36M(data, limit_per_group=2).samples("p2", "gt")
    full = Human36M(data).samples("p2", "gt")
    counts = {}
    for key in zip(full.groups["subject"].tolist(), full.groups["action_idx"].tolist()):
        counts[key] = counts.get(key, 0) + 1
    assert len(two) == sum(min(2, c) for c in counts.values())
    settings = {"datasets": [{"name": "h36m", "path": str(data), "bbox_root": None}], "limit_per_group": 1}
    (again,) = datasets_from_settings(settings)
    assert len(again.samples("p2", "gt")) == 30  # report re-reads the same subset


def test_bbox_root_per_split(tmp_path):
    from pose3dbench.data.h36m import Human36M
    from pose3dbench.data.h36m.synthetic import generate
    from pose3dbench.data.splits import (BboxRootSpecError, bbox_root_for_datasets, datasets_from_settings,
                                         parse_bbox_root)
    from pose3dbench.errors import DatasetError

    assert parse_bbox_root(None) is None
    assert parse_bbox_root(["a.json"]) == Path("a.json")  # one file for every split, as before
    per = parse_bbox_root(["1=p1.json", "p2=/x/p2.json"])  # a split by its name or an alias the dataset accepts
    assert per == {"1": Path("p1.json"), "p2": Path("/x/p2.json")}
    assert bbox_root_for_datasets(per, [Human36M]) == [{"p1": Path("p1.json"), "p2": Path("/x/p2.json")}]
    assert bbox_root_for_datasets(Path("a.json"), [Human36M]) == [Path("a.json")]
    assert bbox_root_for_datasets(None, [Human36M]) == [None]
    assert Human36M("h36m", bbox_root=per).bbox_root == {"p1": Path("p1.json"), "p2": Path("/x/p2.json")}
    assert Human36M("h36m", bbox_root=Path("a.json")).bbox_root == {"p1": Path("a.json"), "p2": Path("a.json")}
    assert Human36M("h36m", bbox_root={"1": Path("p1.json")}).bbox_root.get("p2") is None  # p2: the file below --data
    assert Human36M("h36m", bbox_root=per).describe()["bbox_root"] == {"p1": str(Path("p1.json").resolve()),
                                                                       "p2": "/x/p2.json"}
    for bad, msg in ((["1=a", "1=b"], "split 1 twice"), (["a", "2=b"], "not both")):
        with pytest.raises(BboxRootSpecError, match=msg):
            parse_bbox_root(bad)
    with pytest.raises(BboxRootSpecError, match="no dataset of this run has a split '3'"):
        bbox_root_for_datasets(parse_bbox_root(["3=a"]), [Human36M])
    with pytest.raises(DatasetError, match="Human3.6M has no split '3'"):
        Human36M("h36m", bbox_root={"3": Path("a")})

    data = generate(tmp_path / "d", seed=4, size="tiny")
    src = next((data / "bbox_root").glob("*.json"))
    rows = json.loads(src.read_text())
    p1_file = tmp_path / "p1" / "bbox_root_human36m_output.json"
    p1_file.parent.mkdir()
    p1_file.write_text(json.dumps([{**r, "root_cam": [v + 100.0 for v in r["root_cam"]]} for r in rows]))
    given = Human36M(data, bbox_root={"1": p1_file})
    own = Human36M(data).samples("p1", "rootnet")
    p1 = given.samples("p1", "rootnet")
    assert p1.source["bbox_root"] == str(p1_file) and np.allclose(p1.root_cam, own.root_cam + 100.0)
    assert np.allclose(given.samples("p2", "rootnet").root_cam, Human36M(data).samples("p2", "rootnet").root_cam)
    settings = {"datasets": [{"name": "h36m", "path": str(data), "bbox_root": given.describe()["bbox_root"]}]}
    (again,) = datasets_from_settings(settings)
    assert np.allclose(again.samples("p1", "rootnet").root_cam, p1.root_cam)


def test_protocol1_with_the_protocol2_bbox_root_file_warns(tmp_path):
    from pose3dbench.data.h36m import Human36M, load_split
    from pose3dbench.data.h36m.synthetic import generate
    from pose3dbench.data.splits import CheckedSplits

    data = generate(tmp_path / "d", seed=4, size="tiny")  # its bbox_root file covers S9 + S11 (Protocol 2)
    ds = Human36M(data)
    assert ds.split_warnings(load_split(data, 1, "rootnet")) == []  # one file for both protocols: the synthetic set
    (data / "pose3dbench_synthetic.json").unlink()  # now it looks like a real dataset folder
    logs = ds.split_warnings(load_split(data, 1, "rootnet"))
    assert logs and "Protocol-2" in logs[0] and "--bbox-root" in logs[0]
    assert ds.split_warnings(load_split(data, 2, "rootnet")) == []
    assert ds.split_warnings(load_split(data, 1, "gt")) == []
    # a run's splits are checked once, before their first use: the warning is given once, with its source
    warned = []
    checked = CheckedSplits([Human36M(data)], lambda source, msg: warned.append((source, msg)))
    for _ in range(2):
        assert len(checked("h36m", "p1", "rootnet")) == len(load_split(data, 1, "rootnet"))
        checked("h36m", "p2", "rootnet")
    ((source, msg),) = warned
    assert source == "Human3.6M p1 bbox_root" and msg.startswith("warning: ") and "Protocol-2" in msg


def test_cli_split_and_group_flags_keep_their_old_names():
    """--split / --limit-per-group are also accepted as --protocol / --limit-per-action (older command lines)."""
    from pose3dbench.cli import build_parser

    parser = build_parser()
    for argv in (["run", "--split", "1", "p2", "--limit-per-group", "2"],
                 ["run", "--protocol", "1", "p2", "--limit-per-action", "2"]):
        args = parser.parse_args(argv)
        assert (args.splits, args.limit_per_group) == (["1", "p2"], 2)
    for argv in (["evaluate", "--data", "d", "--predictions", "p", "--split", "2"],
                 ["evaluate", "--data", "d", "--predictions", "p", "--protocol", "2"]):
        assert parser.parse_args(argv).split == "2"
    assert RunOptions(splits=("1", "p2")).splits == ("1", "p2") and RunOptions(splits=2).splits == ("2",)


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
