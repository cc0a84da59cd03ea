"""Failed asynchronous work, on the offline stack or on AWS: list it, and send it back.

Two kinds of queue hold it (template.yaml):

* a function's OnFailure destination (``StartFailuresQueue``, ...) or DLQ: Lambda's invocation
  record, the event under ``requestPayload`` (a DLQ gets the bare event). Redrive is a new
  asynchronous invocation of that function, with fresh retries: ``lambda:InvokeFunction``
  (``InvocationType=Event``) on AWS, the router's ``-invoke`` queue offline.
* an SNS subscription's dead-letter queue (``CompletionDeliveryDLQ``): a completion that SNS
  could not deliver. The queue is shared by every subscription of the topic and the message
  does not say which one failed, so redrive publishes it to its topic again and every
  subscriber gets it once more (each handles a repeated completion, as SNS's at-least-once
  delivery requires anyway). Offline, moto's topic delivers it to the router's queues.

The same code serves both: only the ``Sender`` and the list of queues differ. A message is
deleted only after its redrive call returned, so an event is never in neither place; a message
that is neither kind stays where it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cameo_stack import events
from cameo_stack.provision import router_queue


@dataclass(frozen=True)
class FailureQueue:
    name: str  # logical id (or the router's fallback queue's name)
    url: str
    topic_arn: str | None = None  # set when it is an SNS subscription's dead-letter queue


@dataclass(frozen=True)
class Failure:
    queue: FailureQueue
    message: dict[str, Any]
    function_arn: str | None  # an invocation to repeat, or
    topic_arn: str | None  # a notification to publish again
    event: Any
    summary: dict[str, Any]


class Sender(Protocol):
    def invoke(self, function_arn: str, event: Any) -> None: ...

    def publish(self, topic_arn: str, message: str, subject: str | None) -> None: ...


# -- which queues -------------------------------------------------------------------------------


def sns_dead_letter_queues(doc: dict[str, Any]) -> dict[str, str]:
    """Queue logical id -> topic logical id, for every SNS subscription with a RedrivePolicy
    (SAM ``Events: {Type: SNS}`` and plain ``AWS::SNS::Subscription``)."""

    def logical(value: Any) -> str | None:
        if isinstance(value, dict):
            if "Ref" in value:
                return str(value["Ref"])
            if "Fn::GetAtt" in value:
                target = value["Fn::GetAtt"]
                return str(target[0] if isinstance(target, list) else target.split(".")[0])
        return None

    found: dict[str, str] = {}
    for resource in (doc.get("Resources") or {}).values():
        props = resource.get("Properties") or {}
        subscriptions = []
        if resource.get("Type") == "AWS::Serverless::Function":
            subscriptions = [
                (e["Properties"].get("Topic"), e["Properties"].get("RedrivePolicy"))
                for e in (props.get("Events") or {}).values()
                if e.get("Type") == "SNS"
            ]
        elif resource.get("Type") == "AWS::SNS::Subscription":
            subscriptions = [(props.get("TopicArn"), props.get("RedrivePolicy"))]
        for topic, policy in subscriptions:
            queue = logical((policy or {}).get("deadLetterTargetArn"))
            if queue and logical(topic):
                found[queue] = str(logical(topic))
    return found


def offline_queues(stack: Any) -> list[FailureQueue]:
    """Every template queue no function polls (failure destinations, DLQs, SNS redrive
    queues) plus the router's fallback queue."""
    from cameo_stack import template

    model = stack.state.model()
    polled = {trigger.queue for fn in model.functions.values() for trigger in fn.sqs}
    sns_dlqs = sns_dead_letter_queues(template.load_yaml(Path(stack.state.template)))
    queues = [
        FailureQueue(
            logical,
            stack.state.queues[logical],
            stack.state.topics[sns_dlqs[logical]] if logical in sns_dlqs else None,
        )
        for logical in sorted(model.queues)
        if logical not in polled
    ]
    return [*queues, FailureQueue("router-dlq", stack.state.fallback_dlq)]


def aws_queues(
    cloudformation: Any, stack_name: str, template_path: Path
) -> tuple[list[FailureQueue], dict[str, str]]:
    """The deployed stack's queues (all of cameo's queues are failure queues) and its
    functions (ARN or name -> logical id), from ListStackResources; template.yaml says which
    queue is an SNS subscription's dead-letter queue."""
    from cameo_stack import template

    physical: dict[str, tuple[str, str]] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            if summary.get("PhysicalResourceId"):
                physical[summary["LogicalResourceId"]] = (
                    summary["ResourceType"],
                    summary["PhysicalResourceId"],
                )
    sns_dlqs = sns_dead_letter_queues(template.load_yaml(template_path))
    queues = [
        FailureQueue(
            logical,
            ident,
            physical[sns_dlqs[logical]][1]
            if logical in sns_dlqs and sns_dlqs[logical] in physical
            else None,
        )
        for logical, (kind, ident) in sorted(physical.items())
        if kind == "AWS::SQS::Queue"
    ]
    functions = {
        ident: logical
        for logical, (kind, ident) in physical.items()
        if kind == "AWS::Lambda::Function"
    }
    return queues, functions


