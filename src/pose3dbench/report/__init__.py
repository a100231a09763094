"""Report: results.json schema, bootstrap statistics, tables, plots and the report.md/html/csv writers.

``build_report`` and friends are imported lazily so that ``report.schema`` stays light (no matplotlib).
"""
from __future__ import annotations

from .schema import RESULTS_SCHEMA_VERSION, ResultsError, validate_results

__all__ = ["RESULTS_SCHEMA_VERSION", "ResultsError", "validate_results", "build_report"]


def __getattr__(name: str):
    if name == "build_report":
        from .build import build_report

        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
