"""What a run is asked to do: ``RunOptions``, its validation, and the defaults of the demo run.

``RunOptions`` is the one record every stage of a run reads (paths are folders; ``models`` holds model specs,
see ``pose3dbench.specs``). ``validate_options`` raises RunError for values out of range (the CLI checks
them while parsing; this guards the Python API). ``apply_demo_defaults`` resolves what was left unset.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import RunError
from ..roots import ROOT_SOURCES
from ..specs import split_label

# The demo run (`pose3dbench run` with no --data and no --model: every variant, untrained, on the
# synthetic sets of DEMO_DATASETS) evaluates the first DEMO_PER_GROUP samples of every group of each split
# (the dataset's stratification, e.g. every action of each test subject) and profiles lightly, so that all 15
# variants finish in minutes on 2 CPU cores. Any explicit --limit / --limit-per-group / --profile-iters wins.
DEMO_PER_GROUP = 1
#: the datasets of the demo run (each has a synthetic generator)
DEMO_DATASETS: tuple[str, ...] = ("h36m", "mupots")
# ... at batch 1, the flip test's mirrored pass as its own call (split_flip) and a cost profile at batch 1:
# the heaviest variant (MobileHumanPose-LPRES, full-resolution dense concatenation) holds ~0.5 GB of
# activations per crop; the demo peaked at 10.6 GB resident with batch 4 + flip, 1.26 GB one crop at a time
# (benchmarks/demo_memory.py).
DEMO_BATCH = 1
DEFAULT_BATCH = 16
DEMO_PROFILE_ITERS = 2
DEMO_PROFILE_BATCH = 1


@dataclass
class RunOptions:
    """Everything a run depends on. Paths are folders; ``models`` holds model specs.

    ``data``: dataset folders (none: a Kaggle input or the built-in synthetic sets); ``datasets``: their names
    (``data.dataset``; empty: recognised from each folder; without ``data``: the synthetic sets to use);
    ``splits``: split names (aliases a dataset accepts, e.g. ``1`` for ``p1``), each evaluated on the dataset
    that has it; None: every dataset's default splits.
    """

    data: tuple[Path, ...] = ()
    models: list[str] = field(default_factory=list)
    datasets: tuple[str, ...] = ()
    splits: tuple[str, ...] | None = None
    roots: tuple[str, ...] = ("gt", "rootnet")
    flip: bool = True
    device: str = "auto"
    batch_size: int | None = DEFAULT_BATCH  # None: DEFAULT_BATCH, or DEMO_BATCH in the demo run
    workers: int = 1
    threads: int | None = None
    out: Path = Path("pose3dbench-out")
    force: bool = False
    trust_checkpoint: bool = False
    profile: bool = True
    profile_iters: int | None = None  # None: 5, or DEMO_PROFILE_ITERS in the demo run
    profile_batch: int | None = None  # throughput batch of the cost profile; None: batch_size (demo: 4)
    synthetic_size: str = "tiny"
    limit: int | None = None  # first N samples of each split; None: all; 0: all
    #: first N samples of every group of each split (the dataset's ``stratify_by``, e.g. (subject, action));
    #: None: all (demo run: DEMO_PER_GROUP); 0: all
    limit_per_group: int | None = None
    #: RootNet output file(s) to use instead of the ones found below ``data``: one path, or {split: path}
    bbox_root: Path | dict | None = None
    report: bool = True
    #: rows per resumable chunk under <out>/partial (env POSE3DBENCH_CHUNK_SIZE overrides the default)
    chunk_size: int = field(default_factory=lambda: _env_int("POSE3DBENCH_CHUNK_SIZE", 256))
    channels_last: bool = False
    progress: bool = True
    #: inference backend: "auto" (onnxruntime on CPU when installed and both parity checks of
    #: ``eval.backend_gate`` pass, see ``planning.choose_backend``), "eager" (PyTorch) or "onnxruntime" (exported
    #: graph, soft-argmax inside)
    backend: str = "auto"
    #: torch.compile the eager models (see benchmarks/RESULTS.md for whether it pays on CPU)
    compile: bool = False
    #: the crop store (data.crop_store): auto | memory | disk | off; auto = memory within crop_budget_mb, else disk
    crop_cache: str = "auto"
    crop_budget_mb: float = 1024.0
    #: half-precision inference (torch.autocast): None (float32), "fp16" or "bf16"; eager models only
    amp: str | None = None
    #: the flip test's mirrored pass as its own forward call instead of one [2B] call (half the activation
    #: memory of a batch; the demo run sets it: MobileHumanPose-LPRES holds ~0.5 GB per crop)
    split_flip: bool = False
    #: image corruptions of the crops (data.corruptions): a set name ("none", "common") or comma-separated names
    corruptions: str = "none"
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    #: the model whose errors normalise the mean corruption error (mCE); None: the first pose model
    mce_reference: str | None = None

    def __post_init__(self):
        if self.data is None:
            self.data = ()
        elif isinstance(self.data, (str, Path)):
            self.data = (Path(self.data),)
        else:
            self.data = tuple(Path(d) for d in self.data)
        if isinstance(self.datasets, str):
            self.datasets = (self.datasets,)
        if self.splits is not None:
            self.splits = tuple(str(s) for s in ([self.splits] if isinstance(self.splits, (str, int)) else self.splits))


def validate_options(opts: RunOptions) -> None:
    """RunError for option values out of range (the CLI checks them when parsing; this guards the Python API)."""
    def need(name: str, value, lo: int, note: str = "", optional: bool = False):
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise RunError(f"{name} must be an integer >= {lo}{f' ({note})' if note else ''}, got {value!r}")

    need("--batch-size (batch_size)", opts.batch_size, 1, optional=True)  # None: the default (demo: DEMO_BATCH)
    need("--workers (workers)", opts.workers, 0, "0 = in-process")
    need("--threads (threads)", opts.threads, 1, optional=True)
    need("--limit (limit)", opts.limit, 0, "0 = all samples", optional=True)
    need("--limit-per-group (limit_per_group)", opts.limit_per_group, 0, "0 = all samples", optional=True)
    need("--profile-iters (profile_iters)", opts.profile_iters, 1, optional=True)
    need("--profile-batch (profile_batch)", opts.profile_batch, 1, optional=True)
    need("chunk_size", opts.chunk_size, 1)
    for r in opts.roots:
        if r not in ROOT_SOURCES:
            raise RunError(f"unknown --root {r!r}; choose from {', '.join(ROOT_SOURCES)}")
    if opts.splits is not None and not opts.splits:
        raise RunError("--split needs at least one split name")
    if opts.datasets and opts.data and len(opts.datasets) not in (1, len(opts.data)):
        raise RunError(f"{len(opts.datasets)} --dataset names for {len(opts.data)} --data folders: give one name, "
                       "or one per folder in the same order, or none (each folder is recognised)")
    labels: dict[str, str] = {}
    for spec in opts.models:
        label, _ = split_label(spec)
        if label is not None and label in labels:
            raise RunError(f"--model {spec}: the label {label!r} is already used by --model {labels[label]}; "
                           "give each row its own label")
        labels.setdefault(label, spec)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise RunError(f"environment variable {name}={value!r} must be a positive integer; unset it or fix it")
    return n


def apply_demo_defaults(opts: RunOptions, demo: bool, log: Callable[[str], None]) -> RunOptions:
    """Resolve ``limit`` / profile settings left unset; the demo run gets light defaults."""
    limit, per_group = opts.limit, opts.limit_per_group
    if limit is None and per_group is None and demo:
        per_group = DEMO_PER_GROUP
    if limit == 0:
        limit = None
    if per_group == 0:
        per_group = None
    iters = opts.profile_iters or (DEMO_PROFILE_ITERS if demo else 5)
    batch = opts.profile_batch or (DEMO_PROFILE_BATCH if demo else None)
    batch_size = opts.batch_size or (DEMO_BATCH if demo else DEFAULT_BATCH)
    if demo:
        subset = (f"the first {per_group} sample(s) of every group each dataset declares" if per_group
                  else f"the first {limit} samples" if limit else "all samples")
        log(f"demo run: every registered variant with untrained weights on the synthetic set; {subset} of each "
            f"split (--limit-per-group N or --limit N to change, --limit-per-group 0 for all) at batch "
            f"{batch_size}, cost profile at batch 1 and {batch or batch_size} over {iters} timed runs")
    return dataclasses.replace(opts, limit=limit, limit_per_group=per_group, profile_iters=iters,
                               profile_batch=batch, batch_size=batch_size, split_flip=opts.split_flip or demo)
