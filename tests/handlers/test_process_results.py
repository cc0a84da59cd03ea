"""functions/process_results on the sample SNS events: moto for S3/DynamoDB, Stubber for
Rekognition pages."""

from __future__ import annotations

import copy
import gzip
import json

import boto3
import pytest

from cameo_core.adapters.archive import RawArchive, video_prefix
from cameo_core.adapters.table import ResultsTable
from cameo_core.config import Tuning
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef
from cameo_core.keys import sequencer_order as order
from cameo_core.results import MalformedMessage, reprocess
from tests.handlers.conftest import SNS_JOB_ID, detection, get_params, page

VIDEO = VideoRef("cameo-videos-example", "holiday clips/Café night — Tom & Ann.mp4")
PAGES = [
    page([detection(0, "a1", "Ada Lovelace"), detection(200, "a1", "Ada Lovelace")], "t1"),
    page([detection(400, "a1", "Ada Lovelace"), detection(400, "b2", "Alan Turing")], "t2"),
    # Ada leaves for more than the 2 s merge gap, then returns.
    page([detection(600, "b2", "Alan Turing"), detection(5000, "a1", "Ada Lovelace")]),
]


@pytest.fixture
def table(aws):
    return ResultsTable(boto3.client("dynamodb"), aws["table"])


@pytest.fixture
def results(handler_module, wire, aws, table):
    module = wire(handler_module("ProcessResultsFunction"))
    table.record_upload(
        VIDEO,
        {"status": "SUBMITTED", "job_id": SNS_JOB_ID, "sequencer_order": order("01"), "size": 10},
    )
    return module


def serve_pages(rekognition, pages=PAGES, job_id=SNS_JOB_ID):
    token = None
    for body in pages:
        rekognition.add_response("get_celebrity_recognition", body, get_params(job_id, token))
        token = body.get("NextToken")


def items(table):
    return list(table.appearances(VIDEO)), list(table.summaries(VIDEO))


def test_succeeded_job_pages_through_all_results(results, rekognition, load_event, context, table):
    serve_pages(rekognition)

    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]

    assert outcome["status"] == "SUCCEEDED" and outcome["pages"] == 3
    appearances, summaries = items(table)
    assert [(a["name"], a["start_ms"], a["end_ms"], a["detections"]) for a in appearances] == [
        ("Ada Lovelace", 0, 400, 3),
        ("Alan Turing", 400, 600, 2),
        ("Ada Lovelace", 5000, 5000, 1),
    ]
    ada = next(s for s in summaries if s["celebrity_id"] == "a1")
    assert (ada["appearances"], ada["screen_time_ms"], ada["first_seen_ms"]) == (2, 400, 0)
    assert ada["last_seen_ms"] == 5000 and ada["gsi1pk"] == "CELEBRITY#a1"
    video = table.get_video(VIDEO)
    assert video["status"] == "SUCCEEDED" and video["completed_at"]
    assert video["video_metadata"]["FrameRate"] == 25
    assert (video["appearance_count"], video["celebrity_count"]) == (3, 2)


def test_raw_pages_are_archived_compressed(results, rekognition, load_event, context, aws):
    serve_pages(rekognition)
    results.lambda_handler(load_event("sns_succeeded.json"), context)

    s3 = aws["s3"]
    bucket = results.CONFIG.archive_bucket
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 3 and all(k.startswith(video_prefix(VIDEO)) for k in keys)
    first = s3.get_object(Bucket=bucket, Key=sorted(keys)[0])["Body"].read()
    assert json.loads(gzip.decompress(first))["Celebrities"][0]["Celebrity"]["Id"] == "a1"


def seed_items(table, job_ids=("job-0", SNS_JOB_ID)):
    """Items a reader could see: an earlier upload's, and a crashed attempt's of this job."""
    with table.writer() as writer:
        for n, job_id in enumerate(job_ids):
            writer.put({"pk": VIDEO.pk, "sk": f"APPEARANCE#{n:012d}#a1", "job_id": job_id})
            writer.put({"pk": VIDEO.pk, "sk": f"CELEBRITY#c{n}", "job_id": job_id})
    assert [len(found) for found in items(table)] == [len(job_ids)] * 2


