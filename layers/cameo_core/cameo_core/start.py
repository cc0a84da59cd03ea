"""Start logic: one S3 object-created record -> one StartCelebrityRecognition job (or a
recorded reason why not)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event

from cameo_core.adapters.rekognition import CelebrityJobs, StartRequest
from cameo_core.adapters.table import ResultsTable
from cameo_core.config import VIDEO_EXTENSIONS, StartConfig
from cameo_core.errors import RejectedVideo, RetryableError
from cameo_core.keys import VideoRef, client_request_token, job_tag, sequencer_order
from cameo_core.observability import logger, metrics


@dataclass(frozen=True)
class Upload:
    """What an S3 ObjectCreated record tells us (key already URL-decoded)."""

    bucket: str
    key: str
    size: int
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None

    @property
    def video(self) -> VideoRef:
        return VideoRef(self.bucket, self.key)

    @property
    def revision(self) -> str:
        # A version id names the object exactly. Without versioning, ETag + sequencer tell an
        # overwrite (new sequencer) from a redelivery of the same event (same sequencer).
        return self.version_id or f"{self.etag or ''}:{self.sequencer or ''}"


@dataclass(frozen=True)
class Outcome:
    video: str
    status: str
    job_id: str | None = None
    reason: str | None = None
    recorded: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def screen(upload: Upload, max_bytes: int) -> tuple[str, str] | None:
    """(status, reason) when the object must not reach Rekognition, else None."""
    extension = posixpath.splitext(upload.key)[1].lower()
    if extension not in VIDEO_EXTENSIONS:
        allowed = ", ".join(sorted(VIDEO_EXTENSIONS))
        shown = extension or "no extension"
        return "SKIPPED", f"not a video file ({shown}); cameo accepts {allowed}"
    if upload.size <= 0:
        return "REJECTED", "object is empty (0 bytes)"
    if upload.size > max_bytes:
        return "REJECTED", f"object is {upload.size} bytes; the limit is {max_bytes} bytes"
    return None


def start_recognition(
    upload: Upload, config: StartConfig, jobs: CelebrityJobs, table: ResultsTable
) -> Outcome:
    """Raises RetryableError for transient failures; everything else ends recorded."""
    video = upload.video
    order = sequencer_order(upload.sequencer)
    current = table.get_video(video)
    if current and str(current.get("sequencer_order", "")) > order:
        # A newer upload or a delete of this key is already recorded: S3 events arrive in any
        # order, and this one must not cost a Rekognition job or bring a deleted video back.
        logger.info("stale upload event ignored", extra={"status": current.get("status")})
        return Outcome(video.uri, "STALE", reason="a newer event for this key", recorded=False)
    base = {
        "size": upload.size,
        "etag": upload.etag,
        "version_id": upload.version_id,
        "sequencer": upload.sequencer,
        "sequencer_order": order,
        "submitted_at": _now(),
    }
    refused = screen(upload, config.tuning.max_video_bytes)
    if refused:
        status, reason = refused
        metrics.add_metric(name=f"Videos{status.title()}", unit=MetricUnit.Count, value=1)
        recorded = table.record_upload(video, {**base, "status": status, "reason": reason})
        logger.info("upload not sent to Rekognition", extra={"status": status, "reason": reason})
        return Outcome(video.uri, status, reason=reason, recorded=recorded)

    tag = job_tag(video)
    request = StartRequest(
        bucket=upload.bucket,
        key=upload.key,
        version_id=upload.version_id,
        client_request_token=client_request_token(video, upload.revision),
        job_tag=tag,
        sns_topic_arn=config.sns_topic_arn,
        role_arn=config.rekognition_role_arn,
    )
    try:
        job_id = jobs.start(request)
    except RejectedVideo as exc:
        metrics.add_metric(name="VideosFailed", unit=MetricUnit.Count, value=1)
        recorded = table.record_upload(
            video, {**base, "status": "FAILED", "reason": exc.message, "error_code": exc.code}
        )
        logger.warning("Rekognition refused the video", extra={"error_code": exc.code})
        return Outcome(video.uri, "FAILED", reason=exc.message, recorded=recorded)

    recorded = table.record_upload(
        video,
        {
            **base,
            "status": "SUBMITTED",
            "job_id": job_id,
            "job_tag": tag,
            "client_request_token": request.client_request_token,
        },
    )
    if recorded:
        metrics.add_metric(name="JobsStarted", unit=MetricUnit.Count, value=1)
        logger.info("celebrity recognition started", extra={"job_id": job_id})
    else:
        # Same token -> same JobId, so a duplicate delivery costs nothing more.
        logger.info("duplicate or stale upload event ignored", extra={"job_id": job_id})
    return Outcome(video.uri, "SUBMITTED", job_id=job_id, recorded=recorded)


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
    raw: dict[str, Any], config: StartConfig, jobs: CelebrityJobs, table: ResultsTable
) -> list[dict[str, Any]]:
    """Start a job per upload. A transient failure of one record does not hold up the others;
    it is raised at the end so the platform retries the event (the tokens make that safe)."""
    if raw.get("Event") == "s3:TestEvent":
        logger.info("s3:TestEvent received; nothing to do")
        return []
    outcomes, transient = [], []
    for upload in uploads(S3Event(raw)):
        try:
            outcomes.append(start_recognition(upload, config, jobs, table).as_dict())
        except RetryableError as exc:
            logger.warning(
                "transient failure; the event will be retried", extra={"error": str(exc)}
            )
            transient.append(exc)
    if transient:
        raise RetryableError(f"{len(transient)} upload(s) will be retried") from transient[0]
    return outcomes
