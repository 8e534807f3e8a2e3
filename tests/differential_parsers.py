"""Several origin frameworks' body parsers, to read what the proxy forwarded the way each of them would.

Each `read_*` returns every (name, value) pair one parser finds, values as text (bytes decoded as UTF-8 and
Latin-1 both), so a test can fail when any parser finds a protected plaintext anywhere in the body.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import json
import zlib
from collections.abc import Callable
from urllib.parse import parse_qsl

from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from werkzeug.formparser import parse_form_data

Pairs = list[tuple[str, str]]


def _texts(value: bytes | str) -> list[str]:
    if isinstance(value, str):
        return [value]
    out = [value.decode("utf-8", errors="replace"), value.decode("latin-1")]
    if len(value) % 2 == 0:
        out += [value.decode("utf-16-le", errors="replace"), value.decode("utf-16-be", errors="replace")]
    return out


def _pairs(name: str, value: bytes | str) -> Pairs:
    return [(name, text) for text in _texts(value)]


def decoded(body: bytes, content_encoding: str) -> bytes:
    """The body as a framework that undoes Content-Encoding reads it."""
    coding = content_encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompress(body)
    return body


def read_urllib(body: bytes, content_type: str) -> Pairs:
    out: Pairs = []
    for encoding in ("utf-8", "latin-1"):
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding=encoding):
            out += _pairs(name, value)
    return out


def read_werkzeug(body: bytes, content_type: str) -> Pairs:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _, form, files = parse_form_data(environ, silent=False)
    out: Pairs = []
    for name, value in form.items(multi=True):
        out += _pairs(name, value)
    for name, file in files.items(multi=True):
        out += _pairs(name, file.stream.read())
    return out


def read_python_multipart(body: bytes, content_type: str) -> Pairs:
    """python-multipart, the parser under Starlette and FastAPI."""
    import python_multipart

    out: Pairs = []

    def on_field(field) -> None:  # type: ignore[no-untyped-def]
        out.extend(_pairs((field.field_name or b"").decode("latin-1"), field.value or b""))

    def on_file(file) -> None:  # type: ignore[no-untyped-def]
        file.file_object.seek(0)
        out.extend(_pairs((file.field_name or b"").decode("latin-1"), file.file_object.read()))

    headers = {"Content-Type": content_type.encode("latin-1"), "Content-Length": str(len(body)).encode()}
    python_multipart.parse_form(headers, io.BytesIO(body), on_field, on_file)
    return out


def read_email(body: bytes, content_type: str) -> Pairs:
    """The standard library's MIME parser (it undoes quoted-printable and base64 transfer encodings)."""
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body, policy=email.policy.compat32
    )
    out: Pairs = []
    if not message.is_multipart():
        return out
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition") or ""
        if isinstance(name, tuple):
            name = email.utils.collapse_rfc2231_value(name)
        payload = part.get_payload(decode=True) or b""
        out += _pairs(str(name), payload)
    return out


def read_aiohttp(body: bytes, content_type: str) -> Pairs:
    """What an aiohttp origin's `await request.post()` returns."""

    async def run() -> Pairs:
        loop = asyncio.get_running_loop()
        stream = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
        stream.feed_data(body)
        stream.feed_eof()
        headers = CIMultiDict({"Content-Type": content_type, "Content-Length": str(len(body))})
        request = make_mocked_request("POST", "/", headers=headers, payload=stream)
        out: Pairs = []
        for name, value in (await request.post()).items():
            out += _pairs(name, value if isinstance(value, str) else value.file.read())
        return out

    return asyncio.run(run())


def read_json(body: bytes, content_type: str) -> Pairs:
    """Every string, number and literal in a JSON body under its key, as lenient parsers read it."""
    out: Pairs = []

    def walk(key: str, value: object) -> None:
        if isinstance(value, list):
            for item in value:
                walk(key, item)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k, v)
        else:
            out.append((key, value if isinstance(value, str) else json.dumps(value)))

    def keep_all(pairs: list[tuple[str, object]]) -> dict[str, object]:
        for k, v in pairs:
            walk(k, v)
        return dict(pairs)

    for encoding in ("utf-8-sig", "utf-16"):
        try:
            json.loads(body.decode(encoding), object_pairs_hook=keep_all, parse_int=str, parse_float=str)
        except (ValueError, UnicodeDecodeError):
            continue
    return out


FORM_PARSERS: dict[str, Callable[[bytes, str], Pairs]] = {
    "urllib": read_urllib,
    "werkzeug": read_werkzeug,
    "python-multipart": read_python_multipart,
    "aiohttp": read_aiohttp,
}
MULTIPART_PARSERS: dict[str, Callable[[bytes, str], Pairs]] = {
    "werkzeug": read_werkzeug,
    "python-multipart": read_python_multipart,
    "aiohttp": read_aiohttp,
    "email": read_email,
}
JSON_PARSERS: dict[str, Callable[[bytes, str], Pairs]] = {"json": read_json}
