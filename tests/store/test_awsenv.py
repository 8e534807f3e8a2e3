"""AWS_REGION is honoured, and wins over AWS_DEFAULT_REGION (as the AWS CLI v2 and Lambda have it), for the
DynamoDB store (against dynalite) and the SSM keystore backend (against moto)."""

from __future__ import annotations

import pytest

import awsenv
from keystore.settings import SsmSettings
from keystore.ssm_backend import ParameterStoreError, SsmBackend
from keystore.tooling import store_ssm_key
from store import DynamoSettings, DynamoStore, Submission
from tests.fixtures_moto import REGION, Aws

PARAM = "/fle/region-test"


def test_which_region_wins() -> None:
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}
    assert awsenv.region(None, both) == "eu-west-1"
    assert awsenv.region("ap-south-1", both) == "ap-south-1"  # a keystore entry's region, like --region
    assert awsenv.region(None, {"AWS_DEFAULT_REGION": "us-east-1"}) is None  # botocore reads that one
    assert awsenv.region(None, {"AWS_REGION": ""}) is None


def test_ssm_backend_reads_aws_region_before_aws_default_region(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    kms = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    public = store_ssm_key(PARAM, kms, None)  # in REGION: moto keeps each region apart
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", REGION)
    assert SsmBackend(SsmSettings(PARAM)).public_key().public_numbers() == public.public_numbers()
    monkeypatch.delenv("AWS_REGION")  # now eu-west-1, where the parameter is not
    with pytest.raises(ParameterStoreError, match="does not exist"):
        SsmBackend(SsmSettings(PARAM))


async def test_dynamodb_store_works_with_aws_region_alone(
    dynamodb_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    store = DynamoStore(DynamoSettings(table=dynamodb_env))
    try:
        await store.check()
        item = Submission(fields={"phone": "AYAB..."})
        await store.put(item)
        assert await store.get(item.id) == item
    finally:
        await store.close()