# -- reading them -------------------------------------------------------------------------------


def _receive(sqs: Any, queue: FailureQueue, visibility: int, wait: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


def classify(queue: FailureQueue, message: dict[str, Any]) -> Failure:
    attributes = message.get("MessageAttributes", {})
    error = (attributes.get("ErrorMessage") or {}).get("StringValue")
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("Type") == "Notification" and "Message" in body:
        # SNS's envelope: publish its Message again to the topic it came from.
        return Failure(
            queue,
            message,
            None,
            str(body.get("TopicArn") or queue.topic_arn or "") or None,
            {"Records": [{"Sns": body}]},
            {"condition": "DeliveryFailed", "error": error, "message_id": body.get("MessageId")},
        )
    if queue.topic_arn is not None:
        # Raw delivery: the body is the message itself.
        return Failure(
            queue,
            message,
            None,
            queue.topic_arn,
            {"Records": [{"Sns": {"Message": message["Body"]}}]},
            {"condition": "DeliveryFailed", "error": error},
        )
    if body is None:
        return Failure(queue, message, None, None, message["Body"], {"error": "not JSON"})
    arn, event, summary = events.unwrap_failure(message["Body"], attributes)
    return Failure(queue, message, arn or None, None, event, summary)


def failures(sqs: Any, queues: Iterable[FailureQueue], *, wait: int = 0) -> list[Failure]:
    """Every message of every queue, put back at once (listing must not hide them)."""
    found = []
    for queue in queues:
        for message in _receive(sqs, queue, visibility=30, wait=wait):
            found.append(classify(queue, message))
            sqs.change_message_visibility(
                QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    return found


def _unqualified(arn: str) -> str:
    """arn:aws:lambda:REGION:ACCOUNT:function:NAME without a :$LATEST / version qualifier."""
    return ":".join(arn.split(":")[:7])


def describe(failure: Failure, functions: dict[str, str]) -> dict[str, Any]:
    if failure.topic_arn:
        target = f"every subscriber of {failure.topic_arn.rsplit(':', 1)[-1]}"
    elif failure.function_arn:
        arn = _unqualified(failure.function_arn)
        target = functions.get(arn) or functions.get(arn.split(":")[-1]) or arn
    else:
        target = None
    return {
        "function": target,
        "queue": failure.queue.name,
        "event": events.describe_event(failure.event),
        "condition": failure.summary.get("condition"),
        "attempts": failure.summary.get("attempts"),
        "error": failure.summary.get("error"),
        "redrivable": bool(failure.topic_arn or failure.function_arn),
    }


# -- sending them back ----------------------------------------------------------------------------


# A received message stays hidden this long: ample for one batch of at most 10 sends.
REDRIVE_VISIBILITY_S = 60


class RedriveError(Exception):
    """A redrive call failed after `sent` events had been sent back (and deleted); the event
    being sent, and the rest of its batch, are visible in their queue again."""

    def __init__(self, sent: int, cause: Exception) -> None:
        super().__init__(f"{cause} ({sent} event(s) were redriven before it)")
        self.sent = sent
        self.cause = cause


def redrive_queues(
    sqs: Any,
    queues: Iterable[FailureQueue],
    sender: Sender,
    *,
    function: str | None = None,
    queue: str | None = None,
    functions: dict[str, str] | None = None,
    wait: int = 0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send each failed event back; `function` (a logical id) keeps only that function's
    invocation records, `queue` (a logical id) only that queue's messages.

    Batch by batch: receive up to 10, send each back and delete it, then receive again, so a
    queue of any length needs no memory and no message outlives its visibility timeout before
    it is deleted (which would redrive it twice). Messages left out stay hidden until their
    queue is done (so they are not received again and again), then are put back at once.
    `progress` gets the running count after each batch.
    """
    functions = functions or {}
    count = 0
    for source in queues:
        if queue and source.name != queue:
            continue
        left_out: dict[str, str] = {}  # MessageId -> its latest ReceiptHandle
        try:
            while batch := sqs.receive_message(
                QueueUrl=source.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                VisibilityTimeout=REDRIVE_VISIBILITY_S,
                MessageAttributeNames=["All"],
            ).get("Messages", []):
                for index, message in enumerate(batch):
                    failure = classify(source, message)
                    target_fn = (
                        describe(failure, functions)["function"] if failure.function_arn else None
                    )
                    wanted = (failure.topic_arn and not function) or (
                        failure.function_arn and (not function or target_fn == function)
                    )
                    if not wanted:
                        left_out[message["MessageId"]] = message["ReceiptHandle"]
                        continue
                    try:
                        _send(failure, sender)
                    except Exception as exc:
                        # Not sent: it and the rest of its batch are visible again at once.
                        _put_back(sqs, source, [m["ReceiptHandle"] for m in batch[index:]])
                        raise RedriveError(count, exc) from exc
                    sqs.delete_message(QueueUrl=source.url, ReceiptHandle=message["ReceiptHandle"])
                    count += 1
                if progress:
                    progress(count)
        finally:
            _put_back(sqs, source, list(left_out.values()))
    return count


def _send(failure: Failure, sender: Sender) -> None:
    if failure.topic_arn:
        sns = failure.event["Records"][0]["Sns"]
        sender.publish(failure.topic_arn, sns["Message"], sns.get("Subject"))
    else:
        sender.invoke(_unqualified(str(failure.function_arn)), failure.event)


def _put_back(sqs: Any, source: FailureQueue, handles: list[str]) -> None:
    for handle in handles:
        sqs.change_message_visibility(
            QueueUrl=source.url, ReceiptHandle=handle, VisibilityTimeout=0
        )


class OfflineSender:
    """The offline stack: an invocation goes through the router's ``-invoke`` queue, a
    notification through moto's topic (which feeds the router's ``-sns`` queues)."""

    def __init__(self, stack: Any) -> None:
        self._stack = stack
        self._model = stack.state.model()
        self._sqs = stack.client("sqs")
        self._sns = stack.client("sns")

    def invoke(self, function_arn: str, event: Any) -> None:
        (fn,) = [f for f in self._model.functions.values() if f.arn == function_arn]
        target = self._stack.state.router_queues[router_queue(self._model, fn, "invoke")]
        self._sqs.send_message(QueueUrl=target, MessageBody=json.dumps(event))

    def publish(self, topic_arn: str, message: str, subject: str | None) -> None:
        _publish(self._sns, topic_arn, message, subject)


class AwsSender:
    def __init__(self, lambda_client: Any, sns_client: Any) -> None:
        self._lambda = lambda_client
        self._sns = sns_client

    def invoke(self, function_arn: str, event: Any) -> None:
        self._lambda.invoke(
            FunctionName=function_arn,
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )

    def publish(self, topic_arn: str, message: str, subject: str | None) -> None:
        _publish(self._sns, topic_arn, message, subject)


def _publish(sns: Any, topic_arn: str, message: str, subject: str | None) -> None:
    kwargs = {"Subject": subject} if subject else {}
    sns.publish(TopicArn=topic_arn, Message=message, **kwargs)


# -- the offline stack ----------------------------------------------------------------------------


def peek(stack: Any) -> list[dict[str, Any]]:
    functions = {fn.arn: fn.logical_id for fn in stack.state.model().functions.values()}
    return [describe(f, functions) for f in failures(stack.client("sqs"), offline_queues(stack))]


def redrive(
    stack: Any,
    function: str | None = None,
    queue: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    model = stack.state.model()
    queues = offline_queues(stack)
    if function is not None:  # offline, a physical or code dir name (process_results) works too
        names = {
            name: fn.logical_id
            for fn in model.functions.values()
            for name in (fn.logical_id, fn.name, fn.code_uri.name)
        }
        function = names.get(function, function)
    check_names(queues, {fn.logical_id for fn in model.functions.values()}, function, queue)
    return redrive_queues(
        stack.client("sqs"),
        queues,
        OfflineSender(stack),
        function=function,
        queue=queue,
        functions={fn.arn: fn.logical_id for fn in model.functions.values()},
        progress=progress,
    )


def check_names(
    queues: Iterable[FailureQueue],
    functions: Iterable[str],
    function: str | None,
    queue: str | None,
) -> None:
    """ValueError for a --function or --queue the stack does not have (a typo would otherwise
    redrive nothing, silently)."""
    known_queues = sorted(q.name for q in queues)
    if queue is not None and queue not in known_queues:
        raise ValueError(
            f"no queue {queue!r} in this stack (its queues: {', '.join(known_queues)})"
        )
    known_functions = sorted(set(functions))
    if function is not None and function not in known_functions:
        raise ValueError(
            f"no function {function!r} in this stack (its functions: {', '.join(known_functions)})"
        )
