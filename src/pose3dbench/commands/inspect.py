"""``pose3dbench inspect CKPT``: what a checkpoint file is and whether it loads.

Prints file format, top-level keys, epoch, family and inferred config, parameter count, whether it
loads strictly, and the command that benchmarks it. Exit code 0 when it loads strictly, 1 when it
reads but does not load, 2 (an error) when it cannot be read.
"""
from __future__ import annotations

import json
import shlex
import sys
from typing import Any


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="describe a checkpoint file: format, family, config, strict load",
                              description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file (.pth, .pth.tar, zip or legacy torch file)")
    p.add_argument("--model", default=None, metavar="NAME",
                   help="family or variant the file is supposed to be (default: inferred from its keys)")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow full unpickling if the safe loader refuses the file (trusted files only)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run_command(report: dict[str, Any]) -> str:
    """The ``pose3dbench run`` command line that benchmarks the inspected file."""
    parts = ["pose3dbench", "run", "--model", shlex.quote(f"{report['run_name']}={report['path']}")]
    if report.get("trusted"):
        parts.append("--trust-checkpoint")
    return " ".join(parts)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def format_report(r: dict[str, Any]) -> str:
    cfg = r["config"]
    arch = ", ".join(f"{k}={v}" for k, v in cfg["arch"].items())
    top = ", ".join(r["top_level_keys"]) or "(bare state dict)"
    lines = [
        f"file         {r['path']}",
        f"sha256       {r['sha256']}",
        f"format       {r['format']}{' (loaded with full unpickling: --trust-checkpoint)' if r['trusted'] else ''}",
        f"top-level    {top}" + (f"   state dict under {r['container']!r}" if r["container"] else ""),
        f"epoch        {r['epoch'] if r['epoch'] is not None else '-'}",
        f"tensors      {r['tensors']} ({r['numel']:,} values, {', '.join(f'{k} x{v}' for k, v in r['dtypes'].items())})"
        + (f", prefix {r['stripped_prefix']!r} stripped" if r["stripped_prefix"] else ""),
        f"family       {r['family']}"
        + (f"   (asked for {r['requested']})" if r["requested"] else "   (inferred from keys)"),
        f"variant      {r['variant']}",
        f"config       joints {cfg['joint_num']} ({cfg['joint_set']}), depth bins {cfg['depth_bins']}, "
        f"heatmap {cfg['heatmap_size'][0]}x{cfg['heatmap_size'][1]}, "
        f"input {cfg['input_size'][0]}x{cfg['input_size'][1]}",
        f"arch         {arch}",
        f"params       {r['params']:,} ({r['params_m']:.2f} M trainable)",
        f"strict load  {'yes' if r['strict_load'] else 'NO'}",
    ]
    if not r["strict_load"]:
        lines += ["             " + line for line in str(r["load_error"]).splitlines()]
    for w in r["warnings"]:
        lines.append(f"warning      {w}")
    if r["strict_load"]:
        lines.append(f"benchmark    {run_command(r)}")
    return "\n".join(lines)


def run(args) -> int:
    from ..models.checkpoint import inspect_checkpoint

    report = inspect_checkpoint(args.checkpoint, args.model, trust_checkpoint=args.trust_checkpoint)
    report["run_command"] = run_command(report) if report["strict_load"] else None
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    sys.stdout.flush()
    return 0 if report["strict_load"] else 1
