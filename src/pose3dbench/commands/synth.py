"""``pose3dbench synth``: write a synthetic Human3.6M in the 3DMPPE format."""
from __future__ import annotations

import time

from ..argtypes import int_range


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="generate a synthetic Human3.6M (3DMPPE format) for runs without the real data",
        description="Write annotations, JPEG frames, a RootNet-like bbox_root file and a 'synthetic' marker "
        "below --out. Deterministic for a seed. --out must be new, empty, or a set this command wrote before "
        "(its pose3dbench_synthetic.json at the top): any other folder, e.g. a real dataset, is refused.",
    )
    p.add_argument("--out", required=True,
                   help="output folder: new, empty or an earlier synth output (created if needed)")
    p.add_argument("--seed", type=int_range(0, 2**32 - 1), default=0, help="random seed (default 0)")
    p.add_argument("--size", choices=("tiny", "small", "full"), default="tiny",
                   help="tiny: a few dozen test images per protocol; small: a few hundred; "
                        "full: 8695 (as the real set)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data.synthetic import generate
    import json

    t0 = time.perf_counter()
    out = generate(args.out, seed=args.seed, size=args.size)
    meta = json.loads((out / "pose3dbench_synthetic.json").read_text())
    p = meta["protocol_test_images"]
    print(f"synthetic Human3.6M ({args.size}, seed {args.seed}) written to {out} in {time.perf_counter() - t0:.1f} s: "
          f"{meta['images_total']} images, Protocol 1 test {p['1']}, Protocol 2 test {p['2']}")
    return 0
