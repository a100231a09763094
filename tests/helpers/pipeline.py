"""The pipeline conformance vectors (tests/fixtures/conformance-pipeline, copied from ../shared/conformance-pipeline):
six JPEGs, the boxes the authors' loader used, their crops and the coordinates their ``main/test.py`` produced
for three configurations with recipe-v1 weights whose final layer is scaled; and the builders that run
``pose3dbench run`` on them (``build_dataset``, ``run_and_read``), shared by the tests and
benchmarks/pipeline_fidelity.py.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from .conformance import load_vector, recipe_v1
from .paths import FIXTURES, REPO, S11_ANNOTATIONS

PIPELINE_DIR = FIXTURES / "conformance-pipeline"
VECTORS = json.loads((PIPELINE_DIR / "pipeline_vectors.json").read_text())
#: conformance configuration -> (registered variant it is, family for NAME=CKPT)
CONFIGS = {
    "posenet_r50": "posenet-r50",
    "mhp_lpski": "mobilehumanpose-lpski",
    "convnextpose_official": "convnextpose-xs",
}
SUBJECT = 9
ROOT_DEPTH_MM = 5000.0


def pipeline_weights(name: str) -> dict[str, torch.Tensor]:
    """Recipe v1 of ../conformance/NAME.json with the final layer's weight and bias scaled, as the README says."""
    cfg = VECTORS["configs"][name]
    state = recipe_v1(load_vector(name)["state_dict"])
    for key in (cfg["final_layer"] + ".weight", cfg["final_layer"] + ".bias"):
        state[key] = state[key] * cfg["final_layer_scale"]
    return state


def save_authors_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """As the authors' trainer saved it: DataParallel keys under 'network'."""
    torch.save({"epoch": 24, "network": {"module." + k: v for k, v in state.items()}}, path)
    return path


def _parse_file_name(name: str) -> dict[str, int]:
    # s_09_act_02_subact_01_ca_01_000001.jpg
    parts = Path(name).stem.split("_")
    return {"subject": int(parts[1]), "action_idx": int(parts[3]), "subaction_idx": int(parts[5]),
            "cam_idx": int(parts[7]), "frame_idx": int(parts[8]) - 1}


def build_dataset(root: Path) -> Path:
    """A Human3.6M folder (3DMPPE format) holding the six JPEGs, with the recorded boxes as bbox_root.

    Protocol 2 tests on S9 and S11: the six frames are S9; S11 gets the one real S11 record of
    tests/fixtures/h36m-real (its image a copy of the first JPEG, which has the declared 1000x1002 size).
    """
    cams = json.loads((REPO / "src" / "pose3dbench" / "resources" / "h36m_s11_cameras.json").read_text())["cameras"]
    real = S11_ANNOTATIONS
    joints17 = json.loads((real / "Dummy_subject1_joint_3d.json").read_text())["2"]["1"]["0"]
    images, anns, bbox_root, joint_3d = [], [], [], {}
    for s in VECTORS["samples"]:
        meta = _parse_file_name(s["file"])
        assert meta["subject"] == SUBJECT
        seq = Path(s["file"]).stem.rsplit("_", 1)[0]
        dest = root / "images" / seq / Path(s["file"]).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PIPELINE_DIR / s["file"], dest)
        images.append({"id": s["image_id"], "file_name": f"{seq}/{dest.name}", "width": s["width"],
                       "height": s["height"], **meta})
        anns.append({"id": s["image_id"], "image_id": s["image_id"], "bbox": s["bbox_xywh_px"],
                     "keypoints_vis": [True] * 17})
        bbox_root.append({"image_id": s["image_id"], "bbox": s["bbox_xywh_px"],
                          "root_cam": [0.0, 0.0, ROOT_DEPTH_MM]})
        joint_3d.setdefault(str(meta["action_idx"]), {}).setdefault(str(meta["subaction_idx"]), {})[
            str(meta["frame_idx"])] = joints17
    ann_dir = root / "annotations"
    ann_dir.mkdir(parents=True)
    (ann_dir / f"Human36M_subject{SUBJECT}_data.json").write_text(json.dumps({"images": images, "annotations": anns}))
    (ann_dir / f"Human36M_subject{SUBJECT}_camera.json").write_text(json.dumps(cams))
    (ann_dir / f"Human36M_subject{SUBJECT}_joint_3d.json").write_text(json.dumps(joint_3d))
    s11 = json.loads((real / "Dummy_subject1_data.json").read_text())
    for im in s11["images"]:
        im["subject"] = 11
        dest = root / "images" / im["file_name"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PIPELINE_DIR / VECTORS["samples"][0]["file"], dest)
        bbox_root.append({"image_id": im["id"], "bbox": VECTORS["samples"][0]["bbox_xywh_px"],
                          "root_cam": [0.0, 0.0, ROOT_DEPTH_MM]})
    (ann_dir / "Human36M_subject11_data.json").write_text(json.dumps(s11))
    shutil.copyfile(real / "Dummy_subject1_camera.json", ann_dir / "Human36M_subject11_camera.json")
    shutil.copyfile(real / "Dummy_subject1_joint_3d.json", ann_dir / "Human36M_subject11_joint_3d.json")
    (root / "bbox_root").mkdir()
    (root / "bbox_root" / "bbox_root_human36m_output.json").write_text(json.dumps(bbox_root))
    return root


def run_and_read(data: Path, out: Path, specs: list[str], *extra: str, backend: str = "eager") -> tuple[dict, dict]:
    """``pose3dbench run`` on the pipeline folder (Protocol 2, RootNet boxes) -> ({model name: {image_id:
    (coords_hm, coords_hm_noflip)}}, results.json)."""
    from pose3dbench.cli import main as cli_main

    torch.set_num_threads(1)
    args = ["run", "--data", str(data), "--out", str(out), "--split", "p2", "--root", "rootnet",
            "--no-profile", "--no-report", "--no-progress", "--batch-size", "4", "--backend", backend, *extra]
    for spec in specs:
        args += ["--model", spec]
    assert cli_main(args) == 0
    results = json.loads((out / "results.json").read_text())
    got = {}
    for ev in results["evaluations"]:
        with np.load(out / ev["predictions"]) as z:
            got[ev["model"]] = {int(i): (c, n) for i, c, n in zip(z["image_id"], z["coords_hm"], z["coords_hm_noflip"])}
    return got, results


def expected(name: str, key: str) -> dict[int, np.ndarray]:
    """The authors' coordinates of configuration ``name`` (``coords_hm_flip_test`` / ``coords_hm_no_flip``)."""
    cfg = VECTORS["configs"][name]
    return {s["image_id"]: np.asarray(v) for s, v in zip(VECTORS["samples"], cfg[key])}


def max_diff(got: dict[int, tuple], want: dict[int, np.ndarray], which: int) -> float:
    """Largest |run - authors| (heatmap units) over the recorded images; ``which`` 0: flip test, 1: plain pass."""
    assert set(want) <= set(got), "run must predict the six recorded images"
    return max(float(np.abs(got[i][which] - want[i]).max()) for i in want)
