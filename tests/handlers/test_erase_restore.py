"""functions/erase_results when a removal brings the object back, in a versioned bucket (moto).

S3 sends no ObjectCreated when a delete marker is removed (it sends ObjectRemoved:Delete for
the marker's version id), nor when deleting the current version makes an older one current.
The erase function looks, and queues the object again through the backlog; the start
function's next drain (here, the sweep) starts it like any upload.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY

from cameo_core.adapters.table import ResultsTable
from cameo_core.keys import VideoRef

BUCKET = "cameo-videos-example"
KEY = "holiday clips/Café night — Tom & Ann.mp4"
VIDEO = VideoRef(BUCKET, KEY)


@pytest.fixture
def s3(aws):
    s3 = aws["s3"]
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


@pytest.fixture
def table(aws):
    return ResultsTable(boto3.client("dynamodb"), aws["table"])


@pytest.fixture
def erase(handler_module, wire, aws, monkeypatch):
    module = wire(handler_module("EraseResultsFunction"))
    monkeypatch.setattr(module, "probe_client", lambda: boto3.client("s3"))
    return module


@pytest.fixture
def start(handler_module, wire, aws, rekognition, monkeypatch):
    module = wire(handler_module("StartRecognitionFunction"))
    monkeypatch.setattr(module, "start_client", lambda: rekognition.client)
    monkeypatch.setattr(module, "probe_client", lambda: boto3.client("s3"))
    return module


def removal(load_event, name, version_id=None, sequencer="0062A1B2C3D4E5F699"):
    """events/s3_delete.json as another removal of the same key."""
    event = load_event("s3_delete.json")
    record = event["Records"][0]
    record["eventName"] = name
    record["s3"]["object"]["sequencer"] = sequencer
    if version_id:
        record["s3"]["object"]["versionId"] = version_id
    return event


def analysed(table, version_id, sequencer="0062A1B2C3D4E5F601"):
    """The video as the results function leaves it: SUCCEEDED with a summary."""
    table.record_upload(
        VIDEO,
        {
            "status": "SUCCEEDED",
            "job_id": "job-1",
            "version_id": version_id,
            "sequencer": sequencer,
            "sequencer_order": sequencer.rjust(32, "0"),
        },
    )
    with table.writer() as writer:
        writer.put({"pk": VIDEO.pk, "sk": "CELEBRITY#a1", "job_id": "job-1"})


def test_undoing_a_delete_queues_the_video_again_and_the_sweep_starts_it(
    s3, table, erase, start, rekognition, load_event, context
):
    version = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"not really a video")["VersionId"]
    analysed(table, version)
    # Deleted: a delete marker, so the object is gone and its results go.
    marker = s3.delete_object(Bucket=BUCKET, Key=KEY)["VersionId"]
    [gone] = erase.lambda_handler(
        removal(load_event, "ObjectRemoved:DeleteMarkerCreated", marker), context
    )["erased"]
    assert gone["erased"] is True and "requeued" not in gone
    assert table.get_video(VIDEO)["status"] == "ERASED"
    assert list(table.summaries(VIDEO)) == []

    # Undone: the marker is deleted for good, which S3 reports as ObjectRemoved:Delete.
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=marker)
    event = removal(load_event, "ObjectRemoved:Delete", marker, sequencer="0062A1B2C3D4E5F6A0")
    [back] = erase.lambda_handler(event, context)["erased"]

    assert back["erased"] is False  # the marker held no results
    assert (back["requeued"]["status"], back["requeued"]["recorded"]) == ("QUEUED", True)
    item = table.get_video(VIDEO)
    assert (item["status"], item["version_id"]) == ("QUEUED", version)
    assert item["gsi3sk"].startswith("QUEUED#")  # in the backlog, where the drain looks

    # The start function's next drain starts it, on that very version.
    rekognition.add_response(
        "start_celebrity_recognition",
        {"JobId": "job-again"},
        {
            "Video": {"S3Object": {"Bucket": BUCKET, "Name": KEY, "Version": version}},
            "ClientRequestToken": ANY,
            "NotificationChannel": ANY,
            "JobTag": ANY,
        },
    )
    start.lambda_handler(load_event("schedule_sweep.json"), context)
    item = table.get_video(VIDEO)
    assert (item["status"], item["job_id"]) == ("SUBMITTED", "job-again")

    # A redelivery of the undo event changes nothing.
    [again] = erase.lambda_handler(event, context)["erased"]
    assert again["erased"] is False and "requeued" not in again
    assert table.get_video(VIDEO)["job_id"] == "job-again"


def test_deleting_the_current_version_erases_it_and_queues_the_older_one(
    s3, table, erase, load_event, context
):
    older = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"take 1")["VersionId"]
    current = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"take 2")["VersionId"]
    analysed(table, current)

    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=current)
    [outcome] = erase.lambda_handler(removal(load_event, "ObjectRemoved:Delete", current), context)[
        "erased"
    ]

    assert outcome["erased"] is True and outcome["items_deleted"] == 1
    assert outcome["requeued"]["status"] == "QUEUED"
    item = table.get_video(VIDEO)
    assert (item["status"], item["version_id"]) == ("QUEUED", older)
    assert list(table.summaries(VIDEO)) == []  # the deleted version's results are gone


def test_an_object_deleted_for_good_stays_erased(s3, table, erase, load_event, context):
    only = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"take 1")["VersionId"]
    analysed(table, only)

    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=only)
    [outcome] = erase.lambda_handler(removal(load_event, "ObjectRemoved:Delete", only), context)[
        "erased"
    ]

    assert outcome["erased"] is True and "requeued" not in outcome
    assert table.get_video(VIDEO)["status"] == "ERASED"
