"""The security boundary is drawn as imports: check it by reading every module's import statements."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
OURS = {
    "profiles",
    "fields",
    "edge_proxy",
    "keystore",
    "store",
    "origin",
    "decryptor",
    "fle",
    "awsenv",
    "esdk_format",
    "loadgen",
    "reveal",
    "logsafe",
    "blindindex",
}
# packages that hold or reach private keys: nothing the edge, the origin or esdk_format imports may be one
HOLDS_KEYS = {"keystore", "decryptor", "fle", "reveal"}
ALLOWED = {
    # Suite; the field-pattern grammars the fields layer owns; blindindex.normalizers (only: see below)
    "profiles": {"esdk_format", "fields", "blindindex"},
    "fields": set(),  # stdlib only: its selections are generic over an opaque tag (issue 22)
    "esdk_format": set(),  # the message format, pure: no keys, nothing of ours
    # blindindex: index keys are not decryption keys, the edge computes beacons with them (design.md)
    "edge_proxy": {"fields", "profiles", "esdk_format", "logsafe", "blindindex"},
    "keystore": {"awsenv"},  # awsenv: the AWS region the standard way, shared, imports nothing of ours
    "store": {"awsenv"},
    "awsenv": set(),
    "origin": {"store", "esdk_format", "logsafe"},
    # blindindex: match's normalizers and reindex's beacons; profiles: the config's Fle:Indexes
    "decryptor": {"store", "keystore", "esdk_format", "logsafe", "blindindex", "profiles"},
    "loadgen": set(),  # the load generator behind `fle bench`: measures any URL, knows nothing of ours
    # the outbound proxy: decrypts with keystore keys; edge_proxy for its keyless body codecs and serving
    "reveal": {"keystore", "decryptor", "esdk_format", "fields", "profiles", "edge_proxy", "logsafe"},
    # the one logging setup (scrub, escape) of every entry point: shared by all, so it reaches nothing of ours
    "logsafe": set(),
    # blind indexes: the beacon, normalizers, index keys (file, pkcs11); reaches nothing of ours, so no
    # private key can come to the edge through it
    "blindindex": set(),
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
    assert imported_packages("decryptor") == {"store", "keystore", "esdk_format", "blindindex", "profiles"}
    assert imported_packages("edge_proxy") == {"fields", "profiles", "esdk_format", "blindindex"}
    assert imported_packages("origin") == {"store", "esdk_format"}


_IO_OR_KEYS = {
    "aiohttp",
    "asyncio",
    "socket",
    "ssl",
    "os",
    "io",
    "pathlib",
    "subprocess",
    "threading",
    "cryptography",
}


def test_the_fields_layer_is_pure() -> None:
    """fields reads bytes and configuration only: the standard library's pure modules, no I/O, no keys."""
    found: set[str] = set()
    for path in (ROOT / "fields").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    assert found <= set(sys.stdlib_module_names), found - set(sys.stdlib_module_names)
    assert not found & _IO_OR_KEYS


def test_the_message_format_reaches_no_keys() -> None:
    """esdk_format is shared across the boundary, so it and everything it imports must hold no keys."""
    reached: set[str] = set()
    todo = ["esdk_format"]
    while todo:
        package = todo.pop()
        reached.add(package)
        todo += [p for p in imported_packages(package) if p not in reached]
    assert reached == {"esdk_format"} and not reached & HOLDS_KEYS
    for package in ("edge_proxy", "origin"):  # the edge and the origin reach no key through it either
        assert not imported_packages(package) & HOLDS_KEYS


def test_the_message_format_is_stdlib_and_cryptography_only() -> None:
    third_party: set[str] = set()
    for path in (ROOT / "esdk_format").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                third_party |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                third_party.add(node.module.split(".")[0])
    assert third_party - sys.stdlib_module_names == {"cryptography"}


def test_the_shared_logging_setup_is_stdlib_only() -> None:
    """logsafe is imported on both sides of the boundary: it must hold nothing but the logging rules. It
    names aiohttp's HttpProcessingError's status by looking the module up (sys.modules), never importing it:
    every `fle` command sets up logging, and aiohttp would cost each ~150 ms."""
    third_party: set[str] = set()
    for path in (ROOT / "logsafe").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                third_party |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                third_party.add(node.module.split(".")[0])
    assert third_party - sys.stdlib_module_names == set()


def imported_modules(package: str) -> set[str]:
    """The dotted module names `package` imports from other packages of ours."""
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return {m for m in found if m.split(".")[0] in OURS - {package}}


def test_profiles_reach_only_the_pure_normalizers_of_blindindex() -> None:
    """profiles checks normalizer names; it must not import the index-key code (blindindex.keys & co.)."""
    assert {m for m in imported_modules("profiles") if m.startswith("blindindex")} <= {
        "blindindex.normalizers"
    }


def test_blindindex_reaches_no_private_key() -> None:
    """The edge may import blindindex (index keys); nothing blindindex reaches may hold a private key."""
    reached: set[str] = set()
    todo = ["blindindex"]
    while todo:
        package = todo.pop()
        reached.add(package)
        todo += [p for p in imported_packages(package) if p not in reached]
    assert reached == {"blindindex"} and not reached & HOLDS_KEYS