@pytest.mark.parametrize("event", ["sns_failed.json", "sns_error.json"])
def test_failed_jobs_are_recorded_with_rekognitions_message(
    results, rekognition, load_event, context, table, event
):
    seed_items(table)
    rekognition.add_response(
        "get_celebrity_recognition",
        {"JobStatus": "FAILED", "StatusMessage": "Unsupported codec", "Celebrities": []},
        {"JobId": SNS_JOB_ID, "MaxResults": 1},
    )

    [outcome] = results.lambda_handler(load_event(event), context)["completions"]

    assert outcome["status"] == "FAILED"
    video = table.get_video(VIDEO)
    assert (video["status"], video["reason"]) == ("FAILED", "Unsupported codec")
    assert items(table) == ([], [])


def test_notifications_from_other_apis_are_ignored(results, rekognition, load_event, context):
    [outcome] = results.lambda_handler(load_event("sns_other_api.json"), context)["completions"]
    assert outcome["status"] == "IGNORED" and "StartLabelDetection" in outcome["reason"]


def test_malformed_message_is_raised_to_the_dead_letter_path(results, load_event, context):
    with pytest.raises(MalformedMessage, match="95df01b4"):
        results.lambda_handler(load_event("sns_malformed.json"), context)


def test_expired_pagination_token_restarts_without_duplicates(
    results, rekognition, load_event, context, table
):
    serve_pages(rekognition, PAGES[:1])
    rekognition.add_client_error(
        "get_celebrity_recognition", "InvalidPaginationTokenException", http_status_code=400
    )
    serve_pages(rekognition)

    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]

    assert outcome["status"] == "SUCCEEDED"
    appearances, summaries = items(table)
    assert len(appearances) == 3 and len(summaries) == 2


def test_expired_results_are_recorded_as_failed(results, rekognition, load_event, context, table):
    rekognition.add_client_error("get_celebrity_recognition", "ResourceNotFoundException")

    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]

    assert outcome["status"] == "FAILED"
    assert "expire" in table.get_video(VIDEO)["reason"]


def test_throttling_mid_paging_raises_and_the_retry_resumes_without_duplicates(
    results, rekognition, load_event, context, table
):
    serve_pages(rekognition, PAGES[:1])
    rekognition.add_client_error("get_celebrity_recognition", "ThrottlingException")
    with pytest.raises(RetryableError):
        results.lambda_handler(load_event("sns_succeeded.json"), context)
    assert table.get_video(VIDEO)["status"] == "SUBMITTED"

    # The platform's retry: nothing locks the job, and page 1 is archived, so it is replayed
    # from S3 and Rekognition is asked from page 1's token (the Stubber checks the token).
    rekognition.add_response("get_celebrity_recognition", PAGES[1], get_params(SNS_JOB_ID, "t1"))
    rekognition.add_response("get_celebrity_recognition", PAGES[2], get_params(SNS_JOB_ID, "t2"))
    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]

    assert (outcome["status"], outcome["pages"], outcome["pages_replayed"]) == ("SUCCEEDED", 3, 1)
    appearances, _ = items(table)
    assert [a["start_ms"] for a in appearances] == [0, 400, 5000]


def test_duplicate_completion_is_processed_once(results, rekognition, load_event, context, table):
    serve_pages(rekognition)
    event = load_event("sns_succeeded.json")
    [first] = results.lambda_handler(copy.deepcopy(event), context)["completions"]
    # No pages queued: a second paging would fail the Stubber.
    [second] = results.lambda_handler(copy.deepcopy(event), context)["completions"]
    assert first["status"] == "SUCCEEDED"
    assert (second["status"], second["reason"]) == ("IGNORED", "already SUCCEEDED")
    assert len(items(table)[0]) == 3


def test_completion_of_a_job_that_is_no_longer_current_is_ignored(
    results, rekognition, load_event, context, table
):
    table.record_upload(
        VIDEO, {"status": "SUBMITTED", "job_id": "newer-job", "sequencer_order": order("02")}
    )

    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]

    assert outcome["status"] == "IGNORED"
    assert table.get_video(VIDEO)["job_id"] == "newer-job"


