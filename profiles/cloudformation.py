"""A loaded configuration as a CloudFormation template, so CloudFront can run what `fle proxy` runs.

Resource types and properties are CloudFormation's own (checked against the template reference and the
resource schemas cfn-lint ships): `AWS::CloudFront::PublicKey` (`PublicKeyConfig`),
`AWS::CloudFront::FieldLevelEncryptionProfile` (`FieldLevelEncryptionProfileConfig`) and
`AWS::CloudFront::FieldLevelEncryptionConfig` (its properties at the top level). Their lists are plain
arrays, without the API's `Quantity`/`Items` wrappers.

Links: a profile names its key by `Ref` (a PublicKey's Ref is its Id); a config names its profile by
`Fn::GetAtt [Profile, Id]`, because the Ref of a profile or config is its ARN, not its Id. The
config's Id, which a distribution's cache behaviour takes as `FieldLevelEncryptionId`, is an output.
CloudFormation has the FLE profile and config types in us-east-1 only (CloudFront's home region, where
its global resources are managed), so the template is for a stack there.

What CloudFront cannot do is refused, every such thing listed at once, never silently dropped: our
JSON and Multipart formats (and JSON-pointer patterns), content types other than
application/x-www-form-urlencoded, algorithm suites other than 0x0178, blind indexes (Fle:Indexes), keys
other than RSA-2048, and comments over 128 characters.
"""

from __future__ import annotations

import re
from typing import Any

from esdk_format import Suite

from .errors import ConfigError
from .model import BodyFormat, ConfigSet, FleConfig, Profile, PublicKey

CLOUDFRONT_CONTENT_TYPE = "application/x-www-form-urlencoded"
CLOUDFRONT_SUITE = Suite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
CLOUDFRONT_KEY_BITS = 2048
MAX_COMMENT = 128


