"""Image corruptions (Human3.6M-C mode): determinism, severity behaviour, constants, run + report end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pose3dbench.cli import main as cli_main
from pose3dbench.data.corruptions import COMMON, CORRUPTIONS, corrupt, resolve_corruptions, seed_for
from pose3dbench.data.transforms import crop_patch, load_image
from pose3dbench.results.robustness import corruption_table
from pose3dbench.results.schema import validate_results
from tests.helpers.paths import BYO
from tests.helpers.pipeline import PIPELINE_DIR, VECTORS, build_dataset
from tests.helpers.runs import comparable_results


@pytest.fixture(scope="module")
def crop():
    s = VECTORS["samples"][0]
    return crop_patch(load_image(PIPELINE_DIR / s["file"]), np.asarray(s["bbox_xywh_px"]), (256, 256))


@pytest.mark.parametrize("name", COMMON)
def test_deterministic_and_severity_zero_is_clean(crop, name):
    a = corrupt(crop, name, 3, image_id=480)
    b = corrupt(crop.copy(), name, 3, image_id=480)
    assert a.dtype == np.uint8 and a.shape == crop.shape and np.array_equal(a, b)
    assert corrupt(crop, name, 0, image_id=480) is crop
    assert not np.array_equal(a, crop)


@pytest.mark.parametrize("name", COMMON)
def test_pixels_change_monotonically_with_severity(crop, name):
    change = [np.abs(corrupt(crop, name, s, image_id=480).astype(float) - crop).mean() for s in range(1, 6)]
    assert all(a < b for a, b in zip(change, change[1:])), (name, np.round(change, 2))


def test_random_corruptions_depend_on_the_image_seed(crop):
    assert seed_for(1, "gaussian_noise", 1) != seed_for(2, "gaussian_noise", 1) != seed_for(1, "gaussian_noise", 2)
    for name in ("gaussian_noise", "shot_noise", "occluder", "motion_blur"):
        assert not np.array_equal(corrupt(crop, name, 2, 1), corrupt(crop, name, 2, 2)), name


def test_imagenet_c_constants():
    grey = np.full((256, 256, 3), 128, np.uint8)
    noise = corrupt(grey, "gaussian_noise", 1, 0).astype(float) - 128
    assert noise.std() == pytest.approx(0.08 * 255, rel=0.02)  # c = .08 at severity 1
    assert (corrupt(grey, "gaussian_noise", 5, 0).astype(float) - 128).std() > 3.5 * noise.std()  # c = .38 (clipped)
    assert np.all(corrupt(grey, "brightness", 1, 0) == np.rint((128 / 255 + 0.1) * 255))  # V + .1 (grey: S = 0)
    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (256, 1, 3))
    low = corrupt(ramp, "contrast", 5, 0).astype(float)
    assert low.std() == pytest.approx(0.05 * ramp.astype(float).std(), abs=0.6)  # (x - mean) * .05 + mean
    pix = corrupt(ramp, "pixelate", 5, 0)  # 256 * .25 = 64 cells of 4 pixels
    assert len(np.unique(pix[0, :, 0])) <= 64 + 1 and np.array_equal(pix[0, :8, 0], np.repeat(pix[0, [0, 4], 0], 4))
    occ = corrupt(grey, "occluder", 5, 0)
    assert (occ != 128).any(axis=2).mean() == pytest.approx(0.40, abs=0.02)  # 40 % of the crop at severity 5


def test_resolve_corruptions():
    assert resolve_corruptions("none") == () and resolve_corruptions("common") == COMMON
    assert resolve_corruptions("contrast, occluder") == ("contrast", "occluder")
    assert set(COMMON) == set(CORRUPTIONS)
    with pytest.raises(ValueError, match="unknown fog"):
        resolve_corruptions("fog")


@pytest.fixture(scope="module")
def corrupted_runs(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("corrupt")
    data = build_dataset(tmp / "h36m")
    argv = ["--data", str(data), "--split", "p1", "p2", "--root", "rootnet", "--model", BYO,
            "--model", "mobilehumanpose-lpski", "--no-profile", "--no-progress", "--limit", "30"]
    outs = []
    for k in range(2):
        out = tmp / f"run{k}"
        assert cli_main(["run", *argv, "--out", str(out), "--corruptions", "common", "--severities", "1", "3",
                         "--mce-reference", "mobilehumanpose-lpski"]) == 0
        outs.append(out)
    clean = tmp / "clean"
    assert cli_main(["run", *argv, "--out", str(clean), "--no-report"]) == 0
    load = lambda p: json.loads((p / "results.json").read_text())  # noqa: E731
    return [load(o) for o in outs], load(clean), outs


def test_corrupted_run_results_schema_and_determinism(corrupted_runs):
    (a, b), clean, _ = corrupted_runs
    validate_results(a)
    assert len(a["corruption_evaluations"]) == 2 * 2 * len(COMMON) * 2  # models x splits x corruptions x severities
    assert a["settings"]["corruptions"]["names"] == list(COMMON)
    assert comparable_results(a) == comparable_results(b)  # two runs: identical results.json, timings aside
    # the clean evaluations of a corrupted run equal a plain run's (severity 0 = clean)
    assert comparable_results(a)["evaluations"] == comparable_results(clean)["evaluations"]
    ev = a["corruption_evaluations"][0]
    # a full evaluation record (Human3.6M's fields, protocol included) plus what was corrupted
    assert set(ev) >= {"model", "dataset", "split", "protocol", "root", "corruption", "severity", "metric",
                       "total_mm", "per_action_mm", "per_joint_mm", "num_samples", "predictions", "data", "timing"}
    assert (ev["dataset"], ev["split"], ev["protocol"]) == ("h36m", "p1", 1)
    assert ev["predictions"].startswith("predictions/corrupted/") and ev["predictions"].endswith(
        f"__h36m__p1__rootnet__{ev['corruption']}__s{ev['severity']}.npz")
    bad = json.loads(json.dumps(a))
    bad["corruption_evaluations"][0]["severity"] = "high"
    with pytest.raises(ValueError, match="severity"):
        validate_results(bad)


def test_mce_table_and_report_sections(corrupted_runs):
    (a, _), _, outs = corrupted_runs
    table = corruption_table(a, "h36m", "p2", "mobilehumanpose-lpski")
    assert table["reference"] == "mobilehumanpose-lpski"
    ref = table["models"]["mobilehumanpose-lpski"]
    assert ref["mce"] == pytest.approx(1.0) and all(v == pytest.approx(1.0) for v in ref["ce"].values())
    byo = table["models"]["tiny-byo"]
    e = byo["errors_mm"]["contrast"]
    assert byo["relative_degradation"]["contrast"] == pytest.approx((np.mean([e[1], e[3]]) - byo["clean_mm"])
                                                                    / byo["clean_mm"])
    md = (outs[0] / "report.md").read_text()
    section = md.split("## Robustness under image corruptions")[1].split("## Notes")[0]
    assert "mean corruption error" in section and "95% paired bootstrap CI" in section and "per action" in section
    for fig in ("fig_corruptions_p1.png", "fig_corruptions_p2.png", "fig_corruption_strip.png"):
        assert (outs[0] / fig).is_file() and fig in section


def test_bad_corruption_options_are_refused(tmp_path, capsys):
    data = build_dataset(tmp_path / "h36m")
    base = ["run", "--data", str(data), "--out", str(tmp_path / "o"), "--model", BYO, "--no-profile"]
    assert cli_main(base + ["--corruptions", "fog"]) != 0
    assert "unknown fog" in capsys.readouterr().err
    assert cli_main(base + ["--corruptions", "common", "--severities", "0", "6"]) != 0
    assert "1..5" in capsys.readouterr().err
    assert cli_main(base + ["--corruptions", "common", "--mce-reference", "nope"]) != 0
    assert "not a pose model of this run" in capsys.readouterr().err
