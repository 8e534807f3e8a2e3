"""Profile selection as a pure function: the rules docs/cloudfront.md lists, one case each."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from profiles import Action, FleConfig, load_config_dir, select
from profiles.select import media_type_of
from tests.fixtures_proxy import FORM, cf_config, cf_profile, cf_public_key, write_config_dir


@pytest.fixture
def config(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> FleConfig:
    directory = write_config_dir(
        tmp_path / "cfg",
        cf_public_key("KA", "KeyA", rsa_key),
        cf_profile("P1", [("KA", "A", ["phone"])]),
        cf_profile("P2", [("KA", "A", ["ssn"])]),
        cf_config("C1", [(FORM, "P1"), ("text/plain", None)], query_args=[("two", "P2")]),
    )
    return load_config_dir(directory).only_config()


@pytest.mark.parametrize(
    ("value", "media_type"),
    [
        ("Application/X-WWW-Form-URLEncoded; charset=UTF-8", FORM),
        ("  text/plain ;x=1", "text/plain"),
        ("form", None),
        ("", None),
        ("text/plain, application/json", None),
        ("text /plain", None),
        ("text/plain; charset=a; CHARSET=b", None),  # the strict grammar (fields/header_params.py)
        ('text/plain; x="a\\"b"', None),
        ("text/plain; x*0=a", None),
        ("text/plain;", None),
    ],
)
def test_media_type_of(value: str, media_type: str | None) -> None:
    assert media_type_of(value) == media_type


@pytest.mark.parametrize(
    ("content_type", "query", "action", "profile_or_reason"),
    [
        (FORM, [], Action.ENCRYPT, "P1"),
        (FORM, ["two"], Action.ENCRYPT, "P2"),
        ("text/plain", ["two"], Action.ENCRYPT, "P2"),  # query profile overrides a profile-less mapping
        ("text/plain", [], Action.FORWARD, None),
        (FORM, ["two", "two"], Action.REJECT, "MalformedQueryArgsClientError"),
        (FORM, ["three"], Action.REJECT, "RejectedByQueryArgsClientError"),
        ("application/json", [], Action.REJECT, "RejectedByContentTypeClientError"),
        ("application/json", ["two"], Action.REJECT, "RejectedByContentTypeClientError"),
        (None, [], Action.REJECT, "RejectedByContentTypeClientError"),
        ("nonsense", [], Action.REJECT, "MalformedContentTypeClientError"),
        # strict parameters whether a profile applies or not: text/plain is forwarded when well-formed
        ("text/plain; charset=utf-8; charset=utf-7", [], Action.REJECT, "MalformedContentTypeClientError"),
        ('text/plain; x="\\"', [], Action.REJECT, "MalformedContentTypeClientError"),
        ("text/plain; x=1", [], Action.FORWARD, None),  # any parameter when no profile applies
        (FORM + "; charset*=utf-7''", [], Action.REJECT, "MalformedContentTypeClientError"),
    ],
)
def test_select(
    config: FleConfig,
    content_type: str | None,
    query: list[str],
    action: Action,
    profile_or_reason: str | None,
) -> None:
    decision = select(config, content_type, query)
    assert decision.action is action
    if action is Action.ENCRYPT:
        assert decision.profile is not None and decision.profile.id == profile_or_reason
    elif action is Action.REJECT:
        assert decision.reason == profile_or_reason


def test_query_arg_ignored_without_query_arg_profiles(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    directory = write_config_dir(
        tmp_path / "cfg",
        cf_public_key("KA", "KeyA", rsa_key),
        cf_profile("P1", [("KA", "A", ["phone"])]),
        cf_config("C1", [(FORM, "P1")]),
    )
    config = load_config_dir(directory).only_config()
    assert select(config, FORM, ["anything", "twice"]).action is Action.ENCRYPT
