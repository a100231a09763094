"""The process's memory allocator: glibc heap mode for steady batch loops, and handing free pages back.

``tune_allocator()`` is called by every loop that allocates activations batch after batch (crop loaders,
the runner); ``release_free_memory()`` trims the heap between models and every few batches.
"""
from __future__ import annotations

import os


def tune_allocator() -> str:
    """Serve every allocation from glibc's heap (``M_MMAP_MAX=0``) and never trim it.

    By default glibc maps each allocation above its mmap threshold (at most 32 MiB, so every large
    activation tensor) with a fresh ``mmap`` and unmaps it on free: every batch then page-faults its
    whole working set again, and on this project's 2-core VMs that kernel time exceeded the model's
    own compute (mobilehumanpose-lpski forward 20 -> 72 img/s, posenet-r50 4.9 -> 9.8 img/s with this
    setting; ``benchmarks/allocator.py``). Memory is re-used batch after batch instead, so peak RSS is
    the working set and stays flat with the dataset size (``benchmarks/memory.py``). This is what the
    PyTorch CPU tuning guides get from jemalloc/tcmalloc, without a dependency.

    ``POSE3DBENCH_ALLOCATOR=default`` keeps glibc's behaviour. Returns the mode in force
    (``heap`` | ``default`` | ``unavailable`` where the C library is not glibc).
    """
    global _ALLOCATOR
    if _ALLOCATOR is None:
        if os.environ.get("POSE3DBENCH_ALLOCATOR", "heap") == "default":
            _ALLOCATOR = "default"
        else:
            try:
                import ctypes

                libc = ctypes.CDLL("libc.so.6")
                ok = libc.mallopt(-4, 0) and libc.mallopt(-1, 2**31 - 1)  # M_MMAP_MAX=0, M_TRIM_THRESHOLD
                _ALLOCATOR = "heap" if ok else "unavailable"
            except (OSError, AttributeError):
                _ALLOCATOR = "unavailable"
    return _ALLOCATOR


_ALLOCATOR: str | None = None


def reset() -> None:
    """Forget the mode (a forked DataLoader worker sets it again for itself)."""
    global _ALLOCATOR
    _ALLOCATOR = None


def release_free_memory() -> None:
    """In ``heap`` mode, hand free heap pages back to the OS (``malloc_trim``) so that fragmentation
    cannot accumulate; called every ``TRIM_EVERY_BATCHES`` batches, cheap next to a batch's forward."""
    if tune_allocator() == "heap":
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