def test_a_new_job_replaces_the_previous_jobs_appearances(
    results, rekognition, load_event, context, table
):
    serve_pages(rekognition)
    results.lambda_handler(load_event("sns_succeeded.json"), context)
    table.record_upload(
        VIDEO, {"status": "SUBMITTED", "job_id": "job-2", "sequencer_order": order("02")}
    )
    serve_pages(rekognition, [page([detection(9000, "c3", "Grace Hopper")])], job_id="job-2")
    event = load_event("sns_succeeded.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    event["Records"][0]["Sns"]["Message"] = json.dumps({**message, "JobId": "job-2"})

    results.lambda_handler(event, context)

    appearances, summaries = items(table)
    assert [(a["name"], a["job_id"]) for a in appearances] == [("Grace Hopper", "job-2")]
    assert [s["celebrity_id"] for s in summaries] == ["c3"]


def test_erase_removes_results_and_archive(
    results, rekognition, handler_module, wire, load_event, context, table, aws
):
    serve_pages(rekognition)
    results.lambda_handler(load_event("sns_succeeded.json"), context)
    erase = wire(handler_module("EraseResultsFunction"))

    [outcome] = erase.lambda_handler(load_event("s3_delete.json"), context)["erased"]

    assert outcome["items_deleted"] == 5 and outcome["pages_deleted"] == 3
    assert items(table) == ([], [])
    video = table.get_video(VIDEO)
    assert video["status"] == "ERASED" and "job_id" not in video
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=erase.CONFIG.archive_bucket)


def test_completion_before_the_job_is_recorded_is_retried_not_dropped(
    handler_module, wire, aws, load_event, context
):
    results = wire(handler_module("ProcessResultsFunction"))  # no video item yet

    with pytest.raises(RetryableError, match="no record"):
        results.lambda_handler(load_event("sns_succeeded.json"), context)


def test_a_failed_new_job_removes_the_previous_uploads_results(
    results, rekognition, load_event, context, table
):
    serve_pages(rekognition)
    results.lambda_handler(load_event("sns_succeeded.json"), context)
    table.record_upload(
        VIDEO, {"status": "SUBMITTED", "job_id": "job-2", "sequencer_order": order("02")}
    )
    rekognition.add_response(
        "get_celebrity_recognition",
        {"JobStatus": "FAILED", "StatusMessage": "corrupt file", "Celebrities": []},
        {"JobId": "job-2", "MaxResults": 1},
    )
    event = load_event("sns_failed.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    event["Records"][0]["Sns"]["Message"] = json.dumps({**message, "JobId": "job-2"})

    [outcome] = results.lambda_handler(event, context)["completions"]

    assert outcome["status"] == "FAILED"
    assert items(table) == ([], [])


def test_a_redelivered_completion_finishes_an_interrupted_clean_up(
    results, rekognition, load_event, context, table
):
    serve_pages(rekognition)
    results.lambda_handler(load_event("sns_succeeded.json"), context)
    # As if the attempt died between marking SUCCEEDED and deleting the previous job's items
    with table.writer() as writer:
        writer.put({"pk": VIDEO.pk, "sk": "APPEARANCE#000000099999#old", "job_id": "job-0"})

    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]

    assert outcome["reason"] == "already SUCCEEDED"
    assert "job-0" not in {a["job_id"] for a in items(table)[0]}


def test_reprocess_refuses_an_incomplete_archive(results, rekognition, table, aws):
    archive = RawArchive(aws["s3"], results.CONFIG.archive_bucket)
    table.finish_job(VIDEO, SNS_JOB_ID, {"status": "SUCCEEDED"})
    archive.put_page(VIDEO, SNS_JOB_ID, 1, PAGES[0])  # page 1 of 3: the attempt died

    with pytest.raises(LookupError, match="incomplete"):
        reprocess(VIDEO, table, archive, Tuning())


def test_erase_ignores_the_s3_test_event(handler_module, wire, aws, load_event, context):
    erase = wire(handler_module("EraseResultsFunction"))
    assert erase.lambda_handler(load_event("s3_test_event.json"), context) == {"erased": []}


