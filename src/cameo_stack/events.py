"""Lambda event shapes built from what arrives on the router's queues.

* S3 -> Lambda: the notification body *is* the Lambda event ({"Records": [...]}, records as S3
  sends them; cameo_stack.moto_service makes moto's records complete). S3 sends its
  ``s3:TestEvent`` to queues and topics but not to functions, so the router drops it.
* SNS -> Lambda: the SQS subscription delivers SNS's HTTP/SQS envelope; Lambda receives the same
  fields wrapped in a record, with two keys spelled differently (SigningCertUrl, UnsubscribeUrl)
  and message attributes as {"Type", "Value"}.
* Schedule -> Lambda: the target's Input when the template gives one, else EventBridge's
  "Scheduled Event" (a rule's default payload; a Scheduler schedule without Input sends {}).
* Lambda's async-invocation failure record (OnFailure destination) and DLQ message.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cameo_stack.template import ACCOUNT, REGION, Function, ScheduleTrigger


def is_s3_test_event(body: Any) -> bool:
    return isinstance(body, dict) and body.get("Event") == "s3:TestEvent"


def sns_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    attributes = {
        name: {"Type": value.get("Type", "String"), "Value": value.get("Value")}
        for name, value in (envelope.get("MessageAttributes") or {}).items()
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": envelope.get("Type", "Notification"),
                    "MessageId": envelope["MessageId"],
                    "TopicArn": envelope["TopicArn"],
                    "Subject": envelope.get("Subject"),
                    "Message": envelope["Message"],
                    "Timestamp": envelope["Timestamp"],
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""),
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
                    "MessageAttributes": attributes,
                },
            }
        ]
    }


def scheduled_event(trigger: ScheduleTrigger, now: float | None = None) -> Any:
    """What one tick of ``trigger`` delivers to its function."""
    import uuid

    if trigger.input is not None:
        return json.loads(trigger.input)
    if trigger.scheduler:
        return {}
    now = time.time() if now is None else now
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "region": REGION,
        "resources": [trigger.arn],
        "detail": {},
    }


def subscription_arn(fn: Function, topic_arn: str) -> str:
    # Stable per (topic, function), like a real subscription ARN's UUID part.
    import uuid

    return f"{topic_arn}:{uuid.uuid5(uuid.NAMESPACE_URL, topic_arn + fn.arn)}"


def failure_record(
    fn: Function,
    event: Any,
    request_id: str,
    attempts: int,
    condition: str,
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    """Lambda's invocation record for an OnFailure destination."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{fn.arn}:$LATEST",
            "condition": condition,  # RetriesExhausted | EventAgeExceeded
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": error or {},
    }


def dlq_message(
    fn: Function, event: Any, request_id: str, error: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """Lambda's dead-letter-queue message: the event itself, the error in attributes."""
    attributes = {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {
            "DataType": "String",
            "StringValue": (error or {}).get("errorMessage", "")[:1000] or "-",
        },
        # Not set by Lambda; lets `cameo dlq redrive` find the function without guessing.
        "FunctionArn": {"DataType": "String", "StringValue": fn.arn},
    }
    return json.dumps(event), attributes


def unwrap_failure(body: str, attributes: dict[str, Any]) -> tuple[str | None, Any, dict[str, Any]]:
    """(function ARN, original event, summary) from a destination record or a DLQ message."""
    data = json.loads(body)
    if isinstance(data, dict) and "requestContext" in data and "requestPayload" in data:
        arn = str(data["requestContext"].get("functionArn", "")).removesuffix(":$LATEST")
        summary = {
            "condition": data["requestContext"].get("condition"),
            "attempts": data["requestContext"].get("approximateInvokeCount"),
            "error": "{errorType}: {errorMessage}".format(
                errorType=data["responsePayload"].get("errorType", "?"),
                errorMessage=data["responsePayload"].get("errorMessage", ""),
            ),
            "request_id": data["requestContext"].get("requestId"),
            "timestamp": data.get("timestamp"),
        }
        return arn, data["requestPayload"], summary
    arn = (attributes.get("FunctionArn") or {}).get("StringValue")
    summary = {
        "condition": "RetriesExhausted",
        "error": (attributes.get("ErrorMessage") or {}).get("StringValue"),
        "request_id": (attributes.get("RequestID") or {}).get("StringValue"),
    }
    return arn, data, summary


def describe_event(event: Any) -> str:
    """One line naming what an event is about (for `cameo dlq list`)."""
    try:
        record = event["Records"][0]
        if "s3" in record:
            return f"{record['eventName']} s3://{record['s3']['bucket']['name']}/{record['s3']['object']['key']}"
        if "Sns" in record:
            message = json.loads(record["Sns"]["Message"])
            return f"completion {message.get('Status')} job {message.get('JobId')}"
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    if isinstance(event, dict) and event.get("detail-type") == "Scheduled Event":
        return f"schedule {','.join(event.get('resources') or [])} at {event.get('time')}"
    return json.dumps(event)[:120]


__all__ = ["REGION"]
