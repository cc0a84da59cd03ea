"""Long jobs resume, they don't restart (issue 7, "Killed paging").

functions/process_results on moto S3/DynamoDB with a fake GetCelebrityRecognition for a long
job. The kill is an exception nothing in cameo catches (BaseException, like a timeout or OOM
ending the process), raised from the page source. Re-invoking the handler until it completes
must give exactly the items of an uninterrupted run, asking Rekognition for at most 1.1x the
job's pages."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.errors import RetryableError
from cameo_core.keys import BACKLOG_PK, VideoRef, backlog_sk
from cameo_core.keys import sequencer_order as order
from cameo_core.results import RESERVE_S
from tests.handlers.conftest import SNS_JOB_ID, detection, page
from tests.support.fakes import FakeContext

VIDEO = VideoRef("cameo-videos-example", "holiday clips/Café night — Tom & Ann.mp4")
DETECTIONS_PER_PAGE = 4


class Killed(BaseException):
    """The invocation dies mid-paging: nothing in the handler may catch this."""


def long_job(pages: int) -> list[dict[str, Any]]:
    """Detections every 500 ms: b2 on screen throughout (one appearance across every page
    boundary), a1 on for 5 s and off for 5 s (longer than the merge gap: many appearances)."""
    bodies = []
    for index in range(pages):
        celebrities = []
        for g in range(index * DETECTIONS_PER_PAGE, (index + 1) * DETECTIONS_PER_PAGE):
            if (g // 10) % 2 == 0:
                celebrities.append(detection(g * 500, "a1", "Ada Lovelace", 90 + g % 10))
            celebrities.append(detection(g * 500, "b2", "Alan Turing", 99.0))
        bodies.append(page(celebrities, f"p{index + 1}" if index + 1 < pages else None))
    return bodies


class LongJob:
    """GetCelebrityRecognition for one job (tokens "p<index of the next page>"), with a kill.

    `kill_after` pages answered per invocation, the next request dies: before it is sent
    (`lose_answer=False`: the kill falls between two pages) or after Rekognition answered it
    (`lose_answer=True`: the page in flight is lost, and it counts as asked).
    """

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.asked = 0
        self.kill_after: int | None = None
        self.lose_answer = False
        self.expired: set[str] = set()
        self.first_tokens: list[str | None] = []  # per invocation
        self._answered_now = 0

    def invocation(self) -> None:
        self._answered_now = 0
        self.first_tokens.append("-")

    def get_celebrity_recognition(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs.pop("JobId") == SNS_JOB_ID and kwargs.pop("SortBy") == "TIMESTAMP"
        assert kwargs.pop("MaxResults") == 1000
        token = kwargs.pop("NextToken", None)
        assert not kwargs, kwargs
        if self.kill_after is not None and self._answered_now >= self.kill_after:
            self.asked += self.lose_answer
            raise Killed
        self.asked += 1
        if self.first_tokens and self.first_tokens[-1] == "-":
            self.first_tokens[-1] = token
        if token in self.expired:
            self.expired.discard(token)  # a fresh pass gets fresh tokens (same names here)
            error = {"Error": {"Code": "InvalidPaginationTokenException", "Message": "expired"}}
            raise ClientError(error, "GetCelebrityRecognition")  # type: ignore[arg-type]
        self._answered_now += 1
        return self.pages[int(token[1:]) if token else 0]


@pytest.fixture
def table(aws):
    return ResultsTable(boto3.client("dynamodb"), aws["table"])


def submitted(table: ResultsTable, sequencer: str = "01") -> None:
    table.record_upload(
        VIDEO, {"status": "SUBMITTED", "job_id": SNS_JOB_ID, "sequencer_order": order(sequencer)}
    )


@pytest.fixture
def results(handler_module, aws, table, monkeypatch):
    """The handler module, and a way to point its Rekognition client at a LongJob."""
    module = handler_module("ProcessResultsFunction")
    submitted(table)

    def serve(job: LongJob) -> None:
        def route(service: str) -> Any:
            return job if service == "rekognition" else boto3.client(service)

        monkeypatch.setattr("cameo_core.results.client", route)

    module.serve = serve
    return module


def items(table: ResultsTable) -> tuple[list[dict], list[dict], dict]:
    video = table.get_video(VIDEO)
    counts = {k: video.get(k) for k in ("status", "appearance_count", "celebrity_count")}
    counts["detection_count"] = video.get("detection_count")
    return list(table.appearances(VIDEO)), list(table.summaries(VIDEO)), counts


def run_until_complete(results, event, context, job: LongJob, limit: int) -> tuple[int, dict]:
    for invocation in range(1, limit + 1):
        job.invocation()
        try:
            [outcome] = results.lambda_handler(copy.deepcopy(event), context)["completions"]
        except Killed:
            continue
        return invocation, outcome
    raise AssertionError(f"not complete after {limit} invocations")


def uninterrupted(results, event, context, table, aws, pages) -> tuple:
    """The reference: one invocation pages everything. Then the slate is wiped for the run
    under test (same job, a re-recorded SUBMITTED item)."""
    job = LongJob(pages)
    results.serve(job)
    invocations, outcome = run_until_complete(results, event, context, job, limit=1)
    assert (invocations, outcome["pages"], job.asked) == (1, len(pages), len(pages))
    expected = items(table)
    table.delete_results(VIDEO)
    RawArchive(aws["s3"], results.CONFIG.archive_bucket).erase(VIDEO)
    submitted(table, "02")
    assert items(table)[:2] == ([], [])
    return expected


def test_a_job_killed_after_every_2_pages_completes_with_exact_items(
    results, load_event, context, table, aws
):
    pages = long_job(60)
    event = load_event("sns_succeeded.json")
    expected = uninterrupted(results, event, context, table, aws, pages)
    assert len(expected[0]) == 13  # a1 twelve times, b2 once: most span a page boundary

    job = LongJob(pages)
    job.kill_after = 2  # the kill falls between page 2 and the next request
    results.serve(job)
    invocations, outcome = run_until_complete(results, event, context, job, limit=100)

    assert outcome["status"] == "SUCCEEDED" and outcome["pages"] == 60
    assert items(table) == expected
    assert invocations == 30
    assert job.asked == 60 <= 1.1 * len(pages)
    # Each retry asked from the last archived page's NextToken, never from page 1 again.
    assert job.first_tokens == [None] + [f"p{2 * i}" for i in range(1, 30)]
    assert outcome["pages_replayed"] == 58


@pytest.mark.slow
def test_300_pages_with_20_per_invocation_and_the_page_in_flight_lost(
    results, load_event, context, table, aws
):
    pages = long_job(300)
    event = load_event("sns_succeeded.json")
    expected = uninterrupted(results, event, context, table, aws, pages)

    job = LongJob(pages)
    job.kill_after, job.lose_answer = 20, True  # the 21st answer arrives, then the process dies
    results.serve(job)
    invocations, outcome = run_until_complete(results, event, context, job, limit=100)

    assert (outcome["status"], outcome["pages"], outcome["pages_replayed"]) == (
        "SUCCEEDED",
        300,
        280,
    )
    assert items(table) == expected
    assert invocations == 15
    assert job.asked == 300 + 14 <= 1.1 * len(pages)


def test_an_expired_resume_token_restarts_from_page_1(results, load_event, context, table, aws):
    pages = long_job(5)
    event = load_event("sns_succeeded.json")
    expected = uninterrupted(results, event, context, table, aws, pages)

    job = LongJob(pages)
    job.kill_after = 2
    results.serve(job)
    job.invocation()
    with pytest.raises(Killed):
        results.lambda_handler(copy.deepcopy(event), context)
    job.kill_after, job.expired = None, {"p2"}  # the retry comes after the token's lifetime
    _, outcome = run_until_complete(results, event, context, job, limit=1)

    assert outcome["status"] == "SUCCEEDED" and items(table) == expected
    assert job.asked == 2 + 1 + 5  # first attempt, the refused resume, a full pass
    archive = RawArchive(aws["s3"], results.CONFIG.archive_bucket)
    assert list(archive.pages(VIDEO, SNS_JOB_ID)) == pages


def test_a_retry_after_the_last_page_was_archived_asks_rekognition_nothing(
    results, load_event, context, table, aws
):
    pages = long_job(4)
    archive = RawArchive(aws["s3"], results.CONFIG.archive_bucket)
    for index, body in enumerate(pages, start=1):
        archive.put_page(VIDEO, SNS_JOB_ID, index, body)  # the last attempt died after paging
    job = LongJob(pages)
    results.serve(job)

    _, outcome = run_until_complete(
        results, load_event("sns_succeeded.json"), context, job, limit=1
    )

    assert (outcome["status"], outcome["pages"], outcome["pages_replayed"]) == ("SUCCEEDED", 4, 4)
    assert job.asked == 0
    assert items(table)[2]["appearance_count"] == len(items(table)[0]) > 0


def test_a_gap_in_the_archive_resumes_before_it(results, load_event, context, table, aws):
    pages = long_job(6)
    archive = RawArchive(aws["s3"], results.CONFIG.archive_bucket)
    for index in (1, 2, 4):  # page 3 missing: only 1..2 are a checkpoint
        archive.put_page(VIDEO, SNS_JOB_ID, index, pages[index - 1])
    job = LongJob(pages)
    results.serve(job)

    _, outcome = run_until_complete(
        results, load_event("sns_succeeded.json"), context, job, limit=1
    )

    assert outcome["pages"] == 6 and outcome["pages_replayed"] == 2
    assert job.first_tokens == ["p2"] and job.asked == 4
    assert list(archive.pages(VIDEO, SNS_JOB_ID)) == pages


@pytest.mark.parametrize("status", ["QUEUED", "STARTING"])
def test_a_completion_for_a_video_not_yet_submitted_comes_back_later(
    results, load_event, context, table, status
):
    """The video was re-uploaded and waits in the backlog (no job id recorded yet): the
    completion may be its own new job, so nothing is decided or deleted now."""
    with table.writer() as writer:
        writer.put({"pk": VIDEO.pk, "sk": "APPEARANCE#000000000000#a1", "job_id": "job-0"})
    table.record_upload(VIDEO, {"status": status, "sequencer_order": order("05")})
    job = LongJob(long_job(2))
    results.serve(job)

    with pytest.raises(RetryableError, match=status):
        results.lambda_handler(load_event("sns_succeeded.json"), context)

    assert job.asked == 0
    assert [a["job_id"] for a in table.appearances(VIDEO)] == ["job-0"]
    assert table.get_video(VIDEO)["status"] == status


# -- continuing in a new invocation before the timeout -----------------------------------------


class RunsOut(FakeContext):
    """A Lambda context whose remaining time drops below the results function's reserve once
    `after` pages have been answered in this invocation (a long job, a 15-minute function)."""

    def __init__(self, job: LongJob, after: int) -> None:
        self._job, self._after = job, after

    def get_remaining_time_in_millis(self) -> int:
        seconds = 900 if self._job._answered_now < self._after else RESERVE_S - 1
        return int(seconds * 1000)


@pytest.fixture
def announced(aws, results):
    """The completion topic's messages, through an SQS subscription (what SNS would deliver)."""
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="announced")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    aws["sns"].subscribe(
        TopicArn=results.CONFIG.completion_topic_arn,
        Protocol="sqs",
        Endpoint=arn["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )

    def receive() -> list[dict[str, Any]]:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        messages = answer.get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    return receive


def delivered(event: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The SNS event Lambda gets for a message published on the topic."""
    event = copy.deepcopy(event)
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def test_a_job_longer_than_an_invocation_continues_in_new_ones_until_complete(
    results, load_event, context, table, aws, announced
):
    pages = long_job(23)
    event = load_event("sns_succeeded.json")
    expected = uninterrupted(results, event, context, table, aws, pages)
    assert announced() == []  # a job that fits in one invocation announces nothing

    job = LongJob(pages)
    results.serve(job)
    outcomes = []
    for _ in range(10):
        job.invocation()
        # Nothing raised: no timeout, no retry, nothing for the failure queue.
        [outcome] = results.lambda_handler(copy.deepcopy(event), RunsOut(job, after=5))[
            "completions"
        ]
        outcomes.append(outcome)
        messages = announced()
        if outcome["status"] == "SUCCEEDED":
            assert messages == []
            break
        # One continuation, shaped as Rekognition's completion (the sweep's announcement).
        [message] = messages
        assert {k: message[k] for k in ("JobId", "Status", "API", "Video")} == {
            "JobId": SNS_JOB_ID,
            "Status": "SUCCEEDED",
            "API": "StartCelebrityRecognition",
            "Video": {"S3ObjectName": VIDEO.key, "S3Bucket": VIDEO.bucket},
        }
        event = delivered(event, message)

    assert [(o["status"], o["pages"], o.get("pages_fetched")) for o in outcomes] == [
        ("CONTINUED", 5, 5),
        ("CONTINUED", 10, 5),
        ("CONTINUED", 15, 5),
        ("CONTINUED", 20, 5),
        ("SUCCEEDED", 23, None),
    ]
    assert outcomes[-1]["pages_replayed"] == 20
    assert items(table) == expected
    # Each page asked for once, each continuation from the last archived page's NextToken.
    assert job.asked == len(pages) <= 1.1 * len(pages)
    assert job.first_tokens == [None, "p5", "p10", "p15", "p20"]


def test_a_job_whose_last_page_is_fetched_at_the_reserve_finishes_without_continuing(
    results, load_event, table, announced
):
    job = LongJob(long_job(5))
    results.serve(job)
    job.invocation()
    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), RunsOut(job, after=5))[
        "completions"
    ]
    assert (outcome["status"], outcome["pages"], job.asked) == ("SUCCEEDED", 5, 5)
    assert announced() == []


def test_a_continuation_arriving_after_the_job_finished_is_ignored(
    results, load_event, context, table, announced
):
    # A backlog item (the start function's SUBMITTED record) that a sweep would check.
    table.update_video(
        VIDEO,
        {"gsi3pk": BACKLOG_PK, "gsi3sk": backlog_sk("SUBMITTED", "2026-01-01T00:00:00.000", VIDEO)},
        expect={"job_id": SNS_JOB_ID},
    )
    job = LongJob(long_job(8))
    results.serve(job)
    event = load_event("sns_succeeded.json")
    job.invocation()
    before = datetime.now(UTC).isoformat(timespec="milliseconds")
    [paused] = results.lambda_handler(copy.deepcopy(event), RunsOut(job, after=3))["completions"]
    [continuation] = announced()
    assert (paused["status"], paused["pages"]) == ("CONTINUED", 3)
    # The sweep's next check of this job moves on a period: it does not announce it as well.
    video = table.get_video(VIDEO)
    assert video["gsi3sk"] == backlog_sk("SUBMITTED", video["continued_at"], VIDEO)
    assert video["continued_at"] >= before

    # Another delivery (a redelivered notification, the sweep) finishes the job first.
    job.invocation()
    [done] = results.lambda_handler(copy.deepcopy(event), context)["completions"]
    assert done["status"] == "SUCCEEDED" and job.asked == 8
    finished = items(table)

    job.invocation()
    [late] = results.lambda_handler(delivered(event, continuation), context)["completions"]

    assert (late["status"], late["reason"]) == ("IGNORED", "already SUCCEEDED")
    assert job.asked == 8 and items(table) == finished
    assert announced() == []
