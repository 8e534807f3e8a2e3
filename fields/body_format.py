"""The body formats the codecs read; `profiles` re-exports the enumeration under its old names."""

from __future__ import annotations

from enum import Enum


class BodyFormat(Enum):
    """How a body is parsed; CloudFront's wire value is the enum value."""

    URL_ENCODED = "URLEncoded"
    # fle-edge extensions (docs/formats.md); CloudFront itself accepts only URLEncoded.
    JSON = "JSON"
    MULTIPART = "Multipart"
