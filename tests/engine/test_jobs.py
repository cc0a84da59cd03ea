"""Job lifecycle: S3 in, results out, SNS completion, failures, limits, restarts."""

from __future__ import annotations

# Fixtures are imported from server_harness; pytest injects them by parameter name.
# ruff: noqa: F811
import json
import time
import urllib.request
from typing import Any

import pytest

from cameo_engine.jobs import completion_message
from cameo_engine.store import Job, NewJob, Store
from tests.engine.server_harness import (  # noqa: F401 - fixtures
    ROLE_ARN,
    Aws,
    EngineFactory,
    FakeBackend,
    engine,
    engine_factory,
    fake_backend,
    moto_aws,
    moto_endpoint,
    rekognition,
    rekognition_client,
    start_job,
    video_script,
    wait_done,
)


def notify(topic_arn: str) -> dict[str, str]:
    return {"SNSTopicArn": topic_arn, "RoleArn": ROLE_ARN}


def admin_job(engine: Any, job_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{engine.endpoint_url}/admin/jobs/{job_id}", timeout=10) as r:
        return json.load(r)


# -- completion messages -------------------------------------------------------------------


def test_success_publishes_exactly_the_aws_message(moto_aws: Aws, rekognition):
    topic, queue = moto_aws.topic_with_queue()
    moto_aws.put_video("in/clip one.mp4", video_script(detections=3))
    before = int(time.time() * 1000)
    job_id = start_job(
        rekognition,
        moto_aws.bucket,
        "in/clip one.mp4",
        JobTag="video-1",
        NotificationChannel=notify(topic),
    )
    assert wait_done(rekognition, job_id)["JobStatus"] == "SUCCEEDED"
    [message] = moto_aws.messages(queue)
    assert list(message) == ["JobId", "Status", "API", "JobTag", "Timestamp", "Video"]
    assert message["JobId"] == job_id
    assert message["Status"] == "SUCCEEDED"
    assert message["API"] == "StartCelebrityRecognition"
    assert message["JobTag"] == "video-1"
    assert before <= message["Timestamp"] <= int(time.time() * 1000)
    assert message["Video"] == {"S3ObjectName": "in/clip one.mp4", "S3Bucket": moto_aws.bucket}


def test_message_has_no_job_tag_when_none_was_given(moto_aws: Aws, rekognition):
    topic, queue = moto_aws.topic_with_queue()
    moto_aws.put_video("a.mp4", video_script(detections=1))
    job_id = start_job(rekognition, moto_aws.bucket, "a.mp4", NotificationChannel=notify(topic))
    wait_done(rekognition, job_id)
    [message] = moto_aws.messages(queue)
    assert "JobTag" not in message
    assert set(message) == {"JobId", "Status", "API", "Timestamp", "Video"}


def test_no_known_faces_succeeds_with_an_empty_list(moto_aws: Aws, rekognition):
    moto_aws.put_video("empty-room.mp4", video_script(detections=0))
    page = wait_done(rekognition, start_job(rekognition, moto_aws.bucket, "empty-room.mp4"))
    assert page["JobStatus"] == "SUCCEEDED"
    assert page["Celebrities"] == [] and "NextToken" not in page
    assert page["VideoMetadata"]["Codec"] == "h264"


# -- bad videos ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty (0 bytes)"),
        (b"\x00\x01 not a video at all", "Invalid data found when processing input"),
        (video_script(fail="no video stream (audio only)"), "no video stream (audio only)"),
    ],
    ids=["zero-bytes", "corrupt", "audio-only"],
)
def test_bad_videos_fail_with_a_clear_status_message(moto_aws: Aws, rekognition, body, reason):
    topic, queue = moto_aws.topic_with_queue()
    moto_aws.put_video("bad.mp4", body)
    job_id = start_job(rekognition, moto_aws.bucket, "bad.mp4", NotificationChannel=notify(topic))
    page = wait_done(rekognition, job_id)
    assert page["JobStatus"] == "FAILED"
    assert reason in page["StatusMessage"]
    assert page["Celebrities"] == [] and "VideoMetadata" not in page
    [message] = moto_aws.messages(queue)
    assert (message["JobId"], message["Status"]) == (job_id, "FAILED")


def test_a_crashing_analysis_fails_its_job_and_the_worker_carries_on(moto_aws: Aws, rekognition):
    moto_aws.put_video("crash.mp4", video_script(crash="boom"))
    moto_aws.put_video("fine.mp4", video_script(detections=2))
    crashed = start_job(rekognition, moto_aws.bucket, "crash.mp4")
    fine = start_job(rekognition, moto_aws.bucket, "fine.mp4")  # same single worker
    failed = wait_done(rekognition, crashed)
    assert failed["JobStatus"] == "FAILED"
    assert "RuntimeError: boom" in failed["StatusMessage"]
    assert len(wait_done(rekognition, fine)["Celebrities"]) == 2


