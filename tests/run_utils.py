"""Helpers for tests that compare whole runs."""
import json


def comparable_results(results: dict) -> dict:
    """results.json without what legitimately differs between equal runs: creation time, timings and the
    crop store's hit counts (a resumed or sharded run decodes other crops than one uninterrupted run)."""
    r = json.loads(json.dumps(results))
    r.pop("created_utc")
    r.pop("crop_cache", None)
    r.pop("_checksum", None)  # of the whole document, creation time included
    for ev in r["evaluations"] + r["root_evaluations"] + r.get("corruption_evaluations", []):
        ev.pop("timing", None)
        ev.pop("predictions_sha256", None)  # the .npz zip members carry their write time
    return r
