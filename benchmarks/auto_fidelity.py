"""Does the default backend keep the bound results.json states, over a whole run, for every model?

Usage: python benchmarks/auto_fidelity.py [--data /tmp/h36m_small] [--models NAME ...] [--logit-std 1 3]
       [--work DIR] [--json OUT.json]

For every registered model (or ``--models``) and every ``--logit-std``: weights made input-sensitive
(``backends.parity.make_input_dependent``: batch-norm statistics and last-layer scale from 16 crops spread over the
split, fixed seed; untrained heads give near-uniform heatmaps and every coordinate at the grid centre, which would
make any backend agree), saved as a checkpoint; then two whole ``pose3dbench run`` processes on Protocol 2 of
``--data`` (GT boxes and roots, flip test, batch 16): the default ``--backend auto`` and ``--backend eager``. Printed
per model: what auto ran and why, the bound results.json states, the parities it measured (first batch, second
sample) and the largest |auto - eager| over every saved coordinate of the whole split (``coords_hm`` flip-merged and
``coords_hm_noflip``, x, y, z; RootNet: x, y of ``root_hm`` and the relative depth), and whether the run kept its
bound. Nothing is asserted; the exit status is 1 when a model broke the bound its results.json states.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

MAKE = r'''
import sys, numpy as np, torch
from pose3dbench.models import registry
from pose3dbench.backends.parity import make_input_dependent
from pose3dbench.data.h36m import load_split
from pose3dbench.data.loader import iterate_crops
from pose3dbench.models.input import normalize_crops
name, data, std, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
torch.manual_seed(0)
m = registry.create(name)
s = load_split(data, 2, "gt")
rows = np.linspace(0, len(s) - 1, 16).astype(int)
(_, p), = iterate_crops(s.image_path, s.bbox, rows, batch_size=16, out_hw=tuple(m.config.input_size), workers=0,
                        image_size=s.image_size)
m = make_input_dependent(m, normalize_crops(p, m.config, torch.device("cpu")), logit_std=std)
torch.save({"network": {"module." + k: v for k, v in m.state_dict().items()}, "epoch": 1}, out)
'''


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO / "src")] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    return e


def run(data: Path, spec: str, out: Path, backend: str, cache: Path) -> dict:
    cmd = [sys.executable, "-m", "pose3dbench", "run", "--data", str(data), "--model", spec, "--protocol", "2",
           "--root", "gt", "--batch-size", "16", "--out", str(out), "--backend", backend, "--no-progress",
           "--no-profile", "--no-report"]
    e = env()
    e["POSE3DBENCH_CACHE"] = str(cache)
    proc = subprocess.run(cmd, env=e, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads((out / "results.json").read_text())


def arrays(out: Path) -> dict:
    (f,) = [p for p in (out / "predictions").glob("*.npz")]
    with np.load(f) as z:
        return {k: z[k] for k in ("coords_hm", "coords_hm_noflip", "root_hm") if k in z.files}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--models", nargs="+", default=None)
    ap.add_argument("--logit-std", type=float, nargs="+", default=[1.0, 3.0])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from pose3dbench.models import registry

    data = args.data
    if data is None:
        from pose3dbench.data.h36m import Human36M
        from pose3dbench.data.sources import ensure_synthetic

        data = ensure_synthetic(Human36M, "small", print)
    work = args.work or Path(tempfile.mkdtemp(prefix="auto_fidelity_"))
    work.mkdir(parents=True, exist_ok=True)
    rows, broke = [], 0
    for name in args.models or registry.available():
        for std in args.logit_std:
            tag = f"{name}_std{std:g}"
            ckpt = work / f"{tag}.pth"
            subprocess.run([sys.executable, "-c", MAKE, name, str(data), str(std), str(ckpt)], check=True, env=env())
            spec = f"{name}={ckpt}"
            res = run(data, spec, work / f"{tag}_auto", "auto", work / "cache")
            run(data, spec, work / f"{tag}_eager", "eager", work / "cache")
            a, e = arrays(work / f"{tag}_auto"), arrays(work / f"{tag}_eager")
            (model,) = res["models"].values()
            choice = model["backend_choice"]
            if "root_hm" in a:
                diff = float(np.abs(a["root_hm"][:, :2] - e["root_hm"][:, :2]).max())
                depth = float((np.abs(a["root_hm"][:, 2] - e["root_hm"][:, 2]) / np.abs(e["root_hm"][:, 2])).max())
            else:
                diff = max(float(np.abs(a[k].astype(np.float64) - e[k]).max()) for k in a)
                depth = None
            bound = choice.get("bound_hm", 1e-3) if model["backend"] == "onnxruntime" else 1e-5
            kept = diff <= bound and (depth is None or model["backend"] == "eager" or depth <= 1e-5)
            broke += not kept
            fb = (choice.get("first_batch") or {}).get("parity_hm")
            ss = (choice.get("second_sample") or {}).get("parity_hm")
            n = len(next(iter(a.values())))
            print(f"{name:24s} std {std:g}: auto ran {model['backend']:11s} first batch "
                  f"{'-' if fb is None else f'{fb:.1e}'}, second sample {'-' if ss is None else f'{ss:.1e}'}; "
                  f"whole run ({n} images) max |auto - eager| {diff:.1e}"
                  + (f", depth rel {depth:.1e}" if depth is not None else "")
                  + f" vs bound {bound:g}: {'kept' if kept else 'BROKEN'}", flush=True)
            rows.append({"model": name, "logit_std": std, "backend": model["backend"], "reason": choice.get("reason"),
                         "first_batch_hm": fb, "second_sample_hm": ss, "whole_run_hm": diff, "depth_rel": depth,
                         "bound_hm": bound, "kept": kept, "images": n})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"{len(rows) - broke} of {len(rows)} runs kept the bound their results.json states")
    return 1 if broke else 0


if __name__ == "__main__":
    raise SystemExit(main())
