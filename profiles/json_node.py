"""A JSON value that knows the file and JSON path it came from, so every configuration error can say where."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import ConfigError


class Node:
    """A JSON value with the file and JSON path it came from, so every error can say where."""

    def __init__(self, value: Any, file: str, path: str = "$") -> None:
        self.value = value
        self.file = file
        self.path = path

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, path=self.path)

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.error(f"expected a JSON object, found {_kind(self.value)}")
        return self.value

    def has(self, key: str) -> bool:
        return key in self.obj()

    def get(self, key: str) -> Node:
        obj = self.obj()
        if key not in obj:
            raise ConfigError(f"missing required key {key!r}", file=self.file, path=self.path)
        return Node(obj[key], self.file, f"{self.path}.{key}")

    def opt(self, key: str) -> Node | None:
        return self.get(key) if self.has(key) else None

    def str(self, *, max_length: int | None = None, allow_empty: bool = False) -> str:
        if not isinstance(self.value, str):
            raise self.error(f"expected a string, found {_kind(self.value)}")
        if not allow_empty and not self.value:
            raise self.error("must not be empty")
        if max_length is not None and len(self.value) > max_length:
            raise self.error(f"must be at most {max_length} characters")
        return self.value

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, found {_kind(self.value)}")
        return self.value

    def items(self) -> Iterator[Node]:
        """The `Items` of a CloudFront `{"Quantity": n, "Items": [...]}` list, checked against Quantity."""
        obj = self.obj()
        items_node = self.opt("Items")
        items = [] if items_node is None or items_node.value is None else items_node.value
        if not isinstance(items, list):
            raise Node(items, self.file, f"{self.path}.Items").error(
                f"expected a JSON array, found {_kind(items)}"
            )
        if "Quantity" in obj:
            quantity = obj["Quantity"]
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity != len(items):
                raise Node(quantity, self.file, f"{self.path}.Quantity").error(
                    f"Quantity is {quantity!r} but Items holds {len(items)}"
                )
        for index, item in enumerate(items):
            yield Node(item, self.file, f"{self.path}.Items[{index}]")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
