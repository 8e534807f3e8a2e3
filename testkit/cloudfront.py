"""CloudFront field-level encryption JSON in the shapes `aws cloudfront get-*` prints, and config
directories made of it: the one place tests and benchmarks build configuration from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from keystore.tooling import public_pem

FORM = "application/x-www-form-urlencoded"


def cf_public_key(key_id: str, name: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {
        "ETag": "E1",
        "PublicKey": {
            "Id": key_id,
            "CreatedTime": "2026-11-23T12:00:00.000Z",
            "PublicKeyConfig": {
                "CallerReference": f"ref-{key_id}",
                "Name": name,
                "EncodedKey": public_pem(key.public_key()),
                "Comment": "",
            },
        },
    }


def cf_profile(profile_id: str, entities: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    """`entities`: (PublicKeyId, ProviderId, [patterns])."""
    items = [
        {
            "PublicKeyId": key_id,
            "ProviderId": provider,
            "FieldPatterns": {"Quantity": len(patterns), "Items": patterns},
        }
        for key_id, provider, patterns in entities
    ]
    return {
        "ETag": "E2",
        "FieldLevelEncryptionProfile": {
            "Id": profile_id,
            "LastModifiedTime": "2026-11-23T12:00:00.000Z",
            "FieldLevelEncryptionProfileConfig": {
                "Name": f"profile-{profile_id}",
                "CallerReference": f"ref-{profile_id}",
                "Comment": "",
                "EncryptionEntities": {"Quantity": len(items), "Items": items},
            },
        },
    }


def cf_config(
    config_id: str,
    content_types: list[tuple[str, str | None]] | list[tuple[str, str | None, str]],
    *,
    forward_unknown_content_type: bool = False,
    query_args: list[tuple[str, str]] = (),  # type: ignore[assignment]
    forward_unknown_query_arg: bool = False,
) -> dict[str, Any]:
    """`content_types`: (content type, profile id or None for "forward untouched"[, Format]), the Format
    "URLEncoded" unless given ("JSON" and "Multipart" are this project's extensions of CloudFront's)."""
    ct_items = [
        {"Format": fmt, "ContentType": ct, **({"ProfileId": pid} if pid else {})}
        for ct, pid, fmt in ((*item, "URLEncoded")[:3] for item in content_types)
    ]
    qa_items = [{"QueryArg": arg, "ProfileId": pid} for arg, pid in query_args]
    return {
        "ETag": "E3",
        "FieldLevelEncryption": {
            "Id": config_id,
            "LastModifiedTime": "2026-11-23T12:00:00.000Z",
            "FieldLevelEncryptionConfig": {
                "CallerReference": f"ref-{config_id}",
                "Comment": "",
                "QueryArgProfileConfig": {
                    "ForwardWhenQueryArgProfileIsUnknown": forward_unknown_query_arg,
                    "QueryArgProfiles": {"Quantity": len(qa_items), "Items": qa_items},
                },
                "ContentTypeProfileConfig": {
                    "ForwardWhenContentTypeIsUnknown": forward_unknown_content_type,
                    "ContentTypeProfiles": {"Quantity": len(ct_items), "Items": ct_items},
                },
            },
        },
    }


def write_config_dir(directory: Path, *documents: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        old.unlink()
    for index, document in enumerate(documents):
        (directory / f"{index:02d}.json").write_text(json.dumps(document, indent=2))
    return directory


def phone_config_dir(directory: Path, key: rsa.RSAPrivateKey, *, text_passes: bool = False) -> Path:
    """The usual test config: key KA ("KeyA"), provider Alpha, pattern `phone`, for form bodies;
    with `text_passes`, `text/plain` is mapped to no profile (forwarded untouched)."""
    mappings: list[tuple[str, str | None]] = [(FORM, "P1")]
    if text_passes:
        mappings.append(("text/plain", None))
    return write_config_dir(
        directory,
        cf_public_key("KA", "KeyA", key),
        cf_profile("P1", [("KA", "Alpha", ["phone"])]),
        cf_config("C1", mappings),
    )
