"""A tiny type-spec language for JSON documents, and its checker (results.json, dataset records).

A spec is one of: a type marker (``INT``, ``NUM``, ``STR``, ``BOOL``, ``ANYDICT``, ``ISOTIME``), ``Enum(*values)``,
``Const(value)``, a dict {key: spec} (required keys; ``Opt(spec)`` marks an optional key), ``ListOf(spec)``,
``MapOf(spec)`` (str keys), ``Nullable(spec)``. ``check(value, spec, path)`` raises ``ValueError`` whose message
starts with the JSON path of the first bad field (``evaluations[2].per_action_mm.Eating: ...``).
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

class _Int:  # int, not bool
    pass


class _Num:  # finite int or float, not bool
    pass


class _Str:
    pass


class _Bool:
    pass


class _AnyDict:
    pass


class _IsoTime:
    pass


class Opt:
    def __init__(self, spec):
        self.spec = spec


class Nullable:
    def __init__(self, spec):
        self.spec = spec


class ListOf:
    def __init__(self, spec, min_len: int = 0):
        self.spec = spec
        self.min_len = min_len


class MapOf:
    def __init__(self, spec):
        self.spec = spec


class Enum:
    def __init__(self, *values):
        self.values = values


class Const:
    def __init__(self, value):
        self.value = value


INT, NUM, STR, BOOL, ANYDICT, ISOTIME = _Int, _Num, _Str, _Bool, _AnyDict, _IsoTime

def _tname(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def check(value: Any, spec: Any, path: str) -> None:
    """Raise ValueError('<path>: ...') if ``value`` does not match ``spec``."""
    if isinstance(spec, Nullable):
        if value is not None:
            check(value, spec.spec, path)
        return
    if spec is _Int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{path}: expected an integer, got {_tname(value)} {value!r}")
    elif spec is _Num:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path}: expected a number, got {_tname(value)} {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{path}: expected a finite number, got {value!r}")
    elif spec is _Str:
        if not isinstance(value, str):
            raise ValueError(f"{path}: expected a string, got {_tname(value)} {value!r}")
    elif spec is _Bool:
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected true/false, got {_tname(value)} {value!r}")
    elif spec is _AnyDict:
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object, got {_tname(value)}")
    elif spec is _IsoTime:
        if not isinstance(value, str):
            raise ValueError(f"{path}: expected an ISO-8601 time string, got {_tname(value)}")
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{path}: {value!r} is not an ISO-8601 time (e.g. 2026-01-31T12:00:00+00:00)") from None
    elif isinstance(spec, Const):
        if isinstance(value, bool) or value != spec.value:
            raise ValueError(f"{path}: must be {spec.value!r}, got {value!r}")
    elif isinstance(spec, Enum):
        if isinstance(value, bool) or value not in spec.values or type(value) is float:
            raise ValueError(f"{path}: must be one of {list(spec.values)}, got {value!r}")
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise ValueError(f"{path}: expected a list, got {_tname(value)}")
        if len(value) < spec.min_len:
            raise ValueError(f"{path}: needs at least {spec.min_len} item(s)")
        for i, item in enumerate(value):
            check(item, spec.spec, f"{path}[{i}]")
    elif isinstance(spec, MapOf):
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object, got {_tname(value)}")
        for key, item in value.items():
            check(item, spec.spec, f"{path}.{key}")
    elif isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{path}: expected an object, got {_tname(value)}")
        for key, sub in spec.items():
            sub_path = f"{path}.{key}" if path else key
            if key not in value:
                if isinstance(sub, Opt):
                    continue
                raise ValueError(f"{sub_path}: required field is missing")
            check(value[key], sub.spec if isinstance(sub, Opt) else sub, sub_path)
    else:  # pragma: no cover - a bug in the spec itself
        raise TypeError(f"bad spec {spec!r} at {path}")


__all__ = ["ANYDICT", "BOOL", "Const", "Enum", "INT", "ISOTIME", "ListOf", "MapOf", "NUM", "Nullable", "Opt", "STR",
           "check"]
