"""Report: bootstrap statistics, tables, plots and the report.md/html/csv/LaTeX writers, from results/.

``build_report`` is imported lazily so that importing the package stays light (no matplotlib).
"""
from __future__ import annotations

__all__ = ["build_report"]


def __getattr__(name: str):
    if name == "build_report":
        from .build import build_report

        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
