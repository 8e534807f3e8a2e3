"""Decrypt one field value: base64 text of an AWS Encryption SDK message -> plaintext bytes.

Order of work, cheapest and safest first: decode base64, apply the policy to the header (size, suite,
number of data keys), check the keystore holds a key the message names, and only then let
aws-encryption-sdk unwrap the data key through the keystore and decrypt. Failures are folded into a few
reason codes a caller may see (DecryptError.reason, reasons.py); the detail goes to the audit log, never
to the caller.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

import aws_encryption_sdk
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError
from aws_encryption_sdk.identifiers import CommitmentPolicy

from esdk_format import HeaderPrefix
from keystore import BackendUnavailable, Keystore, KeystoreConfigError, UnknownKey

from .errors import DecryptError
from .master_key import KeystoreKeyProvider
from .policy import CORRUPT, Policy
from .reasons import Reason

# On a failed decrypt the SDK logs "Error on closing" with a traceback (streaming_client.__exit__) through
# the "aws_encryption_sdk" logger, which would reach stderr and CloudWatch. Our callers get a reason
# instead and the audit log gets the detail, so the SDK's own log is silenced below CRITICAL.
logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class Decrypted:
    """A decrypted value and the key that opened it."""

    plaintext: bytes
    provider_id: str
    key_name: str
    suite: int


def _detail(error: BaseException) -> str:
    """The innermost cause, for the audit log (never holds plaintext: errors come from headers and keys)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {error}"[:300]


class Decryptor:
    """Decrypts ESDK messages with keys from a Keystore, under a Policy; thread-safe."""

    def __init__(self, keystore: Keystore, policy: Policy | None = None) -> None:
        self.keystore = keystore
        self.policy = policy or Policy()
        # 0x0178 does not commit to its key: only this policy lets SDK 2.x+ decrypt CloudFront's messages.
        self._client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
            max_encrypted_data_keys=self.policy.max_data_keys,
        )

    def decrypt(self, ciphertext_b64: object) -> Decrypted:
        """The plaintext of one message and the key used; DecryptError with a reason otherwise."""
        if not isinstance(ciphertext_b64, str):
            raise DecryptError(Reason.NOT_A_MESSAGE, "expected a base64 string")
        # before decoding a huge value: the decoded size of valid base64, exactly
        self.policy.check_size(len(ciphertext_b64) * 3 // 4 - ciphertext_b64[-2:].count("="))
        try:
            message = base64.b64decode(ciphertext_b64, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError(Reason.NOT_A_MESSAGE, "not standard base64") from None
        header = self.policy.check(message)
        key = self._known_key(header)
        provider = KeystoreKeyProvider(self.keystore)
        try:
            plaintext, _header = self._client.decrypt(source=message, key_provider=provider)
        except AWSEncryptionSDKClientError as e:
            # _known_key made sure the keystore holds one of the keys, so an UnknownKey among the failures
            # only says another data key was skipped; what counts is why the known one failed.
            for failure in provider.failures:
                if isinstance(failure, (BackendUnavailable, KeystoreConfigError)):
                    raise DecryptError(
                        Reason.KEY_UNAVAILABLE,
                        f"key backend unavailable: {failure}",
                        key=key,
                        suite=header.suite,
                        detail=_detail(e),
                    ) from e
            inner = "; ".join(f"{type(f).__name__}: {f}" for f in provider.failures)
            detail = f"{_detail(e)}; {inner}" if inner else _detail(e)
            raise DecryptError(
                Reason.DECRYPT_FAILED, CORRUPT, key=key, suite=header.suite, detail=detail
            ) from e
        except Exception as e:  # the SDK raises assorted errors on malformed input
            raise DecryptError(
                Reason.DECRYPT_FAILED, CORRUPT, key=key, suite=header.suite, detail=_detail(e)
            ) from e
        provider_id, key_name = provider.used or key
        return Decrypted(plaintext, provider_id, key_name, header.suite)

    def _known_key(self, header: HeaderPrefix) -> tuple[str, str]:
        """The first (provider id, key name) of the message that the keystore holds; DecryptError if none."""
        refs = [k.ref for k in header.data_keys]
        for ref in refs:
            try:
                self.keystore.entry(ref.provider_id, ref.key_name)
            except UnknownKey:
                continue
            return (ref.provider_id, ref.key_name)
        first = refs[0]
        # a configuration fact (which keys this keystore holds), not a crypto failure: said plainly
        named = ", ".join(f"{r.provider_id}/{r.key_name}" for r in refs)
        raise DecryptError(
            Reason.KEY_UNKNOWN,
            f"no private key for {named} in this keystore",
            key=(first.provider_id, first.key_name),
            suite=header.suite,
        )
