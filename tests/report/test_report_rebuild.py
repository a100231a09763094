"""``pose3dbench report --out D`` rebuilds exactly what ``run`` reported, also for a ``--bbox-root`` run.

The run's RootNet file lives outside the dataset (the dataset has none), so a rebuild that re-read the
splits without the run's ``settings.datasets[i].bbox_root`` could not find boxes and would silently drop the
qualitative panel and the MRPE intervals.
"""
from __future__ import annotations

import json
import shutil

from pose3dbench.cli import main as cli_main
from tests.helpers.paths import BYO
from tests.helpers.pipeline import build_dataset


def test_report_rebuild_uses_the_runs_bbox_root_file(tmp_path, capsys):
    data = build_dataset(tmp_path / "h36m")
    own = tmp_path / "rootnet_p2.json"
    shutil.move(data / "bbox_root" / "bbox_root_human36m_output.json", own)
    out = tmp_path / "out"
    assert cli_main(["run", "--data", str(data), "--out", str(out), "--split", "p2", "--root", "rootnet",
                     "--bbox-root", str(own), "--model", BYO, "--no-profile", "--no-progress"]) == 0
    (dataset,) = json.loads((out / "results.json").read_text())["settings"]["datasets"]
    assert dataset["bbox_root"] == {"p1": str(own.resolve()), "p2": str(own.resolve())}  # one file: every split
    first = (out / "report.md").read_text()
    assert "## Qualitative examples" in first
    capsys.readouterr()
    assert cli_main(["report", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "without the qualitative panel" not in err
    assert (out / "report.md").read_text() == first
