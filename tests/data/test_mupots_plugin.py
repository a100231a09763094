"""MuPoTS-3D through pose3dbench's own paths: the samples the 3DMPPE loader builds, the authors' ``evaluate``
conversion (network output -> the .mat pair), the official evaluation through ``pose3dbench evaluate``, and a run.

Vectors: tests/fixtures/conformance-mupots (what the official MATLAB script made of six prediction pairs under
GNU Octave), tests/fixtures/mupots-recorded (more cases recorded the same way) and
tests/fixtures/mupots-authors-evaluate (the authors' PoseNet ``evaluate`` run on given network output).
"""
from __future__ import annotations

import json
import re
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pose3dbench.cli import main as cli_main
from pose3dbench.data.dataset import open_dataset
from pose3dbench.data.mupots import MuPoTS3D
from pose3dbench.data.mupots import matfiles
from pose3dbench.eval.scoring import pose_predictions
from pose3dbench.models import registry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONF = FIXTURES / "conformance-mupots"
DATA = CONF / "data"
RECORDED = FIXTURES / "mupots-recorded"
AUTHORS = FIXTURES / "mupots-authors-evaluate"
VARIANTS = sorted(p.name for p in (CONF / "predictions").iterdir())
FIELDS = ("pck", "auc", "mpjpe", "mpjpe_joints14")
COUNTS = ("annotated", "undetected", "evaluated")


