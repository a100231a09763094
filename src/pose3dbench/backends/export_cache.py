"""ONNX exports cached on disk, keyed by the content of everything the export depends on, verified on reading.

``cached_export_bytes(model)`` is ``export_onnx_bytes(model)`` (soft-argmax inside the graph, dynamic batch) that a
later run of the same network re-uses instead of tracing it again. The key is a sha256 over:

- every tensor of the state dict (name, dtype, shape, bytes): any other checkpoint, fine-tune or seed is another key;
- the model's config (JSON), its class, and the source files of every module class in it, of the exporter and of
  the codecs (a code change is a new key, a released version or not);
- the export parameters (opset, output kind, ``EXPORT_CACHE_VERSION``) and the versions of torch, onnx and
  pose3dbench.

Layout: ``$POSE3DBENCH_CACHE/onnx/<key>.onnx`` and ``<key>.json`` (size and sha256 of the file, what the key was
made of), the JSON written after the graph, so a graph without it is never read. On reading, the bytes are checked
against the recorded size and sha256 and must parse as ONNX; an entry that fails any of this is said (``warn``),
exported again and rewritten. A cache that cannot be written is said once and the export used from memory: the
cache never stops a run. ``POSE3DBENCH_ONNX_CACHE=off`` disables it.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Callable

import torch

EXPORT_CACHE_VERSION = 1
_HERE = Path(__file__).resolve().parent


def _file_digest(path: str | os.PathLike | None) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else "?"
    except OSError:
        return "?"


def tensor_digest(h, name: str, t: torch.Tensor) -> None:
    """Feed one tensor (name, dtype, shape, raw bytes) into hash ``h``."""
    t = t.detach().cpu()
    h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
    if t.numel():
        h.update(t.reshape(-1).contiguous().view(torch.uint8).numpy())


def export_key(model: torch.nn.Module, *, opset: int, output: str, fixed_batch: int | None = None) -> tuple[str, dict]:
    """(sha256 key, what it was made of) of ``model``'s export with these parameters."""
    import onnx

    from ..version import __version__

    cfg = getattr(model, "config", None)
    classes = sorted({f"{type(m).__module__}.{type(m).__qualname__}" for m in model.modules()})
    sources = sorted({inspect.getsourcefile(type(m)) or "?" for m in model.modules()
                      if type(m).__module__ in sys.modules} | {str(_HERE / "export.py"),
                                                                 str(_HERE.parent / "models" / "codecs.py")})
    parts = {
        "version": EXPORT_CACHE_VERSION, "opset": int(opset), "output": output, "fixed_batch": fixed_batch,
        "torch": torch.__version__, "onnx": onnx.__version__, "pose3dbench": __version__,
        "config": cfg.to_dict() if hasattr(cfg, "to_dict") else repr(cfg), "classes": classes,
        "sources": {Path(p).name + "|" + hashlib.sha1(p.encode()).hexdigest()[:8]: _file_digest(p) for p in sources},
    }
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    n = 0
    for name, t in model.state_dict().items():
        tensor_digest(h, name, t)
        n += t.numel()
    parts["state_dict_values"] = n
    return h.hexdigest(), parts


def cache_enabled() -> bool:
    return os.environ.get("POSE3DBENCH_ONNX_CACHE", "on").lower() not in ("off", "0", "no", "false")


def read_entry(path: Path, meta_path: Path) -> tuple[bytes | None, str | None]:
    """(the cached graph, None) when the entry is whole, else (None, why not) — (None, None) when there is none."""
    if not path.exists() and not meta_path.exists():
        return None, None
    try:
        meta = json.loads(meta_path.read_text())
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    if not isinstance(meta, dict) or meta.get("size") != len(data):
        return None, f"{len(data)} bytes where its record says {meta.get('size') if isinstance(meta, dict) else '?'}"
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        return None, "its sha256 differs from the one recorded when it was written (damaged)"
    try:
        import onnx

        onnx.load_from_string(data)
    except Exception as exc:  # onnx raises its own decode errors
        return None, f"not a valid ONNX graph ({type(exc).__name__})"
    return data, None


def cached_export_bytes(model: torch.nn.Module, *, opset: int | None = None, output: str = "coords",
                        log: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None,
                        root: Path | None = None) -> bytes:
    """``export_onnx_bytes(model, opset=..., output=...)``, from the cache when a verified entry exists."""
    from ..io import atomic_write, atomic_write_json
    from ..paths import cache_dir
    from .export import DEFAULT_OPSET, export_onnx_bytes

    opset = int(opset or DEFAULT_OPSET)
    if not cache_enabled():
        return export_onnx_bytes(model, opset=opset, output=output)
    name = getattr(getattr(model, "config", None), "variant", type(model).__name__)
    key, parts = export_key(model, opset=opset, output=output)
    root = Path(root) if root is not None else cache_dir() / "onnx"
    path, meta_path = root / f"{key}.onnx", root / f"{key}.json"
    data, problem = read_entry(path, meta_path)
    if data is not None:
        if log is not None:
            log(f"[{name}] ONNX export re-used from the cache ({path}; sha256 verified)")
        return data
    if problem is not None and warn is not None:
        warn(f"the cached ONNX export {path} cannot be used: {problem}; exporting again and replacing it")
    data = export_onnx_bytes(model, opset=opset, output=output)
    try:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(data))
        atomic_write_json(meta_path, {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "key": key,
                                      "made_of": parts})
    except OSError as exc:
        if warn is not None:
            warn(f"cannot write the ONNX export cache in {root} ({exc.strerror or exc}); the export is used from "
                 "memory and made again next time")
    return data


__all__ = ["EXPORT_CACHE_VERSION", "cached_export_bytes", "export_key", "read_entry", "cache_enabled"]
