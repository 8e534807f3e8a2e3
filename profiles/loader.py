"""Load a directory of CloudFront JSON files into a validated, linked ConfigSet.

Each file holds one object, in any of the shapes the AWS CLI prints or accepts:
`get-public-key` / `get-field-level-encryption-profile` / `get-field-level-encryption` output
(`{"ETag": ..., "PublicKey": {"Id", "PublicKeyConfig"}}` and the like), the same without `ETag`,
or the bare `PublicKeyConfig` / `FieldLevelEncryptionProfileConfig` / `FieldLevelEncryptionConfig`
object with an `Id` beside its own fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fields.header_params import HeaderParamError, parse_content_type
from fields.json_pointer import is_pointer_pattern, parse_pointer_pattern
from fields.patterns import parse_pattern

from .algorithm_suite import ALGORITHM_SUITE_KEY, algorithm_suite
from .errors import ConfigError, NoFleConfig
from .indexes import INDEXES_KEY, parse_indexes
from .json_node import Node
from .model import (
    BodyFormat,
    ConfigSet,
    ContentTypeProfile,
    EncryptionEntity,
    FleConfig,
    Profile,
    PublicKey,
    QueryArgProfile,
)

MIN_RSA_BITS = 2048
MAX_KEY_NAME_LENGTH = 128
MAX_FIELD_PATTERNS_PER_PROFILE = 10


@dataclass
class _Raw:
    """One file's object, classified, before the ids are linked."""

    kind: str  # "key" | "profile" | "config"
    id: str
    node: Node  # the *Config object


_WRAPPERS = {
    "PublicKey": ("key", "PublicKeyConfig"),
    "FieldLevelEncryptionProfile": ("profile", "FieldLevelEncryptionProfileConfig"),
    "FieldLevelEncryption": ("config", "FieldLevelEncryptionConfig"),
}
_CONFIG_KEYS = {config_key: kind for kind, config_key in _WRAPPERS.values()}
_BARE_MARKERS = {"EncodedKey": "key", "EncryptionEntities": "profile", "ContentTypeProfileConfig": "config"}


def _classify(root: Node) -> _Raw:
    obj = root.obj()
    for wrapper, (kind, config_key) in _WRAPPERS.items():
        if wrapper in obj:
            outer = root.get(wrapper)
            return _Raw(kind, outer.get("Id").str(), outer.get(config_key))
    for config_key, kind in _CONFIG_KEYS.items():
        if config_key in obj:  # {"Id": ..., "PublicKeyConfig": {...}}
            if "Id" not in obj:
                raise root.error(f'{config_key} has no Id beside it (CloudFront assigns one: add it as "Id")')
            return _Raw(kind, root.get("Id").str(), root.get(config_key))
    for marker, kind in _BARE_MARKERS.items():
        if marker in obj:
            if "Id" not in obj:
                raise root.error('a bare configuration object needs an "Id" key')
            return _Raw(kind, root.get("Id").str(), root)
    raise root.error(
        "not a CloudFront public key, field-level encryption profile or field-level encryption config "
        "(expected the output of aws cloudfront get-public-key, get-field-level-encryption-profile or "
        "get-field-level-encryption)"
    )


def _public_key(raw: _Raw) -> PublicKey:
    node = raw.node
    encoded = node.get("EncodedKey")
    pem = encoded.str()
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise encoded.error(f"not a PEM-encoded public key ({e})") from e
    if not isinstance(key, RSAPublicKey):
        raise encoded.error("field-level encryption needs an RSA public key")
    if key.key_size < MIN_RSA_BITS:
        raise encoded.error(f"RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required")
    comment = node.opt("Comment")
    return PublicKey(
        id=raw.id,
        name=node.get("Name").str(max_length=MAX_KEY_NAME_LENGTH),
        key=key,
        encoded_key=pem,
        comment=comment.str(allow_empty=True) if comment else "",
    )


