"""Erase logic: an object removed from the bucket takes its face-derived results with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.keys import VideoRef, sequencer_order
from cameo_core.observability import logger, metrics


@dataclass(frozen=True)
class Outcome:
    video: str
    items_deleted: int
    pages_deleted: int
    erased: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Removal:
    """What an S3 ObjectRemoved record tells us (key already URL-decoded)."""

    video: VideoRef
    event_name: str
    version_id: str | None = None
    sequencer: str | None = None


def erase_video(removal: Removal, table: ResultsTable, archive: RawArchive) -> Outcome:
    video = removal.video
    current = table.get_video(video)
    if (
        removal.event_name == "ObjectRemoved:Delete"
        and removal.version_id
        and current
        and current.get("version_id")
        and current["version_id"] != removal.version_id
    ):
        # A noncurrent version was deleted for good; the current one keeps its results.
        logger.info("noncurrent version deleted; results kept")
        return Outcome(video.uri, 0, 0, erased=False)
    # The tombstone goes first: it drops job_id, so a job finishing meanwhile is ignored
    # instead of writing results back.
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    if not table.erase_video(video, now, sequencer_order(removal.sequencer)):
        logger.info("a newer upload of this key exists; results kept")
        return Outcome(video.uri, 0, 0, erased=False)
    items = table.delete_results(video)
    pages = archive.erase(video)
    metrics.add_metric(name="VideosErased", unit=MetricUnit.Count, value=1)
    logger.info("erased results", extra={"items": items, "pages": pages})
    return Outcome(video.uri, items, pages)


def handle_s3_event(
    raw: dict[str, Any], table: ResultsTable, archive: RawArchive
) -> list[dict[str, Any]]:
    """Every ObjectRemoved record (keys arrive URL-encoded, like on ObjectCreated)."""
    if raw.get("Event") == "s3:TestEvent":
        logger.info("s3:TestEvent received; nothing to do")
        return []
    erased = []
    for record in S3Event(raw).records:
        obj = record.s3.get_object
        removal = Removal(
            video=VideoRef(record.s3.bucket.name, unquote_plus(obj.key)),
            event_name=record.event_name,
            version_id=obj.version_id,
            sequencer=obj.get("sequencer"),
        )
        erased.append(erase_video(removal, table, archive).as_dict())
    return erased
