"""Request limits; the defaults are CloudFront's documented field-level encryption quotas."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 1024 * 1024  # bytes of body read when a profile applies (CloudFront: 1 MB)
    max_field_bytes: int = 16 * 1024  # bytes of one protected value, decoded (CloudFront: 16 KB)
    max_encrypted_fields: int = 10  # protected fields per request (CloudFront: 10)

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_field_bytes", "max_encrypted_fields"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")
