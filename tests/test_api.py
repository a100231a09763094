"""The Python API (``pose3dbench.benchmark`` / ``evaluate`` / ``write_report``): what the notebook and scripts use."""
from __future__ import annotations

import pytest

import pose3dbench


def test_benchmark_evaluate_and_report_from_python(tmp_path):
    res = pose3dbench.benchmark(models=["mobilehumanpose-lpski"], splits=["p2"], roots=["gt"],
                                out=tmp_path / "out", profile=False, backend="eager", log=None)
    assert isinstance(res, pose3dbench.BenchmarkResults)
    (ev,) = res.evaluations
    assert (ev["dataset"], ev["split"], ev["root"]) == ("h36m", "p2", "gt") and ev["num_samples"] > 0
    assert res.value("mobilehumanpose-lpski") == pytest.approx(ev["total_mm"])
    assert res.value("mobilehumanpose-lpski", "h36m", "p1") is None  # not evaluated
    assert "mobilehumanpose-lpski" in res.table()
    data = res.document["settings"]["datasets"][0]["path"]
    again = pose3dbench.evaluate(tmp_path / "out" / ev["predictions"], data=data)
    assert again["total_mm"] == pytest.approx(ev["total_mm"], rel=1e-12) and again["split"] == "p2"
    paths = pose3dbench.write_report(tmp_path / "out", latex=True)
    assert paths["report_html"].is_file() and paths["tables_tex"].is_file()


def test_unknown_benchmark_option_is_named():
    with pytest.raises(TypeError, match="limit_per_actions"):
        pose3dbench.benchmark(limit_per_actions=1)
