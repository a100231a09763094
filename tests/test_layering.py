"""The package's layers: every import of every module (module-level and inside functions) points down.

Bottom to top: the base modules (errors, io, paths, joints, version, roots, jsonspec, metrics, suggest, allocator,
geometry, devices, outdir, distributed, argtypes) -> data, weights -> results (no torch, no matplotlib) and
models -> backends, perf -> specs -> eval and report (neither imports the other) -> requirements,
commands -> cli. ``ALLOWED`` says, per unit (a top-level module or subpackage), which other units it may
import; a new upward import fails this test with the file and line.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "pose3dbench"

BASE = {"errors", "io", "paths", "joints", "version", "roots", "jsonspec", "metrics", "suggest", "allocator"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "version": set(), "roots": set(), "jsonspec": set(), "suggest": set(), "allocator": set(),
    "metrics": set(),
    "io": {"errors"}, "paths": {"errors"}, "joints": {"errors"}, "argtypes": {"errors"},
    "geometry": set(),
    "devices": {"errors", "allocator"},
    "outdir": {"errors", "io", "version"},
    "distributed": {"errors"},
    "data": BASE | {"outdir", "geometry"},
    "weights": BASE,
    "results": BASE | {"data"},
    "models": BASE | {"geometry"},
    "backends": BASE | {"models"},
    "perf": BASE | {"models", "devices"},
    "specs": BASE | {"models", "backends", "weights"},
    "eval": BASE | {"data", "results", "models", "backends", "perf", "specs", "weights", "geometry", "devices",
                    "outdir", "distributed", "report"},  # report: only to build the report at the end of a run
    "report": BASE | {"results", "data"},
    "requirements": BASE | {"specs", "models", "weights"},
    "commands": BASE | {"argtypes", "data", "results", "models", "backends", "perf", "specs", "weights", "eval",
                        "report", "devices", "outdir", "distributed", "geometry", "requirements"},
    "api": BASE | {"eval", "report", "commands"},
    "cli": BASE | {"commands", "data", "requirements"},
    "__main__": {"cli"},
    "__init__": {"version", "models", "api"},
    "resources": set(),
}
# results/ stays light: what report, evaluate and notebooks read must not pull torch or matplotlib
NO_HEAVY = {"results": {"torch", "matplotlib"}}


def _unit(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path):
    """(line, target unit or None, top-level name of an external module) of every import in ``path``."""
    rel = path.relative_to(PKG)
    package = ["pose3dbench", *rel.parts[:-1]]  # the package a relative import starts from
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [a.name for a in node.names] if not node.module and len(target) == 1 else [None]
                for name in names:  # "from . import x" at the top: x is the unit if it is a module
                    parts = target + ([name] if name else [])
                    unit = parts[1] if len(parts) > 1 else "__init__"
                    is_module = (PKG / f"{unit}.py").is_file() or (PKG / unit).is_dir()
                    yield node.lineno, unit if is_module else "__init__", None
            elif node.module and node.module.split(".")[0] == "pose3dbench":
                parts = node.module.split(".")
                yield node.lineno, parts[1] if len(parts) > 1 else "__init__", None
            elif node.module:
                yield node.lineno, None, node.module.split(".")[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "pose3dbench":
                    yield node.lineno, parts[1] if len(parts) > 1 else "__init__", None
                else:
                    yield node.lineno, None, parts[0]


def test_every_unit_has_a_rule():
    units = {_unit(p) for p in PKG.rglob("*.py")}
    assert units <= set(ALLOWED), f"add a layering rule for {sorted(units - set(ALLOWED))}"


def test_imports_point_down_the_stack():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        unit = _unit(path)
        for line, target, external in _imports(path):
            if target is not None and target != unit and target not in ALLOWED[unit]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: {unit} imports {target}")
            if external is not None and external in NO_HEAVY.get(unit, ()):
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: {unit} imports {external}")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_eval_and_report_do_not_depend_on_each_other_except_the_final_report():
    """eval -> report only in the runner (the report at the end of a run); report -> eval never."""
    uses = []
    for path in sorted((PKG / "eval").rglob("*.py")):
        uses += [f"{path.name}:{line}" for line, target, _ in _imports(path) if target == "report"]
    assert all(u.startswith("runner.py:") for u in uses), uses
    for path in sorted((PKG / "report").rglob("*.py")):
        assert not [line for line, target, _ in _imports(path) if target == "eval"], path


@pytest.mark.parametrize("package", ["results", "report"])
def test_light_packages_import_without_torch(package):
    """``results`` (and the report's package entry) import in a process where torch is not importable."""
    code = ("import sys; sys.modules['torch'] = None\n"
            f"import importlib, pkgutil, pose3dbench.{package} as p\n"
            "mods = [p.__name__] if package_is_report else [p.__name__ + '.' + m.name for m in "
            "pkgutil.iter_modules(p.__path__)]\n"
            "[importlib.import_module(m) for m in mods]\n").replace("package_is_report", str(package == "report"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _mentions_family(node: ast.AST) -> bool:
    """``family``, ``x.family``, ``getattr(x, "family")`` anywhere inside ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and "family" in sub.id.lower():
            return True
        if isinstance(sub, ast.Attribute) and "family" in sub.attr.lower():
            return True
        if isinstance(sub, ast.Constant) and sub.value == "family":
            return True
    return False


def _family_branch(node: ast.AST) -> bool:
    """A comparison of a family (name, attribute or getattr) with ``"rootnet"``."""
    if not isinstance(node, ast.Compare):
        return False
    sides = [node.left, *node.comparators]
    names = {s.value for side in sides for s in ast.walk(side) if isinstance(s, ast.Constant)}
    return "rootnet" in names and any(_mentions_family(side) for side in sides)


def test_no_family_branch_on_rootnet_outside_models():
    """Only ``models/`` knows which family is RootNet: everyone else asks the codec (``models.codecs.codec_for``:
    ``output_kind``, ``takes_k_value``, ``example_inputs``). Root and box *source* names ``"rootnet"`` are fine."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        if _unit(path) == "models":
            continue
        bad += [f"{path.relative_to(PKG.parent)}:{node.lineno}: {ast.unparse(node)}"
                for node in ast.walk(ast.parse(path.read_text(), str(path))) if _family_branch(node)]
    assert not bad, "family branches on RootNet outside models/ (use the codec API):\n" + "\n".join(bad)


def test_the_family_branch_check_sees_the_usual_spellings():
    """The check above is not vacuous: each spelling of a family branch is caught, a root source is not."""
    def caught(src: str) -> bool:
        return any(_family_branch(node) for node in ast.walk(ast.parse(src)))

    assert caught('m.family == "rootnet"') and caught('family != "rootnet"')
    assert caught('getattr(cfg, "family", None) == "rootnet"') and caught('cfg.family in ("rootnet", "x")')
    assert caught('getattr(getattr(model, "config", None), "family", None) == "rootnet"')
    assert not caught('root == "rootnet"') and not caught('box_source(r) == "rootnet"')
    assert not caught('key[1] == "rootnet"') and not caught('root_source == "rootnet" and split != "test"')


MAX_MODULE_LINES = 600


def test_no_module_over_600_lines():
    """A module that grows past 600 lines does more than one job: split it by job (as data/mupots/official.py and
    matfiles.py, models/checkpoint/)."""
    long = {str(p.relative_to(PKG.parent)): n for p in sorted(PKG.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_human36m_actions_are_named_only_under_data():
    """Human3.6M's vocabulary (its 15 actions) lives in data/h36m/: nothing above data/ knows a dataset's names."""
    from pose3dbench.data.h36m.protocols import ACTIONS

    names = {a for a in ACTIONS.values() if len(a) > 4}
    assert len(names) >= 10, "the check needs the action names"
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        if _unit(path) == "data":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                bad.append(f"{path.relative_to(PKG.parent)}:{node.lineno}: {node.value!r}")
    assert not bad, "Human3.6M action names outside data/:\n" + "\n".join(bad)
