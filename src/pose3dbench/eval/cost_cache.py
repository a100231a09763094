"""A model's cost profile (results.json ``models[name].cost``) cached for the same network on the same machine.

Timing a network again on the machine that timed it gives the same figures within its noise, and the profile is
a large part of a short run (PoseNet-R50 on 2 CPU cores: ~10 batch-16 forwards). The key is a sha256 over the
network's content (every tensor of its state dict, its config, classes and source files: ``export_cache.export_key``
with the backend's own settings), the backend (onnxruntime: its version), the machine (CPU name, core count,
threads, allocator mode, device), the library versions, the profiler's settings and the profiler's source. The
entry holds the cost block and the sha256 of its canonical JSON; one that does not match is said (``warn``) and the
profile measured again. A re-used block says so in ``cost.cached``. ``POSE3DBENCH_PROFILE_CACHE=off`` disables it.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch


def cost_key(model, settings: dict) -> str | None:
    """The cache key of ``model``'s profile under ``settings``, or None when the network has no content to key
    it by (a foreign .onnx file: profiled every time)."""
    from ..backends.export_cache import export_key
    from ..devices import environment
    from ..version import __version__

    source = getattr(model, "source", None)
    net = source if isinstance(source, torch.nn.Module) else model
    if not any(True for _ in net.parameters()):
        return None
    backend = getattr(model, "backend", "eager")
    try:
        net_key, _ = export_key(net, opset=0, output="profile")
    except ImportError:  # onnx not installed: the key without the exporter's version
        return None
    env = environment(torch.device(settings.get("device", "cpu")))
    parts = {"net": net_key, "backend": backend, "settings": settings, "pose3dbench": __version__,
             "machine": {k: env.get(k) for k in ("device", "device_name", "cpu_name", "cpu_count", "threads",
                                                 "interop_threads", "allocator", "torch_version", "numpy_version")},
             "profiler": _source_digest()}
    if backend == "onnxruntime":
        import onnxruntime

        parts["onnxruntime"] = onnxruntime.__version__
        parts["session"] = getattr(model, "session_settings", None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _source_digest() -> str:
    here = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in (here / "perf" / "profile.py", here / "eval" / "planning.py"):
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"?")
    return h.hexdigest()


def _digest(cost: dict) -> str:
    return hashlib.sha256(json.dumps(cost, sort_keys=True, allow_nan=False).encode()).hexdigest()


def cached_cost(model, settings: dict, measure: Callable[[], dict | None], log: Callable[[str], None] | None = None,
                warn: Callable[[str], None] | None = None, name: str = "", root: Path | None = None) -> dict | None:
    """``measure()``, or the verified cost block of an earlier profile of the same network on this machine."""
    from ..io import atomic_write_json
    from ..paths import cache_dir

    if os.environ.get("POSE3DBENCH_PROFILE_CACHE", "on").lower() in ("off", "0", "no", "false"):
        return measure()
    key = cost_key(model, settings)
    if key is None:
        return measure()
    path = (Path(root) if root is not None else cache_dir() / "profiles") / f"{key}.json"
    if path.exists():
        try:
            entry = json.loads(path.read_text())
            cost = entry["cost"]
            ok = isinstance(cost, dict) and entry.get("sha256") == _digest(cost)
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if ok:
            if log is not None:
                log(f"[{name}] cost profile re-used from the cache ({path}; measured {entry.get('created_utc')} on "
                    "this machine for this network and settings; sha256 verified)")
            return {**cost, "cached": {"created_utc": entry.get("created_utc"), "path": str(path)}}
        if warn is not None:
            warn(f"the cached cost profile {path} does not match its sha256 (damaged); profiling again")
    cost = measure()
    if cost is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, {"cost": cost, "sha256": _digest(cost),
                                     "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        except (OSError, ValueError) as exc:
            if warn is not None:
                warn(f"cannot write the cost profile cache {path} ({exc}); it is measured again next time")
    return cost


__all__ = ["cached_cost", "cost_key"]
