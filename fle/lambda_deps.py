"""What the Lambda package must hold: our packages and the locked distributions the handler's imports need.

Both are derived, not listed by hand, so the package follows the code: the first-party packages are those
the handler's package imports (transitively, read from the import statements as
tests/security/test_boundaries.py reads them), the third-party roots are the distributions providing the
other non-stdlib imports, and the rest is the closure of those roots over the lock's `# via` lines. Every
pin is taken from the lock with its hashes, so what goes into the zip is exactly what the tests ran against.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ENTRY_PACKAGE = "decryptor"
HANDLER = "decryptor.handler.lambda_handler"
PKCS11_DISTRIBUTION = "python-pkcs11"


class PackageError(Exception):
    """The package cannot be built as asked; the message says why."""


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def package_dir(name: str) -> Path | None:
    """Where an importable package's sources are, or None when `name` is not a package we can read."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _imports(directory: Path) -> set[str]:
    """Top-level names of every absolute import in a package's modules."""
    found: set[str] = set()
    for path in sorted(directory.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


@dataclass(frozen=True)
class ImportClosure:
    """Our packages the entry package reaches, and the third-party top-level names they import."""

    packages: dict[str, Path] = field(default_factory=dict)
    third_party: frozenset[str] = frozenset()


def import_closure(entry: str = ENTRY_PACKAGE) -> ImportClosure:
    """Walk imports from `entry`; a name is ours when it is a package beside `entry` in the same tree."""
    root_dir = package_dir(entry)
    if root_dir is None:
        raise PackageError(f"cannot find the package {entry!r}")
    tree = root_dir.parent
    ours: dict[str, Path] = {}
    others: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        directory = tree / name
        ours[name] = directory
        for imported in _imports(directory) - {name}:
            if (tree / imported / "__init__.py").is_file():
                if imported not in ours and imported not in todo:
                    todo.append(imported)
            elif imported not in sys.stdlib_module_names:
                others.add(imported)
    return ImportClosure(dict(sorted(ours.items())), frozenset(others))


def distributions_of(names: Iterable[str]) -> set[str]:
    """The installed distributions that provide these top-level import names."""
    providers = importlib.metadata.packages_distributions()
    found: set[str] = set()
    for name in names:
        if name not in providers:
            raise PackageError(f"the decryptor imports {name!r}, which no installed distribution provides")
        found |= {canonical(d) for d in providers[name]}
    return found


@dataclass(frozen=True)
class Pin:
    """One locked requirement: its text (with hashes) and who requires it."""

    name: str
    text: str
    required_by: frozenset[str]


_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+")


def read_lock(path: Path) -> dict[str, Pin]:
    """Parse a pip-compile lock (`name==version \\`, `--hash` lines, `# via` comments)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PackageError(f"cannot read the lock {str(path)!r}: {e.strerror}") from e
    pins: dict[str, Pin] = {}
    name: str | None = None
    text: list[str] = []
    via: set[str] = set()

    def close() -> None:
        if name is not None:
            pins[name] = Pin(name, "\n".join(text).rstrip(" \\") + "\n", frozenset(via))

    for line in lines:
        if match := _REQUIREMENT.match(line):
            close()
            name, text, via = canonical(match.group(1)), [line], set()
        elif name is not None and line.strip().startswith("--hash="):
            text.append(line)
        elif name is not None and (comment := line.strip()).startswith(("# via", "#   ")):
            words = comment.removeprefix("# via").lstrip("# ")
            if words and not words.startswith(("-r ", "fle-edge")):
                via.add(canonical(words.split()[0]))
    close()
    if not pins:
        raise PackageError(f"{path} holds no pinned requirements")
    return pins


def lock_closure(pins: dict[str, Pin], roots: set[str]) -> list[Pin]:
    """The roots and everything the lock says they require, directly or not; sorted by name."""
    missing = roots - set(pins)
    if missing:
        raise PackageError(f"not in the lock: {', '.join(sorted(missing))}")
    chosen = set(roots)
    grew = True
    while grew:
        grew = False
        for pin in pins.values():
            if pin.name not in chosen and pin.required_by & chosen:
                chosen.add(pin.name)
                grew = True
    return [pins[name] for name in sorted(chosen)]
