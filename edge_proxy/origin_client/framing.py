"""The framing of an HTTP/1.1 exchange with the origin, as pure functions: bytes and headers in, bytes out.

What a request carries: the method, the request-target it is given, `Host` for the origin, the caller's
headers verbatim (but `Authorization`, set from the origin URL's `user:password@` when it has one, as
aiohttp's client did), and the framing: `Content-Length` for a bytes body (the body's length), the
caller's `Content-Length` for a streamed body that has one, else `Transfer-Encoding: chunked`;
`Content-Length: 0` for a body-less request whose method expects a body (POST, PUT, PATCH, DELETE), as
aiohttp did. Nothing else: no User-Agent, Accept, Accept-Encoding, Content-Type, Connection. A header
value with CR or LF is refused (ValueError), as aiohttp's writer refuses it; a byte that is not UTF-8
(read by aiohttp as a lone surrogate) is sent as the byte it was.
"""

from __future__ import annotations

from multidict import CIMultiDict

_NO_BODY_EXPECTED = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
LAST_CHUNK = b"0\r\n\r\n"


def head_for(
    method: str,
    target: str,
    host: str,
    headers: CIMultiDict[str],
    body_length: int | None,
    streamed: bool,
    authorization: str | None,
) -> bytes:
    """The request head for a body of `body_length` bytes, or a streamed body, or none (both unset).

    `headers` are changed: the framing headers are ours. ValueError when a header holds a CR or LF."""
    if body_length is not None:
        headers.popall("Transfer-Encoding", None)
        headers["Content-Length"] = str(body_length)
    elif streamed:
        headers.popall("Transfer-Encoding", None)
        if "Content-Length" not in headers:
            headers["Transfer-Encoding"] = "chunked"
    elif method not in _NO_BODY_EXPECTED and "Content-Length" not in headers:
        headers["Content-Length"] = "0"
    if authorization is not None:
        headers["Authorization"] = authorization
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
        raise ValueError("a header for the origin holds a CR or LF")
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{fields}\r\n"
    # aiohttp read each header byte that is not UTF-8 as a lone surrogate (surrogateescape): it goes out
    # as the byte the client sent (a Latin-1 cookie), as any HTTP/1.1 proxy passes opaque field bytes
    return head.encode("utf-8", "surrogateescape")


def chunk(data: bytes) -> bytes:
    """One piece of a chunked request body (never empty: an empty chunk would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def body_framing(headers: CIMultiDict[str], no_body: bool) -> tuple[int | None, bool]:
    """(Content-Length, close-delimited) of a response, from its head as llhttp has checked it.

    Content-Length counts only without Transfer-Encoding; a body with neither a length nor chunked as
    its last coding ends when the origin closes the connection, unless the response has none at all
    (a response to HEAD, 204, 304)."""
    length: int | None = None
    te = headers.get("Transfer-Encoding")
    if te is None:
        value = headers.get("Content-Length")
        if value is not None:
            length = int(value)  # llhttp has checked it is one decimal number
    if no_body:
        return length, False
    chunked = te is not None and te.rsplit(",", 1)[-1].strip().lower() == "chunked"
    return length, length is None and not chunked
