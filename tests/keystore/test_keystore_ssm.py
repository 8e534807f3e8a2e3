"""The ssm backend and key tooling against a real moto server (SSM + KMS) on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from keystore import BackendUnavailable, Keystore, KeystoreConfigError, UnwrapError, Wrapping
from keystore.settings import SsmSettings
from keystore.ssm_backend import ParameterStoreError, SsmBackend
from keystore.tooling import store_ssm_key
from tests.fixtures_moto import Aws

PARAM = "/cloudfront/field-encryption-sample/private-key"


def kms_key(aws: Aws) -> str:
    return str(aws.client("kms").create_key(Description="fle test")["KeyMetadata"]["KeyId"])


def test_key_made_by_tooling_unwraps(aws: Aws) -> None:
    public = store_ssm_key(PARAM, kms_key(aws), None, bits=2048)
    stored = aws.client("ssm").get_parameter(Name=PARAM)["Parameter"]
    assert stored["Type"] == "SecureString"
    backend = SsmBackend(SsmSettings(PARAM))
    assert backend.public_key().public_numbers() == public.public_numbers()
    for wrapping in Wrapping:
        data_key = os.urandom(32)
        assert backend.unwrap(public.encrypt(data_key, wrapping.padding()), wrapping) == data_key
    with pytest.raises(UnwrapError):
        backend.unwrap(b"\x01" * 256, Wrapping.RSA_OAEP_SHA256_MGF1)
    with pytest.raises(KeystoreConfigError, match="already exists"):
        store_ssm_key(PARAM, kms_key(aws), None)


def test_tooling_refuses_missing_or_disabled_kms_key(aws: Aws) -> None:
    with pytest.raises(KeystoreConfigError, match="does not exist"):
        store_ssm_key("/p/a", "1234abcd-12ab-34cd-56ef-1234567890ab", None)
    key_id = kms_key(aws)
    aws.client("kms").disable_key(KeyId=key_id)
    with pytest.raises(KeystoreConfigError, match="Disabled"):
        store_ssm_key("/p/b", key_id, None)
    with pytest.raises(ParameterStoreError, match="does not exist"):
        SsmBackend(SsmSettings("/p/b"))


def test_key_is_cached_for_its_ttl_then_read_again(aws: Aws) -> None:
    public = store_ssm_key(PARAM, kms_key(aws), None)
    now = [1000.0]
    backend = SsmBackend(SsmSettings(PARAM, cache_seconds=60), clock=lambda: now[0])
    ciphertext = public.encrypt(b"k" * 32, Wrapping.RSA_OAEP_SHA256_MGF1.padding())
    for _ in range(5):
        assert backend.unwrap(ciphertext, Wrapping.RSA_OAEP_SHA256_MGF1) == b"k" * 32
    assert backend.fetches == 1
    aws.client("ssm").delete_parameter(Name=PARAM)
    now[0] += 59
    assert backend.unwrap(ciphertext, Wrapping.RSA_OAEP_SHA256_MGF1) == b"k" * 32  # Parameter Store not asked
    now[0] += 2
    with pytest.raises(BackendUnavailable, match="does not exist"):
        backend.unwrap(ciphertext, Wrapping.RSA_OAEP_SHA256_MGF1)
    with pytest.raises(BackendUnavailable):  # an expired key is not kept as a fallback
        backend.unwrap(ciphertext, Wrapping.RSA_OAEP_SHA256_MGF1)


def test_parameter_that_is_not_a_key(aws: Aws) -> None:
    aws.client("ssm").put_parameter(Name="/p/text", Value="hello", Type="SecureString", KeyId=kms_key(aws))
    with pytest.raises(KeystoreConfigError, match="PEM private key"):
        SsmBackend(SsmSettings("/p/text"))


def test_keystore_entry_and_endpoint_from_environment(aws: Aws, tmp_path: Path) -> None:
    public = store_ssm_key(PARAM, kms_key(aws), None)
    path = tmp_path / "keystore.toml"
    path.write_text(
        f'[[key]]\nprovider_id = "FLEDemo"\nkey_name = "DemoPublicKey"\nbackend = "ssm"\n'
        f'parameter = "{PARAM}"\nregion = "{aws.region}"\ncache_seconds = 30\n'
    )
    backend = Keystore.from_file(path).backend("FLEDemo", "DemoPublicKey")
    assert backend.public_key().public_numbers() == public.public_numbers()
    path.write_text(path.read_text().replace("cache_seconds = 30", 'cache_seconds = "x"'))
    with pytest.raises(KeystoreConfigError, match="cache_seconds"):
        Keystore.from_file(path)


def test_no_region_anywhere_is_a_clear_error(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(KeystoreConfigError, match="no AWS region"):
        SsmBackend(SsmSettings(PARAM))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "AccessDeniedException",
            "was denied (AccessDeniedException): allow ssm:GetParameter and kms:Decrypt",
        ),
        ("KMSAccessDeniedException", "KMS could not decrypt"),
        ("KMSDisabledException", "KMS could not decrypt"),
        ("ThrottlingException", "throttling requests"),
        ("ParameterNotFound", "does not exist"),
        ("InternalServerError", "Parameter Store error for '/p': InternalServerError: detail"),
    ],
)
def test_error_codes_moto_cannot_produce_are_explained(code: str, expected: str) -> None:
    """Pure mapping of AWS error codes to messages (moto models neither IAM denials for SSM, KMS failures
    on SecureString reads, nor throttling, so these are checked on the mapping alone)."""
    from botocore.exceptions import ClientError

    from keystore.ssm_backend import RETRIES, explain

    error = ClientError({"Error": {"Code": code, "Message": "detail"}}, "GetParameter")
    assert expected in explain(error, "/p")
    assert RETRIES.retries["mode"] == "standard"  # botocore retries throttling with backoff
