"""FLE configuration: CloudFront public keys, profiles and configs, loaded, validated and matched."""

from fields.patterns import FieldPattern, parse_pattern

from .errors import ConfigError, NoFleConfig
from .indexes import INDEXES_KEY, SIDECAR_SUFFIX, BlindIndex
from .loader import load_config_dir, normalise_media_type
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
from .select import QUERY_ARG_NAME, Action, Decision, select

__all__ = [
    "INDEXES_KEY",
    "QUERY_ARG_NAME",
    "SIDECAR_SUFFIX",
    "Action",
    "BlindIndex",
    "BodyFormat",
    "ConfigError",
    "ConfigSet",
    "ContentTypeProfile",
    "Decision",
    "EncryptionEntity",
    "FieldPattern",
    "FleConfig",
    "NoFleConfig",
    "Profile",
    "PublicKey",
    "QueryArgProfile",
    "load_config_dir",
    "normalise_media_type",
    "parse_pattern",
    "select",
]
