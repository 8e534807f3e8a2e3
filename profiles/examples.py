"""The classic sample configuration (pattern `phone`), as files, in two identities that cannot be confused.

`profiles/examples/` is the SAMPLE: provider `FLESample`, key `SampleKeyNoPrivateHalf` (Id
`KSAMPLEONLY000`), a public key whose private half is published nowhere, so what a proxy encrypts with it
can never be decrypted; it is there to read, check and export, and to copy with your own public key.
`fle demo` (and the tests and benchmarks) write the same files as the DEMO's configuration instead:
provider `FLEDemo`, key `DemoPublicKey` (Id `K3D5EWEUDCCXON`), with the public half of a key pair made
on the spot. A ciphertext names its provider and key, so the demo's keystore answers a sample ciphertext
with "no private key for FLESample/SampleKeyNoPrivateHalf in this keystore", never "tampered".
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

EXAMPLE_FILES = ("public-key.json", "profile.json", "config.json")

SAMPLE_PROVIDER_ID = "FLESample"
SAMPLE_KEY_NAME = "SampleKeyNoPrivateHalf"
SAMPLE_KEY_ID = "KSAMPLEONLY000"

DEMO_PROVIDER_ID = "FLEDemo"
DEMO_KEY_NAME = "DemoPublicKey"
DEMO_KEY_ID = "K3D5EWEUDCCXON"
DEMO_PROFILE_NAME = "FLEDemoProfile"


def _as_demo(document: dict[str, Any], public_key_pem: str) -> dict[str, Any]:
    """One sample document rewritten as the demo's: its key, provider, names and comments."""
    if "PublicKey" in document:
        key = document["PublicKey"]
        key["Id"] = DEMO_KEY_ID
        config = key["PublicKeyConfig"]
        config.update(
            CallerReference="fle-demo-key",
            Name=DEMO_KEY_NAME,
            EncodedKey=public_key_pem,
            Comment="RSA-2048 public key of fle demo (its private half is in the demo's state directory)",
        )
    if "FieldLevelEncryptionProfile" in document:
        config = document["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
        config.update(
            Name=DEMO_PROFILE_NAME,
            CallerReference="fle-demo-profile",
            Comment="Encrypts the phone field of the sample form",
        )
        for entity in config["EncryptionEntities"]["Items"]:
            entity.update(PublicKeyId=DEMO_KEY_ID, ProviderId=DEMO_PROVIDER_ID)
    if "FieldLevelEncryption" in document:
        document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["CallerReference"] = "fle-demo-config"
    return document


def write_example_config(directory: Path, public_key_pem: str) -> None:
    """The demo's configuration in `directory`: `profiles/examples/` as provider FLEDemo, key DemoPublicKey
    (Id K3D5EWEUDCCXON), with `public_key_pem` as its EncodedKey."""
    directory.mkdir(parents=True, exist_ok=True)
    source = resources.files("profiles").joinpath("examples")
    for name in EXAMPLE_FILES:
        document = json.loads(source.joinpath(name).read_text(encoding="utf-8"))
        (directory / name).write_text(json.dumps(_as_demo(document, public_key_pem), indent=4) + "\n",
                                      encoding="utf-8")  # fmt: skip
