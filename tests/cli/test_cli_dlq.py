"""`cameo dlq list|redrive`: every failure queue, the SNS subscription's dead-letter queue
included, on the offline stack (its moto wiring, provisioned in-process) and on AWS (a
CloudFormation stack in moto, Lambda stubbed)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from cameo_stack import dlq, events
from cameo_stack import template as cfn
from cameo_stack.provision import provision, router_queue

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
COMPLETION = json.loads((ROOT / "events/sns_succeeded.json").read_text())
UPLOAD = json.loads((ROOT / "events/s3_put_unicode_key.json").read_text())


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [k for k in __import__("os").environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def envelope(topic_arn: str, message: str) -> str:
    """What SNS puts in a subscription's dead-letter queue: its notification envelope."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Message": message,
            "Timestamp": "2026-01-02T03:04:05.000Z",
        }
    )


def messages(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30
    ).get("Messages", []):
        found += batch
    return found


def depth(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_the_template_names_the_completion_subscriptions_dead_letter_queue() -> None:
    doc = cfn.load_yaml(TEMPLATE)
    assert dlq.sns_dead_letter_queues(doc) == {"CompletionDeliveryDLQ": "CompletionTopic"}


# -- offline --------------------------------------------------------------------------------


@pytest.fixture
def offline(moto_env: None) -> SimpleNamespace:
    """The offline stack's queues, topic and subscriptions, as `cameo stack up` makes them."""
    model = cfn.load(TEMPLATE, stack_name="cameo-local")
    created = provision(
        model,
        s3=boto3.client("s3"),
        sqs=boto3.client("sqs"),
        sns=boto3.client("sns"),
        dynamodb=boto3.client("dynamodb"),
    )
    state = SimpleNamespace(
        model=lambda: model,
        template=str(TEMPLATE),
        queues=created["queues"],
        router_queues=created["router_queues"],
        fallback_dlq=created["fallback_dlq"],
        topics=created["topics"],
    )
    stack = SimpleNamespace(state=state, client=boto3.client, model=model)
    # One failure of each kind: a results invocation record, and a completion SNS could not
    # deliver at all.
    sqs = boto3.client("sqs")
    fn = model.function("ProcessResultsFunction")
    record = events.failure_record(fn, COMPLETION, "req-1", 3, "RetriesExhausted", {
        "errorType": "RetryableError", "errorMessage": "throttled"
    })  # fmt: skip
    sqs.send_message(QueueUrl=state.queues["ProcessFailuresQueue"], MessageBody=json.dumps(record))
    message = COMPLETION["Records"][0]["Sns"]["Message"]
    sqs.send_message(
        QueueUrl=state.queues["CompletionDeliveryDLQ"],
        MessageBody=envelope(state.topics["CompletionTopic"], message),
        MessageAttributes={
            "ErrorMessage": {"DataType": "String", "StringValue": "Lambda throttled"}
        },
    )
    stack.message = message
    return stack


def test_list_shows_every_failure_queue_and_hides_nothing(offline: SimpleNamespace) -> None:
    entries = sorted(dlq.peek(offline), key=lambda e: e["queue"])
    assert [(e["queue"], e["function"], e["redrivable"]) for e in entries] == [
        ("CompletionDeliveryDLQ", "every subscriber of AmazonRekognition-cameo-local", True),
        ("ProcessFailuresQueue", "ProcessResultsFunction", True),
    ]
    assert entries[0]["error"] == "Lambda throttled"
    assert entries[1]["error"] == "RetryableError: throttled"
    assert entries[1]["attempts"] == 3
    assert all(e["event"].startswith("completion SUCCEEDED job ") for e in entries)
    # Listing put everything back.
    assert depth(offline.state.queues["ProcessFailuresQueue"]) == 1
    assert depth(offline.state.queues["CompletionDeliveryDLQ"]) == 1


def test_redrive_sends_each_failure_back_through_its_own_path(offline: SimpleNamespace) -> None:
    state, model = offline.state, offline.model
    assert dlq.redrive(offline) == 2
    assert depth(state.queues["ProcessFailuresQueue"]) == 0
    assert depth(state.queues["CompletionDeliveryDLQ"]) == 0
    # The invocation record: its event, as a new asynchronous invocation of its function.
    process = model.function("ProcessResultsFunction")
    (invoke,) = messages(state.router_queues[router_queue(model, process, "invoke")])
    assert json.loads(invoke["Body"]) == COMPLETION
    # The undelivered completion: published to the topic again, so both subscribers get it.
    for logical in ("ProcessResultsFunction", "StartRecognitionFunction"):
        fn = model.function(logical)
        (delivered,) = messages(state.router_queues[router_queue(model, fn, "sns")])
        body = json.loads(delivered["Body"])
        assert body["TopicArn"] == state.topics["CompletionTopic"]
        assert body["Message"] == offline.message


def test_redrive_can_take_one_queue_or_one_functions_records(offline: SimpleNamespace) -> None:
    state = offline.state
    assert dlq.redrive(offline, queue="CompletionDeliveryDLQ") == 1
    assert depth(state.queues["ProcessFailuresQueue"]) == 1
    # A function filter leaves the shared SNS queue alone: a republish reaches every subscriber.
    state.queues = dict(state.queues)
    boto3.client("sqs").send_message(
        QueueUrl=state.queues["CompletionDeliveryDLQ"],
        MessageBody=envelope(state.topics["CompletionTopic"], offline.message),
    )
    assert dlq.redrive(offline, function="StartRecognitionFunction") == 0
    assert dlq.redrive(offline, function="ProcessResultsFunction") == 1
    assert depth(state.queues["ProcessFailuresQueue"]) == 0
    assert depth(state.queues["CompletionDeliveryDLQ"]) == 1


def test_a_message_of_neither_kind_stays_in_its_queue(offline: SimpleNamespace) -> None:
    url = offline.state.queues["StartFailuresQueue"]
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody="not an event")
    assert dlq.redrive(offline) == 2
    assert depth(url) == 1
    (entry,) = [e for e in dlq.peek(offline) if e["queue"] == "StartFailuresQueue"]
    assert entry["redrivable"] is False


