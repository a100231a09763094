"""onnxruntime (and torch.compile) versus eager PyTorch on CPU, plus ONNX parity for every zoo model.

Usage: python benchmarks/onnx_speed.py [--models posenet-r50 mobilehumanpose-lpski] [--batch-size 16]
       [--threads N] [--iters 3] [--compile] [--op-profile] [--prelu-forms] [--parity-all] [--json OUT.json]

Speed: forward throughput (images/s, one [B, 3, 256, 256] call = B images, soft-argmax included in
both) of the eager model and of its ONNX export on onnxruntime with the same intra-op threads, timed
interleaved (eager, ort, eager, ort, ...) and reported as medians; prints ort/eager (target >= 1.3).
--compile adds the `run --compile` model (nn.Module.compile, inductor) to the comparison.
--op-profile: per-operator time shares of one batch in each backend (onnxruntime's profiler, torch.profiler),
to explain the ratio.
--prelu-forms: for models with PReLU activations (MobileHumanPose), speed and parity of the three ONNX forms of
PReLU: the PRelu operator, max(x, 0) + a * min(x, 0) and (1 - a) * relu(x) + a * x (what the export writes:
``pose3dbench.backends.export._PReLUAffine``), on input-dependent weights.
--parity-all: exports EVERY registered model (soft-argmax inside the graph) and prints the largest
|ort - eager| coordinate difference in heatmap units (target < 1e-3), on weights made input-dependent
(batch-norm statistics from random images, last layer scaled to logit std 1) since untrained heads give
near-constant coordinates. Nothing is asserted about time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from pose3dbench.backends.parity import make_input_dependent


def throughput(fn, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    with torch.inference_mode():
        fn(x)
    return len(x) / (time.perf_counter() - t0)


def op_profile(model, ort_model, x: torch.Tensor, top: int = 6) -> dict:
    """Time share per operator type of one forward of ``x``: {'eager': {...}, 'onnxruntime': {...}} (ms)."""
    import collections
    import os
    import tempfile

    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x)
    eager = collections.Counter()
    for ev in prof.key_averages():
        if ev.key.startswith("aten::") and ev.key not in ("aten::conv2d", "aten::convolution", "aten::_convolution",
                                                          "aten::conv_transpose2d", "aten::linear"):
            eager[ev.key.replace("aten::", "")] += ev.self_cpu_time_total / 1e3
    ort_counter = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        import onnxruntime as ort

        from pose3dbench.backends.export import export_onnx_bytes
        from pose3dbench.backends.ort import session_options

        so = session_options(torch.get_num_threads())
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "ort")
        sess = ort.InferenceSession(export_onnx_bytes(model), sess_options=so, providers=["CPUExecutionProvider"])
        sess.run(None, {"img": x.numpy()})
        sess.run(None, {"img": x.numpy()})
        trace = json.loads(Path(sess.end_profiling()).read_text())
        runs = [e for e in trace if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
        half = runs[len(runs) // 2:]  # the second run only
        for e in half:
            ort_counter[e.get("args", {}).get("op_name", "?")] += e["dur"] / 1e3
    out = {}
    for k, c in (("eager", eager), ("onnxruntime", ort_counter)):
        total = sum(c.values())
        out[k] = {"total_ms": total, "top": [(op, ms, ms / total) for op, ms in c.most_common(top)]}
        print(f"  {k:12s} {total:8.1f} ms: " + ", ".join(f"{op} {ms:.0f} ms ({100 * f:.0f}%)"
                                                       for op, ms, f in out[k]["top"]))
    return out


def parity_all(threads: int | None) -> list[dict]:
    from pose3dbench.backends import wrap_model
    from pose3dbench.models import registry
    from pose3dbench.models.codecs import codec_for

    rows = []
    for name in registry.available():
        torch.manual_seed(0)
        model = make_input_dependent(registry.create(name), torch.randn(4, 3, 256, 256))
        t0 = time.perf_counter()
        ort_model = wrap_model(model, "onnxruntime", threads=threads)
        export_s = time.perf_counter() - t0
        x = torch.randn(3, 3, 256, 256)
        with torch.inference_mode():
            if codec_for(model).takes_k_value:
                k = torch.tensor([[2500.0], [3000.0], [4200.0]])
                ref, got = model(x, k)[:, :2], ort_model(x, k)[:, :2]
            else:
                ref, got = model(x), ort_model(x)
        diff = (ref - got).abs().max().item()
        rows.append({"model": name, "max_abs_diff_hm": diff, "ok": diff < 1e-3, "export_s": export_s,
                     "output_spread_hm": ref.std(dim=0).mean().item()})
        print(f"parity {name:24s} max |ort - eager| = {diff:.2e} heatmap units  "
              f"{'OK' if diff < 1e-3 else 'ABOVE 1e-3'}  (export {export_s:.1f} s)", flush=True)
    return rows


class _PReLUMinMax(torch.nn.Module):
    """PReLU as max(x, 0) + a * min(x, 0) (Clip, Mul, Add), the form exported before ``_PReLUAffine``."""

    def __init__(self, prelu: torch.nn.PReLU):
        super().__init__()
        a = prelu.weight.detach().clone()
        self.register_buffer("slope", a.view(1, -1, 1, 1) if a.numel() > 1 else a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp_min(x, 0) + self.slope * torch.clamp_max(x, 0)


def prelu_forms(name: str, batch_size: int, iters: int, threads: int | None) -> dict:
    """images/s and max |ort - eager| (heatmap units) of ``name`` exported with each PReLU form."""
    import copy
    import io
    import warnings

    import numpy as np
    import onnxruntime as ort

    from pose3dbench.backends.export import _PReLUAffine
    from pose3dbench.backends.ort import session_options
    from pose3dbench.models import registry

    torch.manual_seed(0)
    model = make_input_dependent(registry.create(name), torch.randn(4, 3, 256, 256)).eval()
    if not any(isinstance(m, torch.nn.PReLU) for m in model.modules()):
        print(f"{name}: no PReLU, nothing to compare")
        return {}
    x = torch.randn(batch_size, 3, 256, 256)
    with torch.inference_mode():
        ref = model(x).numpy()
    sessions, parity = {}, {}
    for form, cls in (("PRelu operator", None), ("max/min", _PReLUMinMax), ("(1-a)relu+ax [export]", _PReLUAffine)):
        m = copy.deepcopy(model)
        for parent in list(m.modules()) if cls else []:
            for child_name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.PReLU):
                    setattr(parent, child_name, cls(child))
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (x[:2],), buf, input_names=["img"], output_names=["coords"], opset_version=17,
                              dynamic_axes={"img": {0: "batch"}, "coords": {0: "batch"}}, dynamo=False)
        sessions[form] = ort.InferenceSession(buf.getvalue(), sess_options=session_options(threads or
                                                                                           torch.get_num_threads()),
                                              providers=["CPUExecutionProvider"])
        parity[form] = float(np.abs(sessions[form].run(None, {"img": x.numpy()})[0] - ref).max())
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(iters + 1):  # the first round warms up
        for form, sess in sessions.items():
            t0 = time.perf_counter()
            sess.run(None, {"img": x.numpy()})
            times[form].append(batch_size / (time.perf_counter() - t0))
    out = {}
    for form in sessions:
        out[form] = {"images_per_s": statistics.median(times[form][1:]), "max_abs_diff_hm": parity[form]}
        print(f"{name:24s} PReLU as {form:24s} {out[form]['images_per_s']:7.1f} img/s   "
              f"max |ort - eager| {parity[form]:.2e} heatmap units", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["posenet-r50", "mobilehumanpose-lpski"])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--parity-all", action="store_true")
    ap.add_argument("--op-profile", action="store_true")
    ap.add_argument("--prelu-forms", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from pose3dbench.backends import wrap_model
    from pose3dbench.devices import environment
    from pose3dbench.models import registry

    if args.threads:
        torch.set_num_threads(args.threads)
    env = environment(torch.device("cpu"))
    print(f"device: {env['device_name']}; torch {env['torch_version']}; threads {torch.get_num_threads()}; "
          f"batch {args.batch_size}")
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}")
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        model = registry.create(name).eval()
        ort_model = wrap_model(model, "onnxruntime", threads=args.threads)
        fns = {"eager": model, "onnxruntime": ort_model}
        if args.compile:
            import copy

            from pose3dbench.backends import compile_model
            fns["compile"] = compile_model(copy.deepcopy(model))  # what `run --compile` does
        x = torch.randn(args.batch_size, 3, 256, 256)
        times: dict[str, list[float]] = {k: [] for k in fns}
        for k, fn in fns.items():  # warm-up (compile happens here)
            t0 = time.perf_counter()
            throughput(fn, x)
            if k == "compile":
                print(f"{name}: torch.compile warm-up {time.perf_counter() - t0:.1f} s", flush=True)
        for _ in range(args.iters):
            for k, fn in fns.items():
                times[k].append(throughput(fn, x))
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {"model": name, **{f"{k}_ips": v for k, v in med.items()},
               "ort_over_eager": med["onnxruntime"] / med["eager"], "all": times}
        if "compile" in med:
            row["compile_over_eager"] = med["compile"] / med["eager"]
        rows.append(row)
        line = "   ".join(f"{k} {v:7.2f} img/s" for k, v in med.items())
        print(f"{name:24s} {line}   ort/eager {row['ort_over_eager']:.2f}"
              + (f"   compile/eager {row['compile_over_eager']:.2f}" if "compile" in med else ""), flush=True)
        if args.op_profile:
            row["op_profile"] = op_profile(model, ort_model, x)
        if args.prelu_forms:
            row["prelu_forms"] = prelu_forms(name, args.batch_size, args.iters, args.threads)
    parity = parity_all(args.threads) if args.parity_all else None
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "speed": rows, "parity": parity}, indent=2))


if __name__ == "__main__":
    main()
