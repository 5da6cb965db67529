"""The package's import graph is acyclic and one-way: a module imports only from its own
layer or the layers below (the layers of /work/shared/DESIGN.md's data flow, bottom first);
the edges (test kit, actions, framework adapters, service, CLI) sit on top. Imports inside
functions and ``TYPE_CHECKING`` blocks count too. A new module must be given its layer here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "sns_subscriber"

#: Bottom first. A module's layer is found by its longest listed prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exceptions", "types", "redaction", "_files"),  # vocabulary and leaf helpers
    ("inbound", "messages", "outcome"),  # values
    ("parsing", "signing", "certs", "fetch"),  # protocol
    ("cache", "verification"),  # state
    ("confirmation", "stores", "producers"),  # effects
    ("routing", "dispatch", "delivery", "pacing", "triage"),  # routing
    ("subscriber", "worker", "retention", "alerts"),  # pipeline and its housekeeping
    # The edges, in the order they may use each other:
    ("testing", "actions", "aws"),
    ("integrations",),
    ("service",),
    ("cli",),
    ("__main__",),
)
#: The package root only re-exports the library: it may name any layer (it is a facade).
FACADE = "sns_subscriber"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> Iterator[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            # A module's own packages are always imported before it ("from . import views"
            # names the package only to reach a sibling), so they are no edge.
            if target in modules and target != name and not name.startswith(target + "."):
                yield target


def graph() -> dict[str, set[str]]:
    paths = list(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): set(imports_of(p, modules)) for p in paths}


def layer(module: str) -> int:
    relative = module.removeprefix(FACADE + ".")
    for rank, names in enumerate(LAYERS):
        for name in names:
            if relative == name or relative.startswith(name + "."):
                return rank
    raise AssertionError(f"{module} has no layer: add it to LAYERS in {Path(__file__).name}")


def test_every_module_has_a_layer_and_imports_only_downwards() -> None:
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in sorted(graph().items())
        if module != FACADE
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert upward == []


def test_import_graph_is_acyclic() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert len(state) == len(edges) > 40


def test_nothing_outside_the_tests_imports_them() -> None:
    """bench/, examples/ and the package stand on their own: `tests` is not installed."""
    offenders = []
    for folder in ("src", "bench", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and not node.level
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "tests"]
    assert offenders == []
