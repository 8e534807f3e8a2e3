"""Facts of the configuration computed once at load (pipeline/compiled.py), and the one field budget."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from edge_proxy import Limits, RequestRefused
from edge_proxy.pipeline.bodies import rewrite_body
from edge_proxy.pipeline.compiled import CompiledConfig
from esdk_format import Suite, parse_header
from fields.json_pointer import parse_pointer_pattern
from fields.limits import FieldBudget
from fields.selection import Selection
from profiles import BodyFormat, ContentTypeProfile, Profile, load_config_dir, select

EXAMPLES = Path(__file__).parents[2] / "profiles" / "examples"
CONFIG = load_config_dir(EXAMPLES).only_config()
FORM = "application/x-www-form-urlencoded"


def _profile() -> Profile:
    profile = CONFIG.content_type_profiles[0].profile
    assert profile is not None
    return profile


def test_a_profile_knows_its_body_formats_from_its_patterns() -> None:
    names = _profile()
    pointers = dataclasses.replace(
        names,
        entities=(dataclasses.replace(names.entities[0], patterns=(parse_pointer_pattern("/phone"),)),),
    )
    assert names.reads == {BodyFormat.URL_ENCODED, BodyFormat.MULTIPART}
    assert pointers.reads == {BodyFormat.JSON}  # recomputed by replace: never stale
    assert dataclasses.replace(pointers) == pointers  # a derived field takes no part in equality


def test_a_request_finds_the_facts_compiled_at_load() -> None:
    compiled = CompiledConfig(CONFIG)
    profile = _profile()
    edge, encrypt = compiled.bound(profile)
    again, encrypt_again = compiled.bound(profile)
    assert edge is again and encrypt is encrypt_again  # looked up, not derived per request
    assert edge is profile.selection  # the profile's own, compiled once
    fresh = Selection.compile(
        names=[(p, e) for e in profile.entities for p in e.patterns], pointers=()
    )  # the same facts compiled from the patterns on the spot
    assert edge == fresh


SUITES = [Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256, Suite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY]


@pytest.mark.parametrize("suite", SUITES)
def test_the_encoder_is_the_profiles_suite(suite: Suite) -> None:
    profile = dataclasses.replace(_profile(), algorithm_suite=suite)
    mapping = ContentTypeProfile(FORM, BodyFormat.URL_ENCODED, profile)
    config = dataclasses.replace(CONFIG, content_type_profiles=(mapping,), query_arg_profiles=())
    out, count = rewrite_body(select(config, FORM, []), b"phone=404", FORM, CompiledConfig(config), Limits())
    assert count == 1
    value = out.split(b"=", 1)[1].replace(b"%2B", b"+").replace(b"%2F", b"/").replace(b"%3D", b"=")
    assert parse_header(base64.b64decode(value)).suite == suite


def test_the_budget_refuses_too_many_fields_and_too_long_ones() -> None:
    budget = FieldBudget(Limits(max_encrypted_fields=2, max_field_bytes=4))
    budget.count()
    budget.count()
    with pytest.raises(RequestRefused) as many:
        budget.count()
    assert (many.value.reason, many.value.detail) == (
        "FieldNumberLimitClientError",
        "more than 2 protected fields in one request",
    )
    budget.length(4)
    with pytest.raises(RequestRefused) as long_field:
        budget.length(5)
    assert (long_field.value.reason, long_field.value.detail) == (
        "FieldLengthLimitClientError",
        "a protected field is longer than 4 bytes",
    )
    with pytest.raises(RequestRefused) as long_part:
        budget.length(11, 10, "part")
    assert long_part.value.detail == "a protected part is longer than 10 bytes"
    with pytest.raises(RequestRefused):
        FieldBudget(Limits(max_encrypted_fields=3)).count(4)  # JSON counts all its hits at once
