"""Every reason the edge or reveal refuses a request: one enumeration, its code, its status, its meaning.

A member's value is its code, the string a client reads in the answer's `error` member, the label of
`fle_proxy_refusals_total{reason=...}` and the access log's `reason` field; the codes ending in
`ClientError` are CloudFront's (docs/cloudfront.md), so they are a contract and never change. A member is
a `str` equal to its code, so it goes into JSON, metric labels and log lines as the code itself.

    Reason.MALFORMED_INPUT.code     "MalformedInputClientError"
    Reason.MALFORMED_INPUT.status   400
    Reason.MALFORMED_INPUT.message  what the code means (the docs' table; the answer's text is per request)
    Reason.MALFORMED_INPUT.side     Side.EDGE, Side.REVEAL or Side.BOTH

The pure layer names the reason; the shell (edge_proxy's answer, reveal's answer) turns it into a status
and a body. The reason-code table in docs/security.md is written from this module:

    scripts/reason-table --write docs/security.md    # rewrite the table between its markers
    python3 -m fields.refusals --markdown                  # print it

and tests/fields/test_refusals.py fails when the page and the enumeration differ.
"""

from __future__ import annotations

from enum import Enum, StrEnum


class Side(Enum):
    """Which service answers with a reason."""

    EDGE = "edge"
    REVEAL = "reveal"
    BOTH = "edge, reveal"


_E, _R, _B = Side.EDGE, Side.REVEAL, Side.BOTH


