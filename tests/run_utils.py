"""Helpers for tests that compare whole runs."""
import json


def comparable_results(results: dict) -> dict:
    """results.json without what legitimately differs between equal runs: creation time and timings."""
    r = json.loads(json.dumps(results))
    r.pop("created_utc")
    for ev in r["evaluations"] + r["root_evaluations"]:
        ev.pop("timing", None)
    return r
