"""docs/img/architecture.svg cannot go stale silently: its source (architecture.dot) must name exactly the
packages pyproject installs and exactly the imports tests/security/test_boundaries.py allows, and the
committed SVG must have been rendered from that source (same nodes, same edges). Needs no Graphviz: it reads
text."""

from __future__ import annotations

import html
import itertools
import re
import tomllib
from pathlib import Path

from tests.security.test_boundaries import ALLOWED

ROOT = Path(__file__).parents[2]
DOT = ROOT / "docs" / "img" / "architecture.dot"
SVG = ROOT / "docs" / "img" / "architecture.svg"
_NODE = re.compile(r"^\s*(\w+)\s*\[([^\]]*)\];", re.MULTILINE)
_EDGE = re.compile(r"^\s*(\w+)\s*->\s*(\w+)\s*\[([^\]]*)\];", re.MULTILINE)
_CLASS = re.compile(r'\bclass="([^"]*)"')


def _class(attributes: str) -> str:
    found = _CLASS.search(attributes)
    return found.group(1) if found else ""


def dot_nodes(kind: str) -> set[str]:
    return {name for name, attrs in _NODE.findall(DOT.read_text()) if _class(attrs) == kind}


def dot_edges(kind: str | None = None) -> set[tuple[str, str]]:
    return {(a, b) for a, b, attrs in _EDGE.findall(DOT.read_text()) if kind is None or _class(attrs) == kind}


def listed_packages() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(pyproject["tool"]["setuptools"]["packages"])


def installed_packages() -> set[str]:
    """The top-level packages (the picture's nodes; subpackages are rooms inside one)."""
    return {name for name in listed_packages() if "." not in name}


def test_every_subpackage_is_installed() -> None:
    """setuptools installs only the packages listed: a subpackage left out would be missing from a wheel."""
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in installed_packages()
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk == listed_packages()


def test_the_picture_has_every_installed_package_and_no_other() -> None:
    assert dot_nodes("package") == installed_packages(), "update docs/img/architecture.dot, then render it"


def test_the_picture_draws_exactly_the_allowed_imports() -> None:
    allowed = {(package, dep) for package, deps in ALLOWED.items() for dep in deps}
    assert dot_edges("import") == allowed, "update docs/img/architecture.dot's import edges, then render it"


def test_the_protected_value_runs_from_the_browser_to_the_keystore() -> None:
    path = ["browser", "edge_proxy", "origin", "store", "decryptor", "keystore"]
    flow = dot_edges("flow")
    assert set(itertools.pairwise(path)) <= flow
    assert {b for a, b in flow if a == "origin"} == {"store"}  # the origin hands the value to the store only


def test_the_committed_svg_is_rendered_from_the_source() -> None:
    titles = {html.unescape(t) for t in re.findall(r"<title>([^<]*)</title>", SVG.read_text())}
    nodes = {name for name, _ in _NODE.findall(DOT.read_text()) if name not in ("graph", "node", "edge")}
    edges = {f"{a}->{b}" for a, b in dot_edges()}
    assert titles - {"architecture"} == nodes | edges, (
        "re-render: dot -Tsvg docs/img/architecture.dot -o docs/img/architecture.svg"
    )
