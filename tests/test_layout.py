"""gradbook's layout: ten public modules, none too long, no import cycle, viz for notebooks only, a light top level,
an example in every public docstring, and one test file per public module."""
import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "code" / "gradbook"
PUBLIC = {"data", "models", "gradients", "diagnostics", "theory", "backprop", "training", "frontiers", "viz", "repro"}
CURATED = ["diagnose", "GradientMonitor", "layer_gradient_norms", "activation_stats", "deep_mlp", "seed_cnn",
           "load_mnist", "set_seed"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """The gradbook modules a file imports: at import time (``top_level_only``: statements outside functions and
    classes, which is what can make an import cycle), or anywhere in it."""
    tree = ast.parse(path.read_text())
    nodes = []
    if top_level_only:
        stack = list(tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            nodes.append(node)
            stack.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in MODULES}


def test_at_most_ten_public_modules_and_subpackages():
    top = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    public = {name for name in top if not name.startswith("_")}
    assert len(public) <= 10 and public == PUBLIC, sorted(public)


def test_no_module_is_over_650_lines():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 650}
    assert not long, long


def test_no_import_cycle_among_gradbook_modules():
    graph = {name: _imports(path, top_level_only=True) - {name} for name, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                pytest.fail(f"import cycle: {' -> '.join(trail[trail.index(nxt):] + [nxt])}")
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert graph["gradbook.theory"] <= {"gradbook._catalog", "gradbook._validate", "gradbook.repro"}


def test_only_notebooks_import_viz():
    importers = sorted(name for name, path in MODULES.items() if not name.startswith("gradbook.viz")
                       and any(m.startswith("gradbook.viz") for m in _imports(path, top_level_only=False)))
    assert not importers, importers


def test_the_top_level_is_curated_lazy_and_light():
    code = ("import sys, gradbook, gradbook.theory, gradbook.backprop\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'matplotlib', 'ipywidgets') if m in sys.modules)\n"
            "print(heavy, sorted(gradbook.__all__), 'diagnose' in dir(gradbook), 'viz' in dir(gradbook))\n"
            f"from gradbook import {', '.join(CURATED)}\n"
            "print(diagnose.__module__, GradientMonitor.__module__, set_seed.__module__)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = result.stdout.strip().splitlines()
    assert first == f"[] {sorted(CURATED)} True True"
    assert second == "gradbook.diagnostics.diagnose gradbook.diagnostics.monitor gradbook.repro"


def test_unknown_top_level_names_are_attribute_errors():
    import gradbook

    with pytest.raises(AttributeError, match="has no attribute 'plots'"):
        gradbook.plots  # noqa: B018 - the old flat module is gone
    assert gradbook.theory is importlib.import_module("gradbook.theory")


def _public_objects():
    for name in sorted(MODULES):
        if any(part.startswith("_") for part in name.split(".")):
            continue
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if not attr.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)) \
                    and obj.__module__ == name:
                yield f"{name}.{attr}", obj


def test_every_public_function_and_class_has_an_example():
    missing = [name for name, obj in _public_objects() if "Example" not in (inspect.getdoc(obj) or "")]
    assert not missing, missing


def test_every_public_module_has_its_test_file():
    expected = {f"test_{name.removeprefix('gradbook.').replace('.', '_')}.py" for name, path in MODULES.items()
                if name.count(".") == 1 and not name.split(".")[-1].startswith("_") and path.name != "__init__.py"}
    expected |= {f"test_{name.removeprefix('gradbook.').replace('.', '_')}.py" for name in MODULES
                 if name.count(".") == 2 and not name.split(".")[-1].startswith("_")}
    missing = sorted(f for f in expected if not (ROOT / "tests" / f).exists())
    assert not missing, missing
