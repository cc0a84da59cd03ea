"""functions/start_recognition on the sample events: moto for S3/DynamoDB, Stubber for
Rekognition."""

from __future__ import annotations

import copy
import re

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event
from botocore.stub import ANY

from cameo_core.adapters.table import ResultsTable
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef, client_request_token
from cameo_core.start import uploads

UNICODE_KEY = "holiday clips/Café night — Tom & Ann.mp4"
BUCKET = "cameo-videos-example"
TOKEN = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
JOB_TAG = re.compile(r"^[a-zA-Z0-9_.\-:+=/]{1,1024}$")


@pytest.fixture
def start(handler_module, wire, aws):
    return wire(handler_module("StartRecognitionFunction"))


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


def test_unicode_key_is_decoded_and_job_recorded(start, rekognition, load_event, context, table):
    expect_start(rekognition, "job-1", version="3HL4kqtJlcpXroDTDmjVBH40Nrjfkd")

    result = start.lambda_handler(load_event("s3_put_unicode_key.json"), context)

    assert result["uploads"] == [
        {
            "video": f"s3://{BUCKET}/{UNICODE_KEY}",
            "status": "SUBMITTED",
            "job_id": "job-1",
            "recorded": True,
        }
    ]
    item = table.get_video(VideoRef(BUCKET, UNICODE_KEY))
    assert item["status"] == "SUBMITTED" and item["job_id"] == "job-1"
    assert item["size"] == 5242880 and item["etag"] == "9b2cf535f27731c974343645a3985328"
    assert item["version_id"] == "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd" and item["submitted_at"]
    assert TOKEN.match(item["client_request_token"])
    assert JOB_TAG.match(item["job_tag"]) and item["job_tag"].startswith("cameo:")


def test_every_record_starts_a_job_and_extensions_match_case_insensitively(
    start, rekognition, load_event, context
):
    keys = [
        "interviews/press-conference.mp4",
        "interviews/RED CARPET.MOV",
        "archive/old-footage.avi",
    ]
    for n, key in enumerate(keys):
        expect_start(rekognition, f"job-{n}", key=key, version=None)

    result = start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    assert [u["job_id"] for u in result["uploads"]] == ["job-0", "job-1", "job-2"]


def test_s3_test_event_does_nothing(start, rekognition, load_event, context):
    assert start.lambda_handler(load_event("s3_test_event.json"), context) == {"uploads": []}


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
    assert "job_id" not in item


def test_duplicate_s3_delivery_starts_one_job(start, rekognition, load_event, context, table):
    event = load_event("s3_put_unicode_key.json")
    video = VideoRef(BUCKET, UNICODE_KEY)
    token = client_request_token(video, "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd")
    for _ in range(3):
        # The same token every time, so Rekognition answers with the same JobId.
        expect_start(rekognition, "job-1", token=token)
        start.lambda_handler(copy.deepcopy(event), context)
    assert table.get_video(video)["client_request_token"] == token

    # A late duplicate must not reset a finished job.
    table.finish_job(video, "job-1", {"status": "SUCCEEDED"})
    expect_start(rekognition, "job-1", token=token)
    [outcome] = start.lambda_handler(copy.deepcopy(event), context)["uploads"]
    assert outcome["recorded"] is False
    assert table.get_video(video)["status"] == "SUCCEEDED"


def test_same_upload_gives_same_token_and_an_overwrite_a_new_one(start, load_event):
    event = load_event("s3_put_multiple_records.json")
    [first] = uploads(S3Event({"Records": event["Records"][:1]}))
    again = copy.deepcopy(event)
    [same] = uploads(S3Event({"Records": again["Records"][:1]}))
    again["Records"][0]["s3"]["object"]["sequencer"] = "0062A1B2C3D4E5F6FF"
    again["Records"][0]["s3"]["object"]["eTag"] = "ffffffffffffffffffffffffffffffff"
    [overwrite] = uploads(S3Event({"Records": again["Records"][:1]}))

    token = client_request_token(first.video, first.revision)
    assert token == client_request_token(same.video, same.revision)
    assert token != client_request_token(overwrite.video, overwrite.revision)


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


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
        "LimitExceededException",
    ],
)
def test_transient_errors_are_raised_for_the_platform_to_retry(
    start, rekognition, load_event, context, table, code
):
    rekognition.add_client_error("start_celebrity_recognition", service_error_code=code)

    with pytest.raises(RetryableError):
        start.lambda_handler(load_event("s3_put_unicode_key.json"), context)
    # Nothing recorded, so the retry is not mistaken for a duplicate.
    assert table.get_video(VideoRef(BUCKET, UNICODE_KEY)) is None


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
def test_permanent_errors_are_recorded_as_failed_with_the_message(
    start, rekognition, load_event, context, table, code
):
    rekognition.add_client_error(
        "start_celebrity_recognition", service_error_code=code, service_message="nope: details"
    )

    [outcome] = start.lambda_handler(load_event("s3_put_unicode_key.json"), context)["uploads"]

    assert outcome["status"] == "FAILED"
    item = table.get_video(VideoRef(BUCKET, UNICODE_KEY))
    assert item["status"] == "FAILED" and item["error_code"] == code
    assert "nope: details" in item["reason"]


def test_one_transient_failure_does_not_hold_up_the_other_records(
    start, rekognition, load_event, context, table
):
    expect_start(rekognition, "job-0", key="interviews/press-conference.mp4", version=None)
    rekognition.add_client_error("start_celebrity_recognition", "ThrottlingException")
    expect_start(rekognition, "job-2", key="archive/old-footage.avi", version=None)

    with pytest.raises(RetryableError, match="1 upload"):
        start.lambda_handler(load_event("s3_put_multiple_records.json"), context)

    assert table.get_video(VideoRef(BUCKET, "archive/old-footage.avi"))["job_id"] == "job-2"
    assert table.get_video(VideoRef(BUCKET, "interviews/RED CARPET.MOV")) is None
