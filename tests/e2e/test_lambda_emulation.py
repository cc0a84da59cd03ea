"""The offline stack's Lambda emulation, seen from inside a handler (tests/e2e/probe).

A small template: the probe records the event, context and environment it gets, sleeps past
its 2 s Timeout or raises when the event asks it to; a twin shares its SNS topic.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cameo_stack.paths import StatePaths
from cameo_stack.stack import Stack, StackOptions
from tests.e2e.helpers import RETRY_DELAYS, router_counters, wait_until

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).with_name("probe")
LAMBDA_SNS_KEYS = {
    "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
    "Signature", "SigningCertUrl", "UnsubscribeUrl", "MessageAttributes",
}  # fmt: skip


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    os.environ["CAMEO_ROUTER_RETRY_DELAYS"] = RETRY_DELAYS
    log = tmp_path_factory.mktemp("probe") / "calls.jsonl"
    log.touch()
    stack = Stack.up(
        StackOptions(
            template=PROBE / "template.yaml",
            parameters={"ProbeLog": str(log)},
            # no engine needed; nothing listens there and the probe never calls it
            rekognition_endpoint="http://127.0.0.1:9",
            schedule_seconds=1,
        ),
        StatePaths(tmp_path_factory.mktemp("probe-stack")),
    )
    try:
        yield stack, log
    finally:
        stack.down()


def _calls(log: Path, needle: str) -> list[dict[str, Any]]:
    return [c for c in map(json.loads, log.read_text().splitlines()) if needle in json.dumps(c)]


def _wait_calls(log: Path, needle: str, count: int) -> list[dict[str, Any]]:
    return wait_until(
        lambda: (calls := _calls(log, needle)) and len(calls) >= count and calls,
        30,
        f"{count} invocation(s) about {needle}",
    )


def test_s3_put_and_delete_reach_the_handler_as_s3_sends_them(probe: tuple[Stack, Path]) -> None:
    stack, log = probe
    key = "shape/a b/é.mp4"
    stack.put_bytes(key, b"one")
    stack.put_bytes(key, b"two!")
    stack.delete(key)
    calls = _wait_calls(log, "shape/a+b/%C3%A9.mp4", 3)
    records = [c["event"]["Records"][0] for c in calls]
    assert all(len(c["event"]["Records"]) == 1 for c in calls)
    put1, put2, removed = sorted(records, key=lambda r: r["s3"]["object"]["sequencer"])
    for record in records:
        assert record["eventVersion"] == "2.1"
        assert record["eventSource"] == "aws:s3"
        assert record["awsRegion"] == "us-east-1"
        assert record["s3"]["bucket"]["name"] == stack.state.video_bucket
        assert {"userIdentity", "requestParameters", "responseElements"} <= record.keys()
    assert put1["eventName"] == put2["eventName"] == "ObjectCreated:Put"
    assert (put1["s3"]["object"]["size"], put2["s3"]["object"]["size"]) == (3, 4)
    assert put1["s3"]["object"]["eTag"] != put2["s3"]["object"]["eTag"]
    assert put1["s3"]["object"]["versionId"] != put2["s3"]["object"]["versionId"]
    # A DELETE in a versioned bucket creates a delete marker, and S3 says so
    assert removed["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert removed["s3"]["object"]["versionId"]
    assert "size" not in removed["s3"]["object"] and "eTag" not in removed["s3"]["object"]


def test_sns_message_reaches_the_handler_as_a_lambda_sns_record(probe: tuple[Stack, Path]) -> None:
    stack, log = probe
    topic = stack.state.topics["Topic"]
    stack.client("sns").publish(
        TopicArn=topic, Message=json.dumps({"probe": "sns-shape"}), Subject="probe"
    )
    calls = _wait_calls(log, "sns-shape", 2)
    # Both subscribers of the topic get the message, once each
    by_function = {c["context"]["function_name"]: c for c in calls}
    assert sorted(by_function) == ["cameo-local-ProbeFunction", "cameo-local-TwinFunction"]
    assert len(calls) == 2
    call = by_function["cameo-local-ProbeFunction"]
    (record,) = call["event"]["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    assert set(record["Sns"]) == LAMBDA_SNS_KEYS
    assert record["Sns"]["TopicArn"] == topic
    assert json.loads(record["Sns"]["Message"]) == {"probe": "sns-shape"}
    # The context and environment come from the template
    context = call["context"]
    assert context["function_name"] == "cameo-local-ProbeFunction"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:cameo-local-ProbeFunction")
    assert 0 < context["remaining_ms"] <= 2000
    assert call["env"]["TOPIC_ARN"] == topic
    assert call["env"]["AWS_ENDPOINT_URL_S3"] == stack.state.endpoints["s3"]


def test_timeouts_and_errors_are_retried_twice_then_dead_lettered_and_redriven(
    probe: tuple[Stack, Path],
) -> None:
    stack, log = probe
    stack.invoke_async("ProbeFunction", {"probe": "sleep-forever"})
    stack.invoke_async("ProbeFunction", {"probe": "always-fail"})
    sleeps = _wait_calls(log, "sleep-forever", 3)
    fails = _wait_calls(log, "always-fail", 3)
    failures_url = stack.state.queues["Failures"]
    sqs = stack.client("sqs")

    def dead_letters() -> list[dict[str, Any]]:
        attrs = sqs.get_queue_attributes(
            QueueUrl=failures_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        if int(attrs["Attributes"]["ApproximateNumberOfMessages"]) < 2:
            return []
        messages = sqs.receive_message(
            QueueUrl=failures_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )["Messages"]
        return [json.loads(m["Body"]) for m in messages]

    records = wait_until(dead_letters, 30, "both events in the OnFailure queue")
    # Three attempts each (one + Lambda's two retries), one request id per event
    assert len(sleeps) == len(fails) == 3
    assert len({c["context"]["aws_request_id"] for c in sleeps}) == 1
    assert len({c["pid"] for c in sleeps}) == 3, "a timed-out sandbox must not be reused"
    by_payload = {json.dumps(r["requestPayload"]): r for r in records}
    timed_out = by_payload[json.dumps({"probe": "sleep-forever"})]
    failed = by_payload[json.dumps({"probe": "always-fail"})]
    for record in (timed_out, failed):
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 3
        assert record["requestContext"]["functionArn"].endswith(
            ":cameo-local-ProbeFunction:$LATEST"
        )
    assert timed_out["responsePayload"]["errorMessage"] == "Task timed out after 2.00 seconds"
    assert failed["responsePayload"]["errorType"] == "RuntimeError"
    assert router_counters(stack, "ProbeFunction")["timeouts"] == 3

    # When the dead letters are redriven, the events run again (with fresh retries)
    from cameo_stack.dlq import redrive

    assert redrive(stack, "ProbeFunction") == 2
    _wait_calls(log, "always-fail", 4)


def test_schedules_fire_every_few_seconds_with_eventbridge_payloads(
    probe: tuple[Stack, Path],
) -> None:
    stack, log = probe
    # The template says rate(5 minutes) and rate(1 hour); offline they fire every second
    ticks = _wait_calls(log, "Scheduled Event", 2)
    inputs = _wait_calls(log, "rule-input", 2)
    event = ticks[0]["event"]
    assert set(event) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources",
        "detail",
    }  # fmt: skip
    assert (event["source"], event["detail"], event["region"]) == ("aws.events", {}, "us-east-1")
    assert event["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/cameo-local-ProbeFunctionSwept"
    ]
    assert len({t["event"]["id"] for t in ticks}) == len(ticks), "each tick is its own event"
    assert all(t["context"]["function_name"] == "cameo-local-ProbeFunction" for t in ticks)
    # A target's Input is delivered as is; a disabled schedule never fires
    assert inputs[0]["event"] == {"probe": "rule-input"}
    assert _calls(log, "paused-schedule") == []
    assert router_counters(stack, "ProbeFunction")["scheduled"] >= 4
    # And one tick can be fired on demand
    before = len(_calls(log, "rule-input"))
    assert stack.fire_schedules("ProbeFunction") == 2
    _wait_calls(log, "rule-input", before + 1)


def test_lambda_retries_can_be_turned_off_for_a_stack(tmp_path: Path) -> None:
    from cameo_stack.paths import StatePaths
    from cameo_stack.state import StackState

    state = StackState(
        paths=StatePaths(tmp_path),
        stack_name="cameo-local",
        template=str(PROBE / "template.yaml"),
        region="us-east-1",
        endpoints={},
        external_rekognition=True,
        services={},
    )
    assert state.model().function("ProbeFunction").max_retry_attempts == 2
    state.lambda_retries = 0
    assert {fn.max_retry_attempts for fn in state.model().functions.values()} == {0}
