"""CLI fixtures: moto S3 + DynamoDB with the template's own table (the `aws` fixture in
tests/conftest.py), the scenario's videos, and a spy on every boto3 call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
import typer
from typer.testing import CliRunner, Result

from cameo_cli import query, retention
from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from tests.cli.scenario import (
    BROKEN,
    FAILURE_REASON,
    PAGES_A,
    PAGES_B,
    PAGES_C,
    PENDING,
    VIDEO_A,
    VIDEO_B,
    VIDEO_C,
    Spy,
    World,
)


@pytest.fixture
def world(aws: dict[str, Any], stack_model: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    table_name = aws["table"]
    archive_bucket = stack_model.function("process_results").environment["ARCHIVE_BUCKET"]
    # The CLI reads the table name from the environment, like the functions do.
    monkeypatch.setenv("TABLE_NAME", table_name)
    for name in ("CAMEO_TABLE", "ARCHIVE_BUCKET", "MIN_CONFIDENCE", "MERGE_GAP_MS"):
        monkeypatch.delenv(name, raising=False)
    return World(
        ResultsTable(aws["dynamodb"], table_name),
        RawArchive(aws["s3"], archive_bucket),
        table_name,
        archive_bucket,
    )


@pytest.fixture
def seeded(world: World) -> World:
    world.complete(VIDEO_A, "job-a", PAGES_A)
    world.complete(VIDEO_B, "job-b", PAGES_B)
    world.complete(VIDEO_C, "job-c", PAGES_C)
    world.complete(BROKEN, "job-broken", [], status="FAILED", reason=FAILURE_REASON)
    world.submit(PENDING, "job-pending")
    return world


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    recorded = Spy()
    original = boto3.session.Session.client

    def client(self: boto3.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made = original(self, service_name, *args, **kwargs)
        recorded.services.append(service_name)

        def before_call(params: dict[str, Any], model: Any, **_: Any) -> None:
            recorded.calls.append((model.name, params.get("IndexName")))

        # API-level parameters (IndexName) as the caller passed them, before serialization.
        made.meta.events.register("before-parameter-build", before_call)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return recorded


@pytest.fixture(scope="session")
def app() -> typer.Typer:
    """The query commands on a bare root app (what cameo_cli.main registers them on)."""
    root = typer.Typer(pretty_exceptions_enable=False)
    query.register(root)
    retention.register(root)
    return root


Invoke = Callable[..., Result]


@pytest.fixture
def cli(app: typer.Typer) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        # Wide enough that rich never wraps a name or a time across lines.
        return runner.invoke(app, list(args), env={"COLUMNS": "200"})

    return invoke
