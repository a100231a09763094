"""Sharded evaluation with torch.distributed, for runs started by torchrun.

``torchrun --nproc_per_node=N -m pose3dbench run ...`` starts N copies of the run; each reads
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address from the environment that
torchrun sets. The samples still to compute are cut into the same batches a 1-process run would
use, and each rank takes a contiguous run of whole batches (so every batch, and therefore every
prediction, is bitwise the one a single process computes); the ranks' predictions are gathered on
every rank and only rank 0 writes results, predictions and the report. Backend: ``gloo`` on CPU,
``nccl`` on CUDA (``POSE3DBENCH_DIST_BACKEND`` overrides); CUDA ranks use ``cuda:LOCAL_RANK``.
Multi-node: torchrun's standard rendezvous (``--nnodes``, ``--rdzv-backend c10d``,
``--rdzv-endpoint HOST:PORT``), see docs/troubleshooting.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch

from .errors import DistributedError

_ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def env_rank() -> int:
    """This process's global rank from the torchrun environment (0 when not launched by torchrun)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def env_world_size() -> int:
    """Number of processes of the torchrun job (1 when not launched by torchrun)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_main_process() -> bool:
    """True on rank 0, and in every run not started by torchrun."""
    return env_rank() == 0


@dataclass
class DistContext:
    """Who this process is in a sharded run; a 1-process run is ``DistContext()`` (rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device | None = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- collectives (no-ops for a single process) ---------------------------------------------
    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def all_gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def all_gather_rows(self, rows: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """Concatenate every rank's ``rows`` (int64 [n_r]) and row-aligned ``arrays`` ([n_r, ...]).

        Returns ``(rows, *arrays)`` over all ranks in rank order; each row index must come from one
        rank only (``shard_batches`` guarantees it), which is checked.
        """
        parts = self.all_gather((np.asarray(rows, dtype=np.int64), *[np.asarray(a) for a in arrays]))
        rows_all = np.concatenate([p[0] for p in parts])
        if np.unique(rows_all).size != rows_all.size:
            raise RuntimeError("internal: two ranks computed the same sample; the shards overlap")
        return (rows_all, *[np.concatenate([p[k + 1] for p in parts]) for k in range(len(arrays))])

    def shard(self, rows: np.ndarray, batch_size: int) -> np.ndarray:
        """This rank's part of ``rows``: see ``shard_batches``."""
        return shard_batches(rows, batch_size, self.rank, self.world_size)


def shard_batches(rows: np.ndarray, batch_size: int, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous share of ``rows`` in whole batches of ``batch_size``.

    ``rows`` is cut into ``ceil(n / batch_size)`` batches exactly as a 1-process run does; batch
    ``k`` goes to the rank whose range ``[floor(r*B/W), floor((r+1)*B/W))`` holds it, so the ranks'
    shares are disjoint, cover every row once, keep the order, and differ by at most one batch
    (ranks beyond the number of batches get nothing).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if world_size <= 1:
        return rows
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
    bs = max(1, int(batch_size))
    n_batches = -(-len(rows) // bs)
    first = rank * n_batches // world_size
    last = (rank + 1) * n_batches // world_size
    return rows[first * bs:last * bs]


def setup(device: str = "auto") -> DistContext:
    """Join the torchrun job described by the environment, or return a 1-process context.

    device: ``auto``, ``cpu`` or ``cuda`` (the run's ``--device``). A CUDA run uses
    ``cuda:LOCAL_RANK`` and nccl; a CPU run gloo. DistributedError for a broken environment.
    """
    world = env_world_size()
    if world <= 1:
        return DistContext()
    import torch.distributed as dist

    missing = [k for k in _ENV_KEYS if k not in os.environ]
    if missing:
        raise DistributedError(f"WORLD_SIZE={world} but {', '.join(missing)} not set; start sharded runs with "
                               "torchrun (torchrun --nproc_per_node=N -m pose3dbench run ...), or unset WORLD_SIZE")
    rank, local_rank = env_rank(), int(os.environ["LOCAL_RANK"])
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise DistributedError("--device cuda was requested but torch sees no CUDA device; use --device cpu")
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) on "
                                   "this node; pass --nproc_per_node no larger than the number of GPUs")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    backend = os.environ.get("POSE3DBENCH_DIST_BACKEND") or ("nccl" if use_cuda else "gloo")
    if not dist.is_available():
        raise DistributedError("this torch build has no torch.distributed; run without torchrun")
    owns = False
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
        except (RuntimeError, ValueError) as exc:
            raise DistributedError(f"cannot join the torchrun job (backend {backend}, rank {rank} of {world}): {exc}; "
                                   "check MASTER_ADDR/MASTER_PORT or the --rdzv-endpoint") from None
        owns = True
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                       backend=backend, device=dev, owns_group=owns)


def teardown(ctx: DistContext) -> None:
    """Leave the process group this module created (nothing for a 1-process run)."""
    if ctx.owns_group and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


__all__ = ["DistContext", "DistributedError", "env_rank", "env_world_size", "is_main_process", "setup",
           "shard_batches", "teardown"]