# -- AWS ------------------------------------------------------------------------------------

# The deployed stack's queues and topic, under template.yaml's logical ids.
STACK_TEMPLATE = {
    "Resources": {
        **{
            name: {"Type": "AWS::SQS::Queue", "Properties": {}}
            for name in (
                "StartFailuresQueue",
                "ProcessFailuresQueue",
                "EraseFailuresQueue",
                "CompletionDeliveryDLQ",
            )
        },
        "CompletionTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": "AmazonRekognition-cameo"},
        },
    }
}
START_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cameo-StartRecognitionFunction-AbC"


@pytest.fixture
def deployed(moto_env: None) -> SimpleNamespace:
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="cameo", TemplateBody=json.dumps(STACK_TEMPLATE))
    queues, _ = dlq.aws_queues(cloudformation, "cameo", TEMPLATE)
    by_name = {q.name: q for q in queues}
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    topic = by_name["CompletionDeliveryDLQ"].topic_arn
    assert topic is not None
    # An observer subscribed to the topic sees what a republish delivers.
    observer = sqs.create_queue(QueueName="observer")["QueueUrl"]
    observer_arn = sqs.get_queue_attributes(QueueUrl=observer, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=observer_arn["Attributes"]["QueueArn"])
    start = SimpleNamespace(arn=START_ARN)
    record = events.failure_record(start, UPLOAD, "req-2", 3, "RetriesExhausted", None)  # type: ignore[arg-type]
    sqs.send_message(QueueUrl=by_name["StartFailuresQueue"].url, MessageBody=json.dumps(record))
    message = COMPLETION["Records"][0]["Sns"]["Message"]
    sqs.send_message(
        QueueUrl=by_name["CompletionDeliveryDLQ"].url, MessageBody=envelope(topic, message)
    )
    return SimpleNamespace(
        queues=queues, by_name=by_name, observer=observer, message=message, sqs=sqs, sns=sns
    )