def _profile(raw: _Raw, keys: dict[str, PublicKey]) -> Profile:
    node = raw.node
    entities: list[EncryptionEntity] = []
    seen_patterns: list[tuple[Node, Any]] = []  # one pattern kind per profile: checked below
    for entity_node in node.get("EncryptionEntities").items():
        key_node = entity_node.get("PublicKeyId")
        key_id = key_node.str()
        if key_id not in keys:
            raise key_node.error(f"PublicKeyId {key_id!r} names no public key in this directory")
        patterns = []
        for pattern_node in entity_node.get("FieldPatterns").items():
            try:
                if is_pointer_pattern(pattern_node.value):
                    pattern: Any = parse_pointer_pattern(pattern_node.value)
                else:
                    pattern = parse_pattern(pattern_node.value)
            except ValueError as e:
                raise pattern_node.error(str(e)) from e
            if seen_patterns and type(pattern) is not type(seen_patterns[0][1]):
                raise pattern_node.error(
                    "a profile's patterns must all be JSON pointers (JSON bodies) or all field names "
                    "(URLEncoded and Multipart bodies), not both"
                )
            for other_node, other in seen_patterns:
                if pattern.overlaps(other):
                    raise pattern_node.error(
                        f"pattern {pattern.text!r} overlaps {other.text!r} at {other_node.path}"
                    )
            seen_patterns.append((pattern_node, pattern))
            patterns.append(pattern)
        if not patterns:
            raise entity_node.error("an encryption entity needs at least one field pattern")
        entities.append(
            EncryptionEntity(
                public_key=keys[key_id],
                provider_id=entity_node.get("ProviderId").str(max_length=128),
                patterns=tuple(patterns),
            )
        )
    if not entities:
        raise node.get("EncryptionEntities").error("a profile needs at least one encryption entity")
    if len(seen_patterns) > MAX_FIELD_PATTERNS_PER_PROFILE:
        raise node.get("EncryptionEntities").error(
            f"a profile may have at most {MAX_FIELD_PATTERNS_PER_PROFILE} field patterns, "
            f"found {len(seen_patterns)}"
        )
    comment = node.opt("Comment")
    return Profile(
        id=raw.id,
        name=node.get("Name").str(),
        entities=tuple(entities),
        comment=comment.str(allow_empty=True) if comment else "",
        algorithm_suite=algorithm_suite(node.opt(ALGORITHM_SUITE_KEY)),
        indexes=parse_indexes(node.opt(INDEXES_KEY), [pattern for _, pattern in seen_patterns]),
    )


# --- fle-edge extensions to CloudFront's format (docs/formats.md; the suite in algorithm_suite.py) ---
_FORMAT_MEDIA_TYPES = {
    BodyFormat.JSON: "application/json or a type ending in +json",
    BodyFormat.MULTIPART: "multipart/form-data",
}


def _check_format(node: Node, body_format: BodyFormat, media_type: str, profile: Profile | None) -> None:
    if body_format is BodyFormat.JSON and not (
        media_type == "application/json" or media_type.endswith("+json")
    ):
        raise node.error(f"Format JSON needs {_FORMAT_MEDIA_TYPES[body_format]}, not {media_type!r}")
    if body_format is BodyFormat.MULTIPART and media_type != "multipart/form-data":
        raise node.error(f"Format Multipart needs {_FORMAT_MEDIA_TYPES[body_format]}, not {media_type!r}")
    if profile is not None and body_format not in profile.reads:
        wanted = "JSON pointers (/a/b)" if body_format is BodyFormat.JSON else "field names"
        raise node.error(
            f"profile {profile.id!r} cannot be used with Format {body_format.value}: "
            f"its patterns must be {wanted}"
        )


# --- end of fle-edge extensions ---


def normalise_media_type(content_type: str) -> str:
    """`Application/X-WWW-Form-URLEncoded; charset=UTF-8` -> `application/x-www-form-urlencoded`.

    Read with the proxy's one strict header parser; HeaderParamError (a ValueError) when it refuses it.
    """
    return parse_content_type(content_type).kind


