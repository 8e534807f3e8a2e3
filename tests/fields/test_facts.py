"""RequestFacts (fields/facts.py): a request's head parsed once, with the same verdicts as the readings
it replaced (profiles.select on the raw header, the edge's Content-Encoding readings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from edge_proxy.pipeline.body import content_coding
from fields.errors import RequestRefused
from fields.facts import RequestFacts
from profiles import FleConfig, load_config_dir, select
from profiles.select import decide
from tests.fixtures_proxy import FORM, cf_config, cf_profile, cf_public_key, write_config_dir


def facts(content_types: tuple[str, ...] = (), encodings: tuple[str, ...] = ()) -> RequestFacts:
    return RequestFacts.of(
        "POST", "/x", body=True, content_types=content_types, content_encodings=encodings, content_length=3
    )


def test_the_media_type_and_its_parameters_come_from_the_strict_parser() -> None:
    f = facts(('Application/X-WWW-Form-URLEncoded; Charset=UTF-8; x="a b"',))
    assert f.media is not None and f.media.kind == FORM and f.media_type == FORM
    assert f.media.params == (("charset", "UTF-8"), ("x", "a b")) and f.charset == "UTF-8"
    assert f.media_error is None and f.content_types == 1


@pytest.mark.parametrize("value", ["nonsense", "a/b;;", 'a/b; x="\\"q"', "a/b; x*0=1", "", "a/b; c=1; C=2"])
def test_a_malformed_content_type_is_kept_as_an_error_never_raised(value: str) -> None:
    f = facts((value,))
    assert f.content_type == value and f.media is None and f.media_type is None and f.charset is None
    assert f.media_error  # why, for the stage that refuses it


def test_no_content_type() -> None:
    f = facts()
    assert (f.content_type, f.media, f.media_type, f.content_types, f.blank_content_type) == (
        None,
        None,
        "",
        0,
        True,
    )
    assert facts((" \t",)).blank_content_type and not facts(("a/b",)).blank_content_type


def test_read_as_a_form_keeps_the_rest() -> None:
    f = facts((), ("gzip",)).read_as(FORM)
    assert (f.content_type, f.media_type, f.content_types, f.codings) == (FORM, FORM, 0, ("gzip",))


def test_codings() -> None:
    assert facts(encodings=("GZip , ", " identity")).codings == ("gzip", "identity")
    assert facts(encodings=("identity,", "")).identity and facts().identity
    assert not facts(encodings=("identity", "br")).identity


def test_facts_are_immutable() -> None:
    with pytest.raises(AttributeError):
        facts().method = "GET"  # type: ignore[misc]


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> FleConfig:
    directory = write_config_dir(
        Path(tmp_path_factory.mktemp("cfg")),
        cf_public_key("KA", "KeyA", rsa_key),
        cf_profile("P1", [("KA", "A", ["phone"])]),
        cf_profile("P2", [("KA", "A", ["ssn"])]),
        cf_config("C1", [(FORM, "P1"), ("text/plain", None)], query_args=[("two", "P2")]),
    )
    return load_config_dir(directory).only_config()


CONTENT_TYPES = [
    None,
    FORM,
    f"{FORM}; charset=utf-8",
    "TEXT/plain",
    "application/json",
    "nonsense",
    "",
    "a/b;",
]
QUERIES: list[list[str]] = [[], ["two"], ["three"], ["two", "two"]]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("query", QUERIES)
def test_deciding_on_the_facts_is_selecting_on_the_raw_header(
    config: FleConfig, content_type: str | None, query: list[str]
) -> None:
    f = facts(() if content_type is None else (content_type,))
    assert decide(config, f.media_type, query) == select(config, content_type, query)


def _coding_before(values: list[str]) -> str:
    """The edge's reading of Content-Encoding before the facts (edge_proxy/pipeline/body.py at bc585a4)."""
    tokens = [t.strip().lower() for v in values for t in v.split(",") if t.strip()]
    tokens = [t for t in tokens if t != "identity"] or ["identity"]
    if len(tokens) > 1 or tokens[0] not in ("identity", "gzip", "x-gzip", "deflate"):
        return "refused"
    return {"x-gzip": "gzip"}.get(tokens[0], tokens[0])


def _streamed_before(values: list[str]) -> bool:
    """multipart_stream.streams's reading of Content-Encoding before the facts."""
    return all(t in ("", "identity") for t in (t.strip().lower() for v in values for t in v.split(",")))


_CODING = st.sampled_from(
    ["", " ", "identity", "IDENTITY", "gzip", "x-gzip", "deflate", "br", ",", "gzip,gzip"]
)


@given(st.lists(st.lists(_CODING, max_size=3).map(",".join), max_size=3))
def test_codings_read_as_before(values: list[str]) -> None:
    f = facts(encodings=tuple(values))
    try:
        now = content_coding(f.codings).value
    except RequestRefused as refused:
        assert refused.status == 415
        now = "refused"
    assert now == _coding_before(values)
    assert f.identity == _streamed_before(values)
