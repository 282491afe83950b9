"""core/ and storage/ are the engine: they must work without streamlit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_importing_every_engine_module_does_not_import_streamlit():
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in ("core", "storage")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "__main__.py"
    )
    assert "core.engine" in modules and "storage.queries" in modules
    code = ("import importlib, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print('streamlit' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def import_graph() -> dict[str, set[str]]:
    """Every workbench module and the workbench modules it imports, at the top or inside a
    function (a lazy import is still a dependency). The method registry imports every module
    of its package, by discovery."""
    import ast

    paths = {}
    for folder in ("core", "storage", "ui", "app_pages"):
        for path in (ROOT / folder).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            paths[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in paths.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {m for m in imported if m in paths and m != name}
    graph["core.methods"] |= {m for m in paths if m.startswith("core.methods.")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles, each as the path that closes it."""
    found, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                found.append(trail[trail.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, trail + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_module_is_part_of_an_import_circle():
    graph = import_graph()
    assert "core.engine" in graph and "core.methods.sft" in graph["core.methods"]
    assert cycles(graph) == []


def test_the_circle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


# The layers, lowest first: a module imports only from its own layer or those below.
# core.errors and core.terminal are leaves every layer may use (storage raises its errors and
# checks a run's name for the characters a terminal obeys).
LAYERS = ["storage", "core", "ui", "app_pages"]
LEAVES = ("core.errors", "core.terminal")


def test_no_module_imports_a_layer_above_its_own():
    layer = lambda module: LAYERS.index(module.split(".")[0])  # noqa: E731
    upward = [(module, imported) for module, imports in import_graph().items()
              for imported in imports
              if layer(imported) > layer(module) and imported not in LEAVES]
    assert all(not import_graph()[leaf] for leaf in LEAVES)  # they import nothing of ours
    assert upward == []


@pytest.mark.parametrize("command", ["runs", "models", "datasets", "experiments"])
def test_listing_commands_import_no_heavy_library(command, tmp_path):
    # A listing answers in under a second: torch, transformers and scikit-learn took 3 s more.
    code = ("import sys\nfrom core.cli import main\n"
            f"assert main([{command!r}]) == 0\n"
            "print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "WORKBENCH_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
