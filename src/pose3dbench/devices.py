"""One device resolver and one environment probe for every command (run, profile, benchmarks).

``resolve_device("auto" | "cpu" | "cuda" | "cuda:N")`` -> ``torch.device`` (DeviceError with the fix when
the device does not exist here). ``environment(device)`` -> where numbers were measured (device and CPU
names, library versions, thread counts, the allocator mode; CUDA, cuDNN and TF32 settings on a GPU),
as results.json ``environment`` and the profile's ``environment`` record it.
"""
from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np
import torch

from .errors import DeviceError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; checks that a requested CUDA device exists."""
    if isinstance(device, torch.device):
        dev = device
    else:
        name = str(device).strip().lower()
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise DeviceError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} requested but torch sees no CUDA device (this torch build or "
                          "machine has none); use --device cpu (or auto)")
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"device type {dev.type!r} is not supported; use cpu or cuda")
    return dev


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _allocator_mode() -> str:
    from .allocator import tune_allocator

    return {"heap": "glibc heap only (M_MMAP_MAX=0, no trim)", "default": "glibc default (mmap above threshold)",
            "unavailable": "platform default"}[tune_allocator()]


def environment(device: str | torch.device = "cpu") -> dict[str, Any]:
    """Where the numbers were measured. ``device`` is the device type (cpu | cuda), ``device_name`` the GPU's
    name or the CPU's with its core count; on CUDA also its index, memory, CUDA/cuDNN versions and TF32."""
    dev = resolve_device(device)
    cpu = cpu_name()
    env: dict[str, Any] = {
        "device": dev.type,
        "device_name": f"{cpu} ({os.cpu_count()} cores)",
        "cpu_name": cpu,
        "cpu_count": os.cpu_count(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "allocator": _allocator_mode(),
    }
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        env.update({
            "device_index": index,
            "device_name": torch.cuda.get_device_name(index),
            "gpu_memory_gb": round(props.total_memory / 1024 ** 3, 2),
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
        })
    return env


__all__ = ["DeviceError", "cpu_name", "environment", "resolve_device"]