def _evaluate_json(capsys, predictions: Path, *extra: str) -> dict:
    assert cli_main(["evaluate", "--data", str(DATA), "--predictions", str(predictions), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _close(got, want, tol: float, where: str) -> None:
    if want is None:
        assert got is None, f"{where}: {got} vs null"
        return
    assert got is not None and abs(got - want) <= tol, f"{where}: {got} vs {want}"


def _compare_modes(got: dict, official_results: dict) -> None:
    """Every field of the official output (averages, sequences, groups, per joint, visibility tables)."""
    for mode, ref in official_results.items():
        if ref.get("status", "ok") != "ok":
            continue
        people, alignment = mode.split("/")
        mine = got["modes"][people][alignment]
        for f in FIELDS:
            _close(mine[f], ref["avg"][f], 0.01, f"{mode} avg {f}")
        for f in COUNTS:
            assert mine[f] == ref["avg"][f], f"{mode} avg {f}"
        assert len(mine["sequences"]) == len(ref["sequences"])
        for row, want in zip(mine["sequences"], ref["sequences"]):
            where = f"{mode} TS{want['seq']}"
            assert row["name"] == f"TS{want['seq']}"
            for f in FIELDS:
                _close(row[f], want[f], 0.01, f"{where} {f}")
            for f in COUNTS + ("frames",):
                assert row[f] == want[f], f"{where} {f}"
            for group in ("pck_groups", "auc_groups", "mpjpe_per_joint"):
                for k, v in want[group].items():
                    _close(row[group][k], v, 0.01, f"{where} {group}.{k}")
            for table in ("visible_joints", "occluded_joints"):
                for k, v in want[table].items():
                    _close(row[table][k], v, 0.01, f"{where} {table}.{k}")


@pytest.mark.parametrize("variant", VARIANTS)
def test_official_vectors_pass_through_evaluate(capsys, variant):
    """``pose3dbench evaluate`` on the authors' .mat pair gives what the official script gave under Octave."""
    ref = json.loads((CONF / "official" / f"{variant}.json").read_text())["results"]
    got = _evaluate_json(capsys, CONF / "predictions" / variant)
    assert got["dataset"] == "mupots" and got["metric"] == "3DPCK"
    _compare_modes(got, ref)
    assert got["pck"] == pytest.approx(ref["all/relative"]["avg"]["pck"], abs=0.01)  # the papers' 3DPCK_rel
    # either file of the pair names it too
    again = _evaluate_json(capsys, CONF / "predictions" / variant / "preds_2d_kpt_mupots.mat")
    assert again["modes"] == got["modes"]


RECORDED_CASES = sorted(p.parent.name for p in RECORDED.glob("*/official.json")
                        if (p.parent / "preds_3d_kpt_mupots.mat").is_file() and not (p.parent / "gt_override").exists())


@pytest.mark.parametrize("case", RECORDED_CASES)
def test_recorded_cases_pass_through_evaluate(capsys, case):
    """Where the official script gave numbers, the same numbers; where it stopped (a frame without a key, a
    sequence nobody matched in "matched" mode), evaluate still scores (missing frames: people missed, said in
    ``missing_frames``; an empty sequence: null for it and the average)."""
    ref = json.loads((RECORDED / case / "official.json").read_text())["results"]
    got = _evaluate_json(capsys, RECORDED / case)
    _compare_modes(got, ref)
    if case in ("missing_key", "missing_key_3d"):
        assert got["missing_frames"] > 0


def _authors_samples(mode: str):
    ds = MuPoTS3D(DATA)
    return ds.samples("test", "gt" if mode == "gt" else "rootnet")


@pytest.mark.parametrize("mode", ["gt", "bbox_root"])
def test_samples_are_the_authors_samples(mode):
    """Sample order, boxes (process_bbox in GT mode, the file's as they are for RootNet), roots and intrinsics
    equal what the authors' loader fed their ``evaluate``."""
    z = np.load(AUTHORS / mode / "inputs.npz")
    s = _authors_samples(mode)
    assert len(s) == len(z["image_id"])
    np.testing.assert_array_equal(s.image_id, z["image_id"])
    np.testing.assert_array_equal(s.groups["image_key"], z["img_name"].astype(str))
    np.testing.assert_allclose(s.bbox, z["bbox"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(s.root_cam, z["root_cam"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(s.focal, z["f"], rtol=0, atol=0)
    np.testing.assert_allclose(s.princpt, z["c"], rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["gt", "bbox_root"])
def test_network_output_becomes_the_authors_mat_pair(tmp_path, mode):
    """The run's conversion (heatmap units -> image pixels -> camera mm, 21 MuCo joints -> 17, grouping per frame
    in sample order) and the written pair equal the authors' ``evaluate`` output (float64: exactly up to the last
    bits; the float32 files of the paper era within their rounding)."""
    z = np.load(AUTHORS / mode / "inputs.npz")
    s = _authors_samples(mode)
    cfg = registry.get_config("posenet-r50").with_overrides(joint_num=21)
    pred = pose_predictions(z["coords_hm"].astype(np.float64), s, s.root_cam, cfg)
    written = MuPoTS3D(DATA).write_predictions(tmp_path / "p.npz", s, pred)
    mine = matfiles.read_predictions(Path(written[0]).parent)
    for tag, tol in (("numpy2-float64", 1e-9), ("numpy1-float32", 2e-3)):
        ref = matfiles.read_predictions(AUTHORS / mode / tag)
        assert set(ref.poses_3d) <= set(mine.poses_3d)
        extra = set(mine.poses_3d) - set(ref.poses_3d)
        assert all(mine.poses_3d[k].shape[0] == 0 for k in extra), "only empty frames may be added"
        for key in ref.poses_3d:
            np.testing.assert_allclose(mine.poses_2d[key], ref.poses_2d[key], rtol=0, atol=tol, err_msg=key)
            np.testing.assert_allclose(mine.poses_3d[key], ref.poses_3d[key], rtol=tol, atol=tol, err_msg=key)


def test_authors_chain_gives_the_official_numbers(capsys):
    """Network output -> the authors' pair -> the official script (recorded): our pair of the same output scores
    the same through ``evaluate``."""
    ref = json.loads((AUTHORS / "gt" / "numpy1-float32" / "official.json").read_text())["results"]
    got = _evaluate_json(capsys, AUTHORS / "gt" / "numpy1-float32")
    _compare_modes(got, ref)


def test_subset_is_scored_on_whole_frames_of_the_sequences_it_covers():
    ds = open_dataset(DATA, "mupots", limit_per_group=1)
    s = ds.samples("test", "gt")
    frames = set(zip(s.groups["sequence"].tolist(), s.groups["frame"].tolist()))
    assert len({q for q, _ in frames}) == len(frames)  # one frame per sequence
    full = MuPoTS3D(DATA).samples("test", "gt")
    keys = set(s.groups["image_key"].tolist())
    assert sum(k in keys for k in full.groups["image_key"].tolist()) == len(s)  # every person of a kept frame
    rec = MuPoTS3D.scoring("test").score(s, _gt_as_prediction(s)).record
    assert rec["sequences"] == len({q for q, _ in frames}) and rec["undetected"] == 0


def _gt_as_prediction(s):
    from pose3dbench.data.dataset import PosePredictions

    return PosePredictions(s.joints_cam, "mupots17")


def test_ground_truth_boxes_score_like_the_official_clean_variant():
    """Predicting keypoints_cam (the annot3 pose) on GT boxes: matched people everywhere; the relative PCK equals the
    official clean variant's only where annot3 = univ_annot3, so check the counts and the matching instead."""
    s = MuPoTS3D(DATA).samples("test", "gt")
    rec = MuPoTS3D.scoring("test").score(s, _gt_as_prediction(s)).record
    ref = json.loads((CONF / "official" / "clean.json").read_text())["results"]["all/relative"]["avg"]
    assert rec["annotated"] == ref["annotated"] and rec["undetected"] == ref["undetected"] == 0
    assert rec["missing_frames"] == 0 and math.isfinite(rec["pck"])


def test_synthetic_mupots_loads_and_holds_what_the_official_evaluation_reads(tmp_path):
    from pose3dbench.data.mupots.synthetic import generate

    out = generate(tmp_path / "mupots", seed=3)
    ds = MuPoTS3D(out)
    gt = matfiles.read_ground_truth(ds.layout.testset)
    assert len(gt.sequences) == matfiles.NUM_SEQUENCES
    valid = sum(int(q.valid.sum()) for q in gt.sequences)
    s = ds.samples("test", "gt")
    assert len(s) == valid and (np.asarray(s.image_size) > 0).all()
    assert any(not q.valid[f].any() for q in gt.sequences for f in range(q.num_frames))  # a frame with nobody
    det = ds.samples("test", "rootnet")
    assert np.isnan(det.joints_cam).all() and "score" in det.groups
    # the official evaluation of the annotated pose (annot3, scaled about the pelvis in univ_annot3): every person
    # matched, and the bone-length rescaling to univ_annot3 makes it exact: 3DPCK 100, AUC 30/31 (strict 0 mm)
    rec = MuPoTS3D.scoring("test").score(s, _gt_as_prediction(s)).record
    assert rec["undetected"] == 0 and rec["pck"] == 100.0 and rec["pck_absolute"] == 100.0
    assert rec["auc"] == pytest.approx(100.0 * 30 / 31)
    assert rec["modes"]["matched"]["relative"]["evaluated"] == valid
    # files the official script reads: same shapes as the release
    ann = scipy.io.loadmat(ds.layout.sequences[1] / "annot.mat")["annotations"]
    assert ann[0, 0]["univ_annot3"][0, 0].shape == (3, 17)


def test_people_resampled_by_sequence_give_the_official_average():
    """The per-person units the report bootstraps (3DPCK per annotated person, stratified by sequence) average to
    the official value exactly: the mean over sequences of the within-sequence means."""
    from pose3dbench.report.stats import bootstrap_mean_ci, sample_weights

    s = MuPoTS3D(DATA).samples("test", "rootnet")
    rng = np.random.default_rng(5)
    pred = _gt_like_prediction(s, rng)
    scored = MuPoTS3D.scoring("test").score(s, pred)
    u = scored.arrays
    assert len(u["unit_id"]) == scored.record["annotated"] and np.unique(u["unit_id"]).size == len(u["unit_id"])
    value = sample_weights(len(u["unit_value"]), u["unit_stratum"]) @ u["unit_value"]
    assert value == pytest.approx(scored.record["pck"], abs=1e-9)
    ci = bootstrap_mean_ci(u["unit_value"], 500, 1, strata=u["unit_stratum"])
    assert ci.low <= scored.record["pck"] <= ci.high and ci.estimate == pytest.approx(scored.record["pck"])


def _gt_like_prediction(s, rng):
    """Detections' poses: the nearest annotated person's pose plus noise (so some match, some do not)."""
    from pose3dbench.data.dataset import PosePredictions
    from pose3dbench.data.mupots.loader import read_annotations

    ann = read_annotations(Path(s.source["annotation_file"]))
    cam = np.empty((len(s), 17, 3))
    for i, (img, root) in enumerate(zip(s.image_id, s.root_cam)):
        rows = np.flatnonzero(ann.ann_image == img)
        j = rows[np.argmin(np.linalg.norm(ann.joints_cam[rows, 14] - root, axis=1))]
        cam[i] = ann.joints_cam[j] + rng.normal(0, 60, (17, 3))
    return PosePredictions(cam, "mupots17")


def test_run_on_synthetic_mupots_with_a_muco_model_and_rootnet(tmp_path, capsys):
    """``pose3dbench run --dataset mupots``: a 21-joint (MuCo-3DHP layout) model and RootNet, GT / RootNet-file /
    RootNet-model roots; the official record, the authors' .mat pair beside the predictions, RootNet's AP_root,
    and the report's per-sequence tables (a subset run: one frame per sequence)."""
    from pose3dbench.data.mupots.synthetic import generate

    data = generate(tmp_path / "mupots", seed=1)
    out = tmp_path / "out"
    assert cli_main(["run", "--data", str(data), "--model", "mobilehumanpose-lpski@joint_num=21", "--model",
                     "rootnet-r50", "--root", "gt", "rootnet", "rootnet-model", "--limit-per-group", "1",
                     "--no-profile", "--no-progress", "--backend", "eager", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["settings"]["datasets"][0]["name"] == "mupots"
    evs = {ev["root"]: ev for ev in res["evaluations"]}
    assert set(evs) == {"gt", "rootnet", "rootnet-model"}
    for root, ev in evs.items():
        assert ev["metric"] == "3DPCK" and ev["joint_set"] == "muco21" and not ev["approximate_joint_mapping"]
        assert set(ev["modes"]) == {"all", "matched"} and set(ev["modes"]["all"]) == {"relative", "absolute"}
        pair = out / ev["predictions"].replace(".npz", "")
        assert (pair / "preds_2d_kpt_mupots.mat").is_file() and (pair / "preds_3d_kpt_mupots.mat").is_file()
        assert ev["sequences"] == 20 and ev["missing_frames"] == 0
    roots = {ev["root"]: ev for ev in res["root_evaluations"]}
    assert set(roots) == {"gt", "rootnet"}  # RootNet on every box source of the run (rootnet-model: the GT boxes)
    assert "AP_root^25 (%)" in roots["gt"]["extra_metrics"] and roots["gt"]["mrpe_mm"] > 0
    # on detection boxes (the paper's AP_root setting) no row has a ground truth of its own: AP only, no MRPE
    assert "AP_root^25 (%)" in roots["rootnet"]["extra_metrics"] and "mrpe_mm" not in roots["rootnet"]
    md = (out / "report.md").read_text()
    assert "TS1" in md and "TS20" in md and "Avg (sequences)" in md and "AP_root^25" in md
    assert "3DPCK, matched people, root-relative" in md


def test_the_written_mat_pair_scores_as_the_run(tmp_path, capsys):
    """A whole-test-set run: the .mat pair beside its predictions (what a user hands to the MATLAB script) gives,
    through the official evaluation, exactly the run's numbers in all four modes."""
    from pose3dbench.data.mupots.synthetic import generate

    data = generate(tmp_path / "mupots", seed=2)
    out = tmp_path / "out"
    assert cli_main(["run", "--data", str(data), "--model", "mobilehumanpose-lpski@joint_num=21", "--root", "rootnet",
                     "--no-flip", "--no-profile", "--no-report", "--no-progress", "--backend", "eager",
                     "--out", str(out)]) == 0
    (ev,) = json.loads((out / "results.json").read_text())["evaluations"]
    capsys.readouterr()
    rescored = _evaluate_json_for(capsys, data, out / ev["predictions"].replace(".npz", ""))
    for people in ("all", "matched"):
        for alignment in ("relative", "absolute"):
            for f in ("pck", "auc", "mpjpe"):
                assert rescored["modes"][people][alignment][f] == pytest.approx(
                    ev["modes"][people][alignment][f], abs=1e-9), (people, alignment, f)


def _evaluate_json_for(capsys, data, predictions) -> dict:
    assert cli_main(["evaluate", "--data", str(data), "--predictions", str(predictions), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("damage, message", [
    ("no_annotations", "MuPoTS-3D.json not found"),
    ("unknown_image", "is not an image of"),
    ("bad_file_name", "not 'TS<n>/img_<6 digits>.jpg'"),
    ("not_coco", "expected a COCO-style object with 'images' and 'annotations' lists (KeyError('images')); is this "
                 "the 3DMPPE MuPoTS-3D.json?"),
])
def test_broken_mupots_folders_get_clear_errors(tmp_path, damage, message):
    import shutil

    from pose3dbench.errors import DatasetError

    folder = tmp_path / "mupots"
    shutil.copytree(DATA, folder)
    ann = folder / "MuPoTS-3D.json"
    if damage == "no_annotations":
        ann.unlink()
        box = "gt"
    elif damage == "unknown_image":
        det = folder / "bbox_root" / "bbox_root_mupots_output.json"
        entries = json.loads(det.read_text())
        entries[0]["image_id"] = 987654
        det.write_text(json.dumps(entries))
        box = "rootnet"
    elif damage == "not_coco":
        ann.write_text(json.dumps({"annotations": []}))
        box = "gt"
    else:
        obj = json.loads(ann.read_text())
        obj["images"][0]["file_name"] = "frame0.jpg"
        ann.write_text(json.dumps(obj))
        box = "gt"
    with pytest.raises(DatasetError, match=re.escape(message)):
        MuPoTS3D(folder).samples("test", box)


def test_muco_weights_carry_their_own_published_numbers():
    """A released file trained on another dataset (posenet-r50:muco) shows its own MuPoTS-3D numbers, not the
    variant's Human3.6M paper numbers; an untrained variant keeps the paper numbers."""
    from pose3dbench.eval.planning import published_of
    from pose3dbench.models.info import ModelInfo

    cfg = registry.get_config("posenet-r50")
    muco = published_of(cfg, ModelInfo(name="x", spec="posenet-r50:muco", weights="checkpoint",
                                       weights_entry="posenet-r50:muco"))
    assert muco["mupots_pck_rel_all"] == 81.8 and muco["mupots_pck_rel_matched"] == 82.5
    assert "p2_mpjpe_mm" not in muco
    plain = published_of(cfg, ModelInfo(name="x", spec="posenet-r50", weights="untrained"))
    assert plain["p2_mpjpe_mm"] == 53.3 and "mupots_pck_rel_all" not in plain
