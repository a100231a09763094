"""benchmarks/demo_results_equal.py: timings are left out, every other difference is reported."""
from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "demo_results_equal.py"


def _module():
    spec = importlib.util.spec_from_file_location("demo_results_equal", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_differences_ignore_timings_and_name_every_other_change():
    mod = _module()
    a = {"created_utc": "2026-01-01T00:00:00+00:00", "environment": {"threads": 2},
         "models": {"m": {"cost": {"params": 10, "latency_ms": {"median": 1.0}, "throughput_ips": {"value": 3.0}}}},
         "evaluations": [{"model": "m", "total_mm": 51.25, "per_action_mm": {"Eating": 40.5},
                          "timing": {"seconds": 1.0}, "data": {"files": {"f": {"sha256": "x", "mtime_ns": 1}}}}]}
    b = copy.deepcopy(a)
    b["created_utc"] = "2027-01-01T00:00:00+00:00"
    b["environment"]["threads"] = 16
    b["models"]["m"]["cost"]["latency_ms"]["median"] = 9.0
    b["evaluations"][0]["timing"]["seconds"] = 7.0
    b["evaluations"][0]["data"]["files"]["f"]["mtime_ns"] = 2
    assert mod.differences(a, b) == []
    b["evaluations"][0]["per_action_mm"]["Eating"] = 40.500001
    b["models"]["m"]["cost"]["params"] = 11
    assert mod.differences(a, b) == [".evaluations[0].per_action_mm.Eating: 40.5 vs 40.500001",
                                     ".models.m.cost.params: 10 vs 11"]
    assert mod.differences(a, b, rtol=1e-3) == [".models.m.cost.params: 10 vs 11"]
    del b["evaluations"][0]["total_mm"]
    assert ".evaluations[0].total_mm: only in the reference" in mod.differences(a, b)
