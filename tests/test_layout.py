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

# What each layer may import of lpz (besides itself and the leaf modules lpz.errors, lpz.records,
# lpz.files, lpz.safe_names). The edges (lpz.celery, lpz.tasks) may import anything.
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
LEAVES = {"lpz", "lpz.errors", "lpz.records", "lpz.files", "lpz.safe_names"}


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


def test_layers_import_only_what_lies_below_them(graph):
    wrong = []
    for module, targets in graph.items():
        layer = next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None)
        if layer is None:
            continue
        allowed = LAYERS[layer] | LEAVES | {layer}
        for target in targets:
            if not any(target == a or target.startswith(a + ".") for a in allowed):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_core_imports_neither_celery_nor_minio():
    edges = {"lpz/celery.py", "lpz/store/s3.py", "lpz/engine/cluster.py", "lpz/engine/broker.py"}
    for path in (ROOT / "lpz").rglob("*.py"):
        if str(path.relative_to(ROOT)) in edges:
            continue
        tree = ast.parse(path.read_text())
        names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        names |= {node.module.split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.module}
        assert not names & {"celery", "minio", "kombu"}, path
