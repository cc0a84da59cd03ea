"""The local dead-letter queues: the template's OnFailure/DLQ queues plus the router's fallback.

``peek`` lists failure records without consuming them; ``redrive`` moves each event back to its
function's router ``-invoke`` queue (a new asynchronous invocation, with fresh retries) and then
deletes it from the failure queue, so an event is never in neither place.
"""

from __future__ import annotations

import json
from typing import Any

from cameo_stack import events
from cameo_stack.provision import router_queue


def _failure_queues(stack: Any) -> list[str]:
    model = stack.state.model()
    urls = {
        stack.state.queues[fn.on_failure_queue]
        for fn in model.functions.values()
        if fn.on_failure_queue
    }
    urls.add(stack.state.fallback_dlq)
    return sorted(urls)


def _drain(sqs: Any, url: str, visibility: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


def peek(stack: Any) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    model = stack.state.model()
    by_arn = {fn.arn: fn.logical_id for fn in model.functions.values()}
    entries = []
    for url in _failure_queues(stack):
        messages = _drain(sqs, url, visibility=30)
        for message in messages:
            arn, event, summary = events.unwrap_failure(
                message["Body"], message.get("MessageAttributes", {})
            )
            entries.append(
                {
                    "function": by_arn.get(arn or "", arn),
                    "queue": url,
                    "event": events.describe_event(event),
                    **summary,
                }
            )
            # Put it back at once: listing must not hide it.
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    return entries


def redrive(stack: Any, function: str | None = None) -> int:
    sqs = stack.client("sqs")
    model = stack.state.model()
    by_arn = {fn.arn: fn for fn in model.functions.values()}
    only = model.function(function).logical_id if function else None
    count = 0
    for url in _failure_queues(stack):
        for message in _drain(sqs, url, visibility=60):
            arn, event, _ = events.unwrap_failure(
                message["Body"], message.get("MessageAttributes", {})
            )
            fn = by_arn.get(arn or "")
            if fn is None or (only and fn.logical_id != only):
                sqs.change_message_visibility(
                    QueueUrl=url, VisibilityTimeout=0, ReceiptHandle=message["ReceiptHandle"]
                )
                continue
            target = stack.state.router_queues[router_queue(model, fn, "invoke")]
            sqs.send_message(QueueUrl=target, MessageBody=json.dumps(event))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            count += 1
    return count
