"""pose3dbench.data.mupots.official against the official MuPoTS-3D evaluation (MATLAB script under Octave 7.3).

Vectors: tests/fixtures/conformance-mupots (shared: six variants), tests/fixtures/mupots-recorded (the cases the
shared vectors are silent on) and tests/fixtures/mupots-authors-evaluate (the authors' evaluate output, scored by
the official script). Conformance: pck / auc / group values within 0.01 percentage points, mpjpe within 0.01 mm,
people counts exact (README of conformance-mupots); the port is in fact bit-exact on all of them, which
``STRICT_RTOL`` checks with a margin for library-level rounding.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pose3dbench.data.mupots import matfiles as M
from pose3dbench.data.mupots import official as O
from pose3dbench.errors import DatasetError, PredictionsError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED = FIXTURES / "conformance-mupots"
RECORDED = FIXTURES / "mupots-recorded"
AUTHORS_EVAL = FIXTURES / "mupots-authors-evaluate"
TESTSET = SHARED / "data" / "MultiPersonTestSet"
VARIANTS = ("clean", "noisy", "drops", "false_positives", "invisible", "root_error")
RECORDED_OK = ("clean_reversed", "noisy_rotated", "duplicates", "zero_bone_pred", "zero_bone_gt",
               "missing_key_as_empty", "no_key_for_invalid_frames", "nan_pred", "float32", "float32_2d",
               "no_occluded")
PCT_TOL = 0.01  # percentage points
MM_TOL = 0.01  # mm
STRICT_RTOL = 1e-9
COUNTS = ("annotated", "undetected", "evaluated", "frames", "seq")


# ------------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def gt():
    return M.read_ground_truth(TESTSET)


@pytest.fixture(scope="module")
def gt_zero_bone(tmp_path_factory):
    """The shared test set with TS4/annot.mat replaced by the recorded zero-length-bone override."""
    root = tmp_path_factory.mktemp("mupots-zero-bone") / "MultiPersonTestSet"
    shutil.copytree(TESTSET, root)
    shutil.copy(RECORDED / "zero_bone_gt" / "gt_override" / "TS4" / "annot.mat", root / "TS4" / "annot.mat")
    return M.read_ground_truth(root)


def _tolerance(path: tuple) -> float | None:
    """Absolute tolerance of one official field (None: exact)."""
    last = path[-1]
    parent = path[-2] if len(path) > 1 else None
    if last in COUNTS or last == "count":
        return None
    if parent in ("pck_groups", "auc_groups") or last in ("pck", "auc"):
        return PCT_TOL
    return MM_TOL  # mpjpe, mpjpe_joints14, mpjpe_per_joint, the visibility tables' mpjpe


def compare_mode(official: dict, ours: dict, where: str, strict: bool = True) -> int:
    """Every numeric field of the official ``results[MODE]`` (avg and sequences) against ours; returns the count."""
    checked = 0

    def walk(ref, val, path):
        nonlocal checked
        if isinstance(ref, dict):
            for k, v in ref.items():
                if k in ("eval_mode", "is_relative", "status"):
                    continue
                assert k in val, f"{where} {'/'.join(map(str, path + (k,)))}: missing in ours"
                walk(v, val[k], path + (k,))
        elif isinstance(ref, list):
            assert len(ref) == len(val), f"{where} {path}: {len(ref)} rows official, {len(val)} ours"
            for i, (a, b) in enumerate(zip(ref, val)):
                walk(a, b, path + (i,))
        else:
            checked += 1
            label = f"{where} {'/'.join(map(str, path))}"
            if ref is None:
                assert val is None, f"{label}: official NaN, ours {val}"
                return
            assert val is not None, f"{label}: official {ref}, ours NaN"
            tol = _tolerance(tuple(p for p in path if not isinstance(p, int)))
            if tol is None:
                assert val == ref, f"{label}: official {ref}, ours {val}"
            else:
                assert abs(val - ref) <= tol, f"{label}: official {ref}, ours {val} (tolerance {tol})"
                if strict:
                    assert val == pytest.approx(ref, rel=STRICT_RTOL, abs=1e-9), f"{label}: {ref} vs {val}"
    walk(official, ours, ())
    return checked


def evaluate_folder(gt, folder, **kw):
    p = M.read_predictions(folder)
    return O.evaluate_mupots(gt, p.poses_2d, p.poses_3d, **kw)


# ------------------------------------------------------------------------------------ the shared vectors
@pytest.mark.parametrize("variant", VARIANTS)
def test_shared_vectors(gt, variant):
    official = json.loads((SHARED / "official" / f"{variant}.json").read_text())["results"]
    ours = evaluate_folder(gt, SHARED / "predictions" / variant).to_json()["results"]
    assert set(official) == set(O.MODE_NAMES)
    for mode in O.MODE_NAMES:
        assert official[mode]["status"] == "ok"
        assert ours[mode]["eval_mode"] == official[mode]["eval_mode"]
        assert ours[mode]["is_relative"] == official[mode]["is_relative"]
        n = compare_mode(official[mode], ours[mode], f"{variant} {mode}")
        assert n > 20 * 40  # every sequence field was seen


# ----------------------------------------------------------------------------------- the recorded cases
def _recorded(case):
    return json.loads((RECORDED / case / "official.json").read_text())["results"]


@pytest.mark.parametrize("case", RECORDED_OK)
def test_recorded_cases(gt, gt_zero_bone, case):
    official = _recorded(case)
    kw = {}
    source = case
    if case == "missing_key_as_empty":  # our missing="empty" on the input without the key == Octave on empties
        source, kw = "missing_key", {"missing": "empty"}
    ev = evaluate_folder(gt_zero_bone if case == "zero_bone_gt" else gt, RECORDED / source, **kw)
    ours = ev.to_json()["results"]
    for mode in O.MODE_NAMES:
        assert official[mode]["status"] == "ok"
        compare_mode(official[mode], ours[mode], f"{case} {mode}")


def test_recorded_cases_are_all_tested():
    cases = {p.name for p in RECORDED.iterdir() if (p / "official.json").is_file()}
    assert cases == set(RECORDED_OK) | {"missing_key", "missing_key_3d", "nobody_matched"}


def test_ties_go_to_the_first_prediction(gt):
    """clean_reversed differs from clean only by the order of people: the tie frames then match the other person
    (absolute PCK 87.6 instead of 100); duplicates (exact 2D ties with a shifted copy after each person) keep
    the original everywhere."""
    rev = _recorded("clean_reversed")["all/absolute"]["avg"]["pck"]
    assert rev < 90
    ev = evaluate_folder(gt, RECORDED / "clean_reversed")
    assert ev["all/absolute"].avg.pck == pytest.approx(rev, abs=PCT_TOL)
    dup = evaluate_folder(gt, RECORDED / "duplicates")
    assert dup["all/absolute"].avg.pck == 100.0
    people = dup.people
    n_people = {k: v.shape[0] // 2 for k, v in M.read_predictions(RECORDED / "duplicates").poses_2d.items()}
    for s, f, j in zip(people.sequence, people.frame, people.prediction):
        assert j < n_people[M.prediction_key(int(s), int(f))], "a copy (listed after the originals) was matched"


def test_missing_key_raises_with_the_key(gt):
    assert _recorded("missing_key")["all/relative"]["status"] == "error"  # the official script crashes
    with pytest.raises(PredictionsError, match=r"'TS3_img_000001'.*2D and 3D|2D and 3D.*'TS3_img_000001'"):
        evaluate_folder(gt, RECORDED / "missing_key")
    with pytest.raises(PredictionsError, match=r"no 3D prediction for 'TS3_img_000001'"):
        evaluate_folder(gt, RECORDED / "missing_key_3d")
    with pytest.raises(ValueError, match="missing"):
        evaluate_folder(gt, RECORDED / "noisy_rotated", missing="skip")


def test_nobody_matched(gt):
    """'all' modes: the official numbers; 'matched' modes (the official script crashes): NaN for the empty
    sequences and the average, the counts exact, the other sequences scored."""
    official = _recorded("nobody_matched")
    ev = evaluate_folder(gt, RECORDED / "nobody_matched")
    ours = ev.to_json()["results"]
    for mode in ("all/relative", "all/absolute"):
        compare_mode(official[mode], ours[mode], f"nobody_matched {mode}")
        assert ev[mode].empty_sequences == ()
    for mode in ("matched/relative", "matched/absolute"):
        assert official[mode]["status"] == "error"
        assert "out of bound" in official[mode]["error"]
        r = ev[mode]
        assert r.empty_sequences == (4, 7)
        for s in r.sequences:
            if s.seq in (4, 7):
                assert s.evaluated == 0 and s.undetected == s.annotated == 5
                assert math.isnan(s.pck) and math.isnan(s.auc) and math.isnan(s.mpjpe)
                assert all(math.isnan(v) for v in s.pck_groups.values())
            else:
                assert s.evaluated == s.annotated - s.undetected > 0 and not math.isnan(s.pck)
        assert math.isnan(r.avg.pck) and math.isnan(r.avg.mpjpe)
        assert ours[mode]["avg"]["pck"] is None
        json.dumps(ours[mode], allow_nan=False)


def test_zero_length_bones_make_nan_like_octave(gt):
    ev = evaluate_folder(gt, RECORDED / "zero_bone_pred")
    seqs = {s.seq: s for s in ev["matched/relative"].sequences}
    assert math.isnan(seqs[1].mpjpe_per_joint["right_wrist"])
    assert not math.isnan(seqs[1].mpjpe_per_joint["right_elbow"])
    assert math.isnan(seqs[3].mpjpe_per_joint["left_knee"]) and math.isnan(seqs[3].mpjpe_per_joint["left_ankle"])
    assert not math.isnan(seqs[4].mpjpe) and math.isnan(ev["matched/relative"].avg.mpjpe)


@pytest.mark.parametrize("mode", ["gt", "bbox_root"])
def test_authors_evaluate_output_scored_officially(gt, mode):
    """The authors' evaluate output (numpy 1.x: single-precision 2D and 3D) against the official script."""
    folder = AUTHORS_EVAL / mode / "numpy1-float32"
    official = json.loads((folder / "official.json").read_text())["results"]
    p = M.read_predictions(folder)
    assert all(v.dtype == np.float32 for v in p.poses_2d.values())
    assert all(v.dtype == np.float32 for v in p.poses_3d.values())
    ours = O.evaluate_mupots(gt, p.poses_2d, p.poses_3d).to_json()["results"]
    for m in O.MODE_NAMES:
        compare_mode(official[m], ours[m], f"authors-evaluate {mode} {m}")


