"""The origin client's modules, read as source (ast): no import cycle between them, the protocol core free
of I/O, nothing else of edge_proxy imported, and each module at most 300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "edge_proxy" / "origin_client"
PURE = {"state", "events", "protocol", "errors"}  # the sans-IO core: bytes and events, no I/O
IO = {"asyncio", "socket", "ssl", "selectors", "aiohttp"}


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(sibling modules, other top-level packages) that `path` imports, TYPE_CHECKING ones included."""
    siblings: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1:
                if module:
                    siblings.add(module.split(".")[0])
                else:
                    siblings.update(alias.name for alias in node.names)
            elif module.startswith("edge_proxy.origin_client."):
                siblings.add(module.split(".")[2])
            elif node.level == 0:
                others.add(module)
            else:
                others.add("edge_proxy")  # a relative import out of the package
        elif isinstance(node, ast.Import):
            others.update(alias.name for alias in node.names)
    return siblings, others


def _graph() -> dict[str, set[str]]:
    return {path.stem: _imports(path)[0] for path in PACKAGE.glob("*.py")}


def _cycle(graph: dict[str, set[str]]) -> tuple[str, ...] | None:
    """The first import cycle found in `graph` (module -> modules it imports), or None."""
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if module in path:
            return (*path[path.index(module) :], module)
        if module in done:
            return None
        for imported in sorted(graph.get(module, set())):
            found = visit(imported, (*path, module))
            if found is not None:
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module, ())
        if found is not None:
            return found
    return None


def test_no_import_cycle_between_the_client_modules() -> None:
    graph = _graph()
    assert {"state", "protocol", "connection", "response", "pool"} <= set(graph)
    assert "protocol" in graph["connection"] and "state" in graph["protocol"]  # the imports are seen
    assert _cycle(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    # what upstream_conn.py and upstream_response.py did before the split: each imported the other
    graph = {"pool": {"connection"}, "connection": {"response"}, "response": {"connection"}}
    assert _cycle(graph) == ("connection", "response", "connection")


def test_the_protocol_core_does_no_io_and_nothing_imports_the_rest_of_edge_proxy() -> None:
    for path in PACKAGE.glob("*.py"):
        siblings, others = _imports(path)
        top = {name.split(".")[0] for name in others}
        assert "edge_proxy" not in top, path.name
        if path.stem in PURE:
            assert not top & IO, f"{path.name} imports {top & IO}"
            assert siblings <= PURE, f"{path.name} imports the driver: {siblings - PURE}"


def test_every_module_is_at_most_300_lines() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 300, path.name
