"""The one refusal vocabulary (fields/refusals.py): codes, statuses, the docs table written from it."""

from __future__ import annotations

import re
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest

from decryptor import Reason as DecryptReason
from fields.errors import RequestRefused
from fields.refusals import BEGIN, END, Reason, Side, markdown, with_table
from reveal.errors import RevealRefused
from reveal.fields import _DECRYPT_REASONS

ROOT = Path(__file__).parents[2]

# The contract: every code a client, a dashboard or a log query may rely on, with its status, as the edge
# and reveal answered before the enumeration existed (docs/cloudfront.md, docs/security.md, docs/reveal.md).
CONTRACT = {
    "HopByHopNominationClientError": 400,
    "ExpectationFailed": 417,
    "MalformedContentTypeClientError": 400,
    "MalformedQueryArgsClientError": 400,
    "RejectedByQueryArgsClientError": 400,
    "RejectedByContentTypeClientError": 400,
    "ProfileFormatMismatchClientError": 400,
    "UnsupportedFormat": 415,
    "UnsupportedCharsetClientError": 415,
    "UnsupportedContentEncoding": 415,
    "MalformedInputClientError": 400,
    "MalformedMultipartClientError": 400,
    "UnsupportedTransferEncodingClientError": 400,
    "InvalidJsonClientError": 400,
    "DuplicateJsonKeyClientError": 400,
    "JsonDepthLimitClientError": 400,
    "PrototypeKeyClientError": 400,
    "FieldCountLimitClientError": 400,
    "FieldNumberLimitClientError": 400,
    "FieldLengthLimitClientError": 400,
    "RequestLengthLimitClientError": 400,
    "BlindIndexSidecarClientError": 400,
    "BlindIndexValueClientError": 400,
    "BlindIndexUnavailable": 503,
    "ClientIdleTimeout": 408,
    "RequestBufferLimitClientError": 413,
    "RequestBufferFull": 503,
    "EncryptionFailed": 500,
    "OriginBusy": 503,
    "ProxyAuthenticationRequired": 407,
    "CallerUnknown": 403,
    "PathRefused": 400,
    "NoSuchRoute": 404,
    "CallerNotAllowed": 403,
    "MethodNotAllowed": 405,
    "KeyNotAllowed": 403,
    "not_a_message": 400,
    "policy_refused": 400,
    "key_unknown": 400,
    "key_unavailable": 503,
    "decrypt_failed": 400,
    "PlaintextNotText": 422,
    "PlaintextBreaksFraming": 422,
    "UpstreamBusy": 503,
    "UpstreamTimeout": 504,
    "UpstreamUnavailable": 502,
}


def test_codes_and_statuses_are_the_contract() -> None:
    assert {r.code: r.status for r in Reason} == CONTRACT


def test_codes_are_unique_and_no_member_is_an_alias() -> None:
    assert len(Reason.__members__) == len(list(Reason)) == len({r.code for r in Reason})


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.name)
def test_each_reason_is_an_error_status_with_a_message(reason: Reason) -> None:
    assert 400 <= HTTPStatus(reason.status) < 600
    assert reason.message and "|" not in reason.message and "\n" not in reason.message
    assert isinstance(reason.side, Side)
    if reason.code.endswith("ClientError"):  # CloudFront's client errors are 4xx
        assert reason.status < 500


def test_a_member_is_its_code_in_json_labels_and_text() -> None:
    import json

    reason = Reason.MALFORMED_INPUT
    assert reason == "MalformedInputClientError" and str(reason) == f"{reason}" == reason.code
    assert json.dumps({"error": reason}) == '{"error": "MalformedInputClientError"}'
    assert Reason("ClientIdleTimeout") is Reason.CLIENT_IDLE_TIMEOUT


def test_every_reason_is_used_by_the_edge_or_reveal() -> None:
    """A member no code raises is a row in the docs that no request can meet."""
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for package in ("fields", "edge_proxy", "reveal", "profiles")
        for p in (ROOT / package).rglob("*.py")
        if p.name != "refusals.py"
    )
    used = set(re.findall(r"\bReason\.([A-Z_]+)\b", sources))
    assert {r.name for r in Reason} - used == set()


def test_refusals_take_the_status_from_the_reason() -> None:
    refused = RequestRefused(Reason.ORIGIN_BUSY, "no origin connection came free in time")
    assert (refused.status, refused.reason, refused.detail) == (503, "OriginBusy", refused.detail)
    assert str(refused) == "503 OriginBusy: no origin connection came free in time"
    assert RequestRefused(Reason.MALFORMED_INPUT, "x", status=413).status == 413  # an explicit override
    assert RevealRefused(Reason.KEY_UNAVAILABLE, "HSM down").status == 503


def test_reveal_maps_every_per_value_decrypt_reason_to_the_same_code() -> None:
    per_value = {
        DecryptReason.NOT_A_MESSAGE,
        DecryptReason.POLICY_REFUSED,
        DecryptReason.KEY_UNKNOWN,
        DecryptReason.KEY_UNAVAILABLE,
        DecryptReason.DECRYPT_FAILED,
    }
    assert set(_DECRYPT_REASONS) == per_value
    assert all(ours.code == theirs.value for theirs, ours in _DECRYPT_REASONS.items())


def test_the_docs_table_is_the_enumeration() -> None:
    """docs/security.md §6 is written by `scripts/reason-table --write docs/security.md`."""
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert page.count(BEGIN) == page.count(END) == 1
    assert with_table(page) == page, "run: scripts/reason-table --write docs/security.md"
    rows = re.findall(r"^\| `([^`]+)` \| (\d{3}) \|", markdown(), re.M)
    assert {code: int(status) for code, status in rows} == CONTRACT


def test_the_command_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"before\n{BEGIN}\n| stale |\n{END}\nafter\n", encoding="utf-8")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "reason-table"), "--write", str(page)], check=True)
    assert page.read_text(encoding="utf-8") == f"before\n{BEGIN}\n{markdown()}\n{END}\nafter\n"
    with pytest.raises(ValueError):
        with_table("no markers here")
