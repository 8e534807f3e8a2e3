"""The one interface of the fields layer: a selection compiled once, and a transform applied in one pass.

A `Selection` is compiled from configuration alone: field-name patterns (form and multipart bodies) and
JSON pointer patterns (JSON bodies), each mapped to an opaque tag. The edge's tag is the EncryptionEntity
whose key encrypts the value; reveal's is the field it names. Compiling reads every name pattern as each
origin family would (`names.NameIndex`) and case-folds the pointers (and their key readings), so a request
only looks its fields up.

A `Transform` is called once per selected value with the value's decoded bytes and its tag, and returns
the bytes to write back (or raises a refusal). It may return `Rewritten` to add sibling fields right
after the value (the blind index's `<field>__bidx`): a form pair, a JSON member of the same object, a
multipart part. The codecs (`forms.rewrite`, `json_body.rewrite`, `multipart.rewrite` and
`multipart.MultipartRewriter`) apply it, keeping every other byte of the body.

A codec takes the Selection itself, or any object carrying one as its `selection` attribute (a
`profiles.Profile` compiles its own once, on first use).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .json_keys import pattern_readings
from .json_pointer import JsonPointerPattern
from .names import NameIndex, compile_names, tag_for
from .patterns import FieldPattern

Tag = TypeVar("Tag")


@dataclass(frozen=True, slots=True)
class Rewritten:
    """A transform's result with sibling fields to add right after the value: `(name, value)` pairs.

    A value (the field's or a sibling's) is written as the field's own value is in that format: form
    values percent-encoded, JSON values as the inside of a string (the transform escapes them), multipart
    values as a part's content. Sibling names are written as given (percent-encoded in a form, escaped in
    JSON, quoted in a multipart `Content-Disposition`).
    """

    value: bytes
    siblings: tuple[tuple[str, bytes], ...] = ()


Transform = Callable[[bytes, Tag], "bytes | Rewritten"]
"""Called with one selected value's decoded bytes and its tag: the bytes to write back, or `Rewritten`."""

Pointers = tuple[tuple[JsonPointerPattern, Tag], ...]


def _folded(pattern: JsonPointerPattern) -> JsonPointerPattern:
    """The pattern with its keys case-folded: Go's encoding/json (and others, by option) ignore case."""
    return JsonPointerPattern(pattern.text, tuple(s if s is None else s.casefold() for s in pattern.segments))


@dataclass(frozen=True, slots=True)
class Selection(Generic[Tag]):
    """Field-name patterns and JSON pointers, each with its tag, as the codecs read them."""

    names: NameIndex[Tag]
    pointers: tuple[tuple[JsonPointerPattern, Tag], ...]

    @classmethod
    def compile(
        cls,
        names: Iterable[tuple[FieldPattern, Tag]] = (),
        pointers: Iterable[tuple[JsonPointerPattern, Tag]] = (),
    ) -> Selection[Tag]:
        """Compile once, from configuration. A name's exact (CloudFront) match is tried in the order given.

        Tags are told apart by identity: a name read as the fields of two different tag objects is refused.
        """
        folded = [(_folded(p), tag) for p, tag in pointers]
        # `/card.number` is also read as `/card/number` by accessors that split paths (json_keys.py)
        readings = tuple((r, tag) for p, tag in folded for r in pattern_readings(p))
        return cls(compile_names(tuple(names)), tuple(folded) + readings)

    def tag_for(self, name: str) -> Tag | None:
        """The tag of a form or multipart field sent as `name` (`names.tag_for`), or None."""
        return tag_for(self.names, name)


class Selects(Protocol[Tag]):
    """An object that carries its compiled selection (a profiles.Profile)."""

    @property
    def selection(self) -> Selection[Tag]: ...


def selection_of(source: Selection[Tag] | Selects[Tag]) -> Selection[Tag]:
    """`source` when it is a Selection, else the selection it carries."""
    return source if isinstance(source, Selection) else source.selection
