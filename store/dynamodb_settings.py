"""How the DynamoDB store uses one table; plain data, so reading a store URL imports no AWS library."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DynamoSettings:
    """How to use one table. Endpoint, region and credentials are not here: they come from AWS's chain."""

    table: str
    create_table: bool = True  # create the table (and its index) when it is missing
    max_attempts: int = 5  # per call, when AWS_MAX_ATTEMPTS / the profile's max_attempts are unset
    connect_timeout: float = 2.0  # seconds
    read_timeout: float = 5.0  # seconds
    batch_rounds: int = 8  # BatchGetItem rounds while DynamoDB leaves keys unprocessed
    table_ready_timeout: float = 120.0  # seconds to wait for a new table to become ACTIVE
    # fields looked up by beacon: a new table gets a `<field>__bidx` index for each, and a table without
    # one of them is refused at the first call (profiles' "Fle:Indexes" fields; `fle origin --indexed-field`)
    indexed_fields: tuple[str, ...] = ()
