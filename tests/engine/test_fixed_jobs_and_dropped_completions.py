"""The engine's load-test hooks: fixed-length jobs, dropped completions, call counters."""

from __future__ import annotations

# Fixtures are imported from server_harness; pytest injects them by parameter name.
# ruff: noqa: F811
import json
import time
import urllib.request

import pytest

from cameo_engine.faults import FaultInjector, FaultRule
from tests.engine.server_harness import (  # noqa: F401 - fixtures
    ROLE_ARN,
    EngineFactory,
    engine_factory,
    fake_backend,
    moto_aws,
    moto_endpoint,
    rekognition_client,
    start_job,
    wait_done,
)


def _admin(endpoint: str, path: str, method: str = "GET") -> dict:
    request = urllib.request.Request(f"{endpoint}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_fixed_length_jobs_last_their_length_and_decode_nothing(
    engine_factory: EngineFactory, moto_aws
):
    engine = engine_factory(backend=None, fixed_job_seconds=0.4, workers=2)
    client = rekognition_client(engine.endpoint_url)
    # Not a video at all: nothing is decoded, so any non-empty object will do
    moto_aws.put_video("fixed/a.mp4", b"not a video")
    started = time.monotonic()
    job_id = start_job(client, moto_aws.bucket, "fixed/a.mp4")
    page = wait_done(client, job_id)
    elapsed = time.monotonic() - started
    assert page["JobStatus"] == "SUCCEEDED"
    assert 0.4 <= elapsed < 2.0, elapsed
    assert page["VideoMetadata"]["DurationMillis"] == 400
    assert [d["Timestamp"] for d in page["Celebrities"]] == [0, 200]
    # The one fixed person is known to GetCelebrityInfo too
    person = page["Celebrities"][0]["Celebrity"]
    assert client.get_celebrity_info(Id=person["Id"])["Name"] == person["Name"]


def test_fixed_length_comes_from_the_environment_too(
    engine_factory: EngineFactory, moto_aws, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CAMEO_ENGINE_FIXED_JOB_SECONDS", "0.1")
    engine = engine_factory(backend=None)
    client = rekognition_client(engine.endpoint_url)
    moto_aws.put_video("fixed/env.mp4", b"x")
    page = wait_done(client, start_job(client, moto_aws.bucket, "fixed/env.mp4"))
    assert page["VideoMetadata"]["DurationMillis"] == 100


def test_a_dropped_completion_is_never_published_but_the_job_finishes(
    engine_factory: EngineFactory, moto_aws
):
    engine = engine_factory(
        backend=None,
        fixed_job_seconds=0.05,
        faults=["PublishCompletion:Drop:count=1:prefix=lost/"],
    )
    client = rekognition_client(engine.endpoint_url)
    topic, queue = moto_aws.topic_with_queue()
    channel = {"SNSTopicArn": topic, "RoleArn": ROLE_ARN}
    for key in ("kept/1.mp4", "lost/1.mp4", "lost/2.mp4"):
        moto_aws.put_video(key, b"x")
    # The prefix keeps other jobs' messages: only the first job under lost/ is dropped
    jobs = {
        key: start_job(client, moto_aws.bucket, key, NotificationChannel=channel)
        for key in ("kept/1.mp4", "lost/1.mp4", "lost/2.mp4")
    }
    for job_id in jobs.values():
        assert wait_done(client, job_id)["JobStatus"] == "SUCCEEDED"
    published = moto_aws.messages(queue, expect=3, timeout=5)
    assert sorted(m["JobId"] for m in published) == sorted([jobs["kept/1.mp4"], jobs["lost/2.mp4"]])
    # And a restart does not re-announce it: it is lost, as when SNS loses a message
    engine.stop()
    restarted = engine_factory(backend=None, fixed_job_seconds=0.05)
    assert moto_aws.messages(queue, expect=1, timeout=2) == []
    restarted.stop()


def test_drop_rules_are_checked():
    with pytest.raises(ValueError, match="Drop"):
        FaultRule.parse("StartCelebrityRecognition:Drop:count=1")
    with pytest.raises(ValueError, match="Drop"):
        FaultRule.parse("PublishCompletion:ThrottlingException:count=1")
    with pytest.raises(ValueError, match="prefix"):
        FaultRule("GetCelebrityInfo", "ThrottlingException", count=1, prefix="x/")
    # A drop rule never fires as an API error, even under a "*" rule's name
    injector = FaultInjector.from_specs("PublishCompletion:Drop:count=1")
    injector.check("StartCelebrityRecognition")
    assert injector.drops_completion("any.mp4")
    assert not injector.drops_completion("any.mp4")


def test_calls_are_counted_per_operation_and_outcome(engine_factory: EngineFactory, moto_aws):
    engine = engine_factory(
        backend=None,
        fixed_job_seconds=5,
        max_concurrent_jobs=1,
        faults=["StartCelebrityRecognition:ThrottlingException:count=1"],
    )
    client = rekognition_client(engine.endpoint_url)
    moto_aws.put_video("count/a.mp4", b"x")
    moto_aws.put_video("count/b.mp4", b"x")
    with pytest.raises(client.exceptions.ThrottlingException):
        start_job(client, moto_aws.bucket, "count/a.mp4")
    start_job(client, moto_aws.bucket, "count/a.mp4")
    with pytest.raises(client.exceptions.LimitExceededException):
        start_job(client, moto_aws.bucket, "count/b.mp4")
    calls = _admin(engine.endpoint_url, "/admin/calls", "DELETE")["Calls"]
    assert calls == {
        "StartCelebrityRecognition": {
            "ThrottlingException": 1,
            "ok": 1,
            "LimitExceededException": 1,
        }
    }
    assert _admin(engine.endpoint_url, "/admin/calls")["Calls"] == {}
    assert _admin(engine.endpoint_url, "/admin/stats")["Jobs"] == {"IN_PROGRESS": 1}


def test_a_delayed_start_answers_after_its_job_has_already_finished(
    engine_factory: EngineFactory, moto_aws
):
    engine = engine_factory(
        backend=None,
        fixed_job_seconds=0.05,
        faults=["StartCelebrityRecognition:Delay:count=1:seconds=1.5"],
    )
    client = rekognition_client(engine.endpoint_url)
    topic, queue = moto_aws.topic_with_queue()
    moto_aws.put_video("late/a.mp4", b"x")
    started = time.monotonic()
    job_id = start_job(
        client,
        moto_aws.bucket,
        "late/a.mp4",
        NotificationChannel={"SNSTopicArn": topic, "RoleArn": ROLE_ARN},
    )
    assert time.monotonic() - started >= 1.5
    # The completion was published while the caller still waited for its JobId
    (message,) = moto_aws.messages(queue, expect=1, timeout=1)
    assert message["JobId"] == job_id
    assert _admin(engine.endpoint_url, "/admin/faults")["Faults"] == []
    with pytest.raises(ValueError, match="seconds"):
        FaultRule.parse("StartCelebrityRecognition:Delay:count=1")