def test_single_precision_is_reproduced(gt):
    """float32 files are scored in single precision as Octave does: bit-level agreement with the recorded
    float32 case, and a visible difference from scoring the same values in double."""
    p = M.read_predictions(RECORDED / "float32")
    single = O.evaluate_mupots(gt, p.poses_2d, p.poses_3d)
    double = O.evaluate_mupots(gt, {k: v.astype(np.float64) for k, v in p.poses_2d.items()},
                               {k: v.astype(np.float64) for k, v in p.poses_3d.items()})
    official = _recorded("float32")["all/relative"]["sequences"]
    diffs_single = [abs(s.mpjpe - o["mpjpe"]) for s, o in zip(single["all/relative"].sequences, official)]
    diffs_double = [abs(s.mpjpe - o["mpjpe"]) for s, o in zip(double["all/relative"].sequences, official)]
    assert max(diffs_single) < 1e-9 < max(diffs_double)


# ---------------------------------------------------------------------------- the per-person records
def test_people_records_rebuild_the_sequence_numbers(gt):
    ev = evaluate_folder(gt, SHARED / "predictions" / "drops")
    people = ev.people
    assert len(people) == sum(int(s.valid.sum()) for s in gt.sequences) == 152
    assert people.relative.shape == people.absolute.shape == (152, 17)
    for name in O.MODE_NAMES:
        r = ev[name]
        for s in r.sequences:
            rows = people.sequence == s.seq
            assert int(rows.sum()) == s.annotated
            assert int((rows & ~people.matched).sum()) == s.undetected
            if r.eval_mode == 1:
                rows &= people.matched
            assert int(rows.sum()) == s.evaluated
            err = people.errors(bool(r.is_relative))[rows]
            assert 100.0 * np.mean(err[:, :14] < 150) == pytest.approx(s.pck, abs=1e-9)
            assert np.mean(err) == pytest.approx(s.mpjpe, rel=1e-12)
    # unmatched people hold the official placeholder distances (all PCK misses)
    assert (people.relative[~people.matched][:, :14] > 1e4).all()
    assert (people.prediction[~people.matched] == -1).all() and (people.prediction[people.matched] >= 0).all()
    doc = ev.to_json(include_people=True)
    json.dumps(doc, allow_nan=False)
    assert len(doc["people"]["relative"]) == 152 and doc["people"]["joints"] == list(M.JOINT_NAMES)


