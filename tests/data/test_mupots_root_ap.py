"""pose3dbench.data.mupots.root_ap against RootNet's own MuPoTS evaluate (tests/fixtures/mupots-rootnet-ap)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pose3dbench.data.mupots.root_ap import root_ap, rootnet_output_to_camera
from pose3dbench.errors import PredictionsError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VECTORS = FIXTURES / "mupots-rootnet-ap"
ANNOTATIONS = FIXTURES / "conformance-mupots" / "data" / "MuPoTS-3D.json"
SETS = ("gt_small", "gt_large", "det", "det_dups")


@pytest.fixture(scope="module")
def annotations():
    return json.loads(ANNOTATIONS.read_text())


@pytest.mark.parametrize("name", SETS)
def test_conversion_matches_the_authors(name):
    z = np.load(VECTORS / name / "inputs.npz")
    written = json.loads((VECTORS / name / "bbox_root_mupots_output.json").read_text())
    assert [w["image_id"] for w in written] == z["image_id"].tolist()
    np.testing.assert_array_equal(np.array([w["bbox"] for w in written]), z["bbox"])
    cam = rootnet_output_to_camera(z["preds"], z["bbox"], z["f"], z["c"])
    np.testing.assert_allclose(cam, np.array([w["root_cam"] for w in written]), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("threshold", [250, 100, 500])
def test_ap_matches_the_authors(annotations, name, threshold):
    written = json.loads((VECTORS / name / "bbox_root_mupots_output.json").read_text())
    expected = json.loads((VECTORS / name / "ap.json").read_text())["ap_root"][str(threshold)]
    r = root_ap([w["image_id"] for w in written], [w["root_cam"] for w in written], [w["score"] for w in written],
                annotations, threshold_mm=threshold)
    assert r.ap == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert r.num_gt == 152
    assert len(r.order) + r.skipped == len(written)
    json.dumps(r.to_json(), allow_nan=False)


def test_recorded_sets_exercise_the_rules(annotations):
    written = json.loads((VECTORS / "gt_small" / "bbox_root_mupots_output.json").read_text())
    r = root_ap([w["image_id"] for w in written], [w["root_cam"] for w in written], [w["score"] for w in written],
                annotations)
    assert r.true_positive.all() and r.ap == pytest.approx(151 / 152)  # the first recall step is never added
    assert r.order.tolist() == list(range(len(written)))  # equal scores (1.0): input order
    written = json.loads((VECTORS / "det_dups" / "bbox_root_mupots_output.json").read_text())
    r = root_ap([w["image_id"] for w in written], [w["root_cam"] for w in written], [w["score"] for w in written],
                annotations)
    assert r.skipped > 0 and (r.matched_annotation == -1).sum() == 1
    taken_twice = [a for a in r.matched_annotation[~r.true_positive] if a >= 0 and a in
                   set(r.matched_annotation[r.true_positive])]
    assert taken_twice  # FPs whose nearest root was already taken


def _db(roots, valid=None, image_ids=None):
    valid = valid or [1] * len(roots)
    image_ids = image_ids or [0] * len(roots)
    anns = []
    for i, (r, v, im) in enumerate(zip(roots, valid, image_ids)):
        kp = np.zeros((17, 3))
        kp[14] = r
        anns.append({"id": i, "image_id": im, "is_valid": v, "keypoints_cam": kp.tolist()})
    return {"images": [{"id": i} for i in sorted(set(image_ids) | {0, 1, 2})], "annotations": anns}


def test_rules_on_small_cases():
    db = _db([[0, 0, 3000], [400, 0, 3000]])
    # descending score; the nearest root; strict threshold
    r = root_ap([0, 0], [[0, 0, 3100], [400, 0, 3000]], [0.5, 0.9], db)
    assert r.order.tolist() == [1, 0] and r.true_positive.tolist() == [True, True]
    assert r.ap == pytest.approx(1.0 * (1.0 - 0.5))
    r = root_ap([0], [[0, 0, 3250]], [1.0], db)
    assert r.true_positive.tolist() == [False] and r.ap == 0.0
    # no fall-back: the second prediction's nearest root is taken, the other one (within 250 mm) is not used
    db2 = _db([[0, 0, 3000], [200, 0, 3000]])
    r = root_ap([0, 0, 0], [[0, 0, 3000], [60, 0, 3000], [200, 0, 3000]], [0.9, 0.8, 0.7], db2)
    assert r.true_positive.tolist() == [True, False, True]
    assert r.ap == pytest.approx(0.5 * 0.0 + (2 / 3) * 0.5)
    # images without a valid annotation: skipped, not false positives
    db3 = _db([[0, 0, 3000], [0, 0, 3000]], valid=[1, 0], image_ids=[0, 1])
    r = root_ap([1, 0, 2], [[0, 0, 3000]] * 3, [0.9, 0.8, 0.7], db3)
    assert r.skipped == 2 and r.order.tolist() == [1]
    # farther than 9999 mm, or NaN: no candidate, a false positive
    r = root_ap([0, 0], [[0, 0, 30000], [np.nan, 0, 0]], [0.9, 0.8], db)
    assert r.matched_annotation.tolist() == [-1, -1] and not r.true_positive.any()


def test_errors():
    db = _db([[0, 0, 3000]])
    with pytest.raises(PredictionsError, match="image_id 7"):
        root_ap([7], [[0, 0, 3000]], [1.0], db)
    with pytest.raises(PredictionsError, match="NaN score"):
        root_ap([0], [[0, 0, 3000]], [float("nan")], db)
    with pytest.raises(PredictionsError, match="same length"):
        root_ap([0, 0], [[0, 0, 3000]], [1.0], db)
