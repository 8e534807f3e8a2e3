"""Our code uses aiohttp through its public API only, so the lower bound in pyproject.toml means something
and an upgrade cannot break us through an attribute aiohttp never promised (`site._server` and
`runner._reg_site` were used until issue 15). Read from the source: the private names aiohttp's server and
client classes define (methods and attributes with one leading underscore, taken from the installed
aiohttp's own source) are never reached on an object other than our own `self`, and nothing private is
imported from aiohttp."""

from __future__ import annotations

import ast
import importlib
import inspect
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parents[2]
AIOHTTP_MODULES = (
    "web_runner",
    "web_server",
    "web_protocol",
    "web_app",
    "web_request",
    "client",
    "connector",
)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@cache
def aiohttp_private_names() -> frozenset[str]:
    """Every `_name` the listed aiohttp modules' classes define or assign on self."""
    names: set[str] = set()
    for module in AIOHTTP_MODULES:
        tree = ast.parse(inspect.getsource(importlib.import_module(f"aiohttp.{module}")))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in ast.walk(node):
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _private(item.name):
                        names.add(item.name)
                    elif (
                        isinstance(item, ast.Attribute)
                        and _private(item.attr)
                        and isinstance(item.value, ast.Name)
                        and item.value.id == "self"
                    ):
                        names.add(item.attr)
    return frozenset(names)


def product_files() -> list[Path]:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    return [path for package in packages for path in sorted((ROOT / package).rglob("*.py"))]


def _subclasses_aiohttp(node: ast.ClassDef) -> bool:
    return any("web." in ast.unparse(base) or "aiohttp" in ast.unparse(base) for base in node.bases)


def private_reaches(path: Path) -> list[str]:
    """`file:line .name` for each private aiohttp name reached on aiohttp's objects (also on `self` in a
    subclass of an aiohttp class, whose private attributes are aiohttp's), and each private import."""
    source = path.read_text()
    if "aiohttp" not in source:
        return []
    tree = ast.parse(source, str(path))
    inherited = {
        id(item)
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef) and _subclasses_aiohttp(cls)
        for item in ast.walk(cls)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in aiohttp_private_names():
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if not on_self or id(node) in inherited:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiohttp"):
            found += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if _private(a.name)]
    return found


def test_no_private_aiohttp_attribute_is_used() -> None:
    assert [reach for path in product_files() for reach in private_reaches(path)] == []


def test_the_check_knows_aiohttp_private_names_and_sees_them_reached(tmp_path: Path) -> None:
    assert {"_server", "_reg_site", "_runner"} <= aiohttp_private_names()
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from aiohttp import web\n"
        "def f(site: web.TCPSite):\n    site._runner._reg_site(site)\n    return site._server, self._server\n"
        "class Site(web.TCPSite):\n    def start(self):\n        return self._server\n"
    )
    expected = ["sample.py:3 ._reg_site", "sample.py:3 ._runner", "sample.py:4 ._server"]
    expected.append("sample.py:7 ._server")  # self, in a subclass of an aiohttp class
    assert sorted(private_reaches(sample)) == expected
