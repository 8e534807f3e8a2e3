"""One entry point for rewriting a body: the profile's format picks the codec, the profile its suite."""

from __future__ import annotations

from email.message import Message
from functools import lru_cache

from profiles import EncryptionEntity
from profiles.loader import profile_reads
from profiles.model import BodyFormat
from profiles.select import Decision

from . import forms, json_body, multipart
from .encryptor import FieldEncryptor
from .errors import RequestRefused
from .limits import Limits


def rewrite_body(
    decision: Decision, body: bytes, content_type: str, encryptor: FieldEncryptor, limits: Limits
) -> tuple[bytes, int]:
    """The body with its protected values encrypted, and how many; RequestRefused when it must not pass.

    `content_type` is the raw header (multipart needs its boundary parameter).
    """
    profile, body_format = decision.profile, decision.format
    if profile is None or body_format is None:
        raise ValueError("rewrite_body needs a decision to encrypt")
    if not profile_reads(profile, body_format):  # a query-argument profile meant for another format
        raise RequestRefused(
            400,
            "ProfileFormatMismatchClientError",
            f"the selected profile cannot read {body_format.value} bodies",
        )
    suite = profile.algorithm_suite

    def encrypt(value: bytes, entity: EncryptionEntity) -> bytes:
        return encryptor(value, entity, suite)

    if body_format is BodyFormat.URL_ENCODED:
        if _charset(content_type) not in (None, "utf-8", "utf8", "us-ascii"):  # utf-16/utf-7 hide names
            raise RequestRefused(415, "UnsupportedCharsetClientError", "a form body must be UTF-8")
        return forms.rewrite(body, profile, encrypt, limits)
    if body_format is BodyFormat.JSON:
        charset = _charset(content_type)
        if charset not in (None, "utf-8", "utf8"):  # the origin would read other bytes than were encrypted
            raise RequestRefused(415, "UnsupportedCharsetClientError", "a JSON body must be UTF-8")
        return json_body.rewrite(body, profile, encrypt, limits)
    if body_format is BodyFormat.MULTIPART:
        return multipart.rewrite(body, content_type, profile, encrypt, limits)
    raise RequestRefused(415, "UnsupportedFormat", f"body format {body_format.value} is not supported")


@lru_cache(maxsize=256)  # clients send few distinct Content-Type values; parsing one costs ~5 µs
def _charset(content_type: str) -> str | None:
    message = Message()
    message["Content-Type"] = content_type
    charset = message.get_param("charset")
    return charset.strip().lower() if isinstance(charset, str) else None
