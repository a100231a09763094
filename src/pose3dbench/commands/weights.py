"""``pose3dbench weights list|get|verify``: the authors' released checkpoints and data files."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from ..argtypes import positive_float
from ..errors import WeightsError
from ..weights import NO_OFFICIAL_WEIGHTS, cached_path, entries, fetch, get_entry, lock_path, status, weights_dir
from ..weights.download import DEFAULT_TIMEOUT


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "weights", help="list, download and verify the authors' released checkpoints",
        description=f"Released checkpoints and data files, cached in {weights_dir()} "
                    f"($POSE3DBENCH_CACHE/weights) with sha256 pinned in {lock_path().name}.",
    )
    sub = parser.add_subparsers(dest="weights_command", metavar="ACTION")
    p_list = sub.add_parser("list", help="every registry entry with its cache state and path")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.add_argument("--long", action="store_true",
                        help="every detail (what it was trained on, the full cache path); the default table fits "
                             "100 columns")
    p_list.set_defaults(func=_cmd_list)
    p_get = sub.add_parser("get", help="download (or find) an entry and print its path")
    p_get.add_argument("name", help="entry name (see `weights list`) or VARIANT:pretrained")
    p_get.add_argument("--force", action="store_true", help="download again even if cached")
    p_get.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT, help="network timeout, seconds")
    p_get.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_get.set_defaults(func=_cmd_get)
    p_ver = sub.add_parser("verify", help="check size/sha256/lock and that the file loads as its variant")
    p_ver.add_argument("target", nargs="?", help="entry name or file path (default: every cached entry)")
    p_ver.add_argument("--json", action="store_true", help="print JSON reports")
    p_ver.add_argument("--no-load", action="store_true", help="skip the load/content check")
    p_ver.add_argument("--relock", action="store_true", help="record this file's sha256 in the lock file")
    p_ver.set_defaults(func=_cmd_verify)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _row(entry) -> dict[str, Any]:
    from ..models import available, get_config

    d = entry.to_dict()
    # the Human3.6M paper numbers of the variant (one source: the model config), for Human3.6M files
    d["variant_published"] = (dict(get_config(entry.variant, **entry.overrides).published)
                              if entry.variant in available() and entry.protocol is not None else None)
    d["state"] = "manual only" if entry.manual_only and status(entry) == "missing" else status(entry)
    d["path"] = str(cached_path(entry))
    return d


def _cmd_list(args: argparse.Namespace) -> int:
    rows = [_row(e) for e in entries()]
    if args.json:
        print(json.dumps({"cache": str(weights_dir()), "entries": rows, "no_official_weights": NO_OFFICIAL_WEIGHTS},
                         indent=2))
        return 0
    if args.long:
        header = ("name", "state", "variant", "trained on", "path")
        table = [(r["name"], r["state"], r["variant"] or "-", r["trained_on"], r["path"]) for r in rows]
    else:
        header = ("name", "state", "variant", "protocol", "MB", "file")
        table = [(r["name"], r["state"], r["variant"] or "-", f"P{r['protocol']}" if r.get("protocol") else "-",
                  f"{r['approx_size_mb']:.0f}" if r.get("approx_size_mb") else "?", r["file_name"]) for r in rows]
    print_table(header, table)
    print(f"\ncache: {weights_dir()}")
    print("each entry has its own folder there: the two protocols' RootNet files never mix")
    if not args.long:
        print("details (what each was trained on, cache paths): pose3dbench weights list --long")
    for family, why in NO_OFFICIAL_WEIGHTS.items():
        print()
        print(textwrap.fill(f"{family}: {why}", width=LIST_WIDTH))
    return 0


#: the default ``weights list`` fits a terminal this wide
LIST_WIDTH = 100


def print_table(header: tuple, table: list[tuple]) -> None:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""
    widths = [max(len(str(x[i])) for x in [header, *table]) for i in range(len(header) - 1)]
    for row in [header, *table]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + str(row[-1]))


def _cmd_get(args: argparse.Namespace) -> int:
    path = fetch(args.name, progress=not args.no_progress and sys.stderr.isatty(), timeout=args.timeout,
                 force=args.force)
    print(path)
    entry = get_entry(args.name) if _is_entry(args.name) else None
    if entry is not None and entry.kind == "data" and entry.protocol:
        # both protocols' RootNet files are named bbox_root_human36m_output.json: name the protocol, never copy
        print(f"use it for Protocol {entry.protocol}: pose3dbench run --bbox-root {entry.protocol}={path} ... "
              "(keep it in the cache; a copy in the dataset folder would take the other protocol's file name)",
              file=sys.stderr)
    return 0


def _describe(report: dict[str, Any]) -> str:
    lines = [f"{report['name'] or '(not in registry)'}: {report['path']}",
             f"  size {report['size']} bytes, sha256 {report['sha256']}, lock: {report['lock']}"]
    content = report.get("content")
    if content:
        if "variant" in content:
            hm = content.get("heatmap_size")
            lines.append(
                "  loads strictly as "
                f"{content.get('claimed') if content['ok'] and content.get('claimed') else content['variant']}"
                f" ({content['family']}, {content['joint_num']} joints, "
                f"volume {content['depth_bins']}x{hm[0]}x{hm[1]}, {content['params']:,} parameters"
                + (f", epoch {content['epoch']}" if content.get("epoch") is not None else "") + ")"
            )
            lines += [f"  warning: {w}" for w in content.get("warnings", [])]
        elif "entries" in content:
            lines.append(f"  bbox_root file with {content['entries']} entries")
    lines += [f"  PROBLEM: {p}" for p in report["problems"]]
    lines.append("  OK" if report["ok"] else "  FAILED")
    return "\n".join(lines)


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.target:
        targets: list[Any] = [args.target]
    else:
        targets = [e for e in entries() if status(e) == "cached"]
        if not targets:
            print(f"nothing cached in {weights_dir()}; use `pose3dbench weights get NAME`", file=sys.stderr)
            return 0
    from ..specs import verify_weights as verify

    reports = [verify(t if not isinstance(t, str) else (get_entry(t) if _is_entry(t) else t),
                      load=not args.no_load, relock=args.relock) for t in targets]
    if args.json:
        print(json.dumps(reports if len(reports) > 1 or not args.target else reports[0], indent=2, default=str))
    else:
        print("\n".join(_describe(r) for r in reports))
    return 0 if all(r["ok"] for r in reports) else 1


def _is_entry(text: str) -> bool:
    try:
        get_entry(text)
    except WeightsError:
        return False
    return True
