"""The layering the README's Architecture section describes, kept true by parsing every module's imports.

Layers, from the bottom: ``errors``; ``core`` (the pure pipeline); ``util``
(atomic writes, SQLite transactions, worker pools); ``store`` (data folder,
fingerprint store, listing index); ``apps`` (checker, audit, report, station,
kiosk, evidence); ``cli`` (click, and only there); ``tooling`` (synthesis,
benchmarks, evaluation, calibration: development tooling nothing else needs).
A module's layer is the first folder under ``packcheck/``. Every import counts,
also one inside a function, except where a rule says "at import".
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "packcheck"
LAYERS = ("errors", "core", "util", "store", "apps", "cli", "tooling")
#: What each layer may import from packcheck (besides itself).
ALLOWED = {
    "errors": set(),
    "core": {"errors"},
    "util": {"errors"},
    "store": {"errors", "core", "util"},
    "apps": {"errors", "core", "util", "store", "__init__"},
    "cli": {"errors", "core", "util", "store", "apps", "tooling", "__init__"},
    "tooling": {"errors", "core", "util", "store", "apps", "__init__"},
}
#: Standard-library and third-party modules the pure pipeline must never touch.
NOT_IN_CORE = ("sqlite3", "multiprocessing", "concurrent", "click", "pandas", "subprocess", "threading.Thread")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = ".".join(parts[:-1]) if parts[-1] != "__init__" else name
        yield path, name, package


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "packcheck":
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1] if parts[1] in LAYERS else parts[1]


def _imports(path: Path, package: str):
    """(module imported, line, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod, node.lineno, id(node) in top
            for a in node.names:  # "from . import checks" imports the module packcheck.core.checks
                yield f"{mod}.{a.name}", node.lineno, id(node) in top


MODULES = list(_modules())


@pytest.mark.parametrize("path, name, package", MODULES, ids=[m[1] for m in MODULES])
def test_imports_flow_down_the_layers(path, name, package):
    layer = _layer(name)
    problems = []
    for mod, line, _ in _imports(path, package):
        target = _layer(mod)
        if layer in ALLOWED and target is not None and target != layer and target in LAYERS + ("__init__",) \
                and target not in ALLOWED[layer]:
            problems.append(f"{path.name}:{line} imports {mod} ({layer} may not import {target})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path, name, package", MODULES, ids=[m[1] for m in MODULES])
def test_click_only_in_the_cli_pandas_only_in_the_audit_and_report(path, name, package):
    imported = {mod.split(".")[0]: line for mod, line, _ in _imports(path, package)}
    if not name.startswith("packcheck.cli"):
        assert "click" not in imported, f"{name} imports click (line {imported.get('click')}): only packcheck.cli may"
    if not (name.startswith("packcheck.apps.audit") or name == "packcheck.apps.report"):
        assert "pandas" not in imported, f"{name} imports pandas: only apps/audit and apps/report may"


@pytest.mark.parametrize("path, name, package", [m for m in MODULES if _layer(m[1]) == "core"],
                         ids=[m[1] for m in MODULES if _layer(m[1]) == "core"])
def test_the_core_opens_no_database_pool_or_process(path, name, package):
    imported = [(mod, line) for mod, line, _ in _imports(path, package)]
    bad = [f"line {line}: {mod}" for mod, line in imported if mod.split(".")[0] in NOT_IN_CORE or mod in NOT_IN_CORE]
    assert not bad, f"{name} imports {bad}"
    text = path.read_text(encoding="utf-8")
    writes = re.findall(r"write_text\(|write_bytes\(|open\([^)]*[\"'][wax]b?\+?[\"']", text)
    assert "os.environ" not in text and not writes, f"{name} writes files or reads the environment: {writes}"


def test_the_cli_imports_the_tooling_only_inside_its_commands():
    for path, name, package in MODULES:
        if _layer(name) == "cli":
            at_import = [(mod, line) for mod, line, top in _imports(path, package) if top and _layer(mod) == "tooling"]
            assert not at_import, f"{name} imports the tooling at import: {at_import}"


def test_no_module_changes_process_wide_state_at_import():
    """No assignment to another module's attribute (Image.MAX_IMAGE_PIXELS = ...) and no call
    (csv.field_size_limit(...), os.environ.setdefault(...)) at the top level of a module."""
    problems = []
    for path, name, _ in MODULES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets):
                problems.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and name != "packcheck.__main__":
                problems.append(f"{name}:{node.lineno}")
    assert not problems, problems


def test_opencv_rng_is_seeded_only_where_documented():
    """packcheck.core's docstring names the three calls that seed OpenCV's generator, and why; no other."""
    seeded = sorted(name for path, name, _ in MODULES for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "setRNGSeed")
    assert seeded == ["packcheck.core.keypoints", "packcheck.core.keypoints", "packcheck.core.locate"]
    import packcheck.core

    assert "those three calls seed it" in packcheck.core.__doc__


def test_a_station_imports_no_tooling_no_click_no_pandas():
    code = ("import sys, packcheck.apps.station, packcheck.apps.checker; "
            "bad = sorted(m for m in sys.modules if m.startswith(('packcheck.tooling', 'packcheck.calibration', "
            "'click', 'pandas'))); print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_importing_packcheck_imports_nothing_heavy():
    code = "import sys, packcheck; print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'cv2', 'click')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_every_cli_module_is_in_the_one_command_list():
    from packcheck.cli import COMMANDS

    listed = {module for module, _ in COMMANDS.values()}
    files = {p.stem for p in (PACKAGE / "cli").glob("*.py")} - {"__init__", "common"}
    assert files == listed
