"""The facts of one request's head, read once (`RequestFacts`): every later stage reads them, none re-reads
a header.

Built from plain values (the shell, edge_proxy or reveal, takes them from its aiohttp request): the
method, the target, every Content-Type and Content-Encoding value as sent, the declared length. What is
parsed is parsed here, once, by the strict grammar (`header_params.parse_request_content_type`, cached):
the media type and its parameters, the charset, the content codings.

Reading is lazy where refusing is: a Content-Type the strict grammar refuses is kept as `media_error`,
never raised here, so a request whose body is never read (a GET passed through) is not refused for a
header no stage needs; the stage that needs the media type (profile selection) refuses it, in the order
it always did. The raw values stay beside the parsed ones for the stages whose reading is theirs (the
codecs' strict checks take the header as sent; reveal refuses any Content-Encoding but `identity`
exactly as the first value reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from .header_params import HeaderParamError, HeaderValue, parse_request_content_type


class Headers(Protocol):
    """A request's headers as a multidict gives them (aiohttp's CIMultiDictProxy): every value of a name."""

    def getall(self, key: str, default: tuple[()], /) -> Sequence[str] | tuple[()]: ...


class RequestFacts(NamedTuple):
    """One request's head as the edge and reveal read it; immutable, built by `from_head` (or `of`).

    A NamedTuple rather than a frozen dataclass, built in one call with no other call of ours: it is built
    for every request, and the pass-through path counts microseconds (benchmarks.cost_per_request).
    """

    method: str
    target: str  # the request target as sent (path and query, undecoded)
    body: bool  # the request has a body (a declared length above 0, or chunked)
    content_type: str | None  # the first Content-Type value as sent; None when there is none
    content_types: int  # how many Content-Type headers came (more than one is refused where it matters)
    media: HeaderValue | None  # content_type strictly parsed; None when absent or refused
    media_error: str | None  # why the strict grammar refused content_type (never quotes it)
    media_type: str | None  # media's lower-case type: "" when there is no Content-Type, None when refused
    blank_content_type: bool  # no Content-Type, or one of nothing but spaces and tabs
    encodings: tuple[str, ...]  # the Content-Encoding values as sent
    codings: tuple[str, ...]  # the codings they name: comma-separated, stripped, lower case, none empty
    content_length: int | None  # the declared Content-Length; None when chunked or absent

    @classmethod
    def from_head(
        cls, method: str, target: str, headers: Headers, *, body: bool, content_length: int | None
    ) -> RequestFacts:
        """The facts of a head whose headers are a multidict (the edge's and reveal's aiohttp request)."""
        content_types = headers.getall("Content-Type", ())
        content_encodings = headers.getall("Content-Encoding", ())
        if content_types:
            content_type: str | None = content_types[0]
            try:  # _parsed, written out: no call of ours but this one per request
                media, error = parse_request_content_type(content_types[0]), None
                media_type: str | None = media.kind
            except HeaderParamError as e:
                media, error, media_type = None, str(e), None
            blank = not content_types[0].strip(" \t")
        else:
            content_type, media, error, media_type, blank = None, None, None, "", True
        if content_encodings:
            encodings = tuple(content_encodings)
            codings = tuple(t.strip().lower() for v in encodings for t in v.split(",") if t.strip())
        else:
            encodings = codings = ()
        facts = (method, target, body, content_type, len(content_types), media, error, media_type, blank)
        return _new_tuple(cls, (*facts, encodings, codings, content_length))

    @classmethod
    def of(
        cls,
        method: str,
        target: str,
        *,
        body: bool,
        content_types: Sequence[str] = (),
        content_encodings: Sequence[str] = (),
        content_length: int | None = None,
    ) -> RequestFacts:
        """The facts of a head: `content_types` and `content_encodings` are every value of the header."""
        values = {"content-type": content_types, "content-encoding": content_encodings}
        return cls.from_head(method, target, _Listed(values), body=body, content_length=content_length)

    @property
    def charset(self) -> str | None:
        """The `charset` parameter as sent, or None (absent, or no well-formed Content-Type)."""
        return None if self.media is None else self.media.param("charset")

    @property
    def identity(self) -> bool:
        """The body is sent without a content coding (no Content-Encoding, or only `identity`)."""
        return all(c == "identity" for c in self.codings)

    def read_as(self, content_type: str) -> RequestFacts:
        """These facts with the body read as `content_type` (a POST without one is read as a form)."""
        media, error, media_type = _parsed(content_type)
        blank = not content_type.strip(" \t")
        return self._replace(
            content_type=content_type,
            media=media,
            media_error=error,
            media_type=media_type,
            blank_content_type=blank,
        )


_new_tuple = tuple.__new__  # the record without the Python-level __new__ a NamedTuple generates


def _parsed(content_type: str) -> tuple[HeaderValue | None, str | None, str | None]:
    """(media, media_error, media_type) of a Content-Type value (the parse is cached: C code on a hit)."""
    try:
        media = parse_request_content_type(content_type)
    except HeaderParamError as e:
        return None, str(e), None
    return media, None, media.kind


class _Listed:
    """Header values given as lists (`RequestFacts.of`), read as a multidict is."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Sequence[str]]) -> None:
        self.values = values

    def getall(self, key: str, default: tuple[()], /) -> Sequence[str] | tuple[()]:
        return self.values.get(key.lower()) or default
