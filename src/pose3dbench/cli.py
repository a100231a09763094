"""Command-line entry point: ``pose3dbench <command> ...``.

Each sub-command lives in ``pose3dbench/commands/<name>.py`` and exposes
``add_parser(subparsers)``, which registers its parser and sets ``func`` (args -> exit code).
Errors caused by user input (``Pose3DBenchError``) are printed without a traceback unless
``--debug`` is given; so are bad flags (checked where they are parsed, see ``argtypes``). Output
cut short by its reader (``pose3dbench evaluate ... | head``) ends quietly with exit code 141, as
a program killed by SIGPIPE.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from . import commands
from .version import __version__
from .errors import Pose3DBenchError


#: exit code of a command whose standard output was closed by its reader (128 + SIGPIPE, as shells report it)
BROKEN_PIPE_EXIT = 141


class _Parser(argparse.ArgumentParser):
    """argparse with the tool's one-line error format (``pose3dbench: error: ...``) and a pointer to --help."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.print_usage(sys.stderr)
        self.exit(2, f"pose3dbench: error: {message}; see `{self.prog} --help`\n")


def _global_flags() -> argparse.ArgumentParser:
    """The global flags, accepted before the command and after it (``pose3dbench run --debug``).

    default=SUPPRESS: a command's parser sets ``debug`` only when the flag is given there, so it never
    resets a ``--debug`` given before the command.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    common.add_argument("--version", action="version", version=f"pose3dbench {__version__}")
    return common


def _with_global_flags(subparsers, common: argparse.ArgumentParser):
    """Make every parser added through ``subparsers`` (and their own sub-commands) accept the global flags."""
    add = subparsers.add_parser

    def add_parser(name, **kwargs):
        kwargs["parents"] = [*kwargs.get("parents", []), common]
        parser = add(name, **kwargs)
        nested = parser.add_subparsers

        def add_subparsers(**kw):
            return _with_global_flags(nested(**kw), common)

        parser.add_subparsers = add_subparsers
        return parser

    subparsers.add_parser = add_parser
    return subparsers


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pose3dbench",
        description="Benchmark monocular 3D human pose networks on Human3.6M and MuPoTS-3D.",
    )
    parser.add_argument("--version", action="version", version=f"pose3dbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors (also accepted "
                        "after the command)")
    sub = _with_global_flags(parser.add_subparsers(dest="command", metavar="COMMAND"), _global_flags())
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.add_parser(sub)
    return parser


def _stdout_gone() -> int:
    """The reader of stdout went away: point fd 1 at /dev/null so that the final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (captured in tests, notebooks)
        pass
    return BROKEN_PIPE_EXIT


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad flag (message printed) or --help/--version: return its code
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .allocator import tune_allocator

    tune_allocator()  # before any tensor exists: large tensors re-use heap memory (see its docstring)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
        return code
    except BrokenPipeError:
        return _stdout_gone()
    except Pose3DBenchError as exc:
        if args.debug:
            raise
        print(f"pose3dbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pose3dbench: interrupted; finished work is saved and a re-run resumes from it", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
