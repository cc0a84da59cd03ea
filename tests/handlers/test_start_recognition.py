"""functions/start_recognition on the sample events: moto for S3/SNS/DynamoDB, Stubber for
Rekognition. The function takes three events (S3 upload, SNS completion, the sweep's schedule)
and every one ends in a drain of the backlog."""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event
from botocore.stub import ANY

from cameo_core.adapters.table import ResultsTable
from cameo_core.backlog import MAX_START_FAULTS
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef, client_request_token
from cameo_core.results import MalformedMessage
from cameo_core.start import event_kind, uploads
from tests.handlers.conftest import SNS_JOB_ID

UNICODE_KEY = "holiday clips/Café night — Tom & Ann.mp4"
UNICODE_VERSION = "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"
BUCKET = "cameo-videos-example"
TOKEN = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
JOB_TAG = re.compile(r"^[a-zA-Z0-9_.\-:+=/]{1,1024}$")
MULTI_KEYS = [
    "interviews/press-conference.mp4",
    "interviews/RED CARPET.MOV",
    "archive/old-footage.avi",
]


@pytest.fixture
def start(handler_module, wire, aws, rekognition, monkeypatch):
    module = wire(handler_module("StartRecognitionFunction"))
    # The start function has its own Rekognition client (few retries); route it to the Stubber.
    monkeypatch.setattr(module, "start_client", lambda: rekognition.client)
    monkeypatch.setattr(module, "probe_client", lambda: boto3.client("s3"))
    return module


@pytest.fixture
def capacity(start, monkeypatch):
    """Set MaxConcurrentJobs for this test (the template's default is 20)."""

    def set_to(jobs: int) -> None:
        backlog = dataclasses.replace(start.CONFIG.backlog, max_concurrent_jobs=jobs)
        monkeypatch.setattr(start, "CONFIG", dataclasses.replace(start.CONFIG, backlog=backlog))

    return set_to


@pytest.fixture
def table(aws):
    return ResultsTable(boto3.client("dynamodb"), aws["table"])


def expect_start(rekognition, job_id, key=UNICODE_KEY, version=ANY, token=ANY):
    s3_object = {"Bucket": BUCKET, "Name": key}
    if version is not None:
        s3_object["Version"] = version
    rekognition.add_response(
        "start_celebrity_recognition",
        {"JobId": job_id},
        {
            "Video": {"S3Object": s3_object},
            "ClientRequestToken": token,
            "NotificationChannel": {"SNSTopicArn": ANY, "RoleArn": ANY},
            "JobTag": ANY,
        },
    )