class Reason(StrEnum):
    """A refusal's reason: `code` (the value), HTTP `status`, public `message`, and the `side` using it."""

    status: int
    message: str
    side: Side

    def __new__(cls, code: str, status: int, side: Side, message: str) -> Reason:
        member = str.__new__(cls, code)
        member._value_ = code
        member.status = status
        member.side = side
        member.message = message
        return member

    @property
    def code(self) -> str:
        return str(self.value)

    # the request's head (edge_proxy/pipeline, profiles.select)
    HOP_BY_HOP_NOMINATION = (
        "HopByHopNominationClientError", 400, _E,
        "a Connection header names Content-Type, Content-Length, Transfer-Encoding, Content-Encoding or Host",
    )  # fmt: skip
    EXPECTATION_FAILED = "ExpectationFailed", 417, _B, "an Expect header other than 100-continue"
    MALFORMED_CONTENT_TYPE = (
        "MalformedContentTypeClientError", 400, _B,
        "the Content-Type is outside the strict grammar (any request with a body), sent twice, or under a "
        "profile carries a parameter not on its list",
    )  # fmt: skip
    MALFORMED_QUERY_ARGS = (
        "MalformedQueryArgsClientError", 400, _E, "the fle-profile query argument is given more than once",
    )  # fmt: skip
    REJECTED_BY_QUERY_ARGS = (
        "RejectedByQueryArgsClientError", 400, _E,
        "the fle-profile query argument names no profile and unknown ones may not be forwarded",
    )  # fmt: skip
    REJECTED_BY_CONTENT_TYPE = (
        "RejectedByContentTypeClientError", 400, _E,
        "the media type is not in the config and unknown ones may not be forwarded",
    )  # fmt: skip
    PROFILE_FORMAT_MISMATCH = (
        "ProfileFormatMismatchClientError", 400, _E, "the selected profile cannot read the body's format",
    )  # fmt: skip
    UNSUPPORTED_FORMAT = "UnsupportedFormat", 415, _E, "a body format the proxy cannot read"
    UNSUPPORTED_CHARSET = (
        "UnsupportedCharsetClientError", 415, _B, "under a profile, a charset other than utf-8",
    )  # fmt: skip
    UNSUPPORTED_CONTENT_ENCODING = (
        "UnsupportedContentEncoding", 415, _B,
        "a body to rewrite with a content coding other than gzip or deflate (reveal: any coding)",
    )  # fmt: skip
    # the body (fields/)
    MALFORMED_INPUT = (
        "MalformedInputClientError", 400, _B,
        "a form body or field name outside the grammar, or a compressed body that is corrupt or truncated",
    )  # fmt: skip
    MALFORMED_MULTIPART = (
        "MalformedMultipartClientError", 400, _B,
        "no or invalid boundary, PHP would read another boundary; any multipart framing or part-header rule",
    )  # fmt: skip
    UNSUPPORTED_TRANSFER_ENCODING = (
        "UnsupportedTransferEncodingClientError", 400, _B,
        "a part's Content-Transfer-Encoding other than 7bit/8bit/binary",
    )  # fmt: skip
    INVALID_JSON = "InvalidJsonClientError", 400, _B, "a JSON body outside the strict JSON grammar"
    DUPLICATE_JSON_KEY = "DuplicateJsonKeyClientError", 400, _B, "a JSON object with a key twice"
    JSON_DEPTH_LIMIT = "JsonDepthLimitClientError", 400, _B, "JSON nested deeper than 64 levels"
    PROTOTYPE_KEY = "PrototypeKeyClientError", 400, _B, "a JSON key JavaScript reads as a prototype"
    FIELD_COUNT_LIMIT = (
        "FieldCountLimitClientError", 400, _B, "more than --max-fields (1000) form fields or multipart parts",
    )  # fmt: skip
    FIELD_NUMBER_LIMIT = "FieldNumberLimitClientError", 400, _B, "more protected fields than allowed"
    FIELD_LENGTH_LIMIT = "FieldLengthLimitClientError", 400, _B, "a protected field longer than allowed"
    REQUEST_LENGTH_LIMIT = (
        "RequestLengthLimitClientError", 400, _B,
        "a body larger than the limit (its inflated size when compressed)",
    )  # fmt: skip
    # blind indexes (edge_proxy/pipeline/indexing.py)
    BLIND_INDEX_SIDECAR = (
        "BlindIndexSidecarClientError", 400, _E,
        "a field named like a blind-index sidecar (<field>__bidx or __bidx_prev): only the edge writes them",
    )  # fmt: skip
    BLIND_INDEX_VALUE = (
        "BlindIndexValueClientError", 400, _E,
        "an indexed field's value that its index's normalizer refuses (e.g. digits: no digit), or not UTF-8",
    )  # fmt: skip
    BLIND_INDEX_UNAVAILABLE = (
        "BlindIndexUnavailable", 503, _E, "an index key's token cannot be reached now (try again)",
    )  # fmt: skip
    # reading and buffering the body, the origin (edge_proxy/pipeline)
    CLIENT_IDLE_TIMEOUT = "ClientIdleTimeout", 408, _B, "the client stopped sending its body"
    REQUEST_BUFFER_LIMIT = (
        "RequestBufferLimitClientError", 413, _E, "a body to buffer larger than --max-request-buffer-bytes",
    )  # fmt: skip
    REQUEST_BUFFER_FULL = (
        "RequestBufferFull", 503, _E, "no room left in the buffering budget now (try again)",
    )  # fmt: skip
    ENCRYPTION_FAILED = "EncryptionFailed", 500, _E, "a protected field could not be encrypted"
    ORIGIN_BUSY = "OriginBusy", 503, _E, "no origin connection came free in time"
    # reveal's gate (reveal/gate.py)
    PROXY_AUTHENTICATION_REQUIRED = (
        "ProxyAuthenticationRequired", 407, _R, "no Proxy-Authorization header, or not a bearer token",
    )  # fmt: skip
    CALLER_UNKNOWN = "CallerUnknown", 403, _R, "the bearer token belongs to no caller"
    PATH_REFUSED = "PathRefused", 400, _R, "a request target that is not origin-form or could mean two paths"
    NO_SUCH_ROUTE = "NoSuchRoute", 404, _R, "the path is under no route's prefix"
    CALLER_NOT_ALLOWED = "CallerNotAllowed", 403, _R, "the caller may not use the route"
    METHOD_NOT_ALLOWED = "MethodNotAllowed", 405, _R, "the method is not allowed on the route"
    # reveal's decryption (reveal/fields.py; the decryptor's own codes, mapped there)
    KEY_NOT_ALLOWED = "KeyNotAllowed", 403, _R, "a message names a key outside the route's keys"
    NOT_A_MESSAGE = "not_a_message", 400, _R, "the decryptor: the value is not a base64 message"
    POLICY_REFUSED = "policy_refused", 400, _R, "the decryptor: the header breaks the policy"
    KEY_UNKNOWN = "key_unknown", 400, _R, "the decryptor: the keystore holds no key the message names"
    KEY_UNAVAILABLE = "key_unavailable", 503, _R, "the decryptor: the key's backend cannot be reached"
    DECRYPT_FAILED = "decrypt_failed", 400, _R, "the decryptor: corrupt, tampered or wrong key (one reason)"
    PLAINTEXT_NOT_TEXT = "PlaintextNotText", 422, _R, "a JSON field's plaintext is not UTF-8"
    PLAINTEXT_BREAKS_FRAMING = (
        "PlaintextBreaksFraming", 422, _R, "a part's plaintext holds the multipart boundary",
    )  # fmt: skip
    UPSTREAM_BUSY = "UpstreamBusy", 503, _R, "no upstream connection came free in time"
    UPSTREAM_TIMEOUT = "UpstreamTimeout", 504, _R, "the upstream gave no answer in time"
    UPSTREAM_UNAVAILABLE = "UpstreamUnavailable", 502, _R, "the upstream cannot be reached"


BEGIN = "<!-- reason codes: generated by `scripts/reason-table --write docs/security.md` -->"
END = "<!-- end of reason codes -->"


def markdown() -> str:
    """The reason-code table, one row per member in the enumeration's order."""
    rows = ["| reason | status | answered by | when |", "| --- | --- | --- | --- |"]
    rows += [f"| `{r.code}` | {r.status} | {r.side.value} | {r.message} |" for r in Reason]
    return "\n".join(rows)


def with_table(page: str) -> str:
    """`page` with the text between the markers replaced by the current table; ValueError without them."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError("the page has no reason-code markers")
    return page[: start + len(BEGIN)] + "\n" + markdown() + "\n" + page[end:]
