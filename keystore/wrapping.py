"""How a data key is wrapped with RSA, as aws-encryption-sdk names the choices."""

from __future__ import annotations

from enum import Enum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding


class Wrapping(Enum):
    """RSA wrapping algorithms; the value is aws-encryption-sdk's WrappingAlgorithm name."""

    RSA_OAEP_SHA256_MGF1 = "RSA_OAEP_SHA256_MGF1"  # CloudFront field-level encryption
    RSA_OAEP_SHA1_MGF1 = "RSA_OAEP_SHA1_MGF1"
    RSA_PKCS1 = "RSA_PKCS1"

    def padding(self) -> padding.AsymmetricPadding:
        """The `cryptography` padding object for this algorithm."""
        if self is Wrapping.RSA_PKCS1:
            return padding.PKCS1v15()
        algorithm: hashes.HashAlgorithm = (
            hashes.SHA256() if self is Wrapping.RSA_OAEP_SHA256_MGF1 else hashes.SHA1()
        )
        return padding.OAEP(mgf=padding.MGF1(algorithm=algorithm), algorithm=algorithm, label=None)


DEFAULT_WRAPPING = Wrapping.RSA_OAEP_SHA256_MGF1