def test_deleting_a_noncurrent_version_keeps_the_current_results(
    results, rekognition, handler_module, wire, load_event, context, table
):
    serve_pages(rekognition)
    results.lambda_handler(load_event("sns_succeeded.json"), context)
    table.finish_job(VIDEO, SNS_JOB_ID, {"version_id": "current-version"})
    erase = wire(handler_module("EraseResultsFunction"))
    event = load_event("s3_delete.json")
    event["Records"][0]["s3"]["object"]["versionId"] = "an-older-version"

    [outcome] = erase.lambda_handler(event, context)["erased"]

    assert outcome["erased"] is False
    assert len(items(table)[0]) == 3 and table.get_video(VIDEO)["status"] == "SUCCEEDED"


def test_a_late_delete_event_does_not_erase_a_newer_upload(
    results, handler_module, wire, load_event, context, table
):
    table.record_upload(
        VIDEO,
        {
            "status": "SUBMITTED",
            "job_id": "job-new",
            "sequencer_order": order("0062A1B2C3D4E5F6FF"),
        },
    )
    erase = wire(handler_module("EraseResultsFunction"))  # the delete's sequencer is ...F699

    [outcome] = erase.lambda_handler(load_event("s3_delete.json"), context)["erased"]

    assert outcome["erased"] is False
    assert table.get_video(VIDEO)["job_id"] == "job-new"


# -- the job's own status against its notification ----------------------------------------------


def notified(load_event, status):
    event = load_event("sns_succeeded.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    event["Records"][0]["Sns"]["Message"] = json.dumps({**message, "Status": status})
    return event


def test_a_page_still_in_progress_is_retried_and_writes_nothing(
    results, rekognition, load_event, context, table
):
    rekognition.add_response(
        "get_celebrity_recognition", {"JobStatus": "IN_PROGRESS"}, get_params(SNS_JOB_ID)
    )

    with pytest.raises(RetryableError, match="IN_PROGRESS"):
        results.lambda_handler(load_event("sns_succeeded.json"), context)

    assert table.get_video(VIDEO)["status"] == "SUBMITTED"
    assert items(table) == ([], [])
    # The platform's retry, once the job is done, writes the results.
    serve_pages(rekognition)
    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]
    assert (outcome["status"], outcome["appearances"]) == ("SUCCEEDED", 3)


def test_a_succeeded_notification_for_a_failed_job_records_the_failure(
    results, rekognition, load_event, context, table
):
    rekognition.add_response(
        "get_celebrity_recognition",
        {"JobStatus": "FAILED", "StatusMessage": "Unsupported codec", "Celebrities": []},
        get_params(SNS_JOB_ID),
    )

    [outcome] = results.lambda_handler(load_event("sns_succeeded.json"), context)["completions"]

    assert (outcome["status"], outcome["reason"]) == ("FAILED", "Unsupported codec")
    assert table.get_video(VIDEO)["status"] == "FAILED"
    assert "Contents" not in boto3.client("s3").list_objects_v2(
        Bucket=results.CONFIG.archive_bucket
    )


def test_a_failed_notification_for_a_succeeded_job_writes_its_results(
    results, rekognition, load_event, context, table
):
    rekognition.add_response(
        "get_celebrity_recognition", PAGES[0], {"JobId": SNS_JOB_ID, "MaxResults": 1}
    )
    serve_pages(rekognition)

    [outcome] = results.lambda_handler(notified(load_event, "FAILED"), context)["completions"]

    assert (outcome["status"], outcome["appearances"]) == ("SUCCEEDED", 3)
    assert table.get_video(VIDEO)["status"] == "SUCCEEDED"


def test_a_failed_notification_for_a_job_still_running_is_retried(
    results, rekognition, load_event, context, table
):
    rekognition.add_response(
        "get_celebrity_recognition",
        {"JobStatus": "IN_PROGRESS", "Celebrities": []},
        {"JobId": SNS_JOB_ID, "MaxResults": 1},
    )

    with pytest.raises(RetryableError, match="still running"):
        results.lambda_handler(notified(load_event, "FAILED"), context)

    assert table.get_video(VIDEO)["status"] == "SUBMITTED"
