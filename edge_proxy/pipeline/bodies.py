"""The edge's glue to the fields layer: the decision's format picks the codec, the profile its selection
(compiled at load) and its transform (its suite's encoder, bound to the config's keys)."""

from __future__ import annotations

from collections.abc import Callable

from fields import forms, json_body, multipart
from fields.content_type import strict_content_type
from fields.errors import Reason, RequestRefused
from fields.limits import Limits
from fields.selection import Transform
from profiles import BodyFormat, EncryptionEntity
from profiles.select import Decision

from .compiled import CompiledConfig

EncryptInSuite = Callable[[bytes, EncryptionEntity, int], bytes]
"""An encrypt function that is told the suite (FieldEncryptor's call): for callers without a loaded config."""


def rewrite_body(
    decision: Decision,
    body: bytes,
    content_type: str,
    encryptor: CompiledConfig | EncryptInSuite,
    limits: Limits,
) -> tuple[bytes, int]:
    """The body with its protected values encrypted, and how many; RequestRefused when it must not pass.

    `content_type` is the raw header (multipart needs its boundary parameter). `encryptor` is the proxy's
    CompiledConfig (the profile's selection and encoder looked up, computed at load), or a function told
    the suite (tests, fuzzing).
    """
    profile, body_format = decision.profile, decision.format
    if profile is None or body_format is None:
        raise ValueError("rewrite_body needs a decision to encrypt")
    if body_format not in profile.reads:  # a query-argument profile meant for another format
        raise RequestRefused(
            Reason.PROFILE_FORMAT_MISMATCH,
            f"the selected profile cannot read {body_format.value} bodies",
        )
    if isinstance(encryptor, CompiledConfig):
        edge, encrypt = encryptor.bound(profile)
    elif profile.indexes:
        raise ValueError("a profile with blind indexes needs the index keys of a CompiledConfig")
    else:
        edge, encrypt = profile.selection, _in_suite(encryptor, profile.algorithm_suite)
    if body_format is BodyFormat.URL_ENCODED:
        strict_content_type(content_type, body_format)  # utf-16/utf-7 would hide names: UTF-8 only
        return forms.rewrite(body, edge, encrypt, limits)
    if body_format is BodyFormat.JSON:
        strict_content_type(content_type, body_format)  # the origin must read the bytes that were encrypted
        return json_body.rewrite(body, edge, encrypt, limits)
    if body_format is BodyFormat.MULTIPART:  # boundary_of checks the Content-Type the same way
        return multipart.rewrite(body, content_type, edge, encrypt, limits)
    raise RequestRefused(Reason.UNSUPPORTED_FORMAT, f"body format {body_format.value} is not supported")


def _in_suite(encrypt: EncryptInSuite, suite: int) -> Transform[EncryptionEntity]:
    return lambda value, entity: encrypt(value, entity, suite)