def test_average_is_over_sequences_not_people():
    """Two sequences, 1 person (perfect) and 3 people (all missed): Avg PCK = (100 + 0) / 2, not 25."""
    def sequence(index, n_people):
        rng = np.random.default_rng(index)
        pose = rng.uniform(200, 800, (1, n_people, 17, 2))
        univ = rng.uniform(-800, 800, (1, n_people, 17, 3)) + np.array([0, 0, 4000.0])
        return M.MuPoTSSequence(index, pose, univ, univ, np.ones((1, n_people), bool),
                                np.zeros((1, n_people, 17), bool))
    gt = M.MuPoTSGroundTruth(Path("."), (sequence(1, 1), sequence(2, 3)))
    s1, s2 = gt.sequences
    p2 = {"TS1_img_000000": s1.annot2[0], "TS2_img_000000": np.zeros((0, 17, 2))}
    p3 = {"TS1_img_000000": s1.univ_annot3[0], "TS2_img_000000": np.zeros((0, 17, 3))}
    r = O.evaluate_mupots(gt, p2, p3)["all/relative"]
    assert [s.pck for s in r.sequences] == [100.0, 0.0]
    assert r.avg.pck == 50.0
    assert (r.avg.annotated, r.avg.undetected, r.avg.evaluated) == (4, 3, 4)


