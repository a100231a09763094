"""``pose3dbench synth``: write a synthetic dataset (each dataset's exact release format) for runs without the
real data."""
from __future__ import annotations

import time
from pathlib import Path

from ..argtypes import int_range


def add_parser(subparsers) -> None:
    from ..data.dataset import available_datasets, dataset_class

    names = [n for n in available_datasets() if dataset_class(n).synthetic_sizes]
    p = subparsers.add_parser(
        "synth",
        help="generate a synthetic dataset in the real format (annotations, JPEGs, RootNet-like boxes)",
        description="Write annotations, JPEG frames, a RootNet-like bbox_root file and a 'synthetic' marker "
        "below --out, in the exact format of the real dataset. Deterministic for a seed. --out must be new, empty, "
        "or a set this command wrote before (its pose3dbench_synthetic.json at the top): any other folder, e.g. a "
        "real dataset, is refused.",
    )
    p.add_argument("--out", required=True,
                   help="output folder: new, empty or an earlier synth output (created if needed)")
    p.add_argument("--dataset", default=names[0], choices=names, help=f"which dataset (default {names[0]})")
    p.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0, help="random seed (default 0)")
    p.add_argument("--size", choices=("tiny", "small", "full"), default="tiny",
                   help="tiny: a few dozen test images per split; small: a few hundred; full: as many as the real "
                        "test set")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data.dataset import dataset_class
    from ..errors import SynthError

    cls = dataset_class(args.dataset)
    if args.size not in cls.synthetic_sizes:
        raise SynthError(f"{cls.title} has no synthetic size {args.size!r}; "
                         f"choose from {', '.join(cls.synthetic_sizes)}")
    t0 = time.perf_counter()
    out = Path(cls.generate_synthetic(Path(args.out), size=args.size, seed=args.seed))
    print(f"synthetic {cls.title} ({args.size}, seed {args.seed}) written to {out} in "
          f"{time.perf_counter() - t0:.1f} s: {cls.synthetic_summary(cls.synthetic_metadata(out) or {})}")
    return 0
