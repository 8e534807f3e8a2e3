"""Decrypt one field value: base64 text of an AWS Encryption SDK message -> plaintext bytes.

Failures are folded into a few opaque reasons (DecryptError.reason); the detail stays in the exception
chain for the audit log, never in what a caller sees.
"""

from __future__ import annotations

import base64
import binascii
import logging

import aws_encryption_sdk
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError
from aws_encryption_sdk.identifiers import CommitmentPolicy

from keystore import BackendUnavailable, Keystore, KeystoreConfigError, UnknownKey

from .master_key import KeystoreKeyProvider

# The SDK logs tracebacks of its own on failed decrypts; our callers get a reason instead.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)


class DecryptError(Exception):
    """One value could not be decrypted; `reason` is safe to show to the caller."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def looks_like_message(value: str) -> bool:
    """True when `value` is standard base64 of an ESDK message (v1 header 01 80, or v2 header 02)."""
    try:
        head = base64.b64decode(value[:8], validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(value) >= 40 and (head[:2] == b"\x01\x80" or head[:1] == b"\x02")


class Decryptor:
    """Decrypts ESDK messages with keys from a Keystore. Accepts CloudFront's non-committing suite 0x0178."""

    def __init__(self, keystore: Keystore, max_encrypted_data_keys: int = 1) -> None:
        self.keystore = keystore
        # 0x0178 does not commit to its key: only this policy lets SDK 2.x+ decrypt CloudFront's messages.
        self._client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
            max_encrypted_data_keys=max_encrypted_data_keys,
        )

    def decrypt(self, ciphertext_b64: str) -> bytes:
        """The plaintext of one message; DecryptError with a reason otherwise."""
        try:
            message = base64.b64decode(ciphertext_b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise DecryptError("not standard base64") from None
        provider = KeystoreKeyProvider(self.keystore)
        try:
            plaintext, _header = self._client.decrypt(source=message, key_provider=provider)
        except AWSEncryptionSDKClientError as e:
            for failure in provider.failures:
                if isinstance(failure, UnknownKey):
                    raise DecryptError(str(failure)) from e
                if isinstance(failure, (BackendUnavailable, KeystoreConfigError)):
                    raise DecryptError(f"key backend unavailable: {failure}") from e
            raise DecryptError("message could not be decrypted (corrupt, tampered or wrong key)") from e
        except Exception as e:  # the SDK raises assorted errors on malformed input
            raise DecryptError("message could not be decrypted (corrupt, tampered or wrong key)") from e
        return plaintext
