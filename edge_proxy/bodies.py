"""One entry point for rewriting a body: the profile's format picks the codec, the profile its suite."""

from __future__ import annotations

from profiles import EncryptionEntity
from profiles.loader import profile_reads
from profiles.model import BodyFormat
from profiles.select import Decision

from . import forms, json_body, multipart
from .content_type import strict_content_type
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
        strict_content_type(content_type, body_format)  # utf-16/utf-7 would hide names: UTF-8 only
        return forms.rewrite(body, profile, encrypt, limits)
    if body_format is BodyFormat.JSON:
        strict_content_type(content_type, body_format)  # the origin must read the bytes that were encrypted
        return json_body.rewrite(body, profile, encrypt, limits)
    if body_format is BodyFormat.MULTIPART:  # boundary_of checks the Content-Type the same way
        return multipart.rewrite(body, content_type, profile, encrypt, limits)
    raise RequestRefused(415, "UnsupportedFormat", f"body format {body_format.value} is not supported")
