"""cameo_core.backlog with a controlled clock: claims that outlive their lease, the sweep's
reconciliation of jobs whose notification never came, early completions and the cost guard.
moto for S3/SNS/SQS/DynamoDB, the Stubber for Rekognition."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY

from cameo_core.adapters.objects import VideoObjects
from cameo_core.adapters.rekognition import CelebrityJobs
from cameo_core.adapters.table import ResultsTable
from cameo_core.adapters.topic import CompletionTopic
from cameo_core.backlog import (
    LEASE_S,
    Backlog,
    Upload,
    drain,
    enqueue,
    free_slots,
    on_completion,
    sweep,
)
from cameo_core.config import BacklogSettings, StartConfig, Tuning
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef
from cameo_core.results import Completion

BUCKET = "cameo-videos-example"
T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def topic_messages(aws, stack_model):
    """Every message published to the completion topic (through an SQS subscription)."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="completions-seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic = stack_model.topics["CompletionTopic"].arn
    aws["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def read() -> list[dict[str, Any]]:
        out = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        return [json.loads(json.loads(m["Body"])["Message"]) for m in out.get("Messages", [])]

    return read


@pytest.fixture
def make_backlog(aws, rekognition, stack_model, clock):
    def make(jobs: int = 2, reconcile_after_minutes: float = 30.0, **settings: Any) -> Backlog:
        config = StartConfig(
            table_name=aws["table"],
            sns_topic_arn=stack_model.topics["CompletionTopic"].arn,
            rekognition_role_arn="arn:aws:iam::123456789012:role/publish",
            tuning=Tuning(),
            backlog=BacklogSettings(
                max_concurrent_jobs=jobs,
                reconcile_after_minutes=reconcile_after_minutes,
                **settings,
            ),
        )
        return Backlog(
            config=config,
            table=ResultsTable(aws["dynamodb"], aws["table"]),
            jobs=CelebrityJobs(rekognition.client),
            topic=CompletionTopic(aws["sns"], config.sns_topic_arn),
            clock=clock,
        )

    return make


def upload(n: int, key: str | None = None, **kw: Any) -> Upload:
    return Upload(
        bucket=BUCKET,
        key=key or f"library/video-{n:03d}.mp4",
        size=1_000_000,
        etag=f"etag{n}",
        sequencer=f"00{n:016X}",
        **kw,
    )


def expect_start(rekognition, job_id: str, key: str | None = None) -> None:
    rekognition.add_response(
        "start_celebrity_recognition",
        {"JobId": job_id},
        {
            "Video": {"S3Object": {"Bucket": BUCKET, "Name": key or ANY}},
            "ClientRequestToken": ANY,
            "NotificationChannel": {"SNSTopicArn": ANY, "RoleArn": ANY},
            "JobTag": ANY,
        },
    )


def expect_status(rekognition, job_id: str, status: str) -> None:
    rekognition.add_response(
        "get_celebrity_recognition",
        {"JobStatus": status, "Celebrities": []},
        {"JobId": job_id, "MaxResults": 1},
    )


def queue(backlog: Backlog, clock: Clock, count: int) -> list[VideoRef]:
    videos = []
    for n in range(count):
        outcome = enqueue(upload(n), backlog.config, backlog.table, None, now=clock())
        assert outcome.status == "QUEUED"
        videos.append(upload(n).video)
        clock.advance(milliseconds=10)
    return videos


def holders(backlog: Backlog) -> list[str]:
    return sorted(
        str(s.get("job_id") or s["holder"]) for s in backlog.table.slots() if s.get("holder")
    )


def completion(job_id: str, video: VideoRef, api: str = "StartCelebrityRecognition") -> Completion:
    return Completion(job_id=job_id, status="SUCCEEDED", api=api, video=video)


# -- slots and drain order --


def test_drain_starts_the_oldest_first_and_never_more_than_the_slots(
    make_backlog, clock, rekognition
):
    backlog = make_backlog(jobs=2)
    videos = queue(backlog, clock, 5)
    expect_start(rekognition, "job-0", videos[0].key)
    expect_start(rekognition, "job-1", videos[1].key)

    started = drain(backlog)

    assert [o.job_id for o in started] == ["job-0", "job-1"]
    assert holders(backlog) == ["job-0", "job-1"]
    assert backlog.table.backlog_count("QUEUED") == 3
    # Positions: the video queued third is now first in line.
    third = backlog.table.get_video(videos[2])
    assert backlog.table.backlog_count("QUEUED", ahead_of=third["gsi3sk"]) == 0
    last = backlog.table.get_video(videos[4])
    assert backlog.table.backlog_count("QUEUED", ahead_of=last["gsi3sk"]) == 2

    # Each completion frees one slot; the next in line takes it.
    for n, job in ((2, "job-0"), (3, "job-1")):
        assert on_completion(backlog, completion(job, videos[n - 2]))[0]["released"] == 1
        expect_start(rekognition, f"job-{n}", videos[n].key)
        assert [o.job_id for o in drain(backlog)] == [f"job-{n}"]
    assert holders(backlog) == ["job-2", "job-3"]


def test_a_completion_starts_the_next_job_in_its_slot_without_reading_the_slots_again(
    make_backlog, clock, rekognition, monkeypatch
):
    backlog = make_backlog(jobs=2)
    videos = queue(backlog, clock, 4)
    expect_start(rekognition, "job-0", videos[0].key)
    expect_start(rekognition, "job-1", videos[1].key)
    drain(backlog)
    reads: list[int] = []
    read_slots = backlog.table.slots
    monkeypatch.setattr(backlog.table, "slots", lambda: reads.append(1) or read_slots())

    # When job-0 completes, its release reads the slots once and hands that view on
    outcome, view = on_completion(backlog, completion("job-0", videos[0]))
    assert outcome["released"] == 1 and view is not None
    expect_start(rekognition, "job-2", videos[2].key)
    assert [o.job_id for o in drain(backlog, slots=view)] == ["job-2"]
    # Then the next job started in the freed slot with that one read of the slots
    assert len(reads) == 1
    assert holders(backlog) == ["job-1", "job-2"]

    # A stale view (its free slot taken meanwhile) costs a failed write, never an extra job
    _, view = on_completion(backlog, completion("job-1", videos[1]))
    expect_start(rekognition, "job-3", videos[3].key)
    assert [o.job_id for o in drain(backlog)] == ["job-3"]
    assert drain(backlog, slots=view) == []  # the Stubber has no Start left to answer
    assert holders(backlog) == ["job-2", "job-3"]


def test_free_slots_count_every_held_slot_and_lapsed_leases_come_back():
    now = 1_000
    slots = [
        {"sk": "SLOT#000", "holder": "a", "job_id": "j"},
        {"sk": "SLOT#001", "holder": "b", "lease_until": now - 1},  # crashed starter
        {"sk": "SLOT#002", "holder": "c", "lease_until": now + 60},  # starting now
        {"sk": "SLOT#005", "holder": "d", "job_id": "k"},  # above a lowered capacity
    ]
    assert free_slots(slots, 4, now) == [1]
    assert free_slots(slots, 3, now) == []
    assert free_slots([], 3, now) == [0, 1, 2]


# -- a starter that dies --


def test_a_starting_claim_past_its_lease_is_requeued_and_started_with_the_same_token(
    make_backlog, clock, rekognition, monkeypatch
):
    backlog = make_backlog(jobs=1)
    [video] = queue(backlog, clock, 1)
    tokens = []

    def dies(self, request):
        tokens.append(request.client_request_token)
        raise TimeoutError("Task timed out")

    with monkeypatch.context() as patch:
        patch.setattr(CelebrityJobs, "start", dies)
        with pytest.raises(TimeoutError):
            drain(backlog)
    assert backlog.table.get_video(video)["status"] == "STARTING"

    # Before the lease ends, the sweep leaves the claim (and its slot) alone.
    clock.advance(seconds=LEASE_S - 5)
    assert sweep(backlog)["requeued"] == 0
    assert len(holders(backlog)) == 1

    clock.advance(seconds=10)
    seen = []
    rekognition.client.meta.events.register_first(
        "before-parameter-build.rekognition.StartCelebrityRecognition",
        lambda params, **_: seen.append(params["ClientRequestToken"]),
    )
    expect_start(rekognition, "job-1", video.key)
    report = sweep(backlog)

    assert report["requeued"] == 1
    assert [s["job_id"] for s in report["started"]] == ["job-1"]
    assert seen == tokens  # same token: Rekognition returns the first Start's job, if any
    item = backlog.table.get_video(video)
    assert item["status"] == "SUBMITTED" and "start_faults" not in item
    assert holders(backlog) == ["job-1"]  # the lapsed slot was taken over, not added


def test_an_early_completion_is_retried_until_the_job_is_recorded(
    make_backlog, clock, rekognition, monkeypatch
):
    backlog = make_backlog(jobs=1)
    [video] = queue(backlog, clock, 1)
    with monkeypatch.context() as patch:
        patch.setattr(
            CelebrityJobs,
            "start",
            lambda self, request: (_ for _ in ()).throw(TimeoutError("killed")),
        )
        with pytest.raises(TimeoutError):
            drain(backlog)

    # The job finished at Rekognition before its starter recorded it: try again later.
    with pytest.raises(RetryableError):
        on_completion(backlog, completion("job-1", video))

    clock.advance(seconds=LEASE_S + 1)
    expect_start(rekognition, "job-1", video.key)
    sweep(backlog)
    # Lambda's retry of the completion now finds the job and frees its slot.
    assert on_completion(backlog, completion("job-1", video))[0]["released"] == 1
    assert holders(backlog) == []


# -- reconciliation of jobs whose notification never came --


def test_the_sweep_announces_a_finished_job_like_rekognition_would(
    make_backlog, clock, rekognition, topic_messages, load_event
):
    backlog = make_backlog(jobs=1, reconcile_after_minutes=30)
    [video] = queue(backlog, clock, 1)
    expect_start(rekognition, "job-lost", video.key)
    drain(backlog)

    clock.advance(minutes=29)
    assert sweep(backlog)["reconciled"] == []  # not stuck yet: no Rekognition call

    clock.advance(minutes=2)
    expect_status(rekognition, "job-lost", "SUCCEEDED")
    report = sweep(backlog)

    assert report["reconciled"] == [
        {"video": video.uri, "job_id": "job-lost", "status": "SUCCEEDED"}
    ]
    [message] = topic_messages()
    real = json.loads(load_event("sns_succeeded.json")["Records"][0]["Sns"]["Message"])
    assert set(message) == set(real)
    assert set(message["Video"]) == set(real["Video"])
    assert {k: type(v) for k, v in message.items()} == {k: type(v) for k, v in real.items()}
    assert message["JobId"] == "job-lost" and message["Status"] == "SUCCEEDED"
    assert message["API"] == real["API"] == "StartCelebrityRecognition"
    assert message["Video"] == {"S3ObjectName": video.key, "S3Bucket": BUCKET}
    item = backlog.table.get_video(video)
    assert message["JobTag"] == item["job_tag"]
    # Parsed by the same code as a real notification.
    parsed = Completion.parse(message)
    assert (parsed.job_id, parsed.video, parsed.status) == ("job-lost", video, "SUCCEEDED")


def test_a_stuck_job_is_announced_at_most_once_per_period(
    make_backlog, clock, rekognition, topic_messages
):
    backlog = make_backlog(jobs=1, reconcile_after_minutes=30)
    [video] = queue(backlog, clock, 1)
    expect_start(rekognition, "job-lost", video.key)
    drain(backlog)
    clock.advance(minutes=31)
    expect_status(rekognition, "job-lost", "SUCCEEDED")
    sweep(backlog)

    # The next sweeps of the same period ask nothing (no Stubber response is queued).
    for _ in range(3):
        clock.advance(minutes=5)
        assert sweep(backlog)["reconciled"] == []
    assert len(topic_messages()) == 1

    # A period later, still no completion handled: announced once more.
    clock.advance(minutes=20)
    expect_status(rekognition, "job-lost", "SUCCEEDED")
    assert len(sweep(backlog)["reconciled"]) == 1
    assert len(topic_messages()) == 1


def test_a_long_job_still_in_progress_is_only_checked_once_a_period(
    make_backlog, clock, rekognition, topic_messages
):
    backlog = make_backlog(jobs=1, reconcile_after_minutes=30)
    [video] = queue(backlog, clock, 1)
    expect_start(rekognition, "job-long", video.key)
    drain(backlog)
    clock.advance(minutes=31)
    expect_status(rekognition, "job-long", "IN_PROGRESS")

    assert sweep(backlog)["reconciled"] == []
    clock.advance(minutes=10)
    assert sweep(backlog)["reconciled"] == []  # no second probe inside the period
    assert topic_messages() == []
    item = backlog.table.get_video(video)
    assert item["status"] == "SUBMITTED" and item["reconciled_at"]


def test_a_stuck_job_rekognition_forgot_is_failed_with_the_reason_and_frees_its_slot(
    make_backlog, clock, rekognition, topic_messages
):
    backlog = make_backlog(jobs=1, reconcile_after_minutes=30)
    [video] = queue(backlog, clock, 1)
    expect_start(rekognition, "job-gone", video.key)
    drain(backlog)
    clock.advance(days=8)
    rekognition.add_client_error("get_celebrity_recognition", "ResourceNotFoundException")

    report = sweep(backlog)

    assert report["reconciled"] == [{"video": video.uri, "job_id": "job-gone", "status": "FAILED"}]
    item = backlog.table.get_video(video)
    assert item["status"] == "FAILED" and "no longer knows" in item["reason"]
    assert "gsi3pk" not in item
    assert holders(backlog) == [] and topic_messages() == []


def test_a_probe_that_fails_is_raised_after_the_rest_of_the_sweep(make_backlog, clock, rekognition):
    backlog = make_backlog(jobs=2, reconcile_after_minutes=30)
    videos = queue(backlog, clock, 3)
    expect_start(rekognition, "job-0", videos[0].key)
    expect_start(rekognition, "job-1", videos[1].key)
    drain(backlog)
    clock.advance(minutes=31)
    rekognition.add_client_error("get_celebrity_recognition", "InternalServerError")
    expect_status(rekognition, "job-1", "IN_PROGRESS")

    with pytest.raises(RetryableError, match="could not be checked"):
        sweep(backlog)
    # job-0 was not marked as checked, so the next sweep asks again.
    expect_status(rekognition, "job-0", "IN_PROGRESS")
    sweep(backlog)


def test_a_slot_left_by_a_superseded_job_is_freed_once_that_job_ended(
    make_backlog, clock, rekognition
):
    backlog = make_backlog(jobs=1, reconcile_after_minutes=30)
    [video] = queue(backlog, clock, 1)
    expect_start(rekognition, "job-old", video.key)
    drain(backlog)
    # An overwrite is queued; the old job's completion never reaches the start function.
    enqueue(
        Upload(BUCKET, video.key, 2_000_000, "etag-new", sequencer="00FFFFFFFFFFFFFFFF"),
        backlog.config,
        backlog.table,
        None,
        now=clock(),
    )
    assert drain(backlog) == []  # the old job still holds the only slot
    clock.advance(minutes=31)
    expect_status(rekognition, "job-old", "SUCCEEDED")
    expect_start(rekognition, "job-new", video.key)

    report = sweep(backlog)

    assert report["slots_freed"] == 1
    assert [s["job_id"] for s in report["started"]] == ["job-new"]


# -- the cost guard --


def mp4(seconds: float) -> bytes:
    """ftyp + moov/mvhd (version 0) with the given duration, timescale 1000."""
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"isom", 0x200, b"isom")
    body = struct.pack(">B3xIIII", 0, 0, 0, 1000, int(seconds * 1000)) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(body), b"mvhd") + body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    return ftyp + moov + bytes(1000)