def completion_event(load_event, job_id, key=UNICODE_KEY, status="SUCCEEDED", api=None):
    """events/sns_succeeded.json, for another job or video."""
    event = load_event("sns_succeeded.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message.update(JobId=job_id, Status=status, JobTag=None)
    message["Video"]["S3ObjectName"] = key
    if api:
        message["API"] = api
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def held_slots(table):
    return sorted(s.get("job_id") or s["holder"] for s in table.slots() if s.get("holder"))


# -- S3 uploads ---------------------------------------------------------------------------------


def test_unicode_key_is_decoded_queued_and_started(start, rekognition, load_event, context, table):
    expect_start(rekognition, "job-1", version=UNICODE_VERSION)

    result = start.lambda_handler(load_event("s3_put_unicode_key.json"), context)

    uri = f"s3://{BUCKET}/{UNICODE_KEY}"
    assert result["uploads"] == [{"video": uri, "status": "QUEUED", "recorded": True}]
    assert result["started"] == [{"video": uri, "status": "SUBMITTED", "job_id": "job-1"}]
    item = table.get_video(VideoRef(BUCKET, UNICODE_KEY))
    assert item["status"] == "SUBMITTED" and item["job_id"] == "job-1"
    assert item["size"] == 5242880 and item["etag"] == "9b2cf535f27731c974343645a3985328"
    assert item["version_id"] == UNICODE_VERSION
    assert item["queued_at"] <= item["starting_at"] <= item["submitted_at"]
    assert TOKEN.match(item["client_request_token"])
    assert JOB_TAG.match(item["job_tag"]) and item["job_tag"].startswith("cameo:")
    # The object is not in moto's bucket: its header is unreadable, which is not a rejection.
    assert item["duration_unknown"] is True and item["duration_reason"]
    assert item["gsi3sk"].startswith("SUBMITTED#")
    assert held_slots(table) == ["job-1"]


def test_the_upload_is_recorded_queued_before_any_rekognition_call(
    start, rekognition, load_event, context, table
):
    seen = []

    def look(**_):
        # Inside StartCelebrityRecognition: the table already knows the upload and the claim.
        seen.append(table.get_video(VideoRef(BUCKET, UNICODE_KEY)))

    rekognition.client.meta.events.register_first("before-parameter-build.rekognition.*", look)
    expect_start(rekognition, "job-1")

    start.lambda_handler(load_event("s3_put_unicode_key.json"), context)

    (during,) = seen
    assert during["status"] == "STARTING" and during["queued_at"]
    assert "job_id" not in during  # an early completion cannot be taken for an older job's
    assert during["client_request_token"] and during["sequencer"] == "0062A1B2C3D4E5F601"


def test_with_every_slot_taken_the_upload_waits_queued_without_calling_rekognition(
    start, rekognition, load_event, context, table, capacity
):
    capacity(1)
    expect_start(rekognition, "job-0", key=MULTI_KEYS[0], version=None)
    start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    # No response queued: any Start now would fail the Stubber.
    result = start.lambda_handler(load_event("s3_put_unicode_key.json"), context)

    assert result["started"] == []
    item = table.get_video(VideoRef(BUCKET, UNICODE_KEY))
    assert item["status"] == "QUEUED" and "job_id" not in item
    assert held_slots(table) == ["job-0"]


def test_every_record_is_queued_and_started_in_order_and_extensions_match_case_insensitively(
    start, rekognition, load_event, context
):
    for n, key in enumerate(MULTI_KEYS):
        expect_start(rekognition, f"job-{n}", key=key, version=None)

    result = start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    assert [u["status"] for u in result["uploads"]] == ["QUEUED"] * 3
    assert [s["job_id"] for s in result["started"]] == ["job-0", "job-1", "job-2"]


def test_s3_test_event_does_nothing(start, rekognition, load_event, context):
    result = start.lambda_handler(load_event("s3_test_event.json"), context)
    assert result == {"uploads": [], "started": []}


@pytest.mark.parametrize(
    ("event", "key", "status", "reason"),
    [
        ("s3_put_not_video.json", "notes/shot-list.txt", "SKIPPED", "not a video file (.txt)"),
        ("s3_put_empty_video.json", "uploads/empty.mp4", "REJECTED", "object is empty"),
        ("s3_put_too_large.json", "uploads/full-season.mp4", "REJECTED", "the limit is"),
    ],
)
def test_objects_that_must_not_reach_rekognition_are_recorded_with_a_reason(
    start, rekognition, load_event, context, table, event, key, status, reason
):
    # No response is queued: any Rekognition call would fail the Stubber.
    [outcome] = start.lambda_handler(load_event(event), context)["uploads"]

    assert outcome["status"] == status
    item = table.get_video(VideoRef(BUCKET, key))
    assert item["status"] == status and reason in item["reason"]
    assert "job_id" not in item and "gsi3pk" not in item  # not in the backlog


def test_duplicate_s3_delivery_starts_one_job(start, rekognition, load_event, context, table):
    event = load_event("s3_put_unicode_key.json")
    video = VideoRef(BUCKET, UNICODE_KEY)
    token = client_request_token(video, UNICODE_VERSION)
    # One response only: the redeliveries find the upload recorded and start nothing.
    expect_start(rekognition, "job-1", token=token)
    outcomes = [start.lambda_handler(copy.deepcopy(event), context) for _ in range(3)]

    assert [o["uploads"][0]["recorded"] for o in outcomes] == [True, False, False]
    assert [len(o["started"]) for o in outcomes] == [1, 0, 0]
    assert table.get_video(video)["client_request_token"] == token

    # A late duplicate must not reset a finished job.
    table.finish_job(video, "job-1", {"status": "SUCCEEDED"})
    [outcome] = start.lambda_handler(copy.deepcopy(event), context)["uploads"]
    assert outcome["recorded"] is False
    item = table.get_video(video)
    assert item["status"] == "SUCCEEDED" and "gsi3pk" not in item


def first_upload(load_event, **changes):
    """The first record of s3_put_multiple_records.json (no version id), with `changes`."""
    event = load_event("s3_put_multiple_records.json")
    event["Records"][0]["s3"]["object"].update(changes)
    [upload] = uploads(S3Event({"Records": event["Records"][:1]}))
    return upload


def token_of(upload):
    return client_request_token(upload.video, upload.revision)


def test_a_redelivered_event_gives_the_same_token(load_event):
    assert token_of(first_upload(load_event)) == token_of(first_upload(load_event))


@pytest.mark.parametrize(
    "change",
    [
        {"sequencer": "0062A1B2C3D4E5F6FF"},  # an overwrite with the very same bytes
        {"eTag": "ffffffffffffffffffffffffffffffff"},  # other bytes, same event position
    ],
    ids=["sequencer-alone", "etag-alone"],
)
def test_a_new_sequencer_or_a_new_etag_alone_gives_a_new_token(load_event, change):
    assert token_of(first_upload(load_event)) != token_of(first_upload(load_event, **change))


def test_with_a_version_id_the_version_alone_names_the_upload(load_event):
    versioned = first_upload(load_event, versionId="v1")
    assert token_of(versioned) == token_of(
        first_upload(load_event, versionId="v1", sequencer="0062A1B2C3D4E5F6FF", eTag="ff")
    )
    assert token_of(versioned) != token_of(first_upload(load_event, versionId="v2"))


def test_an_overwrite_with_the_same_bytes_starts_a_new_job(
    start, rekognition, load_event, context, table
):
    event = load_event("s3_put_unicode_key.json")
    video = VideoRef(BUCKET, UNICODE_KEY)
    del event["Records"][0]["s3"]["object"]["versionId"]  # unversioned: ETag + sequencer
    expect_start(rekognition, "job-1", version=None)
    start.lambda_handler(copy.deepcopy(event), context)
    first = table.get_video(video)["client_request_token"]

    # Same ETag (same bytes), later sequencer: a new upload, a new token, a new job.
    event["Records"][0]["s3"]["object"]["sequencer"] = "0062A1B2C3D4E5F6FF"
    expect_start(rekognition, "job-2", version=None)
    [started] = start.lambda_handler(event, context)["started"]

    item = table.get_video(video)
    assert (started["job_id"], item["job_id"]) == ("job-2", "job-2")
    assert item["client_request_token"] != first


@pytest.mark.parametrize("status", ["SUBMITTED", "SUCCEEDED", "FAILED"])
def test_an_event_with_the_recorded_sequencer_never_calls_start_again(
    start, rekognition, load_event, context, table, status
):
    event = load_event("s3_put_unicode_key.json")
    video = VideoRef(BUCKET, UNICODE_KEY)
    expect_start(rekognition, "job-1")
    start.lambda_handler(copy.deepcopy(event), context)
    if status != "SUBMITTED":
        table.finish_job(video, "job-1", {"status": status})

    # No response queued: a second Start (a second job, once Rekognition forgot the token)
    # would fail the Stubber.
    result = start.lambda_handler(copy.deepcopy(event), context)

    assert (result["uploads"][0]["recorded"], result["started"]) == (False, [])
    item = table.get_video(video)
    assert (item["status"], item["job_id"]) == (status, "job-1")


def test_an_older_event_arriving_late_does_not_replace_a_newer_job(
    start, rekognition, load_event, context, table
):
    newer = load_event("s3_put_unicode_key.json")
    older = copy.deepcopy(newer)
    older["Records"][0]["s3"]["object"]["sequencer"] = "0062A1B2C3D4E5F5"
    expect_start(rekognition, "job-new")
    start.lambda_handler(newer, context)
    # No Rekognition response queued: a stale event must not cost a job.

    [outcome] = start.lambda_handler(older, context)["uploads"]

    assert (outcome["status"], outcome["recorded"]) == ("STALE", False)
    assert table.get_video(VideoRef(BUCKET, UNICODE_KEY))["job_id"] == "job-new"


# -- Start's answers ------------------------------------------------------------------------------


def test_limit_exceeded_is_a_waiting_state_not_a_failure(
    start, rekognition, load_event, context, table
):
    rekognition.add_client_error("start_celebrity_recognition", "LimitExceededException")

    # Not raised: Lambda must not spend its retries (or the failure queue) on a full quota.
    result = start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    # The first Start met the quota; the drain stopped there, so nothing else was tried.
    [attempt] = result["started"]
    assert attempt["status"] == "QUEUED" and "quota" in attempt["reason"]
    for key in MULTI_KEYS:
        item = table.get_video(VideoRef(BUCKET, key))
        assert item["status"] == "QUEUED" and item["gsi3sk"].startswith("QUEUED#")
        assert "start_faults" not in item  # the quota is not the video's fault
    first = table.get_video(VideoRef(BUCKET, MULTI_KEYS[0]))
    assert "LimitExceededException" in first["waiting_reason"]
    assert held_slots(table) == []  # the slot went back

    # When a job finishes, the oldest waiting video starts first.
    for n, key in enumerate(MULTI_KEYS):
        expect_start(rekognition, f"job-{n}", key=key, version=None)
    drained = start.lambda_handler(completion_event(load_event, "someone-elses-job"), context)
    assert [s["job_id"] for s in drained["started"]] == ["job-0", "job-1", "job-2"]
    assert "waiting_reason" not in table.get_video(VideoRef(BUCKET, MULTI_KEYS[0]))


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_throttling_puts_the_video_back_and_paces_the_drain(
    start, rekognition, load_event, context, table, code
):
    expect_start(rekognition, "job-0", key=MULTI_KEYS[0], version=None)
    rekognition.add_client_error("start_celebrity_recognition", code)

    result = start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    # The drain stopped at the throttle: the third video was not tried (no response queued).
    assert [s["status"] for s in result["started"]] == ["SUBMITTED", "QUEUED"]
    second = table.get_video(VideoRef(BUCKET, MULTI_KEYS[1]))
    assert second["status"] == "QUEUED" and code in second["waiting_reason"]
    assert table.get_video(VideoRef(BUCKET, MULTI_KEYS[2]))["status"] == "QUEUED"
    assert held_slots(table) == ["job-0"]


@pytest.mark.parametrize(
    "code",
    [
        "InvalidParameterException",
        "InvalidS3ObjectException",
        "VideoTooLargeException",
        "AccessDeniedException",
        "IdempotentParameterMismatchException",
    ],
)
def test_rejected_videos_are_failed_with_the_message_and_the_drain_goes_on(
    start, rekognition, load_event, context, table, code
):
    rekognition.add_client_error(
        "start_celebrity_recognition", service_error_code=code, service_message="nope: details"
    )
    expect_start(rekognition, "job-1", key=MULTI_KEYS[1], version=None)
    expect_start(rekognition, "job-2", key=MULTI_KEYS[2], version=None)

    result = start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    assert [s["status"] for s in result["started"]] == ["FAILED", "SUBMITTED", "SUBMITTED"]
    item = table.get_video(VideoRef(BUCKET, MULTI_KEYS[0]))
    assert item["status"] == "FAILED" and item["error_code"] == code
    assert "nope: details" in item["reason"] and "gsi3pk" not in item
    assert held_slots(table) == ["job-1", "job-2"]  # the refused video's slot went back


def test_other_start_faults_are_retried_by_the_backlog_then_recorded(
    start, rekognition, load_event, context, table
):
    video = VideoRef(BUCKET, UNICODE_KEY)
    rekognition.add_client_error("start_celebrity_recognition", "InternalServerError")
    start.lambda_handler(load_event("s3_put_unicode_key.json"), context)
    item = table.get_video(video)
    assert (item["status"], item["start_faults"]) == ("QUEUED", 1)

    for _ in range(MAX_START_FAULTS - 1):
        rekognition.add_client_error("start_celebrity_recognition", "InternalServerError")
        start.lambda_handler(load_event("schedule_sweep.json"), context)

    item = table.get_video(video)
    assert item["status"] == "FAILED" and "InternalServerError" in item["reason"]
    assert f"failed {MAX_START_FAULTS} times" in item["reason"]
    assert held_slots(table) == []


# -- completions --------------------------------------------------------------------------------


def test_a_completion_frees_the_jobs_slot_and_starts_the_next_video(
    start, rekognition, load_event, context, table, capacity
):
    capacity(1)
    expect_start(rekognition, SNS_JOB_ID, version=UNICODE_VERSION)
    start.lambda_handler(load_event("s3_put_unicode_key.json"), context)
    start.lambda_handler(load_event("s3_put_multiple_records.json"), context)
    assert held_slots(table) == [SNS_JOB_ID]

    expect_start(rekognition, "job-next", key=MULTI_KEYS[0], version=None)
    result = start.lambda_handler(load_event("sns_succeeded.json"), context)

    assert result["completions"] == [
        {"video": f"s3://{BUCKET}/{UNICODE_KEY}", "job_id": SNS_JOB_ID, "released": 1}
    ]
    assert [s["job_id"] for s in result["started"]] == ["job-next"]
    assert held_slots(table) == ["job-next"]
    # A redelivered completion frees nothing more and starts nothing while the slot is busy.
    again = start.lambda_handler(load_event("sns_succeeded.json"), context)
    assert (again["completions"][0]["released"], again["started"]) == (0, [])


def test_a_completion_before_its_job_is_recorded_is_retried_not_lost(
    start, rekognition, load_event, context, table, monkeypatch
):
    # The Start goes through at Rekognition, then the invocation dies before recording it.
    def killed(self, request):
        raise TimeoutError("Task timed out")

    monkeypatch.setattr("cameo_core.adapters.rekognition.CelebrityJobs.start", killed)
    with pytest.raises(TimeoutError):
        start.lambda_handler(load_event("s3_put_unicode_key.json"), context)
    assert table.get_video(VideoRef(BUCKET, UNICODE_KEY))["status"] == "STARTING"

    with pytest.raises(RetryableError, match="STARTING"):
        start.lambda_handler(load_event("sns_succeeded.json"), context)
    assert len(held_slots(table)) == 1  # held under the starter's lease, kept


@pytest.mark.parametrize("event", ["sns_other_api.json"])
def test_a_completion_of_another_api_frees_nothing(
    start, rekognition, load_event, context, table, event
):
    expect_start(rekognition, SNS_JOB_ID, version=UNICODE_VERSION)
    start.lambda_handler(load_event("s3_put_unicode_key.json"), context)

    result = start.lambda_handler(load_event(event), context)

    assert result["completions"][0]["released"] == 0
    assert held_slots(table) == [SNS_JOB_ID]


def test_a_malformed_completion_is_raised_for_the_dead_letter_queue(
    start, rekognition, load_event, context
):
    with pytest.raises(MalformedMessage):
        start.lambda_handler(load_event("sns_malformed.json"), context)


# -- the sweep ----------------------------------------------------------------------------------


def test_the_sweep_starts_what_is_queued_and_reports_the_queue(
    start, rekognition, load_event, context, table, capacity
):
    capacity(2)
    rekognition.add_client_error("start_celebrity_recognition", "LimitExceededException")
    start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    expect_start(rekognition, "job-0", key=MULTI_KEYS[0], version=None)
    expect_start(rekognition, "job-1", key=MULTI_KEYS[1], version=None)
    report = start.lambda_handler(load_event("schedule_sweep.json"), context)["sweep"]

    assert report["queued"] == 3  # counted before this sweep's drain
    assert report["oldest_queued_age_s"] >= 0
    assert [s["job_id"] for s in report["started"]] == ["job-0", "job-1"]
    assert table.get_video(VideoRef(BUCKET, MULTI_KEYS[2]))["status"] == "QUEUED"
    assert table.backlog_count("QUEUED") == 1


def test_events_are_told_apart_by_shape(load_event):
    assert event_kind(load_event("s3_put_unicode_key.json")) == "s3"
    assert event_kind(load_event("s3_test_event.json")) == "s3"
    assert event_kind(load_event("sns_succeeded.json")) == "sns"
    assert event_kind(load_event("schedule_sweep.json")) == "schedule"
    with pytest.raises(ValueError, match="not an S3, SNS or scheduled event"):
        event_kind({"hello": "world"})
