"""Report: schema validation, tables, plots, CSV, HTML/MD writers, qualitative panel, CLI.

Fixtures are built here: a results dict for 3 pose models (+ RootNet) with random-but-valid numbers,
predictions npz written with numpy (per-sample errors computed from GT + model-specific noise, so
the models differ by a known amount) and tiny JPEGs written with cv2 for the qualitative panel.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose3dbench.cli import main as cli_main
from pose3dbench.data.h36m import ACTIONS, Human36M, evaluate_pose
from pose3dbench.data.samples import Samples
from pose3dbench.errors import Pose3DBenchError, PredictionsError, ResultsError
from pose3dbench.joints import H36M_JOINT_NAMES, H36M_SKELETON, MUCO_TO_H36M17
from pose3dbench.report.build import build_report
from pose3dbench.report.collect import collect, load_predictions
from pose3dbench.report.document import Table, to_markdown
from pose3dbench.report.notes import CSV_COLUMNS, banner, write_csv
from pose3dbench.report.pareto import pareto_front
from pose3dbench.report.qualitative import project
from pose3dbench.report.tables import provenance
from pose3dbench.results.predictions import save_predictions
from pose3dbench.results.schema import RESULTS_SCHEMA_VERSION, upgrade_document, validate_results

# A standing person in camera mm relative to the pelvis (X right, Y down), Human3.6M order + Thorax.
POSE_MM = np.array([[0, 0, 0], [-130, 0, 0], [-140, 450, 20], [-150, 880, 40], [130, 0, 0], [140, 450, 20],
                    [150, 880, 40], [0, -230, 0], [0, -480, 0], [0, -560, -60], [0, -650, 0], [180, -450, 0],
                    [250, -200, -40], [280, 30, -80], [-180, -450, 0], [-250, -200, -40], [-280, 30, -80],
                    [0, -450, 0]], dtype=float)
N = 48  # images per split (small: the bootstrap and plots stay fast)
NOISE_MM = {"convnextpose-s": 25.0, "posenet-r50": 45.0, "mhp-lpski-j21": 70.0}
JOINTS = {"convnextpose-s": 18, "posenet-r50": 18, "mhp-lpski-j21": 21}
SPLITS = [(1, "gt", "PA-MPJPE"), (2, "gt", "MPJPE"), (2, "rootnet", "MPJPE")]
RESAMPLES = 300
NO_PER_SAMPLE = ("posenet-r50", 2, "gt")  # in the shared built report, this file lacks per-sample values


def _cost(rng, params_m, gmacs, latency):
    return {"params": int(params_m * 1e6), "params_m": params_m, "macs": int(gmacs * 1e9),
            "flops": int(2 * gmacs * 1e9), "gmacs": gmacs,
            "latency_ms": {"batch": 1, "median": latency, "p90": latency * 1.1},
            "throughput_ips": {"batch": 32, "value": 1000.0 / latency * 2.5},
            "peak_memory_mb": float(rng.uniform(50, 500)), "peak_memory_kind": "rss delta",
            "device": "cpu", "dtype": "float32"}


def _model(name, family, kind, cost, published):
    return {"spec": name, "family": family, "variant": name, "config": {"family": family, "variant": name},
            "weights": {"kind": kind, "path": None if kind == "untrained" else f"/ckpt/{name}.pth",
                        "sha256": None if kind == "untrained" else "ab12cd34" * 8},
            "published": published, "cost": cost}


def make_samples(root: Path, protocol: int, root_src: str, rng) -> Samples:
    """N samples of Human3.6M split ``p<protocol>`` with GT joints (camera mm), intrinsics and bbox; tiny JPEGs
    exist on disk for four of every five."""
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    ids = np.arange(N, dtype=np.int64) * 7 + 1000 * protocol
    pelvis = np.stack([rng.uniform(-300, 300, N), rng.uniform(-200, 200, N), rng.uniform(4000, 5500, N)], 1)
    joints = pelvis[:, None, :] + POSE_MM[None] + rng.normal(0, 20, (N, 18, 3))
    focal = np.full((N, 2), 230.0)  # 200x200 images: a person is ~80 px tall
    princpt = np.full((N, 2), [100.0, 100.0])
    uv = project(joints, focal, princpt)
    lo, hi = uv.min(1), uv.max(1)
    c, s = (lo + hi) / 2, (hi - lo).max(1) * 1.25
    bbox = np.stack([c[:, 0] - s / 2, c[:, 1] - s / 2, s, s], 1)
    paths = []
    for i in range(N):
        p = img_dir / f"p{protocol}_{root_src}_{i}.jpg"
        if i % 5:  # every fifth image is absent (drawn grey)
            img = np.full((200, 200, 3), (70, 90, 60), np.uint8)
            for a, b in H36M_SKELETON:  # a stick figure where the GT is, to check the overlay visually
                cv2.line(img, tuple(np.round(uv[i, a]).astype(int)), tuple(np.round(uv[i, b]).astype(int)),
                         (200, 200, 230), 3)
            cv2.imwrite(str(p), img)
        paths.append(str(p))
    action_idx = 2 + (np.arange(N) % 15)
    groups = {"subject": np.full(N, 11), "action_idx": action_idx,
              "action": np.array([ACTIONS[int(a)] for a in action_idx]), "subaction_idx": np.ones(N, int),
              "cam_idx": np.ones(N, int), "frame_idx": np.arange(N)}
    return Samples(dataset="h36m", split=f"p{protocol}", box=root_src, sample_id=ids.copy(), image_id=ids,
                   image_path=paths, image_size=np.tile([1000, 1002], (N, 1)), bbox=bbox, root_cam=pelvis,
                   joints_cam=joints, focal=focal, princpt=princpt, joint_set="h36m18", groups=groups)


def predictions_name(name: str, protocol: int, root: str, version: int = RESULTS_SCHEMA_VERSION) -> str:
    """The predictions file of an evaluation, as a run of schema ``version`` names it."""
    if version == 1:
        return f"predictions/{name}__p{protocol}__{root}.npz"
    return f"predictions/{name}__h36m__p{protocol}__{root}.npz"


def dataset_setting(path: Path, synthetic: bool, splits=("p1", "p2")) -> dict:
    """results.json ``settings.datasets[i]`` of a Human3.6M run on ``path``."""
    return {**Human36M(path).describe(), "synthetic": synthetic,
            "synthetic_meta": {"seed": 0, "images": N} if synthetic else None, "splits": list(splits)}


def make_run(out: Path, seed: int = 0, *, all_untrained: bool = False, synthetic: bool = True,
             no_per_sample: tuple | None = None, version: int = RESULTS_SCHEMA_VERSION):
    """Write results.json + predictions/*.npz into ``out``; return (results dict, samples_by_split).

    ``no_per_sample`` = (model, protocol, root): that predictions file is written without per-sample values.
    ``version`` 1: the document and predictions files as pose3dbench wrote them before datasets were plug-ins
    (``settings.dataset`` / ``protocols``, records without dataset and split, files named ``<model>__p2__gt.npz``
    whose meta names the protocol and which hold ``per_sample_mm``). ``samples_by_split``:
    {(dataset, split, root): Samples}.
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions").mkdir(exist_ok=True)
    kind = lambda k: "untrained" if all_untrained else k  # noqa: E731
    models = {
        "convnextpose-s": _model("convnextpose-s", "convnextpose", kind("checkpoint"), _cost(rng, 7.45, 5.2, 12.0),
                                 {"p2_mpjpe_mm": 42.3, "p1_pa_mpjpe_mm": 32.9, "params_m": 7.45, "gmacs": 5.2,
                                  "source": "ConvNeXtPose paper"}),
        "posenet-r50": _model("posenet-r50", "posenet", kind("untrained"), _cost(rng, 34.3, 12.6, 30.0),
                              {"p2_mpjpe_mm": 53.3, "p1_pa_mpjpe_mm": 35.2, "p2_mpjpe_rootnet_mm": 54.4}),
        "mhp-lpski-j21": _model("mhp-lpski-j21", "mobilehumanpose", kind("custom"), _cost(rng, 3.5, 3.9, 8.0),
                                {"p2_mpjpe_mm": 61.7}),
        "rootnet-r50": _model("rootnet-r50", "rootnet", kind("checkpoint"), _cost(rng, 34.0, 12.5, 28.0),
                              {"mrpe_mm": 120.0}),
    }
    which = (lambda p: {"protocol": p}) if version == 1 else (lambda p: {"dataset": "h36m", "split": f"p{p}",
                                                                         "protocol": p})
    samples_by_split, evaluations = {}, []
    for protocol, root_src, metric in SPLITS:
        key = ("h36m", f"p{protocol}", root_src)
        if key not in samples_by_split:
            same_protocol = [v for (_, sp, _), v in samples_by_split.items() if sp == f"p{protocol}"]
            if same_protocol:  # same images and GT; the released RootNet boxes/roots differ a little
                samples = copy.deepcopy(same_protocol[0])
                samples.box = root_src
                samples.root_cam = samples.root_cam + rng.normal(0, 80, samples.root_cam.shape)
            else:
                samples = make_samples(out / "h36m", protocol, root_src, rng)
            samples_by_split[key] = samples
        samples = samples_by_split[key]
        gt = samples.joints_cam[:, :17]
        for name, noise in NOISE_MM.items():
            pred17 = gt + rng.normal(0, noise / np.sqrt(3), gt.shape)
            j = JOINTS[name]
            pred = np.zeros((N, j, 3))
            if j == 21:
                pred[:, list(MUCO_TO_H36M17)] = pred17
            else:
                pred[:, :17] = pred17
                pred[:, 17] = pred17[:, [11, 14]].mean(1)
            rel = lambda a: a - a[:, :1]  # noqa: E731
            per_joint = np.linalg.norm(rel(pred17) - rel(gt), axis=2)  # (N, 17) mm
            per_sample = None if no_per_sample == (name, protocol, root_src) else per_joint.mean(1)
            npz = predictions_name(name, protocol, root_src, version)
            scored = evaluate_pose(pred, samples, protocol, joint_set="muco21" if j == 21 else "h36m18",
                                   scaled_per_sample=True)
            save_predictions(out / npz, image_id=samples.image_id, coords_hm=rng.uniform(0, 64, (N, j, 3)),
                             bbox=samples.bbox, root_cam=samples.root_cam, pred_cam=pred,
                             # a run of version 2 keeps the scaled variant's per-sample values (its CI) too
                             **({"per_sample_mm": per_sample} if version == 1 else
                                {"per_sample": per_sample, "sample_id": samples.sample_id,
                                 "per_sample_scaled_mm": scored["per_sample_scaled_mm"] if protocol == 1 else None}),
                             meta={"model": name, **which(protocol), "root": root_src, "heatmap_size": [64, 64],
                                   "depth_bins": 64, "joint_set": "muco21" if j == 21 else "h36m18"})
            per_sample = per_joint.mean(1)
            actions = samples.groups["action"]
            per_action = {a: float(per_sample[actions == a].mean()) for a in ACTIONS.values()}
            ev = {"model": name, **which(protocol), "root": root_src, "metric": metric,
                  "total_mm": float(per_sample.mean()), "action_mean_mm": float(np.mean(list(per_action.values()))),
                  "per_action_mm": per_action,
                  "per_joint_mm": {H36M_JOINT_NAMES[k]: float(per_joint[:, k].mean()) for k in range(17)},
                  "num_samples": N, "skipped": {"degenerate_bbox": 1} if protocol == 1 else {},
                  "approximate_joint_mapping": j == 21, "predictions": npz,
                  "timing": {"images_per_s": 80.0, "seconds": N / 80.0, "device": "cpu", "batch_size": 16}}
            if protocol == 1:  # the scaled variant as the evaluator computes it from these predictions
                ev["pa_mpjpe_scaled_mm"] = scored["pa_mpjpe_scaled_mm"]
                ev["pa_mpjpe_scaled"] = scored["pa_mpjpe_scaled"]
            evaluations.append(ev)
    s2 = samples_by_split[("h36m", "p2", "rootnet")]
    root_pred = s2.joints_cam[:, 0] + rng.normal(0, 70, (N, 3))
    root_npz = predictions_name("rootnet-r50", 2, "rootnet", version)
    save_predictions(out / root_npz, image_id=s2.image_id, root_cam=root_pred,
                     meta={"model": "rootnet-r50", **which(2), "root": "rootnet", "kind": "root"})
    d = root_pred - s2.joints_cam[:, 0]
    if version == 1:
        settings = {"protocols": [1, 2], "dataset": {"path": str(out / "h36m"), "synthetic": synthetic,
                                                     "synthetic_meta": {"seed": 0, "images": N} if synthetic else None}}
    else:
        settings = {"datasets": [dataset_setting(out / "h36m", synthetic)]}
    results = {
        "schema_version": version, "pose3dbench_version": "0.1.0",
        "created_utc": "2026-11-25T09:00:00+00:00",
        "environment": {"device": "cpu", "device_name": "Test CPU", "torch_version": "2.13.0",
                        "python_version": "3.11.7", "platform": "Linux-x86_64", "threads": 1, "numpy_version": "2.4"},
        "settings": {"batch_size": 16, "flip": True, "dtype": "float32", "workers": 0, "backend": "eager",
                     "roots": ["gt", "rootnet"], **settings},
        "models": models, "evaluations": evaluations,
        "root_evaluations": [{"model": "rootnet-r50", **which(2), "root": "rootnet",
                              "mrpe_mm": float(np.linalg.norm(d, axis=1).mean()), "x_mm": float(np.abs(d[:, 0]).mean()),
                              "y_mm": float(np.abs(d[:, 1]).mean()), "z_mm": float(np.abs(d[:, 2]).mean()),
                              "num_samples": N, "predictions": root_npz}],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return results, samples_by_split


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    results, samples = make_run(out, no_per_sample=NO_PER_SAMPLE)
    paths = build_report(out, samples_by_split=samples, n_resamples=RESAMPLES)
    return out, results, samples, paths


# --- schema ------------------------------------------------------------------------------------

def test_valid_results_pass(tmp_path):
    results, _ = make_run(tmp_path)
    assert results["schema_version"] == RESULTS_SCHEMA_VERSION == 2
    validate_results(results)
    validate_results(json.loads(json.dumps(results)))


def test_version_1_documents_are_upgraded(tmp_path):
    """A results.json of schema version 1 (Human3.6M only) reads as version 2: datasets, splits, every record's
    dataset and split; the records keep their protocol and the predictions files the names they had."""
    new, _ = make_run(tmp_path / "v2", seed=3)
    old, _ = make_run(tmp_path / "v1", seed=3, version=1)
    with pytest.raises(ValueError, match="schema_version"):
        validate_results(old)  # the validator reads version 2 only: version 1 goes through upgrade_document
    up = upgrade_document(old)
    validate_results(up)
    assert up["schema_version"] == 2 and old["schema_version"] == 1  # the input is not changed
    assert "protocols" not in up["settings"] and "dataset" not in up["settings"]
    (ds,) = up["settings"]["datasets"]
    assert ds == {**new["settings"]["datasets"][0], "path": str(tmp_path / "v1" / "h36m")}
    assert ds["splits"] == ["p1", "p2"] and ds["bbox_root"] is None
    for a, b in zip(up["evaluations"] + up["root_evaluations"], new["evaluations"] + new["root_evaluations"]):
        assert a == {**b, "predictions": predictions_name(b["model"], b["protocol"], b["root"], version=1)}
    old["settings"].update(limit_per_action=1, bbox_root={"1": "/rn/p1.json", "2": "/rn/p2.json"})
    st = upgrade_document(old)["settings"]
    assert st["limit_per_group"] == 1 and "limit_per_action" not in st
    assert st["datasets"][0]["bbox_root"] == {"p1": "/rn/p1.json", "p2": "/rn/p2.json"}
    old["settings"]["bbox_root"] = "/rn/one.json"  # one file for both protocols
    assert upgrade_document(old)["settings"]["datasets"][0]["bbox_root"] == {"p1": "/rn/one.json",
                                                                            "p2": "/rn/one.json"}
    assert upgrade_document(new) is new  # a version-2 document is returned as it is


def test_report_of_a_version_1_run(tmp_path):
    """A run folder of an earlier version (v1 results.json, predictions with per_sample_mm) still reports, with
    its confidence intervals and CSV."""
    make_run(tmp_path, version=1)
    paths = build_report(tmp_path, n_resamples=RESAMPLES)
    data = collect(tmp_path, n_resamples=RESAMPLES)
    assert len(data.cis) == 9 and not data.notes
    rows = list(csv.DictReader(paths["results_csv"].open()))
    assert {(r["dataset"], r["split"]) for r in rows} == {("h36m", "p1"), ("h36m", "p2")}
    assert all(r["ci_low"] and r["ci_high"] for r in rows)
    assert "Inconsistent" not in paths["report_md"].read_text()


@pytest.mark.parametrize("mutate, path_in_msg", [
    (lambda r: r.pop("settings"), "settings: required"),
    (lambda r: r.update(schema_version=3), "schema_version"),
    (lambda r: r.update(schema_version=1), "schema_version"),
    (lambda r: r["environment"].update(device="tpu"), "environment.device"),
    (lambda r: r["environment"].update(threads=True), "environment.threads"),
    (lambda r: r["settings"]["datasets"][0].update(synthetic="yes"), "settings.datasets[0].synthetic"),
    (lambda r: r["settings"]["datasets"][0].update(splits=[3]), "settings.datasets[0].splits[0]"),
    (lambda r: r["settings"]["datasets"][0].update(splits=[]), "settings.datasets[0].splits"),
    (lambda r: r["settings"].update(datasets=[]), "settings.datasets"),
    (lambda r: r["evaluations"][1].update(split="p3"), "evaluations[1].split"),
    (lambda r: r["evaluations"][1].pop("dataset"), "evaluations[1].dataset"),
    (lambda r: r["models"]["posenet-r50"]["weights"].update(kind="random"), "models.posenet-r50.weights.kind"),
    (lambda r: r["models"]["posenet-r50"]["cost"]["latency_ms"].update(batch=4),
     "models.posenet-r50.cost.latency_ms.batch"),
    (lambda r: r["evaluations"][4]["per_action_mm"].update(Eating="x"), "evaluations[4].per_action_mm.Eating"),
    (lambda r: r["evaluations"][2]["per_joint_mm"].update(Head=-1.0), "evaluations[2].per_joint_mm.Head"),
    (lambda r: r["evaluations"][1].update(protocol=3), "evaluations[1].protocol"),
    (lambda r: r["evaluations"][1].update(model="nope"), "evaluations[1].model"),
    (lambda r: r["evaluations"][0].pop("timing"), "evaluations[0].timing"),
    (lambda r: r["evaluations"].append(copy.deepcopy(r["evaluations"][0])), "duplicates evaluations[0]"),
    (lambda r: r["evaluations"][0].update(total_mm=float("nan")), "evaluations[0].total_mm"),
    (lambda r: r.update(created_utc="yesterday"), "created_utc"),
    (lambda r: r["root_evaluations"][0].update(mrpe_mm=None), "root_evaluations[0].mrpe_mm"),
    (lambda r: r["root_evaluations"][0].update(root="rootnet-model"), "root_evaluations[0].root"),
    (lambda r: r["root_evaluations"].append(copy.deepcopy(r["root_evaluations"][0])), "duplicates root_evaluations[0]"),
])
def test_invalid_results_name_the_field(tmp_path, mutate, path_in_msg):
    results, _ = make_run(tmp_path)
    mutate(results)
    with pytest.raises(ValueError) as info:
        validate_results(results)
    assert path_in_msg in str(info.value)


def test_optional_and_nullable_fields(tmp_path):
    results, _ = make_run(tmp_path)
    results["models"]["posenet-r50"]["cost"] = None
    results["evaluations"][0].pop("pa_mpjpe_scaled_mm")
    results["settings"]["datasets"][0]["synthetic_meta"] = None
    results["root_evaluations"] = []
    validate_results(results)


def test_missing_or_bad_results_json_raise_user_error(tmp_path):
    with pytest.raises(ResultsError, match="results.json not found"):
        build_report(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ResultsError, match="not readable JSON"):
        build_report(tmp_path)
    results, _ = make_run(tmp_path)
    results["evaluations"][0]["metric"] = "MPJPE-X"
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(ResultsError, match=r"results\.json: evaluations\[0\]\.metric"):
        build_report(tmp_path)
    assert issubclass(ResultsError, Pose3DBenchError)


def test_bad_predictions_file_raises(tmp_path):
    make_run(tmp_path)
    rel = predictions_name("posenet-r50", 2, "gt")
    npz = tmp_path / rel
    np.savez(npz, image_id=np.arange(N), per_sample=np.ones(N), pred_cam=np.zeros((N, 18, 3)))  # no meta
    with pytest.raises(PredictionsError, match="posenet-r50__h36m__p2__gt.npz: not a pose3dbench predictions file"):
        build_report(tmp_path, n_resamples=RESAMPLES)
    meta = {"model": "posenet-r50", "dataset": "h36m", "split": "p2", "root": "gt", "heatmap_size": [64, 64],
            "depth_bins": 64, "joint_set": "h36m18"}
    z = np.zeros((5, 18, 3))
    save_predictions(npz, image_id=np.arange(5), coords_hm=z, bbox=np.ones((5, 4)), root_cam=np.ones((5, 3)),
                     pred_cam=z, per_sample=np.ones(5), meta=meta)
    with pytest.raises(PredictionsError, match="holds 5 samples but results.json says num_samples=48"):
        load_predictions(tmp_path, rel, N)
    save_predictions(npz, image_id=np.arange(N), root_cam=np.ones((N, 3)), meta={**meta, "kind": "root"})
    with pytest.raises(PredictionsError, match="holds root predictions but results.json lists it as a pose"):
        build_report(tmp_path, n_resamples=RESAMPLES)
    npz.write_bytes(b"garbage")
    with pytest.raises(PredictionsError, match="posenet-r50__h36m__p2__gt.npz"):
        load_predictions(tmp_path, rel, N)


def test_predictions_without_per_sample_errors(built):
    out, results, samples, paths = built
    md = paths["report_md"].read_text()
    rel = predictions_name("posenet-r50", 2, "gt")
    assert f"{rel} has no per-sample values: no confidence interval for posenet-r50 (P2 MPJPE, GT root)" in md
    row = next(r for r in csv.DictReader(paths["results_csv"].open())
               if (r["model"], r["dataset"], r["split"], r["root"]) == ("posenet-r50", "h36m", "p2", "gt"))
    assert row["ci_low"] == "" and row["value"] != ""
    # the panel (P2, GT root) still shows posenet-r50, with its MPJPE computed against the samples' GT
    assert "fig_qualitative_h36m-p2-gt" in paths
    assert "posenet-r50" in md.split("## Qualitative examples")[1].split("## Notes")[0]


def test_panel_sample_choice():
    from pose3dbench.report.notes import quantile_words
    from pose3dbench.report.qualitative import choose_samples

    errors = np.random.default_rng(0).permutation(101).astype(float)  # values 0..100, shuffled
    picked = choose_samples(errors, 4)
    assert errors[picked].tolist() == [10.0, 50.0, 90.0, 100.0]
    assert errors[choose_samples(errors, 1)].tolist() == [50.0]
    assert len(choose_samples(errors[:2], 4)) == 2  # fewer images than requested: no duplicates
    assert quantile_words(4) == "10th, 50th and 90th percentile and the maximum"


# --- pareto ------------------------------------------------------------------------------------

def test_pareto_front():
    pts = np.array([[10, 50], [5, 60], [20, 40], [15, 55], [5, 70], [np.nan, 10], [30, 40]], dtype=float)
    # (15,55) is dominated by (10,50); (5,70) by (5,60); (30,40) by (20,40); NaN row never on the front
    assert pareto_front(pts).tolist() == [1, 0, 2]
    assert pareto_front(np.array([[1.0, 1.0], [1.0, 1.0]])).tolist() == [0, 1]  # duplicates both kept
    assert pareto_front(np.zeros((0, 2))).tolist() == []
    with pytest.raises(ValueError):
        pareto_front(np.zeros((3, 3)))


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    pts = rng.integers(0, 8, (40, 2)).astype(float)
    expected = [i for i in range(len(pts)) if not any(
        np.all(pts[j] <= pts[i]) and np.any(pts[j] < pts[i]) for j in range(len(pts)))]
    assert sorted(pareto_front(pts).tolist()) == expected


# --- document ----------------------------------------------------------------------------------

def test_table_rejects_ragged_rows_and_md_escapes_pipes(tmp_path):
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        Table("t", ["a", "b"], [["x"]])
    md = to_markdown([Table("t", ["a|b"], [["1|2"]], numeric=[True])], tmp_path)
    assert "| a\\|b |" in md and "| 1\\|2 |" in md and "|---:|" in md


# --- the built report --------------------------------------------------------------------------

def test_build_report_writes_files(built):
    out, results, _, paths = built
    for key in ("report_md", "report_html", "results_csv"):
        assert paths[key].is_file() and paths[key].parent == out
    pngs = [p for k, p in paths.items() if p.suffix == ".png"]
    # cost scatter x2 (P1, P2 GT), actions x3, joints x3, CI chart, qualitative panel
    assert len(pngs) == 10
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = cv2.imread(str(p))
        assert img is not None and img.shape[0] > 200 and img.shape[1] > 300 and img.std() > 5
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temp files


def test_results_csv(built):
    out, results, _, paths = built
    rows = list(csv.DictReader(paths["results_csv"].open()))
    assert list(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:8] == ["model", "dataset", "split", "root", "metric", "unit", "value", "group_mean"]
    assert len(rows) == len(results["evaluations"]) == 9
    by = {(r["model"], r["dataset"], r["split"], r["root"]): r for r in rows}
    r = by[("posenet-r50", "h36m", "p2", "rootnet")]
    ev = next(e for e in results["evaluations"]
              if (e["model"], e["split"], e["root"]) == ("posenet-r50", "p2", "rootnet"))
    assert (r["metric"], r["unit"]) == ("MPJPE", "mm")
    assert float(r["value"]) == pytest.approx(ev["total_mm"], abs=1e-3)
    assert float(r["group_mean"]) == pytest.approx(ev["action_mean_mm"], abs=1e-3)  # Human3.6M: the action mean
    assert float(r["published"]) == 54.4
    assert r["delta"] == ""  # posenet-r50 is untrained here: no difference to the paper
    c = by[("convnextpose-s", "h36m", "p2", "gt")]
    ev_c = next(e for e in results["evaluations"]
                if (e["model"], e["split"], e["root"]) == ("convnextpose-s", "p2", "gt"))
    assert float(c["delta"]) == pytest.approx(ev_c["total_mm"] - 42.3, abs=2e-3)
    assert float(r["ci_low"]) < float(r["value"]) < float(r["ci_high"])
    assert float(r["params_m"]) == 34.3 and float(r["latency_ms"]) == 30.0
    assert by[("mhp-lpski-j21", "h36m", "p1", "gt")]["published"] == ""  # no published P1 number
    assert by[("mhp-lpski-j21", "h36m", "p1", "gt")]["metric"] == "PA-MPJPE"


def test_markdown_content(built):
    out, results, _, paths = built
    md = paths["report_md"].read_text()
    # banner because the dataset is synthetic
    assert "Accuracy numbers below mean nothing" in md and "the dataset is synthetic" in md
    # every PNG linked relatively and existing
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == 10 and all((out / link).is_file() and "/" not in link for link in links)
    # leaderboard: published beside measured and the difference, units in headers
    lb = md.split("**Accuracy and cost per model**")[1].split("\n\n")[1]
    header = lb.splitlines()[0]
    for col in ("P2 MPJPE: measured (mm)", "P2 MPJPE: published (mm)", "P2 MPJPE: Δ (mm)"):
        assert col in header
    assert "P1 PA-MPJPE: measured (mm)" in header
    assert "Cost: Params (M)" in header and "Cost: GMACs (G)" in header and "Cost: Latency b1 (ms)" in header
    lb_rows = [[c.strip() for c in line.split("|")[1:-1]] for line in lb.splitlines()[2:]]
    assert [(r[0], r[2]) for r in lb_rows] == [(m, root) for m in ("convnextpose-s", "posenet-r50", "mhp-lpski-j21")
                                               for root in ("GT", "RootNet file")]  # ranked by P2 GT
    ev = next(e for e in results["evaluations"]
              if (e["model"], e["protocol"], e["root"]) == ("convnextpose-s", 2, "gt"))
    row = lb_rows[0]  # convnextpose-s, GT root: P1 triple, then P2 triple, then cost
    assert row[1] == "convnextpose-s.pth · ab12cd34"  # file name and sha256 prefix
    assert row[6:9] == [f"**{ev['total_mm']:.2f}**", "42.3", f"{ev['total_mm'] - 42.3:+.2f}"]
    assert row[9:11] == ["7.45", "5.20"] and lb_rows[1][9:] == ["", "", ""]
    assert lb_rows[3][6:9][1:] == ["54.4", "—"]  # posenet-r50 with RootNet roots: its own paper number; untrained: no Δ
    # RootNet: MRPE against published
    rev = results["root_evaluations"][0]
    row = next(line for line in md.splitlines() if line.startswith("| rootnet-r50 | P2 |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2] == "bbox_root file boxes" and cells[3] == f"{rev['mrpe_mm']:.1f}"
    assert cells[5] == "120.0" and cells[6] == f"{rev['mrpe_mm'] - 120.0:+.1f}"
    lo, hi = (float(v) for v in cells[4].strip("[]").split(","))
    assert lo < rev["mrpe_mm"] < hi  # MRPE CI from the GT pelvis of the samples
    # significance: noise 25 vs 70 mm on 48 images is a clear difference
    sig = md.split("P2 MPJPE, GT root: paired differences")[1].split("\n\n")[1]
    row = next(line for line in sig.splitlines() if line.startswith("| convnextpose-s | mhp-lpski-j21"))
    assert "**yes**" in row and row.split("|")[3].strip().startswith("-")
    # captions carry a short provenance; the Provenance block the full one, once
    for needle in ("Device cpu (Test CPU)", "float32", "batch 16", "torch 2.13.0", "SYNTHETIC",
                   "convnextpose-s convnextpose-s.pth · ab12cd34", "posenet-r50 untrained", "Protocol 2 (S9, S11)"):
        assert needle in md, needle
    assert md.count("[cpu float32, eager, batch 16, flip on, torch 2.13.0") >= 12
    assert md.count("## Provenance") == 1 and md.count("Device cpu (Test CPU), 1 threads") == 1
    # notes: skipped samples and approximate mapping
    notes = md.split("## Notes")[1]
    assert "Inconsistent" not in notes  # per-sample means and the MRPE recomputed from GT agree
    assert ("- P1 PA-MPJPE, GT root: samples left out as the protocol prescribes (all models): "
            "degenerate_bbox: 1.") in notes
    assert "- mhp-lpski-j21: scored through an approximate joint mapping" in notes
    # P1 rows carry the scale-aligned PA-MPJPE column
    ev = next(e for e in results["evaluations"] if (e["model"], e["protocol"]) == ("posenet-r50", 1))
    row = next(line for line in md.splitlines() if line.startswith("| posenet-r50 | P1 | GT root | PA-MPJPE |"))
    assert f"| {ev['pa_mpjpe_scaled_mm']:.2f} |" in row and "| PA-MPJPE with scale | its 95% CI |" in md
    assert "Qualitative examples" in md and "Skipped" not in md.split("## Qualitative examples")[1].split("##")[0]


def test_html_is_self_contained(built):
    out, _, _, paths = built
    html = paths["report_html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert html.count('src="data:image/png;base64,') == 10
    # no external resources of any kind
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "url(" not in html and "@import" not in html and "<script" not in html
    assert 'class="banner warning"' in html and "Leaderboard" in html


def test_no_banner_for_real_trained_run_and_no_samples(tmp_path):
    make_run(tmp_path, synthetic=False)
    paths = build_report(tmp_path, n_resamples=RESAMPLES)
    md = paths["report_md"].read_text()
    assert "mean nothing" not in md
    assert "Skipped: the ground truth was not available" in md
    assert "fig_qualitative_h36m-p2-gt" not in paths


def test_banner_when_the_run_is_incomplete(tmp_path):
    results, _ = make_run(tmp_path, synthetic=False)
    assert "Incomplete run" not in build_report(tmp_path, n_resamples=RESAMPLES)["report_md"].read_text()
    results["complete"] = False
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert "Incomplete run" in build_report(tmp_path, n_resamples=RESAMPLES)["report_md"].read_text()


def test_banner_when_all_untrained(tmp_path):
    results, _ = make_run(tmp_path, synthetic=False, all_untrained=True)
    top = banner(results)
    assert top is not None and "every model has untrained" in top.text and "synthetic" not in top.text
    assert "weights: all untrained" in provenance(results)
    results["models"]["posenet-r50"]["weights"].update(kind="checkpoint", sha256="feedbeef" * 8, path="/w/ep24.pth",
                                                       epoch=24)
    assert banner(results) is None
    assert "; weights: untrained except posenet-r50 ep24.pth · epoch 24 · feedbeef]" in provenance(results)


def test_missing_predictions_degrade_gracefully(tmp_path):
    make_run(tmp_path)
    (tmp_path / predictions_name("posenet-r50", 2, "gt")).unlink()
    data = collect(tmp_path, n_resamples=RESAMPLES)
    assert any("predictions/posenet-r50__h36m__p2__gt.npz is missing" in n for n in data.notes)
    write_csv(tmp_path / "results.csv", data)
    row = next(r for r in csv.DictReader((tmp_path / "results.csv").open())
               if (r["model"], r["dataset"], r["split"], r["root"]) == ("posenet-r50", "h36m", "p2", "gt"))
    assert row["ci_low"] == "" and row["value"] != ""
    assert len(data.cis) == 8


def test_inconsistent_total_is_reported(tmp_path):
    results, samples = make_run(tmp_path)
    results["evaluations"][0]["total_mm"] += 5.0
    (tmp_path / "results.json").write_text(json.dumps(results))
    notes = collect(tmp_path, n_resamples=RESAMPLES).notes
    assert any(n.startswith("Inconsistent: the mean of the per-sample values in "
                            f"{predictions_name('convnextpose-s', 1, 'gt')} is") for n in notes)
    results["root_evaluations"][0]["mrpe_mm"] += 3.0
    (tmp_path / "results.json").write_text(json.dumps(results))
    notes = collect(tmp_path, n_resamples=RESAMPLES, samples_by_split=samples).notes
    assert any("against the dataset's GT root gives MRPE" in n for n in notes)


def test_cli_report_command(tmp_path, capsys):
    make_run(tmp_path)
    assert cli_main(["report", "--out", str(tmp_path), "--resamples", str(RESAMPLES)]) == 0
    captured = capsys.readouterr()
    assert "report.html" in captured.out and (tmp_path / "report.html").is_file()
    # the fixture's dataset folder holds images only, so the rebuild says it skips the panel
    assert "building without the qualitative panel" in captured.err
    assert cli_main(["report", "--out", str(tmp_path), "--resamples", "10"]) == 2
    assert "too few" in capsys.readouterr().err
    assert cli_main(["report", "--out", str(tmp_path / "nothing")]) == 2
    assert "results.json not found" in capsys.readouterr().err


def test_report_command_rereads_the_dataset_for_the_panel(tmp_path):
    from pose3dbench.commands.report import load_samples_for
    from pose3dbench.data.h36m.synthetic import generate
    from pose3dbench.report.qualitative import qualitative_panel

    data = generate(tmp_path / "h36m", seed=1, size="tiny", workers=0)
    dataset = {"name": "h36m", "path": str(data), "splits": ["p2"], "bbox_root": None}
    settings = {"datasets": [dataset], "roots": ["gt", "rootnet-model"], "limit": 6}
    samples, why = load_samples_for({"settings": settings})
    assert why is None and set(samples) == {("h36m", "p2", "gt"), ("h36m", "p2", "rootnet-model")}
    s = samples[("h36m", "p2", "gt")]
    assert len(s) == 6 and samples[("h36m", "p2", "rootnet-model")].box == "rootnet"
    preds = {"exact": {"sample_id": s.sample_id[::-1], "pred_cam": s.joints_cam[::-1]}}
    panel = qualitative_panel(tmp_path / "panel.png", s, preds, {"exact": (0.1, 0.4, 0.8, 1.0)})
    assert panel is not None and panel.missing_images == 0 and len(panel.image_ids) == 4
    gone, why = load_samples_for({"settings": {**settings, "datasets": [{**dataset, "path": str(tmp_path / "moved")}]}})
    assert gone is None and "no longer exists" in why
    bbox_root = tmp_path / "rootnet_p2.json"  # a --bbox-root file of the run that is gone: said so
    lost = {**dataset, "bbox_root": {"p2": str(bbox_root)}}
    gone, why = load_samples_for({"settings": {**settings, "datasets": [lost]}})
    assert gone is None and f"--bbox-root file {bbox_root} no longer exists" in why


def test_statistics_are_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_run(a, seed=5)
    shutil.copytree(a, b)
    write_csv(a / "results.csv", collect(a, n_resamples=RESAMPLES))
    write_csv(b / "results.csv", collect(b, n_resamples=RESAMPLES))
    assert (a / "results.csv").read_text() == (b / "results.csv").read_text()
    assert re.search(r",\d+\.\d{3},\d+\.\d{3},48$", (a / "results.csv").read_text().splitlines()[1])  # CI present


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                    reason="chromium is not on PATH (apt-get install -y chromium) so the HTML render "
                                           "is not checked; CI installs it (.ci/run) and never skips this")


def _chromium(*args, timeout=120) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is not installed: .ci/run installs Debian's chromium package"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run",
                               f"--user-data-dir={profile}", *args], check=True, capture_output=True, text=True,
                              timeout=timeout)


# Injected into a copy of the report (the report itself has no script): records errors (console.error, failed
# resources, exceptions) and measures whether the page and the leaderboard fit the window.
PROBE = """<script>
window.__errors = [];
const origError = console.error;
console.error = (...a) => { window.__errors.push(a.join(' ')); origError(...a); };
window.addEventListener('error', e => window.__errors.push('error: ' + (e.message || (e.target && e.target.tagName))), \
true);
window.addEventListener('load', () => {
  const wrap = document.querySelector('.table-wrap');
  const fits = [...document.querySelectorAll('.table-wrap.fit')].map(w => w.scrollWidth - w.clientWidth);
  const imgs = [...document.images];
  const out = {errors: window.__errors, window: innerWidth, page: document.documentElement.scrollWidth,
               leaderboard: wrap ? [wrap.scrollWidth, wrap.clientWidth] : null, fit_overflow: fits,
               images: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length};
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _probe(html_path: Path, width: int) -> dict:
    probed = html_path.with_name("probed.html")
    probed.write_text(html_path.read_text().replace("<head>", "<head>" + PROBE, 1))
    dom = _chromium("--virtual-time-budget=10000", f"--window-size={width},1200", "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: " + dom[-500:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@needs_chromium
def test_report_renders_without_errors_and_the_leaderboard_fits_1000px(built, tmp_path):
    out, _, _, paths = built
    probe = _probe(paths["report_html"], 1000)
    assert probe["errors"] == [] and probe["images"] == 10 and probe["broken"] == 0
    assert probe["page"] <= probe["window"], "the page scrolls sideways at 1000 px"
    scroll, client = probe["leaderboard"]
    assert scroll <= client, f"the leaderboard needs {scroll} px but has {client} px at a 1000-px window"
    assert len(probe["fit_overflow"]) == 1 + 3 + 1 and max(probe["fit_overflow"]) <= 0  # + per-action tables


@needs_chromium
def test_html_renders_in_headless_chromium(built):
    out, _, _, paths = built
    shot = out / "screenshot.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2400", paths["report_html"].as_uri())
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (2400, 1280)
    # the page is not blank: a good share of non-white pixels (text, tables, figures)
    assert (img.min(axis=2) < 200).mean() > 0.03


def test_edge_runs_single_model_without_cost_and_root_only(tmp_path):
    results, _ = make_run(tmp_path)
    results["evaluations"] = [e for e in results["evaluations"] if e["model"] == "posenet-r50"]
    results["models"]["posenet-r50"]["cost"] = None
    (tmp_path / "results.json").write_text(json.dumps(results))
    paths = build_report(tmp_path, n_resamples=RESAMPLES)
    md = paths["report_md"].read_text()
    assert "No pairwise comparison" in md and "| posenet-r50 | 34.30 |" not in md
    assert "| posenet-r50 | — | — | — | — | — | — | — | — | — | — | not measured |" in md
    results["evaluations"] = []  # RootNet only
    (tmp_path / "results.json").write_text(json.dumps(results))
    md = build_report(tmp_path, n_resamples=RESAMPLES)["report_md"].read_text()
    assert "No pose evaluations in this run." in md and "Root localisation (RootNet)" in md


# --- paper-shaped output ------------------------------------------------------------------------

def _md_table(md: str, title: str) -> list[list[str]]:
    """The rows (header first, separator dropped) of the Markdown table titled ``title``."""
    block = md.split(f"**{title}**")[1].split("\n\n")[1]
    lines = block.splitlines()
    return [[c.strip() for c in line.split("|")[1:-1]] for line in [lines[0], *lines[2:]]]


def test_per_action_table_has_models_as_rows(built):
    out, results, _, paths = built
    rows = _md_table(paths["report_md"].read_text(), "P2 MPJPE, GT root: per action")
    header = rows[0]
    assert header[0] == "Model" and header[-2:] == ["Avg (actions)", "All"]
    assert header[1:-2] == ["Dir.", "Disc.", "Eat", "Greet", "Phone", "Pose", "Purch.", "Sit", "SitD.", "Smoke",
                            "Photo", "Wait", "Walk", "WalkD.", "WalkT."]
    firsts = [r[0] for r in rows[1:]]
    # family groups in ranking order, each model's measured row followed by the paper's row
    assert firsts == ["*ConvNeXtPose*", "convnextpose-s", "*↳ published*", "*3DMPPE PoseNet*", "posenet-r50",
                      "*↳ published*", "*MobileHumanPose*", "mhp-lpski-j21 *", "*↳ published*"]
    ev = next(e for e in results["evaluations"]
              if (e["model"], e["protocol"], e["root"]) == ("convnextpose-s", 2, "gt"))
    assert rows[2][-1] == f"**{ev['total_mm']:.1f}**" and rows[2][3] == f"**{ev['per_action_mm']['Eating']:.1f}**"
    assert rows[3][-1] == "*42.3*" and set(rows[3][1:-1]) == {"—"}
    posenet = next(r for r in rows if r[0] == "posenet-r50")  # untrained: never bold, even where lowest
    assert not any(c.startswith("**") for c in posenet[1:])
    md = paths["report_md"].read_text()
    assert "posenet-r50 has untrained (randomly initialised) weights" in md
    assert "left out of the accuracy-vs-cost plots and their Pareto fronts" in md


def test_report_latex_writes_booktabs_tables(tmp_path, capsys):
    make_run(tmp_path, synthetic=False)
    assert cli_main(["report", "--out", str(tmp_path), "--resamples", str(RESAMPLES), "--latex", "--no-dataset"]) == 0
    assert "tables.tex" in capsys.readouterr().out
    tex = (tmp_path / "tables.tex").read_text()
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    assert body.isascii() and body.count("{") == body.count("}")
    n_tables = body.count(r"\begin{table*}")
    assert n_tables >= 5 and body.count(r"\toprule") == body.count(r"\bottomrule") == n_tables
    assert r"\label{tab:leaderboard}" in body and r"\label{tab:groups-h36m-p2-gt-mpjpe-per-action-mm}" in body
    labels = re.findall(r"\\label\{([^}]*)\}", body)
    assert len(labels) == len(set(labels)) == n_tables  # every table its own label (the scaled variant's too)
    for table in body.split(r"\begin{tabular}{")[1:]:
        spec, rest = table.split("}", 1)
        rows = rest.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
        for line in rows.strip().splitlines():
            if line.startswith(r"\multicolumn") or line == r"\midrule":
                continue  # a family row spans the table
            assert line.count(" & ") == len(spec) - 1, line
    lb = body.split(r"\label{tab:leaderboard}")[1].split(r"\end{table*}")[0]
    assert r"\textbf{" in lb and r"$\Delta$ (mm)" in lb and r"\cmidrule(lr){4-6}" in lb
    assert "$-$" in lb  # minus signs, not hyphens, before negative differences


def test_pairwise_differences_need_the_practical_threshold():
    from pose3dbench.report.stats import CI, PairwiseDiff
    from pose3dbench.report.tables import pairwise_table

    diffs = [PairwiseDiff("a", "b", CI(-0.3, -0.41, -0.18), 500),   # CI excludes 0 but only 0.3 mm
             PairwiseDiff("a", "c", CI(-2.345, -3.1, -1.6), 500),   # a real difference
             PairwiseDiff("b", "c", CI(-0.8, -1.9, 0.4), 500)]      # CI includes 0
    results = {"settings": {"datasets": [dataset_setting(Path("h36m"), False, ["p2"])]}}
    key = ("h36m", "p2", "gt", "MPJPE")
    table, _ = pairwise_table(key, diffs, ["a", "b", "c"], "", results)
    assert table.title == "P2 MPJPE, GT root: paired differences"
    assert table.columns[2:4] == ["A − B (mm)", "95% CI (mm)"]  # the split's unit
    assert table.columns[4] == "Significant (CI excludes 0, |A − B| ≥ 0.5 mm)"
    verdicts = {(r[0], r[1]): (r[2], r[3], r[4]) for r in table.rows}
    assert verdicts[("a", "b")] == ("-0.30", "[-0.41, -0.18]", "no (< 0.5 mm)")
    assert verdicts[("a", "c")] == ("-2.35", "[-3.10, -1.60]", "yes")
    assert verdicts[("b", "c")][2] == "no (CI includes 0)"
    strict, _ = pairwise_table(key, diffs, ["a", "b", "c"], "", results, threshold_mm=0.25)
    assert {(r[0], r[1]): r[4] for r in strict.rows}[("a", "b")] == "yes"


def test_untrained_models_get_no_differences_and_no_pareto_front(tmp_path):
    make_run(tmp_path, all_untrained=True)
    paths = build_report(tmp_path, n_resamples=RESAMPLES)
    md = paths["report_md"].read_text()
    assert "paired differences**" not in md and not any(k.startswith("fig_cost") for k in paths)
    assert "Pareto-optimal" not in md
    assert "Every model of this run has untrained (randomly initialised) weights" in md
    assert "no accuracy-vs-cost plot and no Pareto front" in md
    assert "left out of the paired differences and the significance tests" in md
    rows = _md_table(md, "Accuracy and cost per model")
    assert all(r[5] == "—" and r[8] == "—" for r in rows[1:])  # no Δ to the papers either
    assert not any(c.startswith("**") for r in rows[1:] for c in r[3:9])  # no "best" random initialisation
    actions = _md_table(md, "P2 MPJPE, GT root: per action")
    assert not any(c.startswith("**") for r in actions[1:] for c in r[1:])
    root = _md_table(md, "Root localisation (RootNet)")
    assert root[1][5] == "120.0" and root[1][6] == "—"
    assert "fig_ci" in paths  # each model's own CI still describes its errors on these images


def test_per_joint_chart_is_a_heatmap_that_grows_with_models(tmp_path):
    from pose3dbench.report.plots import heatmap

    joints = H36M_JOINT_NAMES[:17]
    rng = np.random.default_rng(0)
    few = heatmap(tmp_path / "few.png", ["a", "b", "c"], joints, rng.uniform(20, 90, (3, 17)), "mm", "t")
    many = heatmap(tmp_path / "many.png", [f"model-{i}" for i in range(15)], joints, rng.uniform(20, 90, (15, 17)),
                   "mm", "t", footer="pose3dbench [cpu float32, ...]")
    a, b = cv2.imread(str(few)), cv2.imread(str(many))
    assert b.shape[0] > a.shape[0] + 300 and b.shape[1] == a.shape[1]  # a row per model, not thinner bars
    assert b.shape[0] / 15 > 30  # every model keeps a readable row (px)


def test_timing_noise_is_flagged(tmp_path):
    results, _ = make_run(tmp_path, synthetic=False)
    results["models"]["posenet-r50"]["cost"]["latency_ms"].update(median=49.0, p90=138.0)
    (tmp_path / "results.json").write_text(json.dumps(results))
    md = build_report(tmp_path, n_resamples=RESAMPLES)["report_md"].read_text()
    cost = {r[0]: r for r in _md_table(md, "Cost")}
    assert cost["posenet-r50"][7] == "noisy (p90 +182%)" and cost["convnextpose-s"][7] == "ok"
    notes = md.split("## Notes")[1]
    assert "Timing noise: the batch-1 latency samples of posenet-r50 (p90 +182%)" in notes


def test_published_numbers_of_another_layout_have_no_delta(tmp_path):
    results, _ = make_run(tmp_path, synthetic=False)
    results["models"]["mhp-lpski-j21"]["published"].update(paper_model="MobileHumanPose-L", params_m=4.07)
    (tmp_path / "results.json").write_text(json.dumps(results))
    paths = build_report(tmp_path, n_resamples=RESAMPLES)
    md = paths["report_md"].read_text()
    lb = {(r[0], r[2]): r for r in _md_table(md, "Accuracy and cost per model")}
    assert lb[("mhp-lpski-j21", "GT")][7:9] == ["61.7 †", "—"]
    assert _md_table(md, "Cost")[3][2] == "4.07 †"
    assert "mhp-lpski-j21: the published numbers (marked †) are those of the paper network MobileHumanPose-L, " \
           "different layout" in md
    row = next(r for r in csv.DictReader(paths["results_csv"].open())
               if (r["model"], r["dataset"], r["split"], r["root"]) == ("mhp-lpski-j21", "h36m", "p2", "gt"))
    assert row["published"] == "61.700" and row["delta"] == ""


def test_recorded_warnings_are_in_the_notes(tmp_path):
    results, _ = make_run(tmp_path, synthetic=False)
    assert "Warning (" not in build_report(tmp_path, n_resamples=RESAMPLES)["report_md"].read_text()
    results["warnings"] = [{"source": "posenet-r50", "category": "CheckpointWarning",
                            "message": "snapshot_24.pth.tar holds a posenet-r101 network, not posenet-r50"}]
    (tmp_path / "results.json").write_text(json.dumps(results))
    notes = build_report(tmp_path, n_resamples=RESAMPLES)["report_md"].read_text().split("## Notes")[1]
    assert "- Warning (posenet-r50): snapshot_24.pth.tar holds a posenet-r101 network" in notes
    results["warnings"] = [{"source": "x"}]
    with pytest.raises(ValueError, match=r"warnings\[0\]\.message: required"):
        validate_results(results)


def test_scaled_variant_has_per_action_table_and_ci(built):
    out, results, samples, paths = built
    md = paths["report_md"].read_text()
    rows = _md_table(md, "P1 PA-MPJPE with scale, GT root: per action")
    # the papers' PA-MPJPE is the rigid one: no published row under its scaled variant
    assert not any(r[0].startswith("↳ published") for r in rows[1:])
    ev = next(e for e in results["evaluations"] if (e["model"], e["protocol"]) == ("convnextpose-s", 1))
    row = next(r for r in rows if r[0] == "convnextpose-s")
    assert row[-1].strip("*") == f"{ev['pa_mpjpe_scaled']['total_mm']:.1f}"
    assert row[3].strip("*") == f"{ev['pa_mpjpe_scaled']['per_action_mm']['Eating']:.1f}"
    table = _md_table(md, "All evaluations")
    col = table[0].index("its 95% CI")
    r = next(r for r in table if r[:2] == ["convnextpose-s", "P1"])
    lo, hi = (float(v) for v in r[col].strip("[]").split(","))
    assert lo < ev["pa_mpjpe_scaled_mm"] < hi  # from the per-sample values of the predictions file
    assert "PA-MPJPE first applies a rigid alignment (rotation + translation, no scale)" in md
    assert "Inconsistent" not in md


def test_merge_runs_into_one_leaderboard(tmp_path, capsys):
    """Two runs, one of them written by an earlier version (schema 1): one leaderboard."""
    p1, p2, merged = tmp_path / "h36m-p1", tmp_path / "h36m-p2", tmp_path / "leaderboard"
    for folder, protocol, seed in ((p1, 1, 1), (p2, 2, 2)):
        version = 1 if protocol == 1 else 2
        res, _ = make_run(folder, seed=seed, synthetic=False, version=version)
        res["evaluations"] = [e for e in res["evaluations"] if e["protocol"] == protocol]
        if version == 1:
            res["settings"]["protocols"] = [protocol]
            res["root_evaluations"] = []
            res["settings"]["limit_per_action"] = 1
        else:
            res["settings"]["datasets"][0]["splits"] = [f"p{protocol}"]
        (folder / "results.json").write_text(json.dumps(res))
    assert cli_main(["report", "--merge", str(p1), str(p2), "--out", str(merged), "--resamples", str(RESAMPLES),
                     "--no-dataset"]) == 0
    assert "merged 2 runs (h36m-p1, h36m-p2)" in capsys.readouterr().out
    res = json.loads((merged / "results.json").read_text())
    validate_results(res)
    assert [r["label"] for r in res["runs"]] == ["h36m-p1", "h36m-p2"]
    assert {(e["run"], e["dataset"], e["split"]) for e in res["evaluations"]} == {("h36m-p1", "h36m", "p1"),
                                                                                 ("h36m-p2", "h36m", "p2")}
    assert res["settings"]["datasets"][0]["splits"] == ["p1", "p2"]  # the union of the runs' splits
    assert all(Path(e["predictions"]).is_absolute() and Path(e["predictions"]).is_file() for e in res["evaluations"])
    md = (merged / "report.md").read_text()
    lb = _md_table(md, "Accuracy and cost per model")
    assert lb[0][-1] == "Run" and lb[1][0] == "convnextpose-s" and lb[1][-1] == "h36m-p1, h36m-p2"
    assert lb[1][3] != "—" and lb[1][6] != "—"  # P1 and P2 of one model in one row
    runs = _md_table(md, "Merged runs")
    assert [r[0] for r in runs[1:]] == ["h36m-p1", "h36m-p2"]
    assert runs[1][-1].startswith("the first 1 sample of every group")
    assert "evaluated different parts of the test set" in md  # a subset run beside a full one is flagged
    # the merged folder rebuilds like any run folder; a run's own folder is never overwritten by a merge
    assert cli_main(["report", "--out", str(merged), "--resamples", str(RESAMPLES), "--no-dataset"]) == 0
    assert cli_main(["report", "--merge", str(p1), str(merged), "--out", str(p2)]) == 2
    assert "holds the results of a run, not a merge" in capsys.readouterr().err
    assert cli_main(["report", "--merge", str(p1), "--out", str(merged)]) == 2
    assert "at least two run folders" in capsys.readouterr().err
