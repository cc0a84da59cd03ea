"""Erase logic: an object removed from the bucket takes its face-derived results with it, and
an object that a removal brings back (a delete marker removed, or the current version deleted
with older ones behind it) is analysed again, through the backlog like any upload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.objects import ObjectGone, StoredObject, VideoObjects
from cameo_core.adapters.table import ResultsTable
from cameo_core.backlog import Outcome as Queued
from cameo_core.backlog import Upload, enqueue
from cameo_core.config import StartConfig
from cameo_core.keys import VideoRef, sequencer_after, sequencer_order
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

    @property
    def of_one_version(self) -> bool:
        """A version deleted for good (ObjectRemoved:Delete with a version id, or a lifecycle
        expiration of one), as opposed to a delete marker or an unversioned delete."""
        return bool(self.version_id) and self.event_name.endswith(":Delete")


@dataclass(frozen=True)
class Restore:
    """What re-queues a video whose object is back: S3 for HeadObject and the duration
    probe, and the upload path's settings (the size limit and the cost guard)."""

    objects: VideoObjects
    config: StartConfig


def erase_video(removal: Removal, table: ResultsTable, archive: RawArchive) -> Outcome:
    video = removal.video
    current = table.get_video(video)
    if (
        removal.of_one_version
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


def requeue_if_back(removal: Removal, table: ResultsTable, restore: Restore) -> Queued | None:
    """After a version is deleted for good, the key may have a current object again: the
    delete marker was removed (undoing a delete), or older versions sit behind the deleted
    one. S3 sends no ObjectCreated for either, so an ERASED video whose object exists is
    queued here, as an upload at this event's place in the key's order (just after the
    tombstone that the same event may have written)."""
    video = removal.video
    current = table.get_video(video)
    if current is None or current.get("status") != "ERASED":
        return None
    try:
        found = restore.objects.head(StoredObject(video.bucket, video.key, size=0))
    except ObjectGone:
        return None  # still deleted: a delete marker, or no version, is current
    upload = Upload(
        bucket=video.bucket,
        key=video.key,
        size=found.size,
        etag=found.etag,
        version_id=found.version_id,
        sequencer=sequencer_after(removal.sequencer),
    )
    queued = enqueue(upload, restore.config, table, restore.objects)
    if queued.recorded:
        metrics.add_metric(name="VideosRestored", unit=MetricUnit.Count, value=1)
        logger.info("object is back after a delete; queued again", extra={"status": queued.status})
    return queued


def handle_s3_event(
    raw: dict[str, Any],
    table: ResultsTable,
    archive: RawArchive,
    restore: Restore | None = None,
) -> list[dict[str, Any]]:
    """Every ObjectRemoved record (keys arrive URL-encoded, like on ObjectCreated). With
    `restore`, a version deleted for good may bring the object back (requeue_if_back)."""
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
        result = erase_video(removal, table, archive).as_dict()
        if restore is not None and removal.of_one_version:
            queued = requeue_if_back(removal, table, restore)
            if queued is not None:
                result["requeued"] = queued.as_dict()
        erased.append(result)
    return erased