def _resolve_profile(node: Node, profiles: dict[str, Profile]) -> Profile:
    profile_id = node.str()
    if profile_id not in profiles:
        raise node.error(
            f"ProfileId {profile_id!r} names no field-level encryption profile in this directory"
        )
    return profiles[profile_id]


def _config(raw: _Raw, profiles: dict[str, Profile]) -> FleConfig:
    node = raw.node
    ct_config = node.get("ContentTypeProfileConfig")
    forward_ct = ct_config.get("ForwardWhenContentTypeIsUnknown").bool()
    content_types: list[ContentTypeProfile] = []
    ct_list = ct_config.opt("ContentTypeProfiles")
    for item in ct_list.items() if ct_list else ():
        format_node = item.get("Format")
        try:
            body_format = BodyFormat(format_node.str())
        except ValueError:
            raise format_node.error(
                f"unsupported Format {format_node.value!r}; "
                f"supported: {', '.join(f.value for f in BodyFormat)}"
            ) from None
        ct_node = item.get("ContentType")
        try:
            media_type = normalise_media_type(ct_node.str())
        except HeaderParamError:
            raise ct_node.error(f"{ct_node.value!r} is not a media type (type/subtype)") from None
        if any(existing.content_type == media_type for existing in content_types):
            raise ct_node.error(f"content type {media_type!r} is mapped twice")
        profile_node = item.opt("ProfileId")
        profile = _resolve_profile(profile_node, profiles) if profile_node and profile_node.value else None
        _check_format(item, body_format, media_type, profile)
        content_types.append(ContentTypeProfile(media_type, body_format, profile))

    qa_config = node.opt("QueryArgProfileConfig")
    forward_qa = False
    query_args: list[QueryArgProfile] = []
    if qa_config is not None:
        forward_qa = qa_config.get("ForwardWhenQueryArgProfileIsUnknown").bool()
        qa_list = qa_config.opt("QueryArgProfiles")
        for item in qa_list.items() if qa_list else ():
            arg_node = item.get("QueryArg")
            arg = arg_node.str()
            if any(existing.query_arg == arg for existing in query_args):
                raise arg_node.error(f"query argument {arg!r} is mapped twice")
            profile = _resolve_profile(item.get("ProfileId"), profiles)
            if content_types and not any(ct.format in profile.reads for ct in content_types):
                raise item.error(f"profile {profile.id!r} reads none of the Formats this config maps")
            query_args.append(QueryArgProfile(arg, profile))
    comment = node.opt("Comment")
    return FleConfig(
        id=raw.id,
        comment=comment.str(allow_empty=True) if comment else "",
        forward_when_content_type_is_unknown=forward_ct,
        content_type_profiles=tuple(content_types),
        forward_when_query_arg_profile_is_unknown=forward_qa,
        query_arg_profiles=tuple(query_args),
    )


def load_config_dir(directory: str | Path) -> ConfigSet:
    """Read every `*.json` file in `directory`, validate and link them; ConfigError on the first problem."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"configuration directory {str(root)!r} does not exist or is not a directory")
    raws: dict[str, list[_Raw]] = {"key": [], "profile": [], "config": []}
    seen: dict[tuple[str, str], str] = {}
    for path in sorted(root.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}", file=str(path)
            ) from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read file: {e}", file=str(path)) from e
        raw = _classify(Node(document, str(path)))
        if (raw.kind, raw.id) in seen:
            raise ConfigError(f"Id {raw.id!r} is also defined in {seen[(raw.kind, raw.id)]}", file=str(path))
        seen[(raw.kind, raw.id)] = str(path)
        raws[raw.kind].append(raw)
    keys = {raw.id: _public_key(raw) for raw in raws["key"]}
    profiles = {raw.id: _profile(raw, keys) for raw in raws["profile"]}
    configs = {raw.id: _config(raw, profiles) for raw in raws["config"]}
    if not configs:
        raise NoFleConfig(
            f"no field-level encryption config (get-field-level-encryption output) in {str(root)!r}"
        )
    return ConfigSet(public_keys=keys, profiles=profiles, configs=configs)
