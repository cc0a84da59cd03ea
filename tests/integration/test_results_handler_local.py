"""The results and erase paths end to end on DynamoDB Local: the real process_results handler
(duplicate completions included) with Rekognition behind botocore's Stubber and the
archive bucket on a moto server."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.clients import RETRY_CONFIG
from cameo_core.config import Tuning
from cameo_core.erase import Removal, erase_video
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef, sequencer_order
from cameo_core.results import finish_success, write_results
from cameo_stack import template as cfn
from tests.support.fakes import FakeContext, detection

pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def sns_event() -> dict[str, Any]:
    return json.loads((EVENTS / "sns_succeeded.json").read_text())  # type: ignore[no-any-return]


def completion(event: dict[str, Any]) -> tuple[VideoRef, str]:
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    return VideoRef(message["Video"]["S3Bucket"], message["Video"]["S3ObjectName"]), message[
        "JobId"
    ]


@pytest.fixture
def rekognition() -> Iterator[Stubber]:
    client = boto3.client("rekognition", region_name="us-east-1", config=RETRY_CONFIG)
    with Stubber(client) as stubber:
        yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def results_app(
    stack_model: cfn.StackModel,
    table_name: str,
    archive: RawArchive,
    dynamodb_endpoint: str,
    s3_server: Any,
    rekognition: Stubber,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """functions/process_results/app.py imported with the template's environment, pointed at
    DynamoDB Local and the moto server through boto3's standard endpoint variables."""
    for key, value in stack_model.function("process_results").environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TABLE_NAME", table_name)
    monkeypatch.setenv("ARCHIVE_BUCKET", archive.bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)

    def route(service: str) -> Any:
        if service == "rekognition":
            return rekognition.client
        return boto3.client(service, region_name="us-east-1", config=RETRY_CONFIG)

    monkeypatch.setattr("cameo_core.results.client", route)
    module = importlib.import_module("functions.process_results.app")
    return importlib.reload(module)  # CONFIG reads this environment


def test_duplicate_completion_is_processed_once(
    results_app: Any,
    rekognition: Stubber,
    sns_event: dict[str, Any],
    table: ResultsTable,
    archive: RawArchive,
) -> None:
    video, job_id = completion(sns_event)
    table.record_upload(
        video, {"status": "SUBMITTED", "job_id": job_id, "sequencer_order": sequencer_order("0A")}
    )
    # Two pages; the Stubber has exactly these, so a second paging would fail the test.
    first = {
        "JobStatus": "SUCCEEDED",
        "NextToken": "page-2",
        "Celebrities": [
            detection(0, "ann", "Ann Lee"),
            detection(1_000, "ann", "Ann Lee"),
        ],
    }
    second = {
        "JobStatus": "SUCCEEDED",
        "Celebrities": [
            detection(1_500, "ann", "Ann Lee"),
            detection(9_000, "ann", "Ann Lee"),
        ],
    }
    base = {"JobId": job_id, "MaxResults": 1000, "SortBy": "TIMESTAMP"}
    rekognition.add_response("get_celebrity_recognition", first, base)
    rekognition.add_response("get_celebrity_recognition", second, {**base, "NextToken": "page-2"})

    once = results_app.lambda_handler(sns_event, FakeContext())
    again = results_app.lambda_handler(sns_event, FakeContext())

    [outcome] = once["completions"]
    [duplicate] = again["completions"]
    assert (duplicate["status"], duplicate["reason"]) == ("IGNORED", "already SUCCEEDED")
    assert (outcome["status"], outcome["appearances"], outcome["pages"]) == ("SUCCEEDED", 2, 2)
    spans = [(a["start_ms"], a["end_ms"], a["detections"]) for a in table.appearances(video)]
    assert spans == [(0, 1_500, 3), (9_000, 9_000, 1)]
    assert len(list(archive.pages(video, job_id))) == 2
    assert table.get_video(video)["status"] == "SUCCEEDED"


