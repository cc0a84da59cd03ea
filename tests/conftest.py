"""Shared fixtures: sample events from events/, and AWS resources named and shaped by
template.yaml itself (via the offline stack's template model), so the schema lives in one place."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cameo_stack import template as cfn

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


@pytest.fixture(scope="session")
def stack_model() -> cfn.StackModel:
    return cfn.load(ROOT / "template.yaml")


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS / name).read_text())

    return load


def create_table(client: Any, table: cfn.Table) -> None:
    kwargs: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": table.key_schema,
        "AttributeDefinitions": table.attribute_definitions,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.global_secondary_indexes:
        kwargs["GlobalSecondaryIndexes"] = table.global_secondary_indexes
    client.create_table(**kwargs)


@pytest.fixture
def aws(stack_model: cfn.StackModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto for S3/SNS/DynamoDB with the template's buckets, topic and table."""
    for name in [k for k in __import__("os").environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in stack_model.buckets.values():
            s3.create_bucket(Bucket=bucket.name)
        s3.create_bucket(Bucket="cameo-videos-example")  # the bucket the sample events name
        sns = boto3.client("sns")
        for topic in stack_model.topics.values():
            sns.create_topic(Name=topic.name)
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb, stack_model.table)
        yield {"s3": s3, "sns": sns, "dynamodb": dynamodb, "table": stack_model.table.name}


@pytest.fixture
def handler_module(
    stack_model: cfn.StackModel, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Any]:
    """Import a function's app module with the environment its template entry gives it."""

    def load(function: str) -> Any:
        fn = stack_model.function(function)
        for key, value in fn.environment.items():
            monkeypatch.setenv(key, str(value))
        module = importlib.import_module(f"functions.{fn.code_uri.name}.app")
        return importlib.reload(module)  # re-read CONFIG with this test's environment

    return load
