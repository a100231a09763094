"""The proof of the dataset seam: a toy dataset defined in this file alone (a few images, one split, its own
metric) runs through ``run``, ``evaluate`` and ``report`` with no change anywhere else in pose3dbench."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose3dbench.cli import main as cli_main
from pose3dbench.data.dataset import Dataset, PosePredictions, Scored, Scoring, register_dataset, unregister_dataset
from pose3dbench.data.samples import Samples
from pose3dbench.metrics import errors, group_means, pck

N_IMAGES = 6


class ToyScoring(Scoring):
    """PCK at 100 mm after root alignment (%), per scene; a metric no built-in dataset has."""

    metric = "PCK@100"
    unit = "%"
    lower_is_better = False
    value = "pck100"
    groups = {"per_scene": "scene"}
    joints = None

    def score(self, samples: Samples, pred: PosePredictions) -> Scored:
        err = errors(pred.pred_cam[:, :17], samples.joints_cam[:, :17], "root")
        per_row = 100.0 * (err <= 100.0).mean(axis=1)
        return Scored(record={"metric": self.metric, "pck100": pck(err, 100.0), "num_samples": len(samples),
                              "per_scene": {f"scene {k}": v for k, v in
                                            group_means(per_row, samples.groups["scene"]).items()}},
                      per_sample=per_row)


class ToyDataset(Dataset):
    name = "toy"
    title = "Toy"
    splits = ("all",)
    default_splits = ("all",)
    box_sources = ("gt",)
    stratify_by = ("scene",)

    @classmethod
    def recognises(cls, folder: Path) -> bool:
        return (Path(folder) / "toy.json").is_file()

    @classmethod
    def scoring(cls, split: str) -> ToyScoring:
        return ToyScoring()

    def load(self, split: str, box: str) -> Samples:
        rows = json.loads((self.folder / "toy.json").read_text())
        n = len(rows)
        return Samples(
            dataset=self.name, split=split, box=box, sample_id=np.arange(n), image_id=np.arange(n) + 100,
            image_path=[str(self.folder / r["file"]) for r in rows], image_size=np.array([[320, 240]] * n),
            bbox=np.array([r["bbox"] for r in rows], dtype=np.float64),
            root_cam=np.array([r["joints_cam"][0] for r in rows], dtype=np.float64),
            joints_cam=np.array([r["joints_cam"] for r in rows], dtype=np.float64),
            focal=np.full((n, 2), 300.0), princpt=np.tile([160.0, 120.0], (n, 1)), joint_set="h36m17",
            groups={"scene": np.array([r["scene"] for r in rows])},
            source={"data_dir": str(self.folder), "files": json.dumps({"toy": str(self.folder / "toy.json")})})


@pytest.fixture()
def toy(tmp_path):
    register_dataset(ToyDataset)
    rng = np.random.default_rng(0)
    folder = tmp_path / "toy"
    folder.mkdir()
    rows = []
    for i in range(N_IMAGES):
        img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i}.jpg"), img)
        joints = rng.normal(0, 200, (17, 3)) + [0, 0, 3000]
        rows.append({"file": f"{i}.jpg", "bbox": [60.0, 20.0, 200.0, 200.0], "joints_cam": joints.tolist(),
                     "scene": i % 2})
    (folder / "toy.json").write_text(json.dumps(rows))
    yield folder
    unregister_dataset("toy")


def test_a_toy_dataset_runs_through_run_evaluate_and_report(toy, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli_main(["run", "--data", str(toy), "--model", "convnextpose-xs", "--no-profile", "--no-progress",
                     "--out", str(out), "--backend", "eager"]) == 0
    results = json.loads((out / "results.json").read_text())
    (ev,) = results["evaluations"]
    assert (ev["dataset"], ev["split"], ev["root"], ev["metric"]) == ("toy", "all", "gt", "PCK@100")
    assert ev["num_samples"] == N_IMAGES and set(ev["per_scene"]) == {"scene 0", "scene 1"}
    assert results["settings"]["datasets"][0]["scoring"]["all"]["unit"] == "%"
    capsys.readouterr()

    assert cli_main(["evaluate", "--data", str(toy), "--dataset", "toy", "--predictions",
                     str(out / ev["predictions"]), "--json"]) == 0
    rescored = json.loads(capsys.readouterr().out)
    assert rescored["pck100"] == pytest.approx(ev["pck100"], abs=1e-12)

    assert cli_main(["report", "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "PCK@100" in md and "scene 0" in md and "Toy" in md
