"""Where onnxruntime's float32 differences from eager come from, and what each session option costs in speed.

Usage: python benchmarks/onnx_parity.py [--data /tmp/h36m_small] [--models posenet-r50 mobilehumanpose-lpski
       convnextpose-xs] [--crops 64] [--batch-size 16] [--logit-std 3] [--rounds 3] [--variants ...] [--json OUT]

Input: ``--crops`` real crops (spread over every Protocol-1/2 split and box source of ``--data``, fixed seed; the
synthetic ``small`` set by default, generated into the cache when missing), normalised as each model's input
convention says, and their mirrored copies (the flip test's second pass), so every variant sees what ``run`` feeds.
Weights: ``backends.parity.make_input_dependent`` (batch-norm statistics and last-layer scale from 16 of the same
crops, logit std ``--logit-std``): untrained heads give near-uniform heatmaps and every coordinate at the grid
centre, which would hide every difference. Eager float32 on the same batches is the reference.

Variants (``--variants``; each is ``name``: what changes against the exported graph on ``ORT_ENABLE_ALL``):

- ``all``: the shipped default before this study: all graph optimisations (level 3: NCHWc layout, fused kernels).
- ``extended``, ``basic``, ``disable``: lower optimisation levels (``extended``: fusions without the NCHWc layout
  transform; ``basic``: constant folding and simple fusions such as Conv+Add/Mul/BN; ``disable``: none).
- ``*-t1``: one intra-op thread instead of the run's count (does the split of work change sums?).
- ``*-hm``: the graph outputs raw heatmaps and the soft-argmax runs in torch (eager's own code) instead of inside
  the graph: how much of the difference is onnxruntime's softmax and ReduceSums.
- ``*-nofuse``: level ``all`` with onnxruntime's Conv+BatchNorm/Add/Mul and activation fusions disabled
  (``disabled_optimizers``): what folding scales into the convolution weights costs.
- ``eager-bnfold``: eager with every Conv+BatchNorm pair folded into one convolution in torch
  (``fuse_conv_bn_eval``), as the ONNX exporter folds them: what the folding alone moves, on eager's own kernels.
- ``*-noarena``: onnxruntime's CPU memory arena off (memory returned after each call).
- ``eager-2b``: eager itself, one [2B] call (plain + mirrored, what ``run`` does) against two [B] calls (what the
  authors' test.py does): the float32 noise of eager's own kernels choosing another blocking.

Printed per model and variant: images/s (forward of [B] plain + [B] mirrored crops as one [2B] call, counted as B
images, best of ``--rounds`` calls alternating with eager's; one session at a time, so memory holds one arena)
and the largest |variant - eager| over all crops, both passes, x, y, z, heatmap units (RootNet: x, y only, its
depth relative). Nothing is asserted; the session options of ``backends/ort.py`` are picked from these numbers
(benchmarks/RESULTS.md section 3).
"""
from __future__ import annotations

import argparse
import json
import gc
import time
from pathlib import Path

import numpy as np
import torch

VARIANTS = ("all", "extended", "basic", "disable", "all-t1", "extended-t1", "all-hm", "extended-hm",
            "all-nofuse", "all-noarena", "eager-2b", "eager-bnfold")
NOFUSE = ["ConvBNFusion", "ConvAddFusion", "ConvMulFusion", "ConvActivationFusion", "ConvAddActivationFusion",
          "FuseReluClip", "NchwcTransformer"]