# --------------------------------------------------------------------------------- the building blocks
def test_match_frame_rules():
    g = np.zeros((2, 17, 2))
    g[0] = 100.0
    g[1] = 100.0 + 39.0  # within 40 px of person 0's joints too
    same = g[0].copy()
    # identical predictions: the first wins for GT 0, the second goes to GT 1
    assert O.match_frame(g, np.stack([same, same])).tolist() == [0, 1]
    # strict 40 px in x AND y
    p = g[:1].copy()
    p[0, :, 0] += 40.0
    assert O.match_frame(g[:1], p).tolist() == [-1]
    p[0, :, 0] -= 1e-9
    assert O.match_frame(g[:1], p).tolist() == [0]
    # (0, 0) joints are ignored for matching; a prediction of only (0, 0) joints never matches
    z = np.zeros((1, 17, 2))
    assert O.match_frame(np.zeros((1, 17, 2)), z).tolist() == [-1]
    # greedy in GT order: GT 0 takes its best even if GT 1 would need it
    close = g[1].copy()
    assert O.match_frame(g, close[None]).tolist() == [0, -1]
    # joints outside 2..14 do not count
    far = g[0].copy()
    far[[0, 14, 15, 16]] += 1000
    assert O.match_frame(g[:1], far[None]).tolist() == [0]
    assert O.match_frame(g[:1], np.zeros((0, 17, 2))).tolist() == [-1]


def test_rescale_keeps_directions_and_takes_gt_lengths():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (5, 17, 3))
    pred = rng.normal(0, 300, (5, 17, 3))
    out = O.rescale_to_gt_bone_lengths(pred, gt)
    assert np.array_equal(out[:, O.ROOT], pred[:, O.ROOT])
    for child in O.BONE_ORDER:
        parent = O.PARENTS[child]
        new = out[:, child] - out[:, parent]
        old = pred[:, child] - pred[:, parent]
        np.testing.assert_allclose(np.linalg.norm(new, axis=1), np.linalg.norm(gt[:, child] - gt[:, parent], axis=1))
        np.testing.assert_allclose(new / np.linalg.norm(new, axis=1)[:, None],
                                   old / np.linalg.norm(old, axis=1)[:, None], atol=1e-12)
    assert sorted(O.BONE_ORDER + (O.ROOT,)) == list(range(17))
    for i, child in enumerate(O.BONE_ORDER):  # every parent is done before its child
        assert O.PARENTS[child] == O.ROOT or O.PARENTS[child] in O.BONE_ORDER[:i]


