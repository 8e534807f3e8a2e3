"""Fuzz target for the request rewriter (forms, JSON, multipart), run by atheris (libFuzzer flags apply).

One input picks a codec, a Content-Type and a body. The rewriter must either refuse (RequestRefused) or
return a body in which independent readers find every protected field encrypted: `urllib.parse` for
forms (names read as `fields.names` says origin frameworks read them), `json` for JSON (keys
compared case-insensitively), the standard library's MIME parser for multipart. Any other exception is
a crash. The stand-in cipher marks its output, so "encrypted" is checkable without keys.

    python fuzz/rewrite_target.py -max_total_time=600 -rss_limit_mb=2048 fuzz/corpus   # a longer run
"""

from __future__ import annotations

import base64
import email
import email.policy
import inspect
import json
import sys
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris
from cryptography.hazmat.primitives.asymmetric import rsa

from edge_proxy import Limits, RequestRefused
from edge_proxy.pipeline.bodies import rewrite_body
from esdk_format import Suite
from fields.json_pointer import parse_pointer_pattern
from fields.patterns import parse_pattern
from profiles import EncryptionEntity, Profile, PublicKey
from profiles.model import BodyFormat
from profiles.select import Action, Decision

MARK = b"\x00FUZZ"
_KEY = PublicKey(id="K1", name="Fuzz", key=rsa.generate_private_key(65537, 2048).public_key(), encoded_key="")
_FIELDS = (parse_pattern("phone"), parse_pattern("card*"))
_POINTERS = (parse_pointer_pattern("/phone"), parse_pointer_pattern("/card/*/number"))


def _profile(patterns: tuple) -> Profile:  # type: ignore[type-arg]
    entity = EncryptionEntity(public_key=_KEY, provider_id="Fuzz", patterns=patterns)
    suite = Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
    return Profile(id="P1", name="fuzz", entities=(entity,), algorithm_suite=suite)


PROFILE = _profile(_FIELDS)  # forms and multipart
JSON_PROFILE = _profile(_POINTERS)
LIMITS = Limits(max_encrypted_fields=1000)
CONTENT_TYPES = {
    BodyFormat.URL_ENCODED: (
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
    ),
    BodyFormat.JSON: ("application/json",),
    BodyFormat.MULTIPART: ("multipart/form-data; boundary=B", 'multipart/form-data; boundary="a:b"'),
}


class Leak(AssertionError):
    """A protected field left the rewriter in plaintext."""


def _encrypt(value: bytes, entity: EncryptionEntity, suite: int) -> bytes:
    return base64.b64encode(MARK + value)


def _is_ciphertext(text: str | bytes) -> bool:
    try:
        return base64.b64decode(text, validate=True).startswith(MARK)
    except ValueError:
        return False


def _protected(name: str) -> bool:
    """A name the proxy would encrypt, or refuse (a name it cannot read safely counts as protected)."""
    try:
        return PROFILE.selection.tag_for(name) is not None
    except RequestRefused:
        return True


def _check_form(out: bytes) -> None:
    for name, value in parse_qsl(out.decode("latin-1"), keep_blank_values=True, encoding="utf-8"):
        if _protected(name) and not _is_ciphertext(value):
            raise Leak(f"form field {name!r} is not encrypted")


def _check_json(out: bytes) -> None:
    def walk(value: object, path: tuple[str, ...]) -> None:
        if any(p.matches(path) for p in _FOLDED):
            if not (isinstance(value, str) and _is_ciphertext(value)):
                raise Leak(f"JSON value at {path} is not encrypted")
            return
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, (*path, key.casefold()))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, (*path, str(index)))

    walk(json.loads(out), ())


def _check_multipart(out: bytes, content_type: str) -> None:
    message = email.message_from_bytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + out, policy=email.policy.compat32
    )
    for part in message.get_payload() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        protected = isinstance(name, str) and _protected(name)
        if protected and not _is_ciphertext(part.get_payload(decode=False).strip()):
            raise Leak(f"multipart part {name!r} is not encrypted")


_FOLDED = tuple(
    type(p)(p.text, tuple(s if s is None else s.casefold() for s in p.segments)) for p in _POINTERS
)


def check(body_format: BodyFormat, content_type: str, body: bytes) -> bytes | None:
    """Rewrite `body`; None when refused; Leak when a protected field would go out in plaintext."""
    profile = JSON_PROFILE if body_format is BodyFormat.JSON else PROFILE
    decision = Decision(Action.ENCRYPT, profile=profile, format=body_format)
    try:
        out, _ = rewrite_body(decision, body, content_type, _encrypt, LIMITS)
    except RequestRefused:
        return None
    if body_format is BodyFormat.URL_ENCODED:
        _check_form(out)
    elif body_format is BodyFormat.JSON:
        _check_json(out)
    else:
        _check_multipart(out, content_type)
    return out


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    body_format = list(CONTENT_TYPES)[provider.ConsumeIntInRange(0, 2)]
    choices = CONTENT_TYPES[body_format]
    content_type = choices[provider.ConsumeIntInRange(0, len(choices) - 1)]
    check(body_format, content_type, provider.ConsumeBytes(provider.remaining_bytes()))


def _instrument_ours() -> None:
    """Coverage feedback from our modules only (instrumenting every loaded module takes minutes)."""
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in ("edge_proxy", "profiles"):
            continue
        for obj in list(vars(module).values()):
            members = vars(obj).values() if inspect.isclass(obj) else [obj]
            for member in members:
                if inspect.isfunction(member) and member.__module__ == name:
                    atheris.instrument_func(member)


def main() -> None:
    _instrument_ours()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
