"""Duplicate Rekognition notifications are skipped with Powertools idempotency, keyed on
(JobId, Status): re-paging a finished job would cost API calls and time for nothing. Records live
in the results table under their own partition and expire through its TTL attribute.

Start needs no record of its own: its ClientRequestToken is derived from the upload, so
Rekognition itself answers a duplicate with the same JobId.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
)

EXPIRES_AFTER_S = 24 * 3600


def persistence(table_name: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr="pk", sort_key_attr="sk", expiry_attr="expiration"
    )


def completion_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[JobId, Status]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=EXPIRES_AFTER_S,
    )
