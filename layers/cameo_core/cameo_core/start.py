"""The start function's three events: S3 uploads enter the backlog, completions free slots,
and the schedule sweeps. Each ends in a drain (backlog.py), which is the only place that calls
StartCelebrityRecognition."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

from cameo_core.adapters.objects import VideoObjects
from cameo_core.adapters.table import Item
from cameo_core.backlog import (
    Backlog,
    Outcome,
    Upload,
    drain,
    enqueue,
    on_completion,
    screen,
    sweep,
)
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef
from cameo_core.observability import logger
from cameo_core.results import Completion, handle_sns_event

__all__ = ["Outcome", "Upload", "handle_event", "screen", "uploads"]


def uploads(event: S3Event) -> list[Upload]:
    """ObjectCreated records -> uploads, every record (not just the first)."""
    result = []
    for record in event.records:
        if not record.event_name.startswith("ObjectCreated"):
            logger.info("ignoring a non-create record", extra={"event": record.event_name})
            continue
        obj = record.s3.get_object
        result.append(
            Upload(
                bucket=record.s3.bucket.name,
                # Keys arrive URL-encoded ("+" for spaces, %XX for unicode).
                key=unquote_plus(obj.key),
                size=int(obj.get("size") or 0),
                etag=obj.etag or None,
                version_id=obj.version_id,
                sequencer=obj.get("sequencer"),
            )
        )
    return result


def handle_s3_event(
    raw: dict[str, Any], backlog: Backlog, objects: VideoObjects | None
) -> dict[str, Any]:
    """Record every upload (QUEUED, or why not), then drain. A transient failure to record
    one upload does not hold up the others; it is raised at the end so the platform retries
    the event (the sequencer condition makes the retry safe for those already recorded)."""
    if raw.get("Event") == "s3:TestEvent":
        logger.info("s3:TestEvent received; nothing to do")
        return {"uploads": [], "started": []}
    outcomes: list[Outcome] = []
    transient: list[RetryableError] = []
    for upload in uploads(S3Event(raw)):
        try:
            outcomes.append(enqueue(upload, backlog.config, backlog.table, objects))
        except RetryableError as exc:
            logger.warning(
                "transient failure; the event will be retried", extra={"error": str(exc)}
            )
            transient.append(exc)
    queued = [VideoRef.parse(o.video) for o in outcomes if o.status == "QUEUED"]
    started = drain(backlog, hint=queued)
    if transient:
        raise RetryableError(f"{len(transient)} upload(s) will be retried") from transient[0]
    return {"uploads": [o.as_dict() for o in outcomes], "started": [o.as_dict() for o in started]}


def handle_completion_event(raw: dict[str, Any], backlog: Backlog) -> dict[str, Any]:
    """A Rekognition completion (the topic ProcessResults also gets): free the job's slot and
    start the next job in it. A malformed message is raised after the others (handle_sns_event)."""
    views: list[list[Item]] = []

    def free_slot(completion: Completion) -> dict[str, Any]:
        outcome, slots = on_completion(backlog, completion)
        if slots is not None:
            views.append(slots)
        return outcome

    completions = handle_sns_event(raw, free_slot)
    # SNS sends one record per event; with several releases, no single view is current.
    started = drain(backlog, slots=views[0] if len(views) == 1 else None)
    return {"completions": completions, "started": [o.as_dict() for o in started]}


def handle_schedule_event(raw: dict[str, Any], backlog: Backlog) -> dict[str, Any]:
    return {"sweep": sweep(backlog)}


def event_kind(raw: dict[str, Any]) -> str:
    """ "s3", "sns" or "schedule", from the event's shape (one function, three triggers)."""
    if raw.get("Event") == "s3:TestEvent":
        return "s3"
    if raw.get("source") == "aws.events" or raw.get("detail-type") == "Scheduled Event":
        return "schedule"
    records = raw.get("Records")
    if isinstance(records, list) and records:
        first = records[0]
        if first.get("eventSource") == "aws:s3":
            return "s3"
        if first.get("EventSource") == "aws:sns":
            return "sns"
    raise ValueError("not an S3, SNS or scheduled event")


def handle_event(
    raw: dict[str, Any], backlog: Backlog, objects: VideoObjects | None
) -> dict[str, Any]:
    kind = event_kind(raw)
    if kind == "s3":
        return handle_s3_event(raw, backlog, objects)
    if kind == "sns":
        return handle_completion_event(raw, backlog)
    return handle_schedule_event(raw, backlog)
