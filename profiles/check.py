"""Every problem in a configuration directory at once, for `fle config check` (the proxy stops at one).

Each file, then each public key, profile and config is validated on its own with the loader's own
functions, so the messages (file and JSON path) are the loader's. An object that links to one that
failed is not checked (its link error would only repeat the first). When nothing is found, the
directory is loaded once more by `load_config_dir` itself, so `check` can never pass a directory the
proxy would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .json_node import Node
from .loader import _classify, _config, _profile, _public_key, _Raw, load_config_dir
from .model import ConfigSet, Profile, PublicKey


def _items(value: Any, *keys: str) -> Iterator[dict[str, Any]]:
    """The dict items at value[keys...]["Items"], skipping whatever has another shape."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    items = value.get("Items") if isinstance(value, dict) else None
    yield from (item for item in items or () if isinstance(item, dict))


def _links(raw: _Raw) -> set[Any]:
    """The ids a profile or config object names (PublicKeyId / ProfileId), as written."""
    value = raw.node.value
    if raw.kind == "profile":
        return {e.get("PublicKeyId") for e in _items(value, "EncryptionEntities")}
    return {i.get("ProfileId") for i in _items(value, "ContentTypeProfileConfig", "ContentTypeProfiles")} | {
        i.get("ProfileId") for i in _items(value, "QueryArgProfileConfig", "QueryArgProfiles")
    }


def _read(root: Path, problems: list[ConfigError]) -> dict[str, list[_Raw]]:
    raws: dict[str, list[_Raw]] = {"key": [], "profile": [], "config": []}
    seen: dict[tuple[str, str], str] = {}
    for path in sorted(root.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            problems.append(
                ConfigError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", file=str(path))
            )
            continue
        except (OSError, UnicodeDecodeError) as e:
            problems.append(ConfigError(f"cannot read file: {e}", file=str(path)))
            continue
        try:
            raw = _classify(Node(document, str(path)))
        except ConfigError as e:
            problems.append(e)
            continue
        if (raw.kind, raw.id) in seen:
            problems.append(
                ConfigError(f"Id {raw.id!r} is also defined in {seen[(raw.kind, raw.id)]}", file=str(path))
            )
            continue
        seen[(raw.kind, raw.id)] = str(path)
        raws[raw.kind].append(raw)
    return raws


def check_config_dir(directory: str | Path) -> tuple[ConfigSet | None, list[ConfigError]]:
    """The loaded configuration and no problems, or None and every problem found (at least one)."""
    root = Path(directory)
    if not root.is_dir():
        return None, [
            ConfigError(f"configuration directory {str(root)!r} does not exist or is not a directory")
        ]
    problems: list[ConfigError] = []
    raws = _read(root, problems)
    failed: set[str] = set()
    keys: dict[str, PublicKey] = {}
    for raw in raws["key"]:
        try:
            keys[raw.id] = _public_key(raw)
        except ConfigError as e:
            problems.append(e)
            failed.add(raw.id)
    profiles: dict[str, Profile] = {}
    for raw in raws["profile"]:
        if _links(raw) & failed:
            failed.add(raw.id)
            continue
        try:
            profiles[raw.id] = _profile(raw, keys)
        except ConfigError as e:
            problems.append(e)
            failed.add(raw.id)
    for raw in raws["config"]:
        if _links(raw) & failed:
            continue
        try:
            _config(raw, profiles)
        except ConfigError as e:
            problems.append(e)
    if problems:
        return None, problems
    try:
        return load_config_dir(root), []
    except ConfigError as e:  # e.g. no config at all: the loader's own verdict is the last word
        return None, [e]
