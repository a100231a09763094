"""``pose3dbench run``: the multi-model benchmark (evaluation, cost profile, report)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..argtypes import int_range
from ..roots import ROOT_SOURCES

HELP_MODEL = (
    "model to benchmark (repeatable): NAME (registry variant, untrained weights), NAME=CKPT, CKPT "
    "(family inferred from the file), NAME:pretrained (the authors' released weights, fetched and cached), "
    "FILE.onnx, or module:function / path.py:function returning a model (bring your own). "
    "Prefix LABEL:= to name the row (e.g. ep24:=convnextpose-s=snapshot_24.pth.tar). "
    "Default: every registered variant with untrained weights"
)


def add_parser(sub) -> None:
    from ..data.dataset import available_datasets, dataset_class

    names = available_datasets()
    classes = [dataset_class(n) for n in names]
    words = "; ".join(f"{c.title}: {c.split_words or ', '.join(c.splits)}" for c in classes)
    groups = "; ".join(f"{c.title}: every {c.group_words}" for c in classes if c.group_words)
    p = sub.add_parser("run", help="benchmark models (default: all variants on the synthetic datasets)",
                       description="Benchmark models on pose datasets: accuracy per split and root source, cost, "
                                   "report.")
    p.add_argument("--data", type=Path, action="append", default=[],
                   help="dataset folder (any nesting below it; repeatable: one run over several datasets). Default: "
                        "a Kaggle input dataset if present, else the built-in synthetic sets")
    p.add_argument("--dataset", dest="datasets", action="append", default=[], choices=names,
                   help="what --data holds (default: recognised from the folder); without --data, the synthetic "
                        "set(s) to use")
    p.add_argument("--model", dest="models", action="append", default=[], metavar="SPEC", help=HELP_MODEL)
    p.add_argument("--split", "--protocol", dest="splits", nargs="+", default=None, metavar="SPLIT",
                   help=f"splits to evaluate (default: every dataset's own); {words}")
    p.add_argument("--root", dest="roots", nargs="+", default=["gt", "rootnet"],
                   choices=list(ROOT_SOURCES),
                   help="root and box source: gt, rootnet (the bbox_root file), rootnet-model (a RootNet model "
                        "in this run predicts the roots on the bbox_root boxes) (default: gt rootnet)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True, help="flip test (default: on)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch-size", type=int_range(1), default=None,
                   help="images per forward pass (the flip test doubles it). Default 16; 1 in the demo run, whose "
                        "heaviest variant (MobileHumanPose-LPRES) needs ~1 GB per image")
    p.add_argument("--workers", type=int_range(0, note="0 = in-process"), default=None,
                   help="data-loading processes (decode + crop); 0 = in-process. Default: 0 on CPU (a worker "
                        "competes with torch's threads for the cores: measured up to 2x slower on 2 cores), "
                        "cores - 2 (at most 16) on CUDA (see benchmarks/RESULTS.md)")
    p.add_argument("--threads", type=int_range(1), default=None,
                   help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=Path("pose3dbench-out"),
                   help="output folder: new, empty or an earlier run's (default: ./pose3dbench-out); one run at a time")
    p.add_argument("--force", action="store_true",
                   help="recompute everything instead of resuming; the previous results are replaced only when "
                        "it finished")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow full unpickling of checkpoints that weights_only loading refuses (trusted files only)")
    p.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cost profile")
    p.add_argument("--profile-iters", type=int_range(1), default=None,
                   help="timed iterations for latency/throughput (default 5; 2 in the demo run)")
    p.add_argument("--profile-batch", type=int_range(1), default=None,
                   help="batch size of the throughput measurement (default: --batch-size; 4 in the demo run)")
    p.add_argument("--synthetic-size", default="tiny", choices=["tiny", "small", "full"],
                   help="size of the built-in synthetic set(s) when --data is not given")
    p.add_argument("--bbox-root", action="append", default=None, metavar="[SPLIT=]FILE",
                   help="RootNet output (bbox_root json) for --root rootnet / rootnet-model, instead of the one found "
                        "below --data. RootNet's files differ per split: give each with --bbox-root SPLIT=FILE "
                        "(`pose3dbench weights list` names the released ones and `weights get` prints the flag); "
                        "--bbox-root FILE uses one file for every split of a one-dataset run")
    subset = p.add_mutually_exclusive_group()
    subset.add_argument("--limit", type=int_range(0, note="0 = all samples"), default=None,
                        help="only the first N samples of each split (quick checks); 0 = all")
    subset.add_argument("--limit-per-group", "--limit-per-action", type=int_range(0, note="0 = all samples"),
                        default=None, metavar="N", dest="limit_per_group",
                        help=f"only the first N samples of every group of each split: a stratified subset ({groups}); "
                             "0 = all. Default: all, except in the demo run (no --data, no --model), which takes 1")
    p.add_argument("--no-report", dest="report", action="store_false", help="skip report.md/report.html")
    p.add_argument("--channels-last", action="store_true", help="run models in channels_last memory format")
    p.add_argument("--backend", default="auto", choices=["auto", "eager", "onnxruntime"],
                   help="inference backend: eager PyTorch, or onnxruntime on an ONNX export of each model with the "
                        "soft-argmax inside (needs `pip install 'pose3dbench[onnx]'`). auto (default): onnxruntime "
                        "on CPU when it is installed, the model has 256+ crops to compute and it stays within the "
                        "bound of 1e-3 heatmap units of eager: its first batch within a quarter of it, a second "
                        "sample spread over the run's splits within it; else eager. What ran, why, the bound and "
                        "both measurements are in results.json (backend_choice). FILE.onnx models always run on "
                        "onnxruntime")
    p.add_argument("--crop-cache", default="auto", choices=["auto", "memory", "disk", "off"],
                   help="decode + crop each (image, box, input size) once for all models: memory, disk (a "
                        "memory-mapped store under $POSE3DBENCH_CACHE/crops that a later run re-uses), auto "
                        "(default: memory when the run's crops fit --crop-budget-mb, else disk) or off")
    p.add_argument("--amp", default=None, choices=["fp16", "bf16"],
                   help="half-precision inference (torch.autocast, eager models); the first 64 samples of each split "
                        "also run in float32 and the change in mm is reported beside the result")
    p.add_argument("--corruptions", default="none", metavar="SET",
                   help="also run every pose model on corrupted crops: none (default), common (gaussian_noise, "
                        "shot_noise, motion_blur, defocus_blur, jpeg_compression, brightness, contrast, pixelate, "
                        "occluder; ImageNet-C parameters) or comma-separated names")
    p.add_argument("--severities", type=int, nargs="+", default=[1, 2, 3, 4, 5], metavar="S",
                   help="corruption severities 1..5 (default all)")
    p.add_argument("--mce-reference", default=None, metavar="MODEL",
                   help="the model whose errors normalise the mean corruption error (default: the first pose model)")
    p.add_argument("--crop-budget-mb", type=float, default=1024.0, metavar="MB",
                   help="RAM the crop store may use before auto switches to disk (default 1024)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the eager models (needs a C++ compiler on CPU; the first batch compiles for "
                        "~25 s per model; measured faster on CPU, see benchmarks/RESULTS.md)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars (they are drawn only when stderr is a terminal anyway)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only errors and the final summary (no log lines, no progress bars)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON summary on stdout (log lines go to stderr; with --quiet, nothing else)")
    p.set_defaults(func=main)


def default_workers(device: str) -> int:
    """Loader processes for ``--workers`` left out: 0 on CPU (in-process decode costs ~4% of a model's time,
    a worker process competing with torch's intra-op threads cost up to 50% on 2 cores), cores - 2 (1..16)
    on CUDA, where decoding is the bound (benchmarks/RESULTS.md, sections 6 and 7)."""
    import os

    import torch

    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    return max(1, min(16, (os.cpu_count() or 1) - 2)) if cuda else 0


def _logger(args):
    """Log lines: stdout (stderr with --json, so stdout holds only the JSON), printed above any progress bar."""
    import sys

    if args.quiet:
        return lambda msg: None
    stream = sys.stderr if args.json else sys.stdout

    def log(msg: str) -> None:
        from tqdm import tqdm

        tqdm.write(str(msg), file=stream)  # clears and redraws the bars: a log line never shares a bar's line

    return log


def json_summary(results: dict, out: Path, report: bool) -> dict:
    """The one JSON object ``run --json`` prints: per evaluation the value and published number, per model cost."""
    from ..report.tables import (any_synthetic, cost_fields, published_comparable, published_root, published_value,
                                 split_key, unit_of, value_of)

    evs = []
    for ev in results["evaluations"]:
        m = results["models"][ev["model"]]
        key = split_key(ev)
        pub = published_value(m, key, results)
        evs.append({"model": ev["model"], "dataset": ev["dataset"], "split": ev["split"], "root": ev["root"],
                    "metric": ev["metric"], "value": value_of(results, ev), "unit": unit_of(results, key),
                    "num_samples": ev["num_samples"], "published": pub,
                    "published_is_this_network": None if pub is None else published_comparable(m),
                    "images_per_s": ev.get("timing", {}).get("images_per_s")})
    roots = [{"model": ev["model"], "dataset": ev["dataset"], "split": ev["split"], "boxes": ev.get("root"),
              "mrpe_mm": ev.get("mrpe_mm"),
              "published_mrpe_mm": published_root(results["models"][ev["model"]], results, ev["dataset"], ev["split"])}
             for ev in results["root_evaluations"]]
    models = {n: {"weights": m["weights"]["kind"], "spec": m["spec"], **cost_fields(m)}
              for n, m in results["models"].items()}
    return {"results": str(out / "results.json"), "report": str(out / "report.html") if report else None,
            "complete": results.get("complete", True), "synthetic": any_synthetic(results),
            "evaluations": evs, "root_evaluations": roots, "models": models,
            "warnings": results.get("warnings", [])}


def main(args) -> int:
    import json

    from ..data.splits import parse_bbox_root
    from ..eval.options import RunOptions
    from ..eval.runner import run_benchmark
    from ..report.tables import summary_table

    opts = RunOptions(
        data=tuple(args.data), datasets=tuple(args.datasets), models=args.models,
        splits=tuple(args.splits) if args.splits else None, roots=tuple(args.roots),
        flip=args.flip, device=args.device, batch_size=args.batch_size,
        workers=args.workers if args.workers is not None else default_workers(args.device),
        threads=args.threads, out=args.out, force=args.force, trust_checkpoint=args.trust_checkpoint,
        profile=args.profile, profile_iters=args.profile_iters, profile_batch=args.profile_batch,
        synthetic_size=args.synthetic_size,
        limit=args.limit, limit_per_group=args.limit_per_group, bbox_root=parse_bbox_root(args.bbox_root),
        report=args.report, channels_last=args.channels_last, progress=args.progress and not args.quiet,
        backend=args.backend, compile=args.compile, crop_cache=args.crop_cache, crop_budget_mb=args.crop_budget_mb,
        amp=args.amp, corruptions=args.corruptions, severities=tuple(args.severities),
        mce_reference=args.mce_reference,
    )
    results = run_benchmark(opts, log=_logger(args))
    from ..distributed import is_main_process

    if not is_main_process():  # torchrun: rank 0 prints and writes
        return 0
    if args.json:
        print(json.dumps(json_summary(results, args.out, args.report), indent=1))
        return 0
    print(summary_table(results))
    print(f"\nresults: {args.out / 'results.json'}")
    if args.report:
        print(f"report:  {args.out / 'report.html'}")
    if any(d.get("synthetic") for d in results["settings"]["datasets"]):
        print("note: synthetic data and/or untrained weights: accuracy numbers demonstrate the pipeline only; "
              "cost figures are real.")
    return 0
