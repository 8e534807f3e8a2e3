"""The `fle hsm` archive: its JSON form, and its authentication by a signature made and checked in tokens.

`{"format": "fle-hsm-backup/1", "manifest": "<canonical JSON text>", "signature": "<base64>"}`
(docs/hsm-backup.md lists the manifest's fields). The manifest is signed inside the source by its signer
key (RSA-PSS SHA-256) and verified inside each member with the signer key its security officer trusted.
Nothing in an archive is secret: keys travel in it only wrapped (hsm_wrap).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from pkcs11 import MGF, Attribute, Mechanism, ObjectClass
from pkcs11 import exceptions as p11e

from .hsm_tokens import SIGNER_LABEL, HsmError, find_one

FORMAT = "fle-hsm-backup/1"
PSS = (Mechanism.SHA256_RSA_PKCS_PSS, (Mechanism.SHA256, MGF.SHA256, 32))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_manifest(session: Any, token_label: str, manifest: dict[str, Any]) -> tuple[bytes, bytes]:
    """In the source's user session: the manifest's canonical text and its signature by the signer."""
    signer = find_one(session, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: SIGNER_LABEL})
    if signer is None:
        raise HsmError(f"token {token_label!r} lost its signer: run `fle hsm trust` again")
    body = canonical(manifest)
    return body, bytes(signer.sign(body, mechanism=PSS[0], mechanism_param=PSS[1]))


def archive_bytes(body: bytes, signature: bytes) -> bytes:
    """The archive of a signed manifest, as written to a file or S3."""
    archive = {"format": FORMAT, "manifest": body.decode("utf-8"), "signature": b64(signature)}
    return (json.dumps(archive, indent=1) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class Archive:
    manifest: dict[str, Any]
    body: bytes
    signature: bytes

    @property
    def sequence(self) -> int:
        return int(self.manifest["sequence"])

    @property
    def signer(self) -> str:
        return str(self.manifest["source"]["signer"])

    def key(self, provider_id: str, key_name: str) -> dict[str, Any] | None:
        for key in self.manifest["keys"]:
            if (key["provider_id"], key["key_name"]) == (provider_id, key_name):
                return dict(key)
        return None

    def verified_by(self, trusted: Any) -> bool:
        """Whether the signature verifies, inside the member, with the signer public key `trusted`."""
        try:
            valid = trusted.verify(self.body, self.signature, mechanism=PSS[0], mechanism_param=PSS[1])
        except (p11e.SignatureInvalid, p11e.SignatureLenRange):
            valid = False
        return bool(valid)


def read_archive(data: bytes) -> Archive:
    """Parse an archive; only its form is checked here, its signature inside each member (restore)."""
    try:
        outer = json.loads(data)
        if outer.get("format") != FORMAT:
            raise ValueError(f"format {outer.get('format')!r}")
        body = outer["manifest"].encode("utf-8")
        manifest = json.loads(body)
        signature = unb64(outer["signature"])
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("sequence"), int):
            raise ValueError("manifest")
        for key in manifest["keys"]:
            unb64(key["wrapped"])
            unb64(key["public_key"])
        for member in manifest["members"]:
            unb64(member["backup_key"])
        manifest["source"]["signer"]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise HsmError(f"not an fle HSM backup archive, or a damaged one ({type(e).__name__}: {e})") from e
    return Archive(manifest, body, signature)