def test_erase_removes_results_and_archive_and_leaves_a_tombstone(
    table: ResultsTable, archive: RawArchive
) -> None:
    video = VideoRef("cameo-videos-example", "erase me.mp4")
    table.record_upload(
        video, {"status": "SUBMITTED", "job_id": "job-1", "sequencer_order": sequencer_order("1")}
    )
    pages = [{"Celebrities": [detection(0, "ann", "Ann Lee"), detection(5_000, "bob", "Bob")]}]
    for index, page in enumerate(pages, start=1):
        archive.put_page(video, "job-1", index, page)
    result = write_results(video, "job-1", lambda: iter(pages), table, Tuning())
    finish_success(video, "job-1", result, table)
    survivor = VideoRef("cameo-videos-example", "keep me.mp4")
    with table.writer() as writer:
        writer.put({"pk": survivor.pk, "sk": "APPEARANCE#x", "job_id": "j"})

    outcome = erase_video(Removal(video, "ObjectRemoved:Delete", sequencer="FF"), table, archive)

    assert (outcome.items_deleted, outcome.pages_deleted) == (4, 1)  # 2 appearances, 2 summaries
    assert list(table.appearances(video)) == []
    assert list(table.summaries(video)) == []
    assert list(table.videos_for_celebrity("ann")) == []
    assert list(archive.pages(video, "job-1")) == []
    tombstone = table.get_video(video)
    assert tombstone is not None
    assert tombstone["status"] == "ERASED"
    assert "job_id" not in tombstone and "appearance_count" not in tombstone
    assert [a["sk"] for a in table.appearances(survivor)] == ["APPEARANCE#x"]


def test_a_completion_arriving_after_erase_writes_nothing(
    results_app: Any,
    rekognition: Stubber,
    sns_event: dict[str, Any],
    table: ResultsTable,
    archive: RawArchive,
) -> None:
    video, job_id = completion(sns_event)
    table.record_upload(
        video, {"status": "SUBMITTED", "job_id": job_id, "sequencer_order": sequencer_order("0A")}
    )
    erase_video(Removal(video, "ObjectRemoved:Delete", sequencer="FF"), table, archive)

    [outcome] = results_app.lambda_handler(sns_event, FakeContext())["completions"]

    # No Rekognition response was queued: the stale job was not even paged.
    assert outcome["status"] == "IGNORED"
    assert list(table.appearances(video)) == []
    tombstone = table.get_video(video)
    assert tombstone is not None
    assert tombstone["status"] == "ERASED"


def test_a_retry_after_a_mid_paging_failure_resumes_from_the_archive(
    results_app: Any,
    rekognition: Stubber,
    sns_event: dict[str, Any],
    table: ResultsTable,
    archive: RawArchive,
) -> None:
    """DynamoDB Local and the moto S3 server: page 1 is archived, Rekognition throttles on
    page 2, and the retry replays page 1 from S3 and asks only for page 2 (the Stubber would
    fail on a request for page 1)."""
    video, job_id = completion(sns_event)
    table.record_upload(
        video, {"status": "SUBMITTED", "job_id": job_id, "sequencer_order": sequencer_order("0B")}
    )
    first = {
        "JobStatus": "SUCCEEDED",
        "NextToken": "page-2",
        "Celebrities": [detection(0, "ann", "Ann Lee"), detection(1_000, "ann", "Ann Lee")],
    }
    second = {"JobStatus": "SUCCEEDED", "Celebrities": [detection(1_500, "ann", "Ann Lee")]}
    base = {"JobId": job_id, "MaxResults": 1000, "SortBy": "TIMESTAMP"}
    rekognition.add_response("get_celebrity_recognition", first, base)
    # The Stubber answers before botocore's retry handler, so one error fails the attempt.
    rekognition.add_client_error("get_celebrity_recognition", "ThrottlingException")
    with pytest.raises(RetryableError):
        results_app.lambda_handler(sns_event, FakeContext())
    assert len(list(archive.pages(video, job_id))) == 1

    rekognition.add_response("get_celebrity_recognition", second, {**base, "NextToken": "page-2"})
    [outcome] = results_app.lambda_handler(sns_event, FakeContext())["completions"]

    assert (outcome["status"], outcome["pages"], outcome["pages_replayed"]) == ("SUCCEEDED", 2, 1)
    spans = [(a["start_ms"], a["end_ms"], a["detections"]) for a in table.appearances(video)]
    assert spans == [(0, 1_500, 3)]
