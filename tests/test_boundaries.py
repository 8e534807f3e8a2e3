"""The security boundary is drawn as imports: check it by reading every module's import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
OURS = {"profiles", "edge_proxy", "keystore", "store", "origin", "decryptor", "fle", "awsenv", "loadgen"}
ALLOWED = {
    "profiles": set(),
    "edge_proxy": {"profiles"},
    "keystore": {"awsenv"},  # awsenv: the AWS region the standard way, shared, imports nothing of ours
    "store": {"awsenv"},
    "awsenv": set(),
    "origin": {"store"},
    "decryptor": {"store", "keystore"},
    "loadgen": set(),  # the load generator behind `fle bench`: measures any URL, knows nothing of ours
}


def imported_packages(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return (found & OURS) - {package}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_it_may(package: str) -> None:
    assert imported_packages(package) <= ALLOWED[package]


def test_the_checker_sees_imports() -> None:
    assert imported_packages("decryptor") == {"store", "keystore"}
    assert "profiles" in imported_packages("edge_proxy")
