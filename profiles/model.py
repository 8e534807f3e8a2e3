"""The FLE configuration as frozen records, linked by reference once loading has resolved the ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from esdk_format import Suite
from fields.body_format import BodyFormat as BodyFormat  # its old home: profiles.model.BodyFormat
from fields.json_pointer import JsonPointerPattern, is_pointer_pattern
from fields.patterns import FieldPattern
from fields.selection import Selection

from .indexes import BlindIndex

_POINTER_FORMATS = frozenset({BodyFormat.JSON})
_NAME_FORMATS = frozenset(BodyFormat) - _POINTER_FORMATS


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A CloudFront PublicKey: `name` is what goes into the ciphertext as the key id."""

    id: str
    name: str
    key: RSAPublicKey = field(repr=False, compare=False)
    encoded_key: str = field(repr=False)
    comment: str = ""


@dataclass(frozen=True, slots=True)
class EncryptionEntity:
    """Fields matching `patterns` are encrypted with `public_key`, labelled with `provider_id`."""

    public_key: PublicKey
    provider_id: str
    patterns: tuple[FieldPattern | JsonPointerPattern, ...]


@dataclass(frozen=True, slots=True)
class Profile:
    """A FieldLevelEncryptionProfile: encryption entities whose patterns never overlap."""

    id: str
    name: str
    entities: tuple[EncryptionEntity, ...]
    comment: str = ""
    # "Fle:AlgorithmSuite" in the profile config; 0x0478 commits to its key
    algorithm_suite: Suite = Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
    # "Fle:Indexes": the fields whose beacon the edge writes beside the ciphertext (profiles/indexes.py)
    indexes: tuple[BlindIndex, ...] = ()
    # the body formats this profile's patterns can be read in: JSON pointers for JSON only, field names for
    # the others; derived once here, so neither loading nor a request has to walk the patterns again
    reads: frozenset[BodyFormat] = field(init=False, repr=False, compare=False)
    _selection: Selection[EncryptionEntity] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        pointers = any(is_pointer_pattern(p.text) for e in self.entities for p in e.patterns)
        object.__setattr__(self, "reads", _POINTER_FORMATS if pointers else _NAME_FORMATS)

    @property
    def selection(self) -> Selection[EncryptionEntity]:
        """The profile's patterns compiled for the codecs, each tagged with its entity: compiled on first
        use (the edge's CompiledConfig asks at load, so a request never compiles) and kept."""
        compiled = self._selection
        if compiled is None:
            pairs = [(p, e) for e in self.entities for p in e.patterns]
            compiled = Selection.compile(
                names=[(p, e) for p, e in pairs if isinstance(p, FieldPattern)],
                pointers=[(p, e) for p, e in pairs if isinstance(p, JsonPointerPattern)],
            )
            object.__setattr__(self, "_selection", compiled)
        return compiled

    def entity_for(self, field_name: str) -> EncryptionEntity | None:
        """The entity whose pattern selects `field_name`, or None; patterns never overlap, so one at most.

        Field names are read by field-name patterns only: a profile of JSON pointers selects none of them.
        """
        for entity in self.entities:
            for pattern in entity.patterns:
                if isinstance(pattern, FieldPattern) and pattern.matches(field_name):
                    return entity
        return None


@dataclass(frozen=True, slots=True)
class ContentTypeProfile:
    """Requests with this media type (lower-case, no parameters) get `profile`, or none when it is None."""

    content_type: str
    format: BodyFormat
    profile: Profile | None


@dataclass(frozen=True, slots=True)
class QueryArgProfile:
    """`fle-profile=<query_arg>` selects `profile`."""

    query_arg: str
    profile: Profile


@dataclass(frozen=True, slots=True)
class FleConfig:
    """A FieldLevelEncryption configuration: what a cache behaviour points at."""

    id: str
    comment: str
    forward_when_content_type_is_unknown: bool
    content_type_profiles: tuple[ContentTypeProfile, ...]
    forward_when_query_arg_profile_is_unknown: bool
    query_arg_profiles: tuple[QueryArgProfile, ...]

    @property
    def profiles(self) -> list[Profile]:
        """Every profile the config uses: by content type, then by query argument (one may appear twice)."""
        by_type = [m.profile for m in self.content_type_profiles if m.profile is not None]
        return by_type + [m.profile for m in self.query_arg_profiles]


@dataclass(frozen=True, slots=True)
class ConfigSet:
    """Everything loaded from one configuration directory, by CloudFront id."""

    public_keys: dict[str, PublicKey]
    profiles: dict[str, Profile]
    configs: dict[str, FleConfig]

    def only_config(self, config_id: str | None = None) -> FleConfig:
        """The config named `config_id`, or the single one when no id is given."""
        from .errors import ConfigError

        if config_id is not None:
            try:
                return self.configs[config_id]
            except KeyError:
                known = ", ".join(sorted(self.configs)) or "none"
                raise ConfigError(
                    f"no field-level encryption config with Id {config_id!r} (known: {known})"
                ) from None
        if len(self.configs) != 1:
            known = ", ".join(sorted(self.configs)) or "none"
            raise ConfigError(
                f"expected exactly one field-level encryption config, found {len(self.configs)} ({known}); "
                "choose one by its Id"
            )
        return next(iter(self.configs.values()))