def test_the_deployed_stacks_queues_come_from_cloudformation(deployed: SimpleNamespace) -> None:
    assert sorted(deployed.by_name) == [
        "CompletionDeliveryDLQ",
        "EraseFailuresQueue",
        "ProcessFailuresQueue",
        "StartFailuresQueue",
    ]
    topics = {q.name: q.topic_arn for q in deployed.queues}
    assert topics.pop("CompletionDeliveryDLQ", "").endswith(":AmazonRekognition-cameo")
    assert set(topics.values()) == {None}
    assert all(q.url.startswith("http") for q in deployed.queues)


def test_redrive_on_aws_invokes_the_function_and_republishes_the_completion(
    deployed: SimpleNamespace,
) -> None:
    lambda_client = boto3.client("lambda")
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": START_ARN,
                "InvocationType": "Event",
                "Payload": json.dumps(UPLOAD).encode(),
            },
        )
        count = dlq.redrive_queues(
            deployed.sqs, deployed.queues, dlq.AwsSender(lambda_client, deployed.sns)
        )
        stub.assert_no_pending_responses()
    assert count == 2
    assert all(depth(q.url) == 0 for q in deployed.queues)
    (delivered,) = messages(deployed.observer)
    assert json.loads(delivered["Body"])["Message"] == deployed.message


def test_a_failed_redrive_call_leaves_the_event_in_its_queue(deployed: SimpleNamespace) -> None:
    lambda_client = boto3.client("lambda")
    start_queue = deployed.by_name["StartFailuresQueue"]
    with Stubber(lambda_client) as stub, pytest.raises(Exception, match="AccessDenied"):
        stub.add_client_error("invoke", "AccessDeniedException")
        dlq.redrive_queues(deployed.sqs, [start_queue], dlq.AwsSender(lambda_client, deployed.sns))
    # Put back at once, never in neither place.
    assert depth(start_queue.url) == 1


def test_cameo_dlq_list_with_a_stack_name_reads_the_deployed_stack(
    deployed: SimpleNamespace,
) -> None:
    from typer.testing import CliRunner

    from cameo_cli.main import app

    result = CliRunner().invoke(app, ["dlq", "list", "--stack", "cameo", "--json"])
    assert result.exit_code == 0, result.output
    entries = sorted(json.loads(result.stdout), key=lambda e: e["queue"])
    assert [(e["queue"], e["function"]) for e in entries] == [
        ("CompletionDeliveryDLQ", "every subscriber of AmazonRekognition-cameo"),
        ("StartFailuresQueue", START_ARN),
    ]
    assert all(
        depth(q.url) == (q.name in ("CompletionDeliveryDLQ", "StartFailuresQueue"))
        for q in deployed.queues
    )


def test_cameo_dlq_redrive_with_a_stack_name_stops_at_an_aws_error_and_keeps_the_event(
    deployed: SimpleNamespace,
) -> None:
    from typer.testing import CliRunner

    from cameo_cli.main import app

    # The stack in moto has no such function: Lambda answers ResourceNotFoundException.
    result = CliRunner().invoke(app, ["dlq", "redrive", "--stack", "cameo"])

    assert result.exit_code == 1
    assert "cameo: error:" in result.stderr
    assert "Traceback" not in result.output
    # The completion (published first: queues go in name order) is redriven; the start record
    # is still there for the next attempt.
    assert depth(deployed.by_name["CompletionDeliveryDLQ"].url) == 0
    assert depth(deployed.by_name["StartFailuresQueue"].url) == 1
    (delivered,) = messages(deployed.observer)
    assert json.loads(delivered["Body"])["Message"] == deployed.message


# -- a long queue, an error midway, names that do not exist ---------------------------------


