"""Request limits; the defaults are CloudFront's documented field-level encryption quotas."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import RequestRefused


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
    return RequestRefused(
        400, "FieldCountLimitClientError", f"more than {limits.max_fields} fields in one body"
    )
