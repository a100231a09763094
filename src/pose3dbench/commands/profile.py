"""``pose3dbench profile``: parameters, MACs/FLOPs, latency, throughput and peak memory per model."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ..argtypes import int_range
from ..errors import Pose3DBenchError
from ..io import atomic_write_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "profile",
        help="measure parameters, MACs/FLOPs, latency, throughput and peak memory of models",
        description="Profile the cost of one or more models on random 256x256 inputs. GMACs are the "
                    "papers' 'GFLOPs'; FLOPs = 2*MACs (torch FlopCounterMode, conv/matmul only). "
                    "Latency is at batch 1, throughput at --batch-size.",
    )
    p.add_argument("--model", "-m", action="append", required=True, metavar="SPEC",
                   help="NAME, NAME=CKPT, CKPT or module:function (repeat for several models)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--batch-size", type=int_range(1), default=8, metavar="N",
                   help="batch size for throughput (latency is always measured at batch 1; default 8)")
    p.add_argument("--iters", type=int_range(1), default=10, metavar="N", help="timed forward calls (default 10)")
    p.add_argument("--warmup", type=int_range(0), default=3, metavar="N", help="untimed warm-up calls (default 3)")
    p.add_argument("--threads", type=int_range(1), default=None, metavar="N",
                   help="torch CPU threads for the run (default: torch's current setting)")
    p.add_argument("--dtype", action="append", choices=("float32", "float16", "bfloat16"), default=None,
                   help="precision(s) to time; float16/bfloat16 use torch.autocast (repeatable; "
                        "default float32)")
    p.add_argument("--input-size", type=int_range(32, 4096), nargs=2, default=None, metavar=("H", "W"),
                   help="input crop size in pixels (default: the model config's, else 256 256)")
    p.add_argument("--backend", default="eager", choices=("eager", "onnxruntime"),
                   help="eager PyTorch, or onnxruntime on an ONNX export of the model (the deployment runtime; "
                        "needs `pip install 'pose3dbench[onnx]'`, CPU, float32). Parameters and MACs are the "
                        "eager model's either way")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--json", action="store_true", help="print JSON (a list, one object per model)")
    p.add_argument("--output", "-o", default=None, metavar="FILE",
                   help="also write the JSON list to FILE (atomically)")
    p.set_defaults(func=run)


def timing_noise_warnings(results: list[dict]) -> list[str]:
    """One warning per model whose batch-1 latency samples spread by more than 25% (p90 above the median)."""
    from ..report.tables import TIMING_NOISE

    out = []
    for r in results:
        lat = r.get("latency") or {}
        med, p90 = lat.get("median_ms"), lat.get("p90_ms")
        if med and p90 is not None and (p90 - med) / med > TIMING_NOISE:
            out.append(f"warning: {r['model']}: latency samples spread by +{(p90 - med) / med:.0%} "
                       f"(p90 {p90:.1f} ms vs "
                       f"median {med:.1f} ms): the machine is busy or the timed runs are too few; re-measure on an "
                       "idle machine with more --iters before quoting it")
    return out


def _info_name(spec: str, info: Any) -> str:
    if getattr(info, "name", None):
        return str(info.name)
    return spec


def _is_profile_output(obj) -> bool:
    return isinstance(obj, list) and all(isinstance(r, dict) and "params" in r and "environment" in r for r in obj)


def run(args: argparse.Namespace) -> int:
    from ..specs import resolve_model_spec
    from ..devices import resolve_device
    from ..perf.profile import format_table, profile_model

    if args.batch_size < 1:
        raise Pose3DBenchError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.iters < 1 or args.warmup < 0:
        raise Pose3DBenchError(f"need --iters >= 1 and --warmup >= 0, got {args.iters} and {args.warmup}")
    if args.output:  # before any work: never replace a file this command did not write
        from ..outdir import refuse_foreign_file

        refuse_foreign_file(args.output, "--output", _is_profile_output, "a profile written by pose3dbench profile")
    device = resolve_device(args.device)  # fail before building any model
    dtypes = tuple(args.dtype or ("float32",))
    if args.backend == "onnxruntime":
        if device.type != "cpu":
            raise Pose3DBenchError("profile --backend onnxruntime measures onnxruntime's CPU execution provider; "
                                   "add --device cpu (or profile CUDA with --backend eager)")
        if dtypes != ("float32",):
            raise Pose3DBenchError("profile --backend onnxruntime runs the float32 export; drop --dtype "
                                   f"{' '.join(d for d in dtypes if d != 'float32')} (autocast is a PyTorch feature)")
    results = []
    for spec in args.model:
        model, info = resolve_model_spec(spec)
        config = getattr(model, "config", None)
        size = tuple(args.input_size) if args.input_size else tuple(getattr(config, "input_size", (256, 256)))
        timed = model
        if args.backend == "onnxruntime":
            from ..backends import wrap_model

            timed = wrap_model(model.eval(), "onnxruntime", threads=args.threads)
        res = profile_model(timed, device=device, input_size=size, batch_sizes=(1, args.batch_size),
                            dtypes=dtypes, warmup=args.warmup, iters=args.iters,
                            threads=args.threads, measure_memory=not args.no_memory,
                            name=_info_name(spec, info))
        if timed is not model:  # the graph runtime has no torch parameters to count: the eager model's figures
            eager = profile_model(model, device=device, input_size=size, batch_sizes=(1,), iters=1, warmup=0,
                                  measure_memory=False)
            res.update({k: eager[k] for k in ("params", "params_m", "macs", "flops", "gmacs", "gflops") if k in eager})
        res["backend"] = "onnxruntime" if (timed is not model or getattr(info, "is_onnx", False)) else "eager"
        res["spec"] = spec
        if info is not None:  # which weights were profiled (cost does not depend on them)
            res["weights"] = {k: None if getattr(info, k) is None else str(getattr(info, k))
                              for k in ("weights", "checkpoint", "sha256")}
        results.append(res)
        del model
    if args.output:
        try:
            atomic_write_json(args.output, results)
        except OSError as exc:
            raise Pose3DBenchError(f"cannot write --output {args.output} ({exc.strerror or exc}); pass a writable "
                                   "path (a previous file there is unchanged)") from None
    if args.json:
        print(json.dumps(results, indent=2, allow_nan=False))
    else:
        env = results[0]["environment"]
        print(f"device: {env['device_name']} ({env['device']}), torch {env['torch_version']}, "
              f"threads {env['threads']}, warmup {env['warmup']}, iters {env['iters']}, backend {args.backend}")
        print(format_table(results))
        for line in timing_noise_warnings(results):
            print(line)
        print("GMACs = multiply-accumulates per image (what the papers call GFLOPs); GFLOPs = 2*GMACs "
              "(conv/matmul only). Latency at batch 1; img/s at the throughput batch; "
              f"peak.inc = {'CUDA allocator peak' if env['device'] == 'cuda' else 'process RSS'} "
              "increase during one forward.")
    return 0
