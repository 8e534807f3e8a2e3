"""Looks into the SoftHSM tokens of tests/keystore/test_hsm_backup.py, in a child process of its own.

The tests' tokens live under their own SOFTHSM2_CONF, which the PKCS#11 library reads once per process,
so the test process asks this script (python -m tests.keystore.hsm_probe ACTION TOKEN ...) instead:

    generate TOKEN LABEL,... DIR  make each key as `fle keys create --backend pkcs11 --backup` does (the same
                                  keystore.tooling call), in one process; DIR/LABEL.pem its public key
    import TOKEN LABEL DER_FILE [nodecrypt]
                                  put a known RSA private key in as `fle keys create --backup` makes one
                                  (with nodecrypt: a key the token will not decrypt with)
    attrs TOKEN LABEL             the private key's protections as JSON, and whether its value is readable
    count TOKEN LABEL             how many objects carry this label
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pkcs11
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11e
from pkcs11.util.rsa import decode_rsa_private_key

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def main(action: str, token_label: str, label: str, *rest: str) -> int:
    if action == "generate":  # before a session of this script's own: the tooling opens its session
        from cryptography.hazmat.primitives import serialization

        from keystore.tooling import create_pkcs11_key

        for name in label.split(","):
            public = create_pkcs11_key(MODULE, token_label, os.environ["FLE_PKCS11_PIN"], name, backup=True)
            pem = public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            (Path(rest[0]) / f"{name}.pem").write_bytes(pem)
        return 0
    token = pkcs11.lib(MODULE).get_token(token_label=token_label)
    with token.open(user_pin=os.environ["FLE_PKCS11_PIN"], rw=True) as session:
        if action == "import":
            attrs = decode_rsa_private_key(Path(rest[0]).read_bytes())
            attrs.update(
                {
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: True,
                    Attribute.WRAP_WITH_TRUSTED: True,
                    Attribute.DECRYPT: rest[1:] != ("nodecrypt",),
                    Attribute.UNWRAP: True,
                    Attribute.LABEL: label,
                    Attribute.ID: label.encode(),
                }
            )
            session.create_object(attrs)
        elif action == "attrs":
            (key,) = session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
            shown = {
                name.lower(): bool(key[getattr(Attribute, name)])
                for name in ("SENSITIVE", "EXTRACTABLE", "WRAP_WITH_TRUSTED", "NEVER_EXTRACTABLE", "DECRYPT")
            }
            try:
                key[Attribute.PRIVATE_EXPONENT]
                shown["value_readable"] = True
            except p11e.AttributeSensitive:
                shown["value_readable"] = False
            print(json.dumps(shown))
        elif action == "count":
            print(len(list(session.get_objects({Attribute.LABEL: label}))))
        else:
            raise SystemExit(f"unknown action {action!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
