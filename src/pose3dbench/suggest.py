"""Close-name suggestions for error messages ("Did you mean 'convnextpose-xs'?"), for any list of names."""
from __future__ import annotations

import difflib
import re
from typing import Iterable


def _normalise(name: str) -> str:
    return re.sub(r"[\s_.\-]+", "-", str(name).strip().lower()).strip("-")


def close_names(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Names among ``choices`` close to ``name``, best first: the same name up to case and separators
    (``ConvNeXtPose_XS`` -> ``convnextpose-xs``), then ``difflib`` matches."""
    choices = list(choices)
    by_norm: dict[str, str] = {}
    for c in choices:
        by_norm.setdefault(_normalise(c), c)
    key = _normalise(name)
    if key in by_norm:
        return [by_norm[key]]
    squashed = {k.replace("-", ""): v for k, v in by_norm.items()}
    if key.replace("-", "") in squashed:
        return [squashed[key.replace("-", "")]]
    return [by_norm[m] for m in difflib.get_close_matches(key, list(by_norm), n=n, cutoff=0.6)]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` did you mean 'convnextpose-xs'?`` (with the leading space), or "" when nothing is close."""
    close = close_names(name, choices)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"
