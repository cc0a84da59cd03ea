"""Handler-level fixtures: moto for S3/SNS/DynamoDB, botocore's Stubber for Rekognition
(moto has no celebrity APIs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cameo_core.clients import RETRY_CONFIG
from tests.support.fakes import FakeContext, detection

SNS_JOB_ID = "1f3f2e8a7c4b9d0e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e"
METADATA = {
    "Codec": "h264",
    "DurationMillis": 60_000,
    "Format": "QuickTime / MOV",
    "FrameRate": 25.0,
    "FrameHeight": 360,
    "FrameWidth": 640,
    "ColorRange": "LIMITED",
}


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def rekognition(aws: dict[str, Any]) -> Iterator[Stubber]:
    client = boto3.client("rekognition", config=RETRY_CONFIG)
    with Stubber(client) as stubber:
        yield stubber
    # Every response a test queued was consumed: nothing was silently skipped.
    stubber.assert_no_pending_responses()


@pytest.fixture
def wire(rekognition: Stubber, monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Any]:
    """Point a handler module's clients at moto, except Rekognition at the Stubber."""

    def route(service: str) -> Any:
        return rekognition.client if service == "rekognition" else boto3.client(service)

    def apply(module: Any) -> Any:
        monkeypatch.setattr("cameo_core.results.client", route)
        if hasattr(module, "client"):
            monkeypatch.setattr(module, "client", route)
        return module

    return apply


def page(celebrities: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "JobStatus": "SUCCEEDED",
        "VideoMetadata": METADATA,
        "Celebrities": celebrities,
    }
    if next_token:
        body["NextToken"] = next_token
    return body


def get_params(job_id: str, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"JobId": job_id, "MaxResults": 1000, "SortBy": "TIMESTAMP"}
    if token:
        params["NextToken"] = token
    return params


__all__ = ["detection", "get_params", "page"]
