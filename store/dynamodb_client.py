"""The DynamoDB client, set up the standard AWS way, and what its errors mean to the store.

Where the table is, and who we are, come the standard AWS way: AWS_ENDPOINT_URL_DYNAMODB or
AWS_ENDPOINT_URL, AWS_REGION (which wins) or AWS_DEFAULT_REGION (see awsenv), AWS_PROFILE and the shared
config files, instance roles. Throttling and transient errors are retried by botocore's "standard" retry
mode (exponential backoff with jitter; AWS_MAX_ATTEMPTS and AWS_RETRY_MODE are honoured).
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

import awsenv

from .dynamodb_settings import DynamoSettings
from .errors import DuplicateItem, InvalidItem, StoreError, StoreUnavailable

AwsError = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)


def make_client(settings: DynamoSettings) -> Any:
    """A boto3 DynamoDB client with our retry and timeout defaults; StoreUnavailable when it cannot be made
    (no region anywhere, a broken profile)."""
    core = botocore.session.get_session()  # env, AWS_PROFILE, config files: AWS's own chain
    mode = core.get_config_variable("retry_mode")
    retries: dict[str, Any] = {"mode": "standard" if mode in (None, "legacy") else mode}
    if core.get_config_variable("max_attempts") is None:
        retries["total_max_attempts"] = settings.max_attempts
    config = botocore.config.Config(
        retries=retries,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=32,
    )
    try:
        session = boto3.Session(botocore_session=core, region_name=awsenv.region())  # AWS_REGION first
        return session.client("dynamodb", config=config)
    except botocore.exceptions.NoRegionError as e:
        raise StoreUnavailable(
            "no AWS region for DynamoDB: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)"
        ) from e
    except (botocore.exceptions.BotoCoreError, ValueError) as e:
        raise StoreUnavailable(f"cannot set up the DynamoDB client: {e}") from e


def error_code(e: Exception) -> str:
    """The AWS error code of a ClientError ("ConditionalCheckFailedException"); "" for anything else."""
    if isinstance(e, botocore.exceptions.ClientError):
        return str(e.response.get("Error", {}).get("Code", ""))
    return ""


def store_error(operation: str, table: str, e: Exception) -> StoreError:
    """The store's error for an AWS error from `operation` on `table`, the one place they are mapped:
    a failed condition is a DuplicateItem, a refused write an InvalidItem, anything else StoreUnavailable."""
    if not isinstance(e, botocore.exceptions.ClientError):
        return StoreUnavailable(f"DynamoDB {operation} on {table!r}: {e}")
    code, message = error_code(e), e.response.get("Error", {}).get("Message", "")
    if code == "ConditionalCheckFailedException":
        return DuplicateItem(f"an item with this id is already in {table!r}")
    if code == "ValidationException" and operation in ("PutItem", "UpdateItem"):
        what = "item" if operation == "PutItem" else "change"
        return InvalidItem(f"DynamoDB refused the {what}: {message}")
    return StoreUnavailable(f"DynamoDB {operation} on {table!r}: {code}: {message}")


def call(client: Any, operation: str, table: str, **request: Any) -> dict[str, Any]:
    """`operation` (its AWS name, e.g. "PutItem") on `client` (blocking), AWS errors mapped by store_error."""
    try:
        answer: dict[str, Any] = getattr(client, botocore.xform_name(operation))(**request)
        return answer
    except AwsError as e:
        raise store_error(operation, table, e) from e
