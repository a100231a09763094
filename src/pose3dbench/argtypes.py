"""Argument types for the CLI: every number is checked where it is parsed, with the allowed range in
the message (``argument --batch-size: must be an integer >= 1, got '0'``), so that a bad flag ends in
one clear line instead of a traceback deep inside a run."""
from __future__ import annotations

import argparse
import math


def int_range(lo: int | None = None, hi: int | None = None, note: str = ""):
    """argparse ``type=``: an integer in [lo, hi] (None: unbounded); ``note`` explains special values."""
    if lo is not None and hi is not None:
        allowed = f"an integer from {lo} to {hi}"
    elif lo is not None:
        allowed = f"an integer >= {lo}"
    elif hi is not None:
        allowed = f"an integer <= {hi}"
    else:
        allowed = "an integer"
    allowed += f" ({note})" if note else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def positive_float(text: str) -> float:
    """argparse ``type=``: a finite number > 0."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


positive_float.__name__ = "number"
