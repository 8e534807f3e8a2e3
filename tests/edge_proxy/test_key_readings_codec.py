"""Key readings in the codecs (issue 24, finding 2): a JSON member or form name an accessor reads as a
protected path is encrypted; a JavaScript prototype key is refused. The real accessors (lodash, Express,
multer, Laravel's helpers) are in tests/security/test_key_readings.py; these pin each rule in the codec."""

from __future__ import annotations

import json

import pytest

from edge_proxy import Limits, RequestRefused
from fields import json_body
from tests.bodies_helpers import profile, stand_in_decrypt, stand_in_encrypt

POINTERS = profile("/phone", "/card/number", "/cards/*/number")
DOTTED_POINTER = profile("/card.number")
FIELDS = profile("phone", "user[ssn]")
SECRET = "4111secret"


def rewrite(doc: str, prof=POINTERS) -> bytes:  # type: ignore[no-untyped-def]
    return json_body.rewrite(doc.encode(), prof, stand_in_encrypt, Limits())[0]


def encrypted_values(out: bytes) -> list[bytes]:
    found: list[bytes] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value != SECRET:
            found.append(stand_in_decrypt(value))

    walk(json.loads(out))
    return found


@pytest.mark.parametrize(
    "doc",
    [
        '{"card.number": "4111secret"}',
        '{"card": {"number": "other"}, "card.number": "4111secret"}',  # beside the real one (the issue's)
        '{"card[number]": "4111secret"}',
        '{"card[\'number\']": "4111secret"}',
        '{"card[\\"number\\"]": "4111secret"}',
        '{"card]number": "4111secret"}',
        '{"CARD.Number": "4111secret"}',
        '{"card\\u002enumber": "4111secret"}',
        '{"card": {"number.last4": "4111secret"}}',  # beneath the protected path
        '{"card.number.x": "4111secret"}',
        '{"cards.0.number": "4111secret"}',
        '{"cards[7].number": "4111secret"}',
        '{"cards": {"3.number": "4111secret"}}',
        '{"cards.3": {"number": "4111secret"}}',
    ],
)
def test_a_key_read_as_a_protected_path_is_encrypted(doc: str) -> None:
    out = rewrite(doc)
    assert SECRET.encode() not in out
    assert any(SECRET.encode() in value for value in encrypted_values(out))


@pytest.mark.parametrize(
    "doc",
    [
        '{"card..number": "4111secret"}',  # card, "", number: no accessor reads it as card.number
        '{"x.card.number": "4111secret"}',
        '{"note.phone": "4111secret"}',
        '{"card": {"x.number": "4111secret"}}',
        '{"protocol": "4111secret", "prototypes": {"a": 1}, "constructor": {"name": "x"}}',
    ],
)
def test_a_key_no_accessor_reads_as_protected_passes(doc: str) -> None:
    assert rewrite(doc) == doc.encode()


def test_a_dotted_pointer_also_selects_the_nested_value() -> None:
    """input('card.number') in Laravel reads only the nested value; lodash get too, unless a member is."""
    out = rewrite('{"card": {"number": "4111secret"}}', DOTTED_POINTER)
    assert SECRET.encode() not in out
    out = rewrite('{"card.number": "4111secret"}', DOTTED_POINTER)
    assert SECRET.encode() not in out


@pytest.mark.parametrize(
    "doc",
    [
        '{"__proto__": {"phone": "4111secret"}}',
        '{"note": {"deep": [{"__proto__": {"a": 1}}]}}',  # anywhere, protected or not
        '{"\\u005f_proto__": {"phone": "4111secret"}}',
        '{"__pr\\u006fto__": {"phone": "4111secret"}}',
        '{"constructor": {"prototype": {"phone": "4111secret"}}}',
        '{"constructor": {"prototype.phone": "4111secret"}}',
        '{"constructor.prototype": {"phone": "4111secret"}}',
        '{"constructor.prototype.phone": "4111secret"}',
        '{"a[__proto__][phone]": "4111secret"}',
        '{"__proto__.phone": "4111secret"}',
    ],
)
def test_a_prototype_key_is_refused(doc: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        rewrite(doc)
    assert refused.value.status == 400 and refused.value.reason == "PrototypeKeyClientError"


@pytest.mark.parametrize(
    "name",
    [
        "__proto__[phone]",
        "constructor[prototype][phone]",
        "__proto__.phone",
        "user[__proto__][ssn]",
        "__proto__",
    ],
)
def test_a_form_name_read_as_a_prototype_is_refused(name: str) -> None:
    with pytest.raises(RequestRefused) as refused:
        FIELDS.selection.tag_for(name)
    assert refused.value.reason == "MalformedInputClientError"


@pytest.mark.parametrize("name", ["[[phone][", "['phone']", "user.ssn", "user['ssn']", "[user]]ssn"])
def test_a_form_name_an_accessor_reads_as_protected_is_protected(name: str) -> None:
    """multer and qs keep these names (or a key of them) whole; lodash and Laravel read them as the path."""
    assert FIELDS.selection.tag_for(name) is not None
