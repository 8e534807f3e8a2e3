"""Write or update a CloudFront field-level encryption profile so that given fields use a new key.

`fle keys create --config DIR --fields phone,card*` uses this after the key is made: the profile (found in
DIR by its Id, or a new `<Id>.profile.json`) gets an encryption entity for the key's Id and provider, and a
directory without a FieldLevelEncryption config gets one that maps form bodies to the profile. Documents are
read and written in the three shapes the loader accepts (the `aws cloudfront get-...` output, `{"Id",
"<Type>Config"}`, or the bare config object with an `Id`), and the result is checked by loading the
directory as the proxy would; on a refusal the files are put back as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiles import ConfigError, load_config_dir, parse_pattern

_PROFILE_CONFIG = "FieldLevelEncryptionProfileConfig"
_CONFIG_KINDS = ("FieldLevelEncryption", "FieldLevelEncryptionConfig", "ContentTypeProfileConfig")


class ProfileEditError(Exception):
    """The profile cannot be written as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class EntityRequest:
    """Fields `patterns` of profile `profile_id` are encrypted with key `public_key_id` as `provider_id`."""

    profile_id: str
    provider_id: str
    public_key_id: str
    patterns: tuple[str, ...]


def parse_fields(text: str) -> tuple[str, ...]:
    """`phone,card*` -> ("phone", "card*"), each checked as a CloudFront field pattern."""
    patterns = tuple(p.strip() for p in text.split(",") if p.strip())
    if not patterns:
        raise ProfileEditError("--fields needs at least one field name or pattern, e.g. phone,card*")
    for pattern in patterns:
        try:
            parse_pattern(pattern)
        except ValueError as e:
            raise ProfileEditError(f"--fields {pattern!r}: {e}") from e
    return patterns


def _documents(directory: Path) -> dict[Path, Any]:
    found = {}
    for path in sorted(directory.glob("*.json")):
        try:
            found[path] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ProfileEditError(f"{path}: cannot read it as JSON ({e})") from e
    return found


def _profile_config(document: Any) -> tuple[str, dict[str, Any]] | None:
    """(Id, the mutable FieldLevelEncryptionProfileConfig) when `document` is a profile, else None."""
    if not isinstance(document, dict):
        return None
    outer = document.get("FieldLevelEncryptionProfile", document)
    if isinstance(outer, dict) and isinstance(outer.get(_PROFILE_CONFIG), dict):
        return str(outer.get("Id", "")), outer[_PROFILE_CONFIG]
    if "EncryptionEntities" in document:
        return str(document.get("Id", "")), document
    return None


def _has_config(documents: dict[Path, Any]) -> bool:
    return any(isinstance(d, dict) and any(k in d for k in _CONFIG_KINDS) for d in documents.values())


def new_profile(profile_id: str, name: str) -> dict[str, Any]:
    """An empty profile document, as `aws cloudfront get-field-level-encryption-profile` prints one."""
    return {
        "FieldLevelEncryptionProfile": {
            "Id": profile_id,
            _PROFILE_CONFIG: {
                "Name": name,
                "CallerReference": f"fle-keys-{profile_id.lower()}",
                "Comment": "written by fle keys create --fields",
                "EncryptionEntities": {"Quantity": 0, "Items": []},
            },
        }
    }


def form_config(profile_id: str) -> dict[str, Any]:
    """A FieldLevelEncryption config mapping form bodies to `profile_id`; other content types refused."""
    return {
        "FieldLevelEncryption": {
            "Id": "C" + profile_id.removeprefix("P"),
            "FieldLevelEncryptionConfig": {
                "CallerReference": f"fle-keys-config-{profile_id.lower()}",
                "Comment": "written by fle keys create --fields",
                "QueryArgProfileConfig": {
                    "ForwardWhenQueryArgProfileIsUnknown": True,
                    "QueryArgProfiles": {"Quantity": 0},
                },
                "ContentTypeProfileConfig": {
                    "ForwardWhenContentTypeIsUnknown": False,
                    "ContentTypeProfiles": {
                        "Quantity": 1,
                        "Items": [
                            {
                                "Format": "URLEncoded",
                                "ProfileId": profile_id,
                                "ContentType": "application/x-www-form-urlencoded",
                            }
                        ],
                    },
                },
            },
        }
    }


def _set_entity(profile: dict[str, Any], request: EntityRequest) -> None:
    entities = profile.setdefault("EncryptionEntities", {"Quantity": 0, "Items": []})
    items = entities.setdefault("Items", [])
    patterns = {"Quantity": len(request.patterns), "Items": list(request.patterns)}
    for item in items:
        if item.get("PublicKeyId") == request.public_key_id and item.get("ProviderId") == request.provider_id:
            item["FieldPatterns"] = patterns
            break
    else:
        entity = {"PublicKeyId": request.public_key_id, "ProviderId": request.provider_id}
        items.append({**entity, "FieldPatterns": patterns})
    entities["Quantity"] = len(items)