def real_crops(data: Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` uint8 crops [n, 256, 256, 3] spread over every split and box source of a Human3.6M folder."""
    from pose3dbench.data.h36m import load_split
    from pose3dbench.data.loader import iterate_crops

    parts = []
    rng = np.random.default_rng(seed)
    for protocol in (1, 2):
        for box in ("gt", "rootnet"):
            try:
                s = load_split(str(data), protocol, box)
            except Exception:
                continue
            rows = np.sort(rng.choice(len(s), size=min(len(s), n // 4 + 1), replace=False))
            for _, p in iterate_crops(s.image_path, s.bbox, rows, batch_size=64, out_hw=(256, 256), workers=0,
                                      image_size=s.image_size):
                parts.append(p.numpy())
    crops = np.concatenate(parts)
    return crops[np.sort(rng.choice(len(crops), size=min(n, len(crops)), replace=False))]


def ort_variant(model, name: str, threads: int):
    """A callable img [N,3,H,W] -> coords [N,J,3] for one variant, and its description."""
    import onnxruntime as ort

    from pose3dbench.backends.export import export_onnx_bytes
    from pose3dbench.models.codecs import codec_for, soft_argmax_3d

    levels = ort.GraphOptimizationLevel
    level = {"all": levels.ORT_ENABLE_ALL, "extended": levels.ORT_ENABLE_EXTENDED, "basic": levels.ORT_ENABLE_BASIC,
             "disable": levels.ORT_DISABLE_ALL}[name.split("-")[0]]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1 if name.endswith("-t1") else threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = level
    so.enable_cpu_mem_arena = not name.endswith("-noarena")
    heatmaps = name.endswith("-hm")
    root = codec_for(model).output_kind == "root"
    data = export_onnx_bytes(model, output="heatmaps" if heatmaps else "coords")
    kw = {"disabled_optimizers": NOFUSE} if name.endswith("-nofuse") else {}  # names as onnxruntime 1.32 has them
    sess = ort.InferenceSession(data, sess_options=so, providers=["CPUExecutionProvider"], **kw)
    j, d = int(model.config.joint_num), int(getattr(model.config, "depth_bins", 1))

    def run(x: torch.Tensor, k: torch.Tensor | None = None) -> torch.Tensor:
        feeds = {"img": x.numpy()}
        if root:
            feeds["k_value"] = k.numpy()
        out = torch.from_numpy(sess.run(None, feeds)[0])
        return soft_argmax_3d(out, j, d) if heatmaps else out

    return run


def bn_folded(model):
    """A copy of ``model`` with every Conv2d directly followed by a BatchNorm2d (in a Sequential, or as named
    attribute pairs convN/bnN) folded into one convolution."""
    import copy

    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        kids = list(parent.named_children())
        for (na, a), (nb, b) in zip(kids, kids[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                if isinstance(parent, nn.Sequential) or (na.startswith("conv") and nb == "bn" + na[4:]):
                    setattr(parent, na, fuse_conv_bn_eval(a, b))
                    setattr(parent, nb, nn.Identity())
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--models", nargs="+", default=["posenet-r50", "mobilehumanpose-lpski", "convnextpose-xs"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--crops", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--logit-std", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import onnxruntime

    from pose3dbench.backends.parity import make_input_dependent
    from pose3dbench.devices import environment
    from pose3dbench.models import registry
    from pose3dbench.models.codecs import codec_for
    from pose3dbench.models.input import normalize_crops

    from pose3dbench.allocator import tune_allocator

    tune_allocator()  # as the CLI does: large tensors re-use heap memory (benchmarks/RESULTS.md section 8)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    data = args.data
    if data is None:
        from pose3dbench.data.h36m import H36M
        from pose3dbench.data.sources import ensure_synthetic

        data = ensure_synthetic(H36M, "small", print)
    crops = torch.from_numpy(real_crops(data, args.crops))
    env = environment(torch.device("cpu"))
    print(f"device: {env['device_name']}; torch {env['torch_version']}; onnxruntime {onnxruntime.__version__}; "
          f"threads {threads}; batch {args.batch_size} (+ mirrored = one [{2 * args.batch_size}] call); "
          f"{len(crops)} real crops of {data}; logit std {args.logit_std}", flush=True)
    report = {"device": env["device_name"], "threads": threads, "batch_size": args.batch_size,
              "crops": len(crops), "logit_std": args.logit_std, "models": {}}
    b = args.batch_size
    for name in args.models:
        torch.manual_seed(0)
        model = registry.create(name).eval()
        codec = codec_for(model)
        x_all = normalize_crops(crops, model.config, torch.device("cpu"))
        model = make_input_dependent(model, x_all[:: max(1, len(x_all) // 16)][:16], logit_std=args.logit_std)
        root = codec.output_kind == "root"
        k_all = torch.linspace(2500, 5000, len(x_all)).reshape(-1, 1)
        batches = []
        for s in range(0, len(x_all), b):
            x = x_all[s:s + b]
            batches.append((torch.cat([x, torch.flip(x, dims=[3])]), torch.cat([k_all[s:s + b]] * 2)))

        def eager(x, k=None, model=model):
            return model(x, k) if root else model(x)

        def eager_2b(x, k=None, model=model):  # two [B] calls, as the authors' test.py
            h = len(x) // 2
            return torch.cat([eager(x[:h], None if k is None else k[:h]), eager(x[h:], None if k is None else k[h:])])

        with torch.inference_mode():
            ref = [eager(x, k).float() for x, k in batches]
        x0, k0 = batches[0]
        rows = {"eager": {"max_abs_diff_hm": 0.0, "ips": []}}
        for v in args.variants:  # one session at a time (each holds its own arena), eager timed beside each
            if v == "eager-bnfold":
                folded = bn_folded(model)
                fn = (lambda x, k=None, m=folded: m(x, k) if root else m(x))  # noqa: E731
            else:
                fn = eager_2b if v == "eager-2b" else ort_variant(model, v, threads)
            diff, dz = 0.0, 0.0
            with torch.inference_mode():
                for (x, k), r in zip(batches, ref):
                    out = fn(x, k).float()
                    if root:
                        dz = max(dz, float(((out[:, 2] - r[:, 2]).abs() / r[:, 2].abs()).max()))
                        out, r = out[:, :2], r[:, :2]
                    diff = max(diff, float((out - r).abs().max()))
                rows[v] = {"max_abs_diff_hm": diff, "ips": [], "eager_ips": []}
                if root:
                    rows[v]["depth_rel_diff"] = dz
                for _ in range(args.rounds):
                    for side, f in (("eager_ips", eager), ("ips", fn)):
                        t0 = time.perf_counter()
                        f(x0, k0)
                        rows[v][side].append(b / (time.perf_counter() - t0))
                        rows["eager"]["ips"] += rows[v]["eager_ips"][-1:] if side == "eager_ips" else []
            del fn
            gc.collect()
        base = max(rows["eager"]["ips"])
        print(f"\n{name}: eager {base:.2f} img/s (flip test, batch {b})")
        for v, row in rows.items():
            row["images_per_s"] = max(row["ips"])
            if v == "eager":
                continue
            row["ratio_to_eager"] = max(row["ips"]) / max(row["eager_ips"])  # best against best, adjacent calls
            print(f"  {v:14s} {row['images_per_s']:7.2f} img/s ({row['ratio_to_eager']:4.2f}x eager beside it)  "
                  f"max |diff| {row['max_abs_diff_hm']:.2e} hm" + (f", depth rel {row['depth_rel_diff']:.1e}"
                                                                   if root else ""), flush=True)
        report["models"][name] = rows
        del model
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
