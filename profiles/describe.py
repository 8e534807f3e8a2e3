"""Say in words what a loaded configuration will do to each kind of request, for `fle config check`.

Every outcome printed here is computed by calling `select()`, the function the proxy itself calls, on a
request made up for the case (a listed media type, an unlisted one, a mapped or unknown `fle-profile`
value), so the description cannot drift from the behaviour. Nothing here touches a network or a key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fields.json_pointer import JsonPointerPattern
from fields.patterns import FieldPattern
from fields.refusals import Reason

from .model import ConfigSet, FleConfig, Profile, PublicKey
from .select import QUERY_ARG_NAME, Action, Decision, select

# The proxy's reason when a query-argument profile meets a body format its patterns cannot read
# (edge_proxy/pipeline/bodies.py raises it)
FORMAT_MISMATCH = Reason.PROFILE_FORMAT_MISMATCH


def fingerprint(key: PublicKey) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, first 16 hex digits: enough to tell keys apart."""
    der = key.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def _unused(taken: set[str], stem: str) -> str:
    """A value not in `taken`, to stand for "any other" in a made-up request."""
    candidate, n = stem, 0
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _request_header(media_type: str) -> str:
    """A Content-Type a real client would send for `media_type` (multipart needs its boundary)."""
    return f"{media_type}; boundary=fle-check" if media_type.startswith("multipart/") else media_type


def _profile_name(profile: Profile) -> str:
    return f"profile {profile.id} ({profile.name})"


def outcome(decision: Decision) -> str:
    """One decision in words: encrypt with which profile, forward as is, or refuse with which code."""
    if decision.action is Action.FORWARD:
        return "forward as is (nothing encrypted)"
    if decision.action is Action.REJECT:
        reason = decision.reason or Reason.REJECTED_BY_CONTENT_TYPE  # select names one with every REJECT
        return f"refuse: {reason.status} {reason}"
    assert decision.profile is not None and decision.format is not None
    if decision.format not in decision.profile.reads:
        why = f"{decision.profile.id}'s patterns cannot read this format"
        return f"refuse: {FORMAT_MISMATCH.status} {FORMAT_MISMATCH} ({why})"
    return f"encrypt with {_profile_name(decision.profile)}"


def _selects(pattern: FieldPattern | JsonPointerPattern) -> str:
    if isinstance(pattern, JsonPointerPattern):
        return f"the value at {pattern.text!r}"
    if pattern.wildcard:
        return f"fields whose name starts with {pattern.prefix!r}" if pattern.prefix else "every field"
    return f"fields named {pattern.prefix!r}"


def describe_profile(profile: Profile) -> Iterator[str]:
    """Which fields (or JSON pointers) a profile encrypts, with which key and provider."""
    pointers = any(isinstance(p, JsonPointerPattern) for e in profile.entities for p in e.patterns)
    kind = "JSON pointers" if pointers else "field names"
    yield f"{_profile_name(profile)}: algorithm suite 0x{profile.algorithm_suite:04X}, patterns are {kind}"
    for entity in profile.entities:
        key = entity.public_key
        for pattern in entity.patterns:
            yield (
                f"  {_selects(pattern)}: encrypt with public key {key.name!r} ({key.id}), "
                f"provider {entity.provider_id!r}"
            )
    for index in profile.indexes:
        yield (
            f"  blind index {index.name!r} on {index.field!r}: beacon in {index.sidecar!r}, "
            f"{index.bits} bits, index key {index.key!r}, normalizer {index.normalize}"
        )
    yield (
        "  (names also match as origin frameworks read them: JSON keys in any case"
        if pointers
        else "  (names also match as origin frameworks read them: any case, name[], na.me, ..."
    ) + "; see docs/security.md)"


def describe_config(config: FleConfig) -> Iterator[str]:
    """Every case of `select()` for this config: each content type, each query argument, the unknowns."""
    mapped = [m.content_type for m in config.content_type_profiles]
    other_type = _unused(set(mapped), "application/x-unlisted")
    title = f"config {config.id}" + (f" ({config.comment})" if config.comment else "")
    yield title
    yield f"  ForwardWhenContentTypeIsUnknown: {str(config.forward_when_content_type_is_unknown).lower()}"
    yield (
        "  ForwardWhenQueryArgProfileIsUnknown: "
        f"{str(config.forward_when_query_arg_profile_is_unknown).lower()}"
    )
    yield f"  request bodies by Content-Type (no {QUERY_ARG_NAME} query argument):"
    for mapping in config.content_type_profiles:
        decision = select(config, _request_header(mapping.content_type), None)
        yield f"    {mapping.content_type} ({mapping.format.value}): {outcome(decision)}"
    unlisted = outcome(select(config, other_type, None))
    missing = outcome(select(config, None, None))
    if unlisted == missing:
        yield f"    any other Content-Type, or none: {unlisted}"
    else:
        yield f"    any other Content-Type: {unlisted}"
        yield f"    no Content-Type: {missing}"
    yield f"    a Content-Type that is not type/subtype: {outcome(select(config, 'nonsense', None))}"
    yield f"  {QUERY_ARG_NAME} query argument:"
    if not config.query_arg_profiles:
        yield "    ignored: this config maps no query argument (the Content-Type decides)"
    taken = {m.query_arg for m in config.query_arg_profiles}
    for qa_mapping in config.query_arg_profiles:
        yield f"    {QUERY_ARG_NAME}={qa_mapping.query_arg}:"
        for content_type in mapped:
            decision = select(config, _request_header(content_type), qa_mapping.query_arg)
            yield f"      {content_type}: {outcome(decision)}"
        yield f"      any other Content-Type: {outcome(select(config, other_type, qa_mapping.query_arg))}"
    if config.query_arg_profiles:
        unknown = _unused(taken, "unknown")
        cases = [*mapped, other_type]
        with_unknown = [outcome(select(config, _request_header(ct), unknown)) for ct in cases]
        if with_unknown == [outcome(select(config, _request_header(ct), None)) for ct in cases]:
            yield "    any other value: ignored, the Content-Type decides as above"
        elif len(set(with_unknown)) == 1:
            yield f"    any other value: {with_unknown[0]}"
        else:
            for ct, text in zip(cases, with_unknown, strict=True):
                yield f"    any other value, {ct}: {text}"
        first = next(iter(taken))
        twice = select(config, _request_header(mapped[0]) if mapped else None, [first, first])
        yield f"    given more than once: {outcome(twice)}"
    yield "  requests without a body: forwarded as is"


def describe(configs: ConfigSet) -> Iterator[str]:
    """The whole directory: keys, profiles, then what each config does."""
    yield (
        f"{len(configs.public_keys)} public key(s), {len(configs.profiles)} profile(s), "
        f"{len(configs.configs)} config(s)"
    )
    yield ""
    for key in configs.public_keys.values():
        yield (f"public key {key.id} ({key.name}): RSA-{key.key.key_size}, SHA-256 {fingerprint(key)}")
    for profile in configs.profiles.values():
        yield ""
        yield from describe_profile(profile)
    for config in configs.configs.values():
        yield ""
        yield from describe_config(config)
