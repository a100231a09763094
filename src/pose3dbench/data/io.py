"""Reading dataset files with errors that name the file and the fix."""
from __future__ import annotations

import json
import math
import os

from ..errors import DatasetError

__all__ = ["read_json", "entry_int"]


def read_json(path: str | os.PathLike, what: str = "annotation"):
    """``json.load`` with DatasetError naming the file on I/O or syntax errors."""
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist; put the {what} file there") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path} ({exc}); check permissions or re-download the {what} file") from None
    except ValueError as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc}); the {what} file is damaged, re-download it") from None


def read_coco(path: str | os.PathLike, what: str = "annotation", hint: str = "") -> tuple[list, list]:
    """The ``images`` and ``annotations`` lists of a COCO-style JSON file, or DatasetError naming the file
    (``hint`` is added to the message, e.g. which file of a dataset this should be)."""
    data = read_json(path, what)
    try:
        images, anns = data["images"], data["annotations"]
        if not isinstance(images, list) or not isinstance(anns, list):
            raise TypeError("images and annotations must be lists")
    except (KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: expected a COCO-style object with 'images' and 'annotations' lists "
                           f"({exc!r}){hint}") from None
    return images, anns


def entry_int(entry: dict, field: str, path, what: str) -> int:
    """``entry[field]`` as an int: JSON integers (or integral floats such as 64.0), nothing else.

    Refused, with the entry named: booleans, strings, fractions, NaN and numbers beyond int64.
    """
    v = entry[field]
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not -2**63 <= v < 2**63:
        ident = entry.get("id") if isinstance(entry, dict) and field != "id" else None
        raise DatasetError(f"{path}: {what} entry{f' id {ident!r}' if ident is not None else ''} has {field} {v!r}, "
                           "not an integer; fix that entry or re-download the file")
    return v