def test_object_deleted_after_submission_fails_the_job(moto_aws: Aws, engine, fake_backend):
    client = rekognition_client(engine.endpoint_url)
    moto_aws.put_video("block.mp4", video_script(block=True))
    moto_aws.put_video("gone.mp4", video_script(detections=1))
    blocker = start_job(client, moto_aws.bucket, "block.mp4")
    gone = start_job(client, moto_aws.bucket, "gone.mp4")  # queued behind the blocker
    moto_aws.s3.delete_object(Bucket=moto_aws.bucket, Key="gone.mp4")
    fake_backend.release.set()
    wait_done(client, blocker)
    page = wait_done(client, gone)
    assert page["JobStatus"] == "FAILED"
    assert f"s3://{moto_aws.bucket}/gone.mp4" in page["StatusMessage"]


def test_the_requested_object_version_is_analysed(moto_aws: Aws, rekognition):
    moto_aws.s3.put_bucket_versioning(
        Bucket=moto_aws.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    v1 = moto_aws.s3.put_object(
        Bucket=moto_aws.bucket, Key="v.mp4", Body=video_script(detections=1)
    )
    moto_aws.s3.put_object(Bucket=moto_aws.bucket, Key="v.mp4", Body=video_script(detections=4))
    video = {"S3Object": {"Bucket": moto_aws.bucket, "Name": "v.mp4", "Version": v1["VersionId"]}}
    job_id = rekognition.start_celebrity_recognition(Video=video)["JobId"]
    page = wait_done(rekognition, job_id)
    assert len(page["Celebrities"]) == 1
    assert page["Video"]["S3Object"]["Version"] == v1["VersionId"]


# -- in progress, limits ---------------------------------------------------------------------


def test_running_job_reports_in_progress_and_its_progress(moto_aws: Aws, engine, fake_backend):
    client = rekognition_client(engine.endpoint_url)
    moto_aws.put_video("long.mp4", video_script(block=True, detections=2))
    job_id = start_job(client, moto_aws.bucket, "long.mp4", JobTag="long")
    assert fake_backend.blocked.wait(10)
    page = client.get_celebrity_recognition(JobId=job_id)
    assert (page["JobStatus"], page["Celebrities"], page["JobTag"]) == ("IN_PROGRESS", [], "long")
    deadline = time.monotonic() + 10
    while admin_job(engine, job_id)["Progress"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    view = admin_job(engine, job_id)
    assert view["JobStatus"] == "IN_PROGRESS" and 0 < view["Progress"] < 100
    fake_backend.release.set()
    assert wait_done(client, job_id)["JobStatus"] == "SUCCEEDED"
    assert admin_job(engine, job_id)["Progress"] == 100


def test_concurrent_job_limit_raises_limit_exceeded(moto_aws: Aws, engine_factory, fake_backend):
    engine = engine_factory(max_concurrent_jobs=2, workers=1)
    client = rekognition_client(engine.endpoint_url)
    moto_aws.put_video("block.mp4", video_script(block=True))
    first = start_job(client, moto_aws.bucket, "block.mp4")
    start_job(client, moto_aws.bucket, "block.mp4")  # queued: still counts as IN_PROGRESS
    with pytest.raises(client.exceptions.LimitExceededException):
        start_job(client, moto_aws.bucket, "block.mp4")
    fake_backend.release.set()
    wait_done(client, first)
    engine.wait_for_job(first, timeout=10)
    assert start_job(client, moto_aws.bucket, "block.mp4")  # room again once jobs finish


def test_idempotent_replay_is_not_refused_by_the_limit(moto_aws: Aws, engine_factory, fake_backend):
    engine = engine_factory(max_concurrent_jobs=1)
    client = rekognition_client(engine.endpoint_url)
    moto_aws.put_video("block.mp4", video_script(block=True))
    job_id = start_job(client, moto_aws.bucket, "block.mp4", ClientRequestToken="only-one")
    assert start_job(client, moto_aws.bucket, "block.mp4", ClientRequestToken="only-one") == job_id


# -- restarts --------------------------------------------------------------------------------


def test_restart_resumes_an_interrupted_job(moto_aws: Aws, engine_factory: EngineFactory):
    # Given a job interrupted mid-analysis by an engine shutdown
    topic, queue = moto_aws.topic_with_queue()
    first_backend = FakeBackend()
    first = engine_factory(backend=first_backend)
    client = rekognition_client(first.endpoint_url)
    moto_aws.put_video("long.mp4", video_script(block=True, detections=3))
    job_id = start_job(client, moto_aws.bucket, "long.mp4", NotificationChannel=notify(topic))
    assert first_backend.blocked.wait(10)
    first.stop()
    assert moto_aws.messages(queue, expect=1, timeout=1) == []  # no completion was claimed
    # When a new engine starts on the same state dir (this time the analysis can finish)
    second_backend = FakeBackend()
    second_backend.release.set()
    second = engine_factory(backend=second_backend)
    client = rekognition_client(second.endpoint_url)
    # Then the job resumes and completes, and its completion is published once
    page = wait_done(client, job_id)
    assert page["JobStatus"] == "SUCCEEDED" and len(page["Celebrities"]) == 3
    assert second_backend.analyzed == [f"{job_id}.video"]
    [message] = moto_aws.messages(queue)
    assert (message["JobId"], message["Status"]) == (job_id, "SUCCEEDED")
    assert admin_job(second, job_id)["Attempts"] == 1  # a clean shutdown is not held against it


def test_restart_keeps_queued_and_finished_jobs(moto_aws: Aws, engine_factory: EngineFactory):
    first_backend = FakeBackend()
    first = engine_factory(backend=first_backend, workers=1)
    client = rekognition_client(first.endpoint_url)
    moto_aws.put_video("done.mp4", video_script(detections=5))
    moto_aws.put_video("long.mp4", video_script(block=True, detections=1))
    done = start_job(client, moto_aws.bucket, "done.mp4", ClientRequestToken="done-token")
    assert wait_done(client, done)["JobStatus"] == "SUCCEEDED"
    before = client.get_celebrity_recognition(JobId=done, MaxResults=2)
    running = start_job(client, moto_aws.bucket, "long.mp4")
    queued = start_job(client, moto_aws.bucket, "long.mp4")
    assert first_backend.blocked.wait(10)
    first.stop()

    second_backend = FakeBackend()
    second_backend.release.set()
    second = engine_factory(backend=second_backend, workers=1)
    client = rekognition_client(second.endpoint_url)
    # finished job: same results, same tokens, same idempotent answer
    again = client.get_celebrity_recognition(JobId=done, MaxResults=2)
    assert again["NextToken"] == before["NextToken"]
    assert again["Celebrities"] == before["Celebrities"]
    assert start_job(client, moto_aws.bucket, "done.mp4", ClientRequestToken="done-token") == done
    # interrupted and queued jobs both complete
    assert wait_done(client, running)["JobStatus"] == "SUCCEEDED"
    assert wait_done(client, queued)["JobStatus"] == "SUCCEEDED"


def test_a_job_that_keeps_dying_with_the_engine_is_failed_with_a_reason(
    moto_aws: Aws, engine_factory: EngineFactory, tmp_path
):
    # Given a job whose runs were cut short by three crashes (attempts counted, never finished)
    topic, queue = moto_aws.topic_with_queue()
    store = Store(tmp_path / "state" / "engine.sqlite3")
    new = NewJob(
        job_id="c" * 64,
        client_token=None,
        params_hash="h",
        request={},
        bucket=moto_aws.bucket,
        name="poison.mp4",
        version=None,
        job_tag=None,
        sns_topic_arn=topic,
        role_arn=ROLE_ARN,
    )
    store.submit(new, max_in_progress=20)
    for _ in range(3):
        store.mark_started(new.job_id)
    store.close()
    # When the engine starts again
    engine = engine_factory(max_attempts=3)
    client = rekognition_client(engine.endpoint_url)
    # Then it gives up on the job instead of crashing a fourth time
    page = client.get_celebrity_recognition(JobId=new.job_id)
    assert page["JobStatus"] == "FAILED"
    assert "stopped while processing this job 3 times" in page["StatusMessage"]
    [message] = moto_aws.messages(queue)
    assert message["Status"] == "FAILED"


def test_a_completion_that_could_not_be_published_is_sent_on_restart(
    moto_aws: Aws, engine_factory: EngineFactory
):
    # Given a job whose topic does not exist (yet) when it completes
    topic_arn = "arn:aws:sns:us-east-1:123456789012:created-later"
    first = engine_factory()
    client = rekognition_client(first.endpoint_url)
    moto_aws.put_video("a.mp4", video_script(detections=1))
    job_id = start_job(client, moto_aws.bucket, "a.mp4", NotificationChannel=notify(topic_arn))
    wait_done(client, job_id)
    first.wait_for_job(job_id, timeout=10)
    first.stop()
    # When the topic appears and the engine restarts
    moto_aws.sns.create_topic(Name="created-later")
    queue_url = moto_aws.sqs.create_queue(QueueName="created-later")["QueueUrl"]
    queue_arn = moto_aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    moto_aws.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    engine_factory()
    # Then the completion is delivered
    [message] = moto_aws.messages(queue_url)
    assert (message["JobId"], message["Status"]) == (job_id, "SUCCEEDED")


def test_completion_message_key_order_matches_aws():
    finished = Job(
        job_id="j",
        client_token=None,
        params_hash="h",
        request={},
        status="FAILED",
        status_message="x",
        bucket="b",
        name="k",
        version=None,
        job_tag=None,
        sns_topic_arn=None,
        role_arn=None,
        video_metadata=None,
        progress=0.0,
        attempts=1,
        created_at="",
        started_at=None,
        completed_at=None,
        completed_ms=1234,
        notified=False,
    )
    assert json.dumps(completion_message(finished)) == (
        '{"JobId": "j", "Status": "FAILED", "API": "StartCelebrityRecognition", '
        '"Timestamp": 1234, "Video": {"S3ObjectName": "k", "S3Bucket": "b"}}'
    )
