"""Field encryption per message: the proxy's encoder, aws-encryption-sdk's encrypt, and the bare primitives.

The three are timed interleaved in one process (round-robin batches, median per operation), so machine
load affects them alike and the ratios hold even when the absolute numbers are noisy.
"""

from __future__ import annotations

import os
import statistics
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import (
    Algorithm,
    CommitmentPolicy,
    EncryptionKeyType,
    WrappingAlgorithm,
)
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge_proxy.encrypting import esdk


@dataclass(frozen=True, slots=True)
class EncoderResult:
    size: int  # plaintext bytes per message
    esdk_us: float  # median µs per message, edge_proxy.encrypting.esdk.encrypt
    sdk_us: float  # aws-encryption-sdk EncryptionSDKClient.encrypt
    primitives_us: float | None  # the same primitive calls in a bare loop (only for single-frame sizes)

    @property
    def speedup_vs_sdk(self) -> float:
        return self.sdk_us / self.esdk_us

    @property
    def fraction_of_limit(self) -> float | None:
        return None if self.primitives_us is None else self.primitives_us / self.esdk_us


def _sdk_encrypt(public_key: rsa.RSAPublicKey) -> Callable[[bytes], bytes]:
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    master_key = RawMasterKey(
        provider_id="FLEDemo",
        key_id=b"DemoPublicKey",
        wrapping_key=WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.RSA_OAEP_SHA256_MGF1,
            wrapping_key=public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            wrapping_key_type=EncryptionKeyType.PUBLIC,
        ),
    )
    suite = Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256  # 0x0178, as CloudFront writes

    def encrypt(plaintext: bytes) -> bytes:
        ciphertext: bytes = client.encrypt(  # aws-encryption-sdk ships no type hints
            source=plaintext, key_provider=master_key, algorithm=suite, frame_length=esdk.FRAME_LENGTH
        )[0]
        return ciphertext

    return encrypt


def _primitives(public_key: rsa.RSAPublicKey) -> Callable[[bytes], object]:
    """The floor: random data key and message id, RSA-OAEP, HKDF, AES-GCM header tag and one frame."""
    header = bytes(306)  # the size of a real header with this provider id, key name and RSA-2048
    aad = bytes(16) + b"AWSKMSEncryptionClient Final Frame" + struct.pack(">IQ", 1, 12)
    info_prefix = struct.pack(">H", esdk.SUITE_ID)
    iv = bytes(12)
    sha256 = hashes.SHA256()

    def run(plaintext: bytes) -> object:
        data_key, message_id = os.urandom(32), os.urandom(16)
        public_key.encrypt(data_key, esdk._OAEP)
        derived = HKDF(algorithm=sha256, length=32, salt=None, info=info_prefix + message_id).derive(data_key)
        aead = AESGCM(derived)
        aead.encrypt(iv, b"", header)
        return aead.encrypt(iv, plaintext, aad)

    return run


def _time_batch(fn: Callable[[bytes], object], plaintext: bytes, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn(plaintext)
    return (time.perf_counter() - start) / count * 1e6


def run(sizes: tuple[int, ...] = (12, 65536), batch: int = 200, rounds: int = 15) -> list[EncoderResult]:
    """Median µs per message for each size; `rounds` interleaved batches of `batch` messages each."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    field_key = esdk.FieldKey(key, b"FLEDemo", b"DemoPublicKey")
    sdk = _sdk_encrypt(key)
    floor = _primitives(key)
    results = []
    for size in sizes:
        plaintext = os.urandom(size)
        contenders: dict[str, Callable[[bytes], object]] = {
            "esdk": lambda p: esdk.encrypt(p, field_key),
            "sdk": sdk,
        }
        if size <= esdk.FRAME_LENGTH:
            contenders["primitives"] = floor
        for fn in contenders.values():  # warm up caches and lazy imports
            _time_batch(fn, plaintext, max(5, batch // 10))
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, fn in contenders.items():
                times[name].append(_time_batch(fn, plaintext, batch))
        median = {name: statistics.median(t) for name, t in times.items()}
        results.append(EncoderResult(size, median["esdk"], median["sdk"], median.get("primitives")))
    return results
