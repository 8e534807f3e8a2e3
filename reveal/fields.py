"""Decrypt the fields a route names, with the edge's own strict body codecs, keeping every other byte.

Why the edge's codecs (the fields layer: fields.forms / json_body / multipart) and not a parser of our own:
they already read bodies strictly and in linear time, refusing anything two parsers could read
differently, and they find a field under every name an origin framework would give it. A route's
selection is compiled when its routes file loads (`Route.selection`, each pattern tagged with its field's
text); the codecs call a transform per selected value: the edge's encrypts, reveal's decrypts. fields
holds no keys and does no I/O (tests/security/test_boundaries.py).

What the decrypt function does with one value of a named field:
- not an ESDK message (esdk_format.is_message): the value is kept as it is (e.g. already a processor token);
- a message whose header names a key outside the route's `keys`: 403 KeyNotAllowed, before any unwrap;
- otherwise the decryptor opens it; a failure refuses the request with the decryptor's reason code.
The whole rewrite runs in a worker thread (RSA unwrap on an HSM or SSM call must not stall the loop).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

from decryptor import DecryptError, Decryptor
from decryptor import Reason as DecryptReason
from esdk_format import FormatError, is_message, read_prefix
from fields import forms, json_body, multipart
from fields.body_format import BodyFormat
from fields.content_type import strict_content_type
from fields.errors import Reason, RequestRefused
from fields.limits import Limits
from fields.multipart_head import boundary_of
from fields.selection import Selection

from .errors import RevealRefused
from .routes import Route

# the decryptor's reasons for one value, as reveal answers them (key_unavailable is 503: the caller may
# retry); the decryptor keeps its own enumeration, the mapping is made here, at reveal's boundary
_DECRYPT_REASONS = {
    DecryptReason.NOT_A_MESSAGE: Reason.NOT_A_MESSAGE,
    DecryptReason.POLICY_REFUSED: Reason.POLICY_REFUSED,
    DecryptReason.KEY_UNKNOWN: Reason.KEY_UNKNOWN,
    DecryptReason.KEY_UNAVAILABLE: Reason.KEY_UNAVAILABLE,
    DecryptReason.DECRYPT_FAILED: Reason.DECRYPT_FAILED,
}


@dataclass(frozen=True, slots=True)
class Revealed:
    """One value decrypted: the field as the route names it and the key that opened it (no plaintext)."""

    field: str
    provider_id: str
    key_name: str


@dataclass(frozen=True, slots=True)
class RouteFields:
    """A route's reveal fields as the codecs take them: the selection compiled when the route loaded
    (each pattern tagged with its field's text), and whether it names form fields, JSON pointers."""

    selection: Selection[str]
    names: bool
    pointers: bool

    @classmethod
    def of(cls, route: Route) -> RouteFields:
        return cls(route.selection, bool(route.names), bool(route.pointers))


def body_format(content_type: str) -> BodyFormat | None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return BodyFormat.URL_ENCODED
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return BodyFormat.JSON
    if media == "multipart/form-data":
        return BodyFormat.MULTIPART
    return None


class _Opener:
    """The per-request decrypt function handed to a codec; collects what it revealed."""

    def __init__(self, route: Route, decryptor: Decryptor) -> None:
        self.route = route
        self.decryptor = decryptor
        self.revealed: list[Revealed] = []

    def open(self, value: bytes, field: str) -> bytes | None:
        """The plaintext of `value` (of the route's `field`), or None when it is not a message (kept)."""
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            return None
        if not is_message(text):
            return None
        try:
            header = read_prefix(base64.b64decode(text), self.decryptor.policy.max_data_keys)
        except FormatError:
            raise RevealRefused(Reason.DECRYPT_FAILED, f"field {field}: unreadable header") from None
        refs = [(k.ref.provider_id, k.ref.key_name) for k in header.data_keys]
        outside = [r for r in refs if r not in self.route.keys]
        if outside:
            names = ", ".join("/".join(r) for r in outside)
            raise RevealRefused(Reason.KEY_NOT_ALLOWED, f"field {field}: key {names} is not the route's")
        try:
            opened = self.decryptor.decrypt(text)
        except DecryptError as e:
            reason = _DECRYPT_REASONS.get(e.reason, Reason.DECRYPT_FAILED)  # others are not per value
            raise RevealRefused(reason, f"field {field}: {e.audit_detail}") from None
        self.revealed.append(Revealed(field, opened.provider_id, opened.key_name))
        return opened.plaintext


def _json_text(plaintext: bytes) -> bytes:
    """The plaintext as the inside of a JSON string (the codec writes the quotes around it)."""
    try:
        return json.dumps(plaintext.decode("utf-8"))[1:-1].encode("ascii")
    except UnicodeDecodeError:
        raise RevealRefused(Reason.PLAINTEXT_NOT_TEXT, "a JSON field's plaintext is not UTF-8") from None


def reveal_body(
    route: Route, fields: RouteFields, decryptor: Decryptor, body: bytes, content_type: str, limits: Limits
) -> tuple[bytes, list[Revealed]]:
    """The body with the route's fields decrypted, and what was revealed; RevealRefused when it must not go.

    Blocking (decrypts): run it in a worker thread.
    """
    opener = _Opener(route, decryptor)
    fmt = body_format(content_type)
    try:
        if fmt is BodyFormat.URL_ENCODED and fields.names:
            strict_content_type(content_type, fmt)

            def form_value(value: bytes, field: str) -> bytes:
                plain = opener.open(value, field)
                return value if plain is None else plain

            out, _ = forms.rewrite(body, fields.selection, form_value, limits)
        elif fmt is BodyFormat.JSON and fields.pointers:
            strict_content_type(content_type, fmt)

            def json_value(value: bytes, field: str) -> bytes:
                plain = opener.open(value, field)
                return _json_text(value if plain is None else plain)

            out, _ = json_body.rewrite(body, fields.selection, json_value, limits)
        elif fmt is BodyFormat.MULTIPART and fields.names:
            delimiter = b"--" + boundary_of(content_type)
            part_value = _multipart_value(opener, delimiter)
            out, _ = multipart.rewrite(body, content_type, fields.selection, part_value, limits)
        else:
            return body, []
    except RequestRefused as e:
        raise RevealRefused(e.reason, e.detail, status=e.status) from None
    return out, opener.revealed


def _multipart_value(opener: _Opener, delimiter: bytes) -> Callable[[bytes, str], bytes]:
    def part_value(value: bytes, field: str) -> bytes:
        plain = opener.open(value, field)
        if plain is None:
            return value
        if delimiter in plain or plain.endswith(b"\r"):
            # a plaintext holding the boundary would end the part early: a part the caller never sent
            raise RevealRefused(Reason.PLAINTEXT_BREAKS_FRAMING, "a part's plaintext holds the boundary")
        return plain

    return part_value
