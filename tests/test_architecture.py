"""The layout is the architecture: the arrows between the three packages point one way
(middleware → experiments → rules, middleware → rules), and no package imports itself in a
circle — counting imports inside functions and under ``TYPE_CHECKING`` too.

Read from the source with ``ast``, so what is checked is what a reader sees. The one
deliberate exception is by name, not by import: ``daypart.rules.errors`` resolves the
error names that moved out of it (``ExperimentError``, ``StoreError``...) through
``importlib`` when an old import path is used, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "middleware": "daypart.middleware",
    "experiments": "daypart.experiments",
    "rules": "daypart.rules",
}
ALLOWED = {
    ("middleware", "experiments"),
    ("middleware", "rules"),
    ("experiments", "rules"),
}


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    parts[0] = PACKAGES[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(path: Path, name: str) -> set[str]:
    """Every daypart module ``path`` imports, resolved against the known modules."""
    known = modules()
    is_package = path.name == "__init__.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target.startswith("daypart."):
                imported.add(target)
    imported.discard(name)
    return imported


def package_of(module: str) -> str:
    return module.split(".")[1]


GRAPH = {name: imports_of(path, name) for name, path in modules().items()}


def test_the_modules_are_found() -> None:
    assert "daypart.middleware.asgi" in GRAPH
    assert "daypart.experiments.policy" in GRAPH
    assert "daypart.rules.loader" in GRAPH
    assert "daypart.experiments.policy" in GRAPH["daypart.middleware.decide"]


def test_arrows_between_packages_point_one_way() -> None:
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if package_of(source) != package_of(target)
        and (package_of(source), package_of(target)) not in ALLOWED
    )
    assert wrong == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle_inside_a_package(package: str) -> None:
    inside = {
        source: {t for t in targets if package_of(t) == package}
        for source, targets in GRAPH.items()
        if package_of(source) == package
    }
    assert find_cycle(inside) is None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
