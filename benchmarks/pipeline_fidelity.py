"""From the JPEG to coordinates: how far `pose3dbench run` is from the authors' whole test path.

Builds the dataset folder of the pipeline conformance tests (tests/helpers/pipeline.py) around the six JPEGs of
tests/fixtures/conformance-pipeline, runs `pose3dbench run` (the real CLI) for the three recorded
configurations, and prints the largest |difference| in heatmap units against the coordinates the
authors' code produced, flip test on and off, for the model's own input convention and, as a control,
for the wrong pixel range (0-1). Usage, from the repository root (the test helpers are the package ``tests``):
python -m benchmarks.pipeline_fidelity [--backend onnxruntime]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

from tests.helpers.pipeline import (CONFIGS, VECTORS, build_dataset, expected, max_diff, pipeline_weights,
                                    run_and_read, save_authors_checkpoint)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="eager", choices=["eager", "onnxruntime"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = build_dataset(tmp / "h36m")
        ckpts = {n: save_authors_checkpoint(tmp / f"{n}.pth.tar", pipeline_weights(n)) for n in CONFIGS}
        print(f"backend {args.backend}; tolerance {VECTORS['configs']['posenet_r50']['tolerance_heatmap_units']} "
              "heatmap units; max |run - authors| over 6 images x 18 joints x (x, y, z)")
        print(f"{'configuration':24s} {'convention':12s} {'flip test':>10s} {'no flip':>10s}")
        for i, (name, variant) in enumerate(CONFIGS.items()):
            for label, suffix in (("own (0-255)", ""), ("wrong (0-1)", "@input_pixel_range=0-1")):
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    got, _ = run_and_read(data, tmp / f"out{i}{bool(suffix)}", [f"{variant}={ckpts[name]}{suffix}"],
                                          backend=args.backend)
                rows = got[variant]
                flip = max_diff(rows, expected(name, "coords_hm_flip_test"), 0)
                plain = max_diff(rows, expected(name, "coords_hm_no_flip"), 1)
                print(f"{name:24s} {label:12s} {flip:10.2e} {plain:10.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
