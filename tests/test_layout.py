"""The package's shape: no import cycles, and the layers import only downwards.

Every import statement counts, those inside functions too: a cycle hidden in a function is still a
cycle a reader has to untangle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lpz",)

# What each layer may import of lpz (besides itself, the leaf modules below and the package's root,
# which holds only __version__). The edges (lpz.celery, lpz.tasks, lpz.cli, lpz.dashboard) may import
# anything. A leaf imports no other lpz module but leaves.
LAYERS = {
    "lpz.algorithm": {"lpz.config"},
    "lpz.config": {"lpz.data.specs"},
    "lpz.store": set(),
    "lpz.data": {"lpz.store", "lpz.runs.keys"},
    "lpz.scoring": {"lpz.algorithm", "lpz.data"},
    "lpz.runs": {"lpz.algorithm", "lpz.config", "lpz.data.specs", "lpz.store"},
    "lpz.engine": {"lpz.algorithm", "lpz.config", "lpz.data", "lpz.runs", "lpz.scoring", "lpz.store",
                   "lpz.views.pictures", "lpz.devices"},
    "lpz.views": {"lpz.algorithm", "lpz.config", "lpz.data", "lpz.engine.engine", "lpz.engine.leases",
                  "lpz.runs", "lpz.scoring", "lpz.store"},
}
LEAVES = {"lpz.errors", "lpz.records", "lpz.files", "lpz.safe_names", "lpz.seeding"}
ROOT_PACKAGE = "lpz"


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The modules of lpz that the module imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in known else base)
    return {t for t in targets if t in known and t != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, name, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_imports_inside_functions_too(graph):
    assert "lpz.engine.cluster" in graph["lpz.celery"]  # imported inside the worker_ready handler


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module of a layer that its layer may not import ("module -> target")."""
    wrong = []
    for module, targets in graph.items():
        layer = next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None)
        if module in LEAVES:
            allowed = LEAVES
        elif layer is None:
            continue
        else:
            allowed = LAYERS[layer] | LEAVES | {layer}
        for target in targets - {ROOT_PACKAGE}:
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                wrong.append(f"{module} -> {target}")
    return sorted(wrong)


def test_layers_import_only_what_lies_below_them(graph):
    assert upward_imports(graph) == []


@pytest.mark.parametrize("module, target", [
    ("lpz.config.models", "lpz.algorithm.cell"),   # a layer importing one above it
    ("lpz.store.s3", "lpz.runs.run"),
    ("lpz.engine.control", "lpz.celery"),          # the engine importing an edge
    ("lpz.errors", "lpz.store"),                   # a leaf importing more than leaves
])
def test_the_layer_check_fails_on_an_injected_upward_import(graph, module, target):
    injected = {**graph, module: graph[module] | {target}}
    assert upward_imports(injected) == [f"{module} -> {target}"]