def precheck(directory: Path, request: EntityRequest) -> None:
    """Refuse, before any key is made, patterns that another entity of the profile already covers."""
    if not directory.is_dir():
        return
    new = [parse_pattern(p) for p in request.patterns]
    for document in _documents(directory).values():
        found = _profile_config(document)
        if found is None or found[0] != request.profile_id:
            continue
        for item in found[1].get("EncryptionEntities", {}).get("Items", []):
            for text in item.get("FieldPatterns", {}).get("Items", []):
                try:
                    old = parse_pattern(text)
                except ValueError:
                    continue  # the loader reports it, with its file and place
                clash = [p.text for p in new if p.overlaps(old)]
                if clash:
                    raise ProfileEditError(
                        f"profile {request.profile_id}: {', '.join(clash)} overlaps pattern {text!r} of key "
                        f"{item.get('PublicKeyId')} ({item.get('ProviderId')}); a field has one key"
                    )


def apply(directory: Path, request: EntityRequest) -> list[str]:
    """Write the entity (and a config if the directory has none); lines saying what was written.

    ProfileEditError, with the files restored, when the directory does not load afterwards."""
    documents = _documents(directory)
    written: dict[Path, str | None] = {}  # path -> previous text (None: new file)
    lines = []
    target = next(
        (
            (path, doc)
            for path, doc in documents.items()
            if (found := _profile_config(doc)) and found[0] == request.profile_id
        ),
        None,
    )
    if target is None:
        path = directory / f"{request.profile_id}.profile.json"
        document: Any = new_profile(request.profile_id, f"{request.provider_id}Profile")
        lines.append(f"profile {request.profile_id}: {path} (new)")
    else:
        path, document = target
        lines.append(f"profile {request.profile_id}: {path} (updated)")
    found = _profile_config(document)
    assert found is not None
    _set_entity(found[1], request)
    written[path] = path.read_text(encoding="utf-8") if path.exists() else None
    path.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
    if not _has_config(documents):
        config_path = directory / "config.json"
        if config_path.exists():
            raise _restore(written, ProfileEditError(f"{config_path} exists but is not a config"))
        written[config_path] = None
        config_path.write_text(json.dumps(form_config(request.profile_id), indent=4) + "\n", encoding="utf-8")
        lines.append(f"config: {config_path} (new: form bodies use profile {request.profile_id})")
    try:
        load_config_dir(directory)
    except ConfigError as e:
        raise _restore(written, ProfileEditError(f"the profile was not written: {e}")) from e
    return lines


def _restore(written: dict[Path, str | None], error: ProfileEditError) -> ProfileEditError:
    for path, previous in written.items():
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(previous, encoding="utf-8")
    return error


@dataclass(frozen=True, slots=True)
class KeySwitch:
    """In profile `profile_id`, every entity using the public key named `old_name` moves to `new_name`."""

    profile_id: str
    old_name: str
    new_name: str


def _key_id(keys: dict[str, str], name: str, directory: Path) -> str:
    """The Id of the public key called `name` in the directory (ids by name, as loaded)."""
    if name not in keys:
        known = ", ".join(sorted(keys)) or "none"
        raise ProfileEditError(f"{directory}: no public key named {name!r} (public keys: {known})")
    return keys[name]


def switch_key(directory: Path, switch: KeySwitch) -> list[str]:
    """Point the profile's entities from one public key to another (same provider, same patterns).

    The rotation step of docs/key-rotation.md, without editing JSON by hand: keys are named by their
    `Name` (what every message carries), the directory must load before and after, and on a refusal the
    profile is put back as it was. Lines saying what changed."""
    try:
        loaded = load_config_dir(directory)
    except ConfigError as e:
        raise ProfileEditError(f"the directory does not load as it is: {e}") from e
    names = {key.name: key_id for key_id, key in loaded.public_keys.items()}
    old_id = _key_id(names, switch.old_name, directory)
    new_id = _key_id(names, switch.new_name, directory)
    if old_id == new_id:
        raise ProfileEditError(f"{switch.old_name!r} and {switch.new_name!r} are the same public key")
    target = next(
        (
            (path, doc, found[1])
            for path, doc in _documents(directory).items()
            if (found := _profile_config(doc)) and found[0] == switch.profile_id
        ),
        None,
    )
    if target is None:
        raise ProfileEditError(f"{directory}: no profile with Id {switch.profile_id!r}")
    path, document, profile = target
    moved = []
    for item in profile.get("EncryptionEntities", {}).get("Items", []):
        if item.get("PublicKeyId") == old_id:
            item["PublicKeyId"] = new_id
            moved.append(", ".join(item.get("FieldPatterns", {}).get("Items", [])) or "(no fields)")
    if not moved:
        raise ProfileEditError(
            f"profile {switch.profile_id}: no entity uses public key {switch.old_name!r} ({old_id})"
        )
    written: dict[Path, str | None] = {path: path.read_text(encoding="utf-8")}
    path.write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
    try:
        load_config_dir(directory)
    except ConfigError as e:
        raise _restore(written, ProfileEditError(f"the profile was not changed: {e}")) from e
    return [
        f"profile {switch.profile_id}: {path} (updated)",
        *(f"{fields}: {switch.old_name} ({old_id}) -> {switch.new_name} ({new_id})" for fields in moved),
    ]
