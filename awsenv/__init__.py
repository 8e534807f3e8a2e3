"""The AWS region, found the way the AWS CLI v2, the other AWS SDKs and Lambda find it.

boto3 (through botocore) reads only AWS_DEFAULT_REGION, so `AWS_REGION=us-east-1 fle origin ...` would
find no region. The AWS CLI v2 and the other SDKs read AWS_REGION first: when both variables are set,
AWS_REGION wins, then AWS_DEFAULT_REGION, then the profile's `region` in the shared config file. Lambda
sets both to the function's region. An explicit region (a keystore entry's `region`) beats all of them,
as the CLI's `--region` does.

This package is shared by store/ and keystore/, which may not import each other; it imports nothing of ours.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["region"]


def region(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The region to give boto3: `explicit`, else AWS_REGION; None lets botocore carry on with
    AWS_DEFAULT_REGION and the profile. Empty values count as unset."""
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or None
