"""`backend = "ssm"`: the private key is a SecureString in AWS Systems Manager Parameter Store.

    parameter = "/cloudfront/field-encryption-sample/private-key"
    region = "us-east-1"       # optional: else the standard AWS configuration
    cache_seconds = 300        # optional: how long the key is kept in memory

The parameter holds the PEM private key, as in the CloudFront field-level encryption sample. It is read
with `get_parameter(WithDecryption=True)`, kept in memory only (never written to disk) and read again
when the cache expires. The endpoint, credentials and region come the standard AWS way
(`AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL`, `AWS_REGION` before `AWS_DEFAULT_REGION`, profiles),
so the same entry works against a local server.
Throttling is retried with backoff by botocore's standard retry mode before it is reported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import awsenv

from .base import KeyBackend
from .errors import BackendUnavailable, KeystoreConfigError, UnwrapError
from .settings import SsmSettings
from .wrapping import Wrapping

log = logging.getLogger("keystore")

RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)

_THROTTLED = {"ThrottlingException", "TooManyUpdates", "RequestLimitExceeded", "Throttling"}
_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
}


class ParameterStoreError(BackendUnavailable):
    """Parameter Store could not give us the key; the message says why."""


def ssm_client(region: str | None) -> Any:
    """An SSM client configured the standard AWS way, with retries and backoff for throttling."""
    return aws_client("ssm", region)


def aws_client(service: str, region: str | None) -> Any:
    """A boto3 client the standard AWS way; a clear error when no region is configured anywhere."""
    try:
        return boto3.session.Session(region_name=awsenv.region(region)).client(service, config=RETRIES)
    except NoRegionError as e:
        raise KeystoreConfigError(
            f"no AWS region for {service}: set region in the keystore entry, AWS_REGION, AWS_DEFAULT_REGION "
            "or a profile's region"
        ) from e


def explain(error: ClientError, parameter: str) -> str:
    """A sentence for a Parameter Store error code."""
    code = error.response.get("Error", {}).get("Code", "")
    detail = error.response.get("Error", {}).get("Message", "")
    if code == "ParameterNotFound":
        return f"parameter {parameter!r} does not exist in Parameter Store"
    if code in _DENIED:
        return (
            f"access to parameter {parameter!r} was denied ({code}): allow ssm:GetParameter and kms:Decrypt"
        )
    if code.startswith("KMS") or code.startswith("InvalidKeyId"):
        return f"KMS could not decrypt parameter {parameter!r} ({code}: {detail})"
    if code in _THROTTLED:
        return f"Parameter Store is throttling requests for {parameter!r}, even after retries"
    return f"Parameter Store error for {parameter!r}: {code}: {detail}"


class SsmBackend(KeyBackend):
    """A private key read from Parameter Store and cached in memory for `cache_seconds`; thread-safe."""

    def __init__(self, settings: SsmSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.parameter = settings.parameter
        self.cache_seconds = settings.cache_seconds
        self._clock = clock
        self._client = ssm_client(settings.region)
        self._lock = threading.Lock()
        self._key: RSAPrivateKey | None = None
        self._expires = 0.0
        self.fetches = 0
        self._current()  # fail at open, not on first use, when the parameter is not there

    def _fetch(self) -> RSAPrivateKey:
        try:
            response = self._client.get_parameter(Name=self.parameter, WithDecryption=True)
        except ClientError as e:
            raise ParameterStoreError(explain(e, self.parameter)) from e
        except BotoCoreError as e:
            raise ParameterStoreError(f"cannot reach Parameter Store for {self.parameter!r}: {e}") from e
        self.fetches += 1
        value = response["Parameter"]["Value"]
        try:
            key = load_pem_private_key(value.encode("utf-8"), password=None)
        except (ValueError, TypeError) as e:
            raise KeystoreConfigError(
                f"parameter {self.parameter!r} does not hold an unencrypted PEM private key"
            ) from e
        if not isinstance(key, RSAPrivateKey):
            raise KeystoreConfigError(f"parameter {self.parameter!r} does not hold an RSA private key")
        return key

    def _current(self) -> RSAPrivateKey:
        with self._lock:
            now = self._clock()
            if self._key is None or now >= self._expires:
                self._key = None  # an expired key is dropped even if the refresh fails
                self._key = self._fetch()
                self._expires = now + self.cache_seconds
            return self._key

    def unwrap(self, encrypted_key: bytes, wrapping: Wrapping) -> bytes:
        key = self._current()
        try:
            return key.decrypt(encrypted_key, wrapping.padding())
        except ValueError as e:
            raise UnwrapError("the data key could not be unwrapped") from e

    def public_key(self) -> RSAPublicKey:
        return self._current().public_key()

    def close(self) -> None:
        with self._lock:
            self._key = None
