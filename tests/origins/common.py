"""The canonical answer every Python origin gives: what its framework parsed, as plain JSON.

`{"fields": [[path, value], ...], "files": [[path, filename, content], ...]}`: `path` is the list of keys
the framework exposes (one key for flat readers, nested keys for JSON), values are text (the framework's
own decoding for fields; file contents and raw bytes decoded as UTF-8 with invalid bytes replaced).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")


def walk_json(path: list[str], value: Any, out: list[list[Any]]) -> None:
    """Every scalar of a decoded JSON document under its path (array indexes as text keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            walk_json([*path, str(key)], item, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            walk_json([*path, str(index)], item, out)
    else:
        out.append([path, value if isinstance(value, str) else json.dumps(value)])


def answer(fields: list[list[Any]], files: list[list[Any]]) -> bytes:
    return json.dumps({"fields": fields, "files": files}).encode()


def error(message: object) -> bytes:
    return json.dumps({"error": str(message)[:500]}).encode()


def announce(port: int) -> None:
    print(f"LISTENING {port}", flush=True)
    sys.stdout.flush()