class _Recording:
    """The SQS client, with the name of every call made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            return method(**kwargs)

        return call


class _FlakySender:
    def __init__(self, fail_at: int | None) -> None:
        self.sent: list[Any] = []
        self.fail_at = fail_at

    def invoke(self, function_arn: str, event: Any) -> None:
        if len(self.sent) + 1 == self.fail_at:
            raise RuntimeError("Lambda throttled")
        self.sent.append(event)

    def publish(self, topic_arn: str, message: str, subject: str | None) -> None:
        raise AssertionError("only invocation records here")


def test_redrive_works_batch_by_batch_and_counts_what_it_sent_before_an_error(
    offline: SimpleNamespace,
) -> None:
    state, model = offline.state, offline.model
    sqs = boto3.client("sqs")
    fn = model.function("ProcessResultsFunction")
    url = state.queues["ProcessFailuresQueue"]
    for i in range(24):  # 25 records with the fixture's one: three batches at least
        record = events.failure_record(fn, COMPLETION, f"req-{i}", 3, "RetriesExhausted", None)
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
    sqs.send_message(QueueUrl=url, MessageBody="not an event")  # left out, and put back
    (source,) = [q for q in dlq.offline_queues(offline) if q.name == "ProcessFailuresQueue"]
    functions = {f.arn: f.logical_id for f in model.functions.values()}

    recording, flaky = _Recording(sqs), _FlakySender(fail_at=13)
    with pytest.raises(dlq.RedriveError) as caught:
        dlq.redrive_queues(recording, [source], flaky, functions=functions)
    assert caught.value.sent == 12 == len(flaky.sent)
    assert "12 event(s) were redriven before it" in str(caught.value)
    # The failed one, the rest of its batch and the left-out message are visible again now.
    assert depth(url) == 26 - 12
    # Never everything first: the first events were deleted before the next batch was read.
    assert recording.calls.index("delete_message") < recording.calls.index("receive_message", 1)
    assert recording.calls.count("delete_message") == 12

    progress: list[int] = []
    sender = _FlakySender(fail_at=None)
    count = dlq.redrive_queues(sqs, [source], sender, functions=functions, progress=progress.append)
    assert count == 13 == len(sender.sent)
    assert progress == sorted(progress) and progress[-1] == 13 and len(progress) >= 2
    assert depth(url) == 1  # only the message that is not an event


def test_redrive_refuses_a_queue_or_function_the_stack_does_not_have(
    offline: SimpleNamespace,
) -> None:
    with pytest.raises(ValueError, match=r"no queue 'ProcessFailureQueue'.*ProcessFailuresQueue"):
        dlq.redrive(offline, queue="ProcessFailureQueue")
    with pytest.raises(ValueError, match=r"no function 'ProcessResults'.*ProcessResultsFunction"):
        dlq.redrive(offline, function="ProcessResults")
    assert depth(offline.state.queues["ProcessFailuresQueue"]) == 1
    # A function's code dir name is still understood offline.
    assert dlq.redrive(offline, function="process_results") == 1


def _cameo(*args: str) -> Any:
    from typer.testing import CliRunner

    from cameo_cli.main import app

    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "StartFailureQueue"], "no queue 'StartFailureQueue' in this stack"),
        (["--function", "StartRecognition"], "no function 'StartRecognition' in this stack"),
    ],
)
def test_cameo_dlq_redrive_with_a_stack_refuses_unknown_names(
    deployed: SimpleNamespace, args: list[str], message: str
) -> None:
    result = _cameo("dlq", "redrive", "--stack", "cameo", *args)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert "redrove" not in result.stdout
    assert depth(deployed.by_name["StartFailuresQueue"].url) == 1


@pytest.mark.parametrize("command", ["list", "redrive"])
def test_cameo_dlq_with_an_unknown_profile_is_one_line(
    deployed: SimpleNamespace, command: str
) -> None:
    result = _cameo("dlq", command, "--stack", "cameo", "--profile", "no-such-profile")
    assert result.exit_code == 1
    assert "cameo: error:" in result.stderr and "no-such-profile" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cameo_dlq_list_with_a_stack_reports_an_aws_error_in_one_line(
    deployed: SimpleNamespace,
) -> None:
    deployed.sqs.delete_queue(QueueUrl=deployed.by_name["EraseFailuresQueue"].url)
    result = _cameo("dlq", "list", "--stack", "cameo")
    assert result.exit_code == 1
    assert "cameo: error:" in result.stderr
    assert isinstance(result.exception, SystemExit)