class ExportError(ConfigError):
    """The configuration uses something CloudFront's field-level encryption does not have."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "CloudFront cannot run this configuration as it is:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _logical(prefix: str, cloudfront_id: str) -> str:
    """A logical id (letters and digits only) that keeps the CloudFront Id readable."""
    return prefix + re.sub(r"[^A-Za-z0-9]", "", cloudfront_id)


def _caller_reference(cloudfront_id: str) -> dict[str, str]:
    # Unique per stack (CloudFront refuses a CallerReference it has seen) and stable across updates.
    return {"Fn::Sub": "${AWS::StackName}-" + cloudfront_id}


def _key_problems(key: PublicKey) -> list[str]:
    problems = []
    if key.key.key_size != CLOUDFRONT_KEY_BITS:
        problems.append(
            f"public key {key.id} ({key.name}) has {key.key.key_size} bits; "
            "CloudFront field-level encryption takes RSA-2048 keys only"
        )
    if len(key.comment) > MAX_COMMENT:
        problems.append(f"public key {key.id}: Comment is over {MAX_COMMENT} characters")
    return problems


def _profile_problems(profile: Profile) -> list[str]:
    problems = []
    if profile.algorithm_suite != CLOUDFRONT_SUITE:
        problems.append(
            f"profile {profile.id} ({profile.name}) uses algorithm suite 0x{profile.algorithm_suite:04X} "
            "(Fle:AlgorithmSuite); CloudFront writes 0x0178 only"
        )
    if profile.indexes:
        problems.append(
            f"profile {profile.id} ({profile.name}) has blind indexes (Fle:Indexes) on "
            f"{[index.field for index in profile.indexes]}; CloudFront computes no beacons, so records "
            "written through it could never be found"
        )
    pointers = [p.text for e in profile.entities for p in e.patterns if p.text.startswith("/")]
    if pointers:
        problems.append(
            f"profile {profile.id} ({profile.name}) has JSON-pointer patterns {pointers}; "
            "CloudFront matches form field names only"
        )
    if len(profile.comment) > MAX_COMMENT:
        problems.append(f"profile {profile.id}: Comment is over {MAX_COMMENT} characters")
    return problems


def _config_problems(config: FleConfig) -> list[str]:
    problems = []
    for mapping in config.content_type_profiles:
        if mapping.format is not BodyFormat.URL_ENCODED or mapping.content_type != CLOUDFRONT_CONTENT_TYPE:
            problems.append(
                f"config {config.id} maps {mapping.content_type} as {mapping.format.value}; CloudFront "
                f"takes only {CLOUDFRONT_CONTENT_TYPE} as URLEncoded"
            )
    if not config.content_type_profiles:
        problems.append(
            f"config {config.id} maps no content type; CloudFormation needs at least one "
            f"(e.g. {CLOUDFRONT_CONTENT_TYPE} with an empty ProfileId to forward it unencrypted)"
        )
    if len(config.comment) > MAX_COMMENT:
        problems.append(f"config {config.id}: Comment is over {MAX_COMMENT} characters")
    return problems


def _public_key(key: PublicKey) -> dict[str, Any]:
    config: dict[str, Any] = {
        "CallerReference": _caller_reference(key.id),
        "Name": key.name,
        "EncodedKey": key.encoded_key,
    }
    if key.comment:
        config["Comment"] = key.comment
    return {"Type": "AWS::CloudFront::PublicKey", "Properties": {"PublicKeyConfig": config}}


def _profile(profile: Profile) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Name": profile.name,
        "CallerReference": _caller_reference(profile.id),
        "EncryptionEntities": [
            {
                "PublicKeyId": {"Ref": _logical("PublicKey", entity.public_key.id)},
                "ProviderId": entity.provider_id,
                "FieldPatterns": [p.text for p in entity.patterns],
            }
            for entity in profile.entities
        ],
    }
    if profile.comment:
        config["Comment"] = profile.comment
    return {
        "Type": "AWS::CloudFront::FieldLevelEncryptionProfile",
        "Properties": {"FieldLevelEncryptionProfileConfig": config},
    }


def _profile_id(profile: Profile | None) -> Any:
    if profile is None:
        return ""  # CloudFormation's (and CloudFront's) way to say: forward this content type unencrypted
    return {"Fn::GetAtt": [_logical("FleProfile", profile.id), "Id"]}


def _config(config: FleConfig) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "CallerReference": _caller_reference(config.id),
        "ContentTypeProfileConfig": {
            "ForwardWhenContentTypeIsUnknown": config.forward_when_content_type_is_unknown,
            "ContentTypeProfiles": [
                {
                    "ContentType": m.content_type,
                    "Format": m.format.value,
                    "ProfileId": _profile_id(m.profile),
                }
                for m in config.content_type_profiles
            ],
        },
        "QueryArgProfileConfig": {
            "ForwardWhenQueryArgProfileIsUnknown": config.forward_when_query_arg_profile_is_unknown,
            "QueryArgProfiles": [
                {"QueryArg": m.query_arg, "ProfileId": _profile_id(m.profile)}
                for m in config.query_arg_profiles
            ],
        },
    }
    if config.comment:  # an empty Comment is refused by the schema: leave it out instead
        properties["Comment"] = config.comment
    return {"Type": "AWS::CloudFront::FieldLevelEncryptionConfig", "Properties": properties}


def to_cloudformation(configs: ConfigSet, description: str | None = None) -> dict[str, Any]:
    """The template for `configs`; ExportError lists everything CloudFront could not run."""
    problems = [p for k in configs.public_keys.values() for p in _key_problems(k)]
    problems += [p for profile in configs.profiles.values() for p in _profile_problems(profile)]
    problems += [p for config in configs.configs.values() for p in _config_problems(config)]
    if problems:
        raise ExportError(problems)
    resources: dict[str, Any] = {}
    for key in configs.public_keys.values():
        resources[_logical("PublicKey", key.id)] = _public_key(key)
    for profile in configs.profiles.values():
        resources[_logical("FleProfile", profile.id)] = _profile(profile)
    outputs: dict[str, Any] = {}
    for config in configs.configs.values():
        name = _logical("FleConfig", config.id)
        resources[name] = _config(config)
        outputs[f"{name}Id"] = {
            "Description": f"FieldLevelEncryptionId for a cache behaviour (was {config.id} in the directory)",
            "Value": {"Fn::GetAtt": [name, "Id"]},
        }
    for key in configs.public_keys.values():
        name = _logical("PublicKey", key.id)
        outputs[f"{name}Id"] = {
            "Description": f"Id of public key {key.name} (was {key.id} in the directory)",
            "Value": {"Ref": name},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description
        or (
            "CloudFront field-level encryption: public keys, profiles and configs exported by fle-edge "
            "(deploy in us-east-1, where CloudFormation has the FLE resource types)"
        ),
        "Resources": resources,
        "Outputs": outputs,
    }
