"""Request limits; the defaults are CloudFront's documented field-level encryption quotas."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Reason, RequestRefused


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 1024 * 1024  # bytes of body read when a profile applies (CloudFront: 1 MB)
    max_field_bytes: int = 16 * 1024  # bytes of one protected value, decoded (CloudFront: 16 KB)
    max_encrypted_fields: int = 10  # protected fields per request (CloudFront: 10)
    # fields of a form body, or parts of a multipart body, read under a profile (ours: PHP's max_input_vars,
    # body-parser's parameterLimit and Django's DATA_UPLOAD_MAX_NUMBER_FIELDS are 1000 too); each field name
    # is read as every origin family would, which is linear but not free
    max_fields: int = 1000

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_field_bytes", "max_encrypted_fields", "max_fields"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")


def too_many_fields(limits: Limits) -> RequestRefused:
    """The refusal of a body with more fields (form pairs, multipart parts) than `limits.max_fields`."""
    return RequestRefused(Reason.FIELD_COUNT_LIMIT, f"more than {limits.max_fields} fields in one body")


class FieldBudget:
    """One body's protected-field budget: how many may be encrypted and how long each may be.

    The one place for the count refusal (FieldNumberLimitClientError) and the length refusal
    (FieldLengthLimitClientError) that every codec applies; each codec calls it before it encrypts a value,
    so a refused body has had nothing encrypted past the refused field.
    """

    __slots__ = ("limits", "used")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.used = 0  # protected fields counted so far

    def count(self, fields: int = 1) -> None:
        """Count `fields` more protected fields; refuse when the body now holds more than allowed."""
        self.used += fields
        if self.used > self.limits.max_encrypted_fields:
            raise RequestRefused(
                Reason.FIELD_NUMBER_LIMIT,
                f"more than {self.limits.max_encrypted_fields} protected fields in one request",
            )

    def length(self, size: int, limit: int | None = None, what: str = "field") -> None:
        """Refuse a protected value of `size` bytes over `limit` (by default `limits.max_field_bytes`)."""
        bound = self.limits.max_field_bytes if limit is None else limit
        if size > bound:
            raise RequestRefused(
                Reason.FIELD_LENGTH_LIMIT, f"a protected {what} is longer than {bound} bytes"
            )