def put_video(aws, key: str, seconds: float) -> Upload:
    data = mp4(seconds)
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=data)
    return Upload(BUCKET, key, len(data), "etag", sequencer="0001")


def test_a_video_longer_than_max_video_minutes_is_rejected_before_paying(
    make_backlog, aws, rekognition
):
    backlog = make_backlog(max_video_minutes=60, price_per_minute=0.10)
    long = put_video(aws, "library/seven-hours.mp4", 7 * 3600)

    outcome = enqueue(long, backlog.config, backlog.table, VideoObjects(aws["s3"]))

    assert outcome.status == "REJECTED"
    item = backlog.table.get_video(long.video)
    assert "420.0 minutes long; the limit is 60 minutes" in item["reason"]
    assert item["duration_minutes"] == 420 and item["estimated_cost_usd"] == 42.0
    assert drain(backlog) == []  # nothing to start: no Stubber response needed


def test_a_readable_header_stores_minutes_and_cost_and_an_unreadable_one_is_not_a_rejection(
    make_backlog, aws
):
    backlog = make_backlog(price_per_minute=0.10)
    objects = VideoObjects(aws["s3"])
    short = put_video(aws, "library/ninety-seconds.mp4", 90)
    aws["s3"].put_object(Bucket=BUCKET, Key="library/garbage.mp4", Body=b"\x00" * 5000)
    garbage = Upload(BUCKET, "library/garbage.mp4", 5000, "etag", sequencer="0002")

    assert enqueue(short, backlog.config, backlog.table, objects).status == "QUEUED"
    assert enqueue(garbage, backlog.config, backlog.table, objects).status == "QUEUED"

    item = backlog.table.get_video(short.video)
    assert (item["duration_minutes"], item["estimated_cost_usd"]) == (1.5, 0.15)
    unknown = backlog.table.get_video(garbage.video)
    assert unknown["duration_unknown"] is True and unknown["duration_reason"]
    assert "duration_minutes" not in unknown
    assert objects.requests <= 4  # ranged reads, never the whole object
