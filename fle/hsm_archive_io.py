"""Where `fle hsm` archives are kept: a file (written whole, then renamed into place) or s3://bucket/key.

S3 is reached with the standard AWS configuration (AWS_ENDPOINT_URL_S3 is honoured).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from . import cli


def _s3(location: str) -> tuple[Any, str, str]:
    from keystore.ssm_backend import aws_client

    bucket, _, key = location[len("s3://") :].partition("/")
    if not bucket or not key:
        raise cli.CliError(f"{location!r}: give s3://BUCKET/KEY")
    return aws_client("s3", None), bucket, key


def write_archive(location: str, data: bytes) -> None:
    if location.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        client, bucket, key = _s3(location)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
        except (BotoCoreError, ClientError) as e:
            raise cli.CliError(f"cannot write {location}: {e}") from e
        return
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_archive_bytes(location: str) -> bytes:
    if location.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        client, bucket, key = _s3(location)
        try:
            return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except (BotoCoreError, ClientError) as e:
            raise cli.CliError(f"cannot read {location}: {e}") from e
    try:
        return Path(location).read_bytes()
    except OSError as e:
        raise cli.CliError(f"cannot read {location}: {e.strerror}") from e