def test_octave_norm_matches_known_values():
    v = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1e-300, 1e-300, 0.0], [1e200, 1e200, 1e200]])
    out = O.octave_norm(v)
    assert out[0] == 5.0 and out[1] == 0.0
    assert out[2] == pytest.approx(math.sqrt(2) * 1e-300) and out[3] == pytest.approx(math.sqrt(3) * 1e200)
    assert O.octave_norm(v[:2].astype(np.float32)).dtype == np.float32


def test_octave_norm_is_bit_exact():
    """Octave's norm of 300 random 3-vectors (double and single), recorded: ours equal bit for bit, numpy's
    ``linalg.norm`` differs in the last bit for about a third of them."""
    rec = json.loads((RECORDED / "octave_norm.json").read_text())
    for key, dtype in (("double", np.float64), ("single", np.float32)):
        v = np.array(rec[key]["v"], dtype=dtype)
        expected = np.array(rec[key]["norm"], dtype=dtype)
        assert np.array_equal(O.octave_norm(v), expected)
        assert not np.array_equal(np.linalg.norm(v, axis=1).astype(dtype), expected)


def test_rescale_is_bit_exact():
    """mpii_map_to_gt_bone_lengths under Octave on 12 random poses, double and single: equal bit for bit."""
    rec = json.loads((RECORDED / "octave_rescale.json").read_text())
    gt, pred = np.array(rec["gt"]), np.array(rec["pred"])
    assert np.array_equal(O.rescale_to_gt_bone_lengths(pred, gt), np.array(rec["out_double"]))
    single = O.rescale_to_gt_bone_lengths(pred.astype(np.float32), gt)
    assert single.dtype == np.float32
    assert np.array_equal(single, np.array(rec["out_single"], dtype=np.float32))


def test_pck_and_auc_thresholds_are_strict():
    """error < 150 mm is correct, exactly 150 is a miss; the 0 mm AUC threshold never counts; NaN always misses."""
    errors = np.zeros((2, 17))
    errors[0, :14] = 150.0
    errors[1, 0] = np.nan
    m = O._sequence_metrics(1, errors, np.zeros((2, 17), bool), 2, 0, 1)
    assert m.pck == pytest.approx(100.0 * 13 / 28)
    assert m.pck_groups["Head"] == 0.0 and m.pck_groups["Neck"] == 50.0
    assert m.auc_groups["Neck"] == pytest.approx(100.0 * (30 + 0) / 2 / 31)
    assert math.isnan(m.mpjpe) and math.isnan(m.mpjpe_per_joint["head_top"])
    assert m.visible_joints.count == 28.0 and m.visible_joints.pck == pytest.approx(100.0 * (1 - 1 / 28))


# -------------------------------------------------------------------------------------- ground-truth I/O
def test_read_ground_truth_layout(gt):
    assert [s.index for s in gt.sequences] == list(range(1, 21))
    s = gt.sequence(1)
    assert s.annot2.shape == (4, 4, 17, 2) and s.univ_annot3.shape == (4, 4, 17, 3)
    assert s.valid.dtype == bool and s.occlusion.shape == (4, 4, 17) and s.occlusion.dtype == bool
    raw = scipy.io.loadmat(TESTSET / "TS1" / "annot.mat")["annotations"][0, 0]
    np.testing.assert_array_equal(s.univ_annot3[0, 0], raw["univ_annot3"][0, 0].T)
    np.testing.assert_array_equal(s.annot2[0, 0], raw["annot2"][0, 0].T)
    # the parent folder of MultiPersonTestSet is accepted too; a subset of sequences
    sub = M.read_ground_truth(SHARED / "data", sequences=[3, 5])
    assert [q.index for q in sub.sequences] == [3, 5]
    with pytest.raises(KeyError):
        sub.sequence(1)


