"""API fixtures: moto (S3, DynamoDB with the template's own table and GSIs), the seeded videos,
and the deployed handler (functions/api/app.py) called in-process through the same API Gateway
v2 event mapping the offline stack's server uses (cameo_stack.http_api)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cameo_core import clients
from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.keys import VideoRef
from cameo_stack.http_api import Gateway
from tests.api.world import Reply, World, seed
from tests.support.fakes import FakeContext


@pytest.fixture
def world(aws: dict[str, Any], stack_model: Any) -> World:
    archive_bucket = stack_model.function("process_results").environment["ARCHIVE_BUCKET"]
    return World(
        ResultsTable(aws["dynamodb"], aws["table"]),
        RawArchive(aws["s3"], archive_bucket),
        stack_model.video_bucket.name,
    )


@pytest.fixture
def videos(world: World) -> dict[str, VideoRef]:
    return seed(world)


@pytest.fixture
def gateway(aws: dict[str, Any], handler_module: Callable[[str], Any]) -> Gateway:
    """The handler with ApiFunction's template environment, behind the local gateway."""
    clients.client.cache_clear()  # clients made under this test's moto, not an earlier one's
    module = handler_module("api")

    def invoke(event: dict[str, Any]) -> tuple[bool, Any]:
        return True, module.lambda_handler(event, FakeContext())

    return Gateway(invoke)


@pytest.fixture
def get(gateway: Gateway) -> Callable[[str], Reply]:
    def call(target: str) -> Reply:
        return Reply(*gateway.handle("GET", target, {"Host": "api.test"}, b""))

    return call
