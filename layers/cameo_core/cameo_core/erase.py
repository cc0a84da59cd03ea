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
from cameo_core.keys import VideoRef
from cameo_core.observability import logger, metrics


@dataclass(frozen=True)
class Outcome:
    video: str
    items_deleted: int
    pages_deleted: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def erase_video(video: VideoRef, table: ResultsTable, archive: RawArchive) -> Outcome:
    # The tombstone goes first: it drops job_id, so a job finishing meanwhile is ignored
    # instead of writing results back.
    if table.get_video(video) is not None:
        table.erase_video(video, datetime.now(UTC).isoformat(timespec="milliseconds"))
    items = table.delete_results(video)
    pages = archive.erase(video)
    metrics.add_metric(name="VideosErased", unit=MetricUnit.Count, value=1)
    logger.info("erased results", extra={"items": items, "pages": pages})
    return Outcome(video.uri, items, pages)


def handle_s3_event(
    raw: dict[str, Any], table: ResultsTable, archive: RawArchive
) -> list[dict[str, Any]]:
    """Every ObjectRemoved record (keys arrive URL-encoded, like on ObjectCreated)."""
    erased = []
    for record in S3Event(raw).records:
        video = VideoRef(record.s3.bucket.name, unquote_plus(record.s3.get_object.key))
        erased.append(erase_video(video, table, archive).as_dict())
    return erased
