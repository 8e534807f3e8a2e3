"""aws-encryption-sdk's seam for key material, answered from the keystore.

The SDK hands each encrypted data key to `decrypt_data_key`; we look up the keystore entry named by its
provider id and key name and ask that entry's backend to unwrap it. With an HSM backend the private key
never exists in this process: only the unwrapped 32-byte data key does.
"""

from __future__ import annotations

from aws_encryption_sdk.exceptions import DecryptKeyError
from aws_encryption_sdk.identifiers import Algorithm
from aws_encryption_sdk.key_providers.base import MasterKeyProvider, MasterKeyProviderConfig
from aws_encryption_sdk.structures import DataKey, EncryptedDataKey

from keystore import Keystore, KeystoreError, UnknownKey


# ignore[misc]: the SDK publishes no types, so its base class is Any to mypy; the SDK's seam is a subclass
class KeystoreKeyProvider(MasterKeyProvider):  # type: ignore[misc]
    """Decrypt-only provider over a Keystore; one instance per message, so it can record why it failed."""

    provider_id = "fle-keystore"
    _config_class = MasterKeyProviderConfig
    vend_masterkey_on_decrypt = False

    def __new__(cls, keystore: Keystore) -> KeystoreKeyProvider:
        instance: KeystoreKeyProvider = super().__new__(cls)
        instance.keystore = keystore
        instance.failures = []
        instance.used = None
        return instance

    def __init__(self, keystore: Keystore) -> None:
        self.keystore: Keystore
        self.failures: list[KeystoreError]
        self.used: tuple[str, str] | None

    def _new_master_key(self, key_id: bytes) -> None:
        raise NotImplementedError("decrypt-only provider")

    def decrypt_data_key(
        self, encrypted_data_key: EncryptedDataKey, algorithm: Algorithm, encryption_context: dict[str, str]
    ) -> DataKey:
        info = encrypted_data_key.key_provider
        provider_id = info.provider_id if isinstance(info.provider_id, str) else info.provider_id.decode()
        key_name = info.key_info.decode("utf-8", errors="replace")
        try:
            entry = self.keystore.entry(provider_id, key_name)
            backend = self.keystore.backend(provider_id, key_name)
            data_key = backend.unwrap(encrypted_data_key.encrypted_data_key, entry.wrapping)
        except (UnknownKey, KeystoreError) as e:
            self.failures.append(e)
            raise DecryptKeyError(str(e)) from e
        if len(data_key) != algorithm.kdf_input_len:
            raise DecryptKeyError("unwrapped data key has the wrong length")
        self.used = (provider_id, key_name)
        return DataKey(
            key_provider=info, data_key=data_key, encrypted_data_key=encrypted_data_key.encrypted_data_key
        )
