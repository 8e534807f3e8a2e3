"""The head read once (fields/facts.py, edge_proxy/pipeline/head.py) answers as the edge always did.

Pinned here, through the proxy: a request whose body is never read is not refused for a header it does
not need (a GET with a malformed Content-Type is forwarded), and when a request is wrong in two ways the
same check wins as before (the content coding before the body's length and the Content-Type's parameters,
the length before those parameters). A second Content-Type header never reaches the edge's own check:
aiohttp's parser answers 400 first. Each case was run against the tree before the facts existed (commit
bc585a4) and passed there.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Limits
from tests.edge_proxy.test_http_layer import exchange, request, status_of
from tests.fixtures_proxy import Canary, cf_config, cf_profile, cf_public_key, proxy_stack, write_config_dir

FORM = "application/x-www-form-urlencoded"
BOUNDARY = "fle-facts"


@pytest.fixture
def config_dir(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """Forms and multipart protect `phone`, JSON `/phone`; text/plain is forwarded."""
    config = cf_config(
        "C1",
        [
            (FORM, "PF"),
            ("application/json", "PJ", "JSON"),
            ("multipart/form-data", "PM", "Multipart"),
            ("text/plain", None),
        ],
    )
    return write_config_dir(
        tmp_path / "cfg",
        cf_public_key("K1", "DemoPublicKey", rsa_key),
        cf_profile("PF", [("K1", "FLEDemo", ["phone"])]),
        cf_profile("PJ", [("K1", "FLEDemo", ["/phone"])]),
        cf_profile("PM", [("K1", "FLEDemo", ["phone"])]),
        config,
    )


def _error(answer: bytes) -> tuple[int, str | None, str | None]:
    status = status_of(answer)
    if status < 400:
        return status, None, None
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return status, body["error"], body["message"]


MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="phone"\r\n\r\n5551234\r\n--{BOUNDARY}--\r\n'
).encode()

CASES = {
    # never read: forwarded whatever the Content-Type says
    "get-malformed-content-type": (request("GET", "Content-Type: a/b;;", length=False), (200, None)),
    "delete-malformed-content-type": (request("DELETE", "Content-Type: nonsense", length=False), (200, None)),
    # read: the strict grammar refuses
    "post-malformed-content-type": (
        request("POST", "Content-Type: a/b;;", body=b"x=1"),
        (400, "MalformedContentTypeClientError"),
    ),
    # a coding the edge cannot undo is refused before the body is read or its Content-Type's parameters
    "coding-before-charset": (
        request("POST", f"Content-Type: {FORM}; charset=utf-16", "Content-Encoding: br", body=b"phone=1"),
        (415, "UnsupportedContentEncoding"),
    ),
    "coding-before-length": (
        request("POST", f"Content-Type: {FORM}", "Content-Encoding: br", body=b"a=" + b"1" * 2048),
        (415, "UnsupportedContentEncoding"),
    ),
    "two-codings": (
        request("POST", f"Content-Type: {FORM}", "Content-Encoding: gzip, deflate", body=b"phone=1"),
        (415, "UnsupportedContentEncoding"),
    ),
    "identity-codings-pass": (
        request(
            "POST",
            f"Content-Type: {FORM}",
            "Content-Encoding: identity,",
            "Content-Encoding: identity",
            body=b"a=1",
        ),
        (200, None),
    ),
    # the declared length before the Content-Type's parameters
    "length-before-parameters": (
        request("POST", f"Content-Type: {FORM}; x=1", body=b"a=" + b"1" * 2048),
        (400, "RequestLengthLimitClientError"),
    ),
    "parameters-within-the-limit": (
        request("POST", f"Content-Type: {FORM}; x=1", body=b"a=1"),
        (400, "MalformedContentTypeClientError"),
    ),
    "charset": (
        request("POST", f"Content-Type: {FORM}; charset=latin-1", body=b"a=1"),
        (415, "UnsupportedCharsetClientError"),
    ),
    # a multipart body with only identity codings streams; a compressed one is read whole: both rewritten
    "multipart-identity": (
        request(
            "POST",
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
            "Content-Encoding: identity",
            body=MULTIPART,
        ),
        (200, None),
    ),
    "multipart-gzip": (
        request(
            "POST",
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
            "Content-Encoding: gzip",
            body=gzip.compress(MULTIPART, mtime=0),
        ),
        (200, None),
    ),
    "multipart-no-boundary": (
        request("POST", "Content-Type: multipart/form-data", body=MULTIPART),
        (400, "MalformedMultipartClientError"),
    ),
    "forwarded-media-type": (request("POST", "Content-Type: text/plain; x=1", body=b"raw"), (200, None)),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_the_same_check_wins_as_before(canary: Canary, config_dir: Path, name: str) -> None:
    sent, expected = CASES[name]
    canary.protect("5551234")
    async with proxy_stack(canary, config_dir, limits=Limits(max_body_bytes=1024)) as stack:
        answer = await exchange(stack.url, sent.replace(b"Host:", b"Connection: close\r\nHost:", 1))
        metrics = stack.runtime.metrics.exposition().decode()
    status, error, _message = _error(answer)
    assert (status, error) == expected, answer[:400]
    if error is None:
        assert len(canary.received) == 1
    else:
        assert canary.received == []
        assert f'fle_proxy_refusals_total{{reason="{error}"}} 1.0' in metrics