def _write_annot(folder: Path, n_frames=1, n_people=1, annot2_shape=(2, 17), occ_len=17):
    folder.mkdir(parents=True, exist_ok=True)
    ann = np.empty((n_frames, n_people), dtype=object)
    occ = np.empty((n_frames, n_people), dtype=object)
    for i in range(n_frames):
        for k in range(n_people):
            ann[i, k] = {"annot2": np.ones(annot2_shape), "annot3": np.ones((3, 17)), "univ_annot3": np.ones((3, 17)),
                         "isValidFrame": 1.0}
            occ[i, k] = np.zeros((1, occ_len), dtype=np.uint8)
    scipy.io.savemat(folder / "annot.mat", {"annotations": ann})
    scipy.io.savemat(folder / "occlusion.mat", {"occlusion_labels": occ})


def test_ground_truth_errors(tmp_path):
    with pytest.raises(DatasetError, match="TS2"):
        root = tmp_path / "a"
        _write_annot(root / "TS1")
        M.read_ground_truth(root, sequences=[1, 2])
    ok = M.read_ground_truth(tmp_path / "a", sequences=[1])
    assert ok.sequences[0].valid.tolist() == [[True]]
    (tmp_path / "a" / "TS1" / "occlusion.mat").unlink()
    with pytest.raises(DatasetError, match=r"occlusion\.mat: file not found"):
        M.read_ground_truth(tmp_path / "a", sequences=[1])
    (tmp_path / "a" / "TS1" / "annot.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DatasetError, match=r"annot\.mat: cannot be read as a MATLAB file"):
        M.read_sequence(tmp_path / "a" / "TS1", 1)
    _write_annot(tmp_path / "b" / "TS1", annot2_shape=(2, 16))
    with pytest.raises(DatasetError, match=r"annotations\{1,1\}\.annot2: shape \(2, 16\), expected \(2, 17\)"):
        M.read_sequence(tmp_path / "b" / "TS1", 1)
    _write_annot(tmp_path / "c" / "TS1", occ_len=16)
    with pytest.raises(DatasetError, match=r"occlusion_labels\{1,1\} must hold 17"):
        M.read_sequence(tmp_path / "c" / "TS1", 1)
    scipy.io.savemat(tmp_path / "c" / "TS1" / "annot.mat", {"something": np.ones(3)})
    with pytest.raises(DatasetError, match="no variable 'annotations'"):
        M.read_sequence(tmp_path / "c" / "TS1", 1)
    with pytest.raises(DatasetError, match="folder not found"):
        M.read_ground_truth(tmp_path / "nowhere")


# -------------------------------------------------------------------------------------- predictions I/O
def test_writer_round_trip(gt, tmp_path):
    p = M.read_predictions(SHARED / "predictions" / "drops")
    p2 = dict(p.poses_2d)
    p3 = dict(p.poses_3d)
    p2["TS1_img_000000"] = p2["TS1_img_000000"].astype(np.float32)  # single stays single
    paths = M.write_predictions(tmp_path / "out", p2, p3)
    assert [x.name for x in paths] == [M.PREDICTIONS_2D_FILE, M.PREDICTIONS_3D_FILE]
    assert sorted(os.listdir(tmp_path / "out")) == sorted([M.PREDICTIONS_2D_FILE, M.PREDICTIONS_3D_FILE])
    back = M.read_predictions(tmp_path / "out")
    assert set(back.poses_2d) == set(p2) == set(back.poses_3d)
    for k in p2:
        assert back.poses_2d[k].dtype == p2[k].dtype and back.poses_3d[k].dtype == p3[k].dtype
        np.testing.assert_array_equal(back.poses_2d[k], p2[k])
        np.testing.assert_array_equal(back.poses_3d[k], p3[k])
    assert any(v.shape[0] == 0 for v in back.poses_2d.values())  # the empty frame survives as [0, 17, 2]
    # the files are MAT v5 as the official script (Octave's load) reads: the recorded cases were written so
    header = (tmp_path / "out" / M.PREDICTIONS_2D_FILE).read_bytes()[:10]
    assert header == b"MATLAB 5.0"
    ref = json.loads((SHARED / "official" / "drops.json").read_text())["results"]
    ours = O.evaluate_mupots(gt, back.poses_2d, back.poses_3d).to_json()["results"]
    compare_mode(ref["matched/absolute"], ours["matched/absolute"], "round trip", strict=False)


def test_writer_is_atomic_and_validates(tmp_path, monkeypatch):
    good2 = {"TS1_img_000000": np.zeros((1, 17, 2))}
    good3 = {"TS1_img_000000": np.zeros((1, 17, 3))}
    M.write_predictions(tmp_path, good2, good3)
    before = (tmp_path / M.PREDICTIONS_2D_FILE).read_bytes()
    with pytest.raises(PredictionsError, match="same keys"):
        M.write_predictions(tmp_path, good2, {})
    with pytest.raises(PredictionsError, match="1 people in 2D but 2 in 3D"):
        M.write_predictions(tmp_path, good2, {"TS1_img_000000": np.zeros((2, 17, 3))})
    with pytest.raises(PredictionsError, match=r"shape \(17, 2\)"):
        M.write_predictions(tmp_path, {"TS1_img_000000": np.zeros((17, 2))}, good3)
    with pytest.raises(PredictionsError, match="is not TS<n>_img_"):
        M.write_predictions(tmp_path, {"img_1": np.zeros((1, 17, 2))}, {"img_1": np.zeros((1, 17, 3))})

    def boom(f, *a, **k):
        f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(M.scipy.io, "savemat", boom)
    with pytest.raises(OSError, match="disk full"):
        M.write_predictions(tmp_path, good2, good3)
    assert (tmp_path / M.PREDICTIONS_2D_FILE).read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == sorted([M.PREDICTIONS_2D_FILE, M.PREDICTIONS_3D_FILE])


def test_prediction_reader_errors(gt, tmp_path):
    with pytest.raises(PredictionsError, match="file not found"):
        M.read_predictions(tmp_path)
    scipy.io.savemat(tmp_path / M.PREDICTIONS_2D_FILE, {"TS1_img_000000": np.zeros((2, 17, 3))})
    scipy.io.savemat(tmp_path / M.PREDICTIONS_3D_FILE, {"TS1_img_000000": np.zeros((2, 17, 3))})
    with pytest.raises(PredictionsError, match=r"TS1_img_000000: shape \(2, 17, 3\), expected \[people, 17, 2\]"):
        M.read_predictions(tmp_path)
    (tmp_path / M.PREDICTIONS_2D_FILE).write_bytes(b"garbage" * 20)
    with pytest.raises(PredictionsError, match="cannot be read as a MATLAB file"):
        M.read_predictions(tmp_path)
    # other variables are ignored, as the official script ignores them; a 0x0 empty means no detection
    scipy.io.savemat(tmp_path / M.PREDICTIONS_2D_FILE, {"TS1_img_000000": np.zeros((0, 0)), "meta": np.ones(2)})
    scipy.io.savemat(tmp_path / M.PREDICTIONS_3D_FILE, {"TS1_img_000000": np.zeros((0, 0))})
    p = M.read_predictions(tmp_path)
    assert list(p.poses_2d) == ["TS1_img_000000"] and p.poses_2d["TS1_img_000000"].shape == (0, 17, 2)
    # 2D / 3D people counts must agree at evaluation
    p2 = {M.prediction_key(s.index, f): np.zeros((1, 17, 2)) for s in gt.sequences for f in range(s.num_frames)}
    p3 = {k: np.zeros((2, 17, 3)) for k in p2}
    with pytest.raises(PredictionsError, match="1 people in the 2D predictions but 2 in the 3D"):
        O.evaluate_mupots(gt, p2, p3)


def test_prediction_keys():
    assert M.prediction_key(3, 7) == "TS3_img_000007"
    assert M.parse_prediction_key("TS20_img_000123") == (20, 123)
    assert M.parse_prediction_key("TS0_img_000001") is None and M.parse_prediction_key("TS1_img_1") is None
