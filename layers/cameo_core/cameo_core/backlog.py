"""The backlog: every upload is recorded at once, and jobs start as Rekognition slots free up.

Media2Cloud's "service backlog", kept in the results table (docs/aws.md says why this and not
S3 -> SQS -> Lambda). States of the video item:

    QUEUED -> STARTING -> SUBMITTED -> SUCCEEDED | FAILED      (SKIPPED, REJECTED, ERASED too)

- QUEUED is written on the S3 event, before any Rekognition call, so nothing a quota does can
  make an upload vanish.
- STARTING is a conditional claim written *before* StartCelebrityRecognition: the table always
  knows a job before Rekognition can report it.
- Slots: at most MaxConcurrentJobs items `BACKLOG / SLOT#nnn`, each taken by a conditional
  write before a Start, so concurrent drains never run more jobs than that. A slot is held
  under a lease while STARTING (a crashed starter's slot comes back by itself) and for the job
  once it runs, until its completion reaches the start function.
- The start function drains the backlog after each upload, after each completion (a freed
  slot starts the next job at once) and on the sweep's schedule, which also finds what is stuck.

Idempotency comes from the data: the ClientRequestToken is a function of the upload (a retried
Start returns the same JobId), and every transition is a conditional write on the state it
expects, so a duplicate delivery, a stale index entry or a second drain costs one failed write.
"""

from __future__ import annotations

import math
import posixpath
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cameo_core.adapters.objects import VideoObjects
from cameo_core.adapters.recency import recency_fields
from cameo_core.adapters.rekognition import API, CelebrityJobs, StartRequest
from cameo_core.adapters.table import Item, ResultsTable
from cameo_core.adapters.topic import CompletionTopic
from cameo_core.config import VIDEO_EXTENSIONS, StartConfig
from cameo_core.errors import (
    JobLimitExceeded,
    RejectedVideo,
    ResultsExpired,
    RetryableError,
    StartDeferred,
    StartThrottled,
)
from cameo_core.keys import (
    BACKLOG_PK,
    VideoRef,
    backlog_since,
    backlog_sk,
    client_request_token,
    job_tag,
    sequencer_order,
    slot_index,
)
from cameo_core.observability import logger, metrics
from cameo_core.pricing import estimated_cost_usd

# A STARTING claim and its slot lease last this long. Longer than one Start call's worst case
# (clients.START_RETRY_CONFIG: 42 s) plus the drain's reserve, so a live starter never loses
# its slot; short enough that a crashed starter's video is started again within minutes.
LEASE_S = 120
# A drain takes no new slot when less than this is left of the invocation (one Start's worst
# case and the writes around it fit in it).
DRAIN_RESERVE_S = 45.0
# Faults that are not the quota or a throttle (5xx, timeouts, unknown codes) are retried by
# the backlog this many times, then the video is FAILED: a video that always breaks Start
# must not hold the head of the queue for ever.
MAX_START_FAULTS = 5
# Extra queue entries read per drain round: index entries can be stale (claimed by another
# drain a moment ago), and a stale entry should not end the round.
SPARE_CANDIDATES = 5


def _utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True)
class Upload:
    """What an S3 ObjectCreated record (or a backfill listing) tells us; key URL-decoded."""

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
    recorded: bool | None = None  # for enqueue: False when stale or a duplicate delivery

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Backlog:
    """What draining needs. `time_left_s` is the invocation's remaining time (Lambda context)."""

    config: StartConfig
    table: ResultsTable
    jobs: CelebrityJobs
    topic: CompletionTopic | None = None
    clock: Callable[[], datetime] = _utcnow
    time_left_s: Callable[[], float] = field(default=lambda: math.inf)

    @property
    def capacity(self) -> int:
        return self.config.backlog.max_concurrent_jobs


# -- entering the backlog ----------------------------------------------------------------------


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


def enqueue(
    upload: Upload,
    config: StartConfig,
    table: ResultsTable,
    objects: VideoObjects | None,
    *,
    now: datetime | None = None,
) -> Outcome:
    """The one way an upload enters the backlog (the S3 path and `cameo backfill`).

    Records QUEUED (or SKIPPED / REJECTED with the reason) and starts nothing. Conditional on
    the S3 sequencer: a newer upload or a delete already recorded wins, and a redelivered
    event leaves the item (and its job) alone. `objects=None` skips the duration probe.
    """
    moment = now or _utcnow()
    video = upload.video
    order = sequencer_order(upload.sequencer)
    base: dict[str, Any] = {
        "size": upload.size,
        "etag": upload.etag,
        "version_id": upload.version_id,
        "sequencer": upload.sequencer,
        "sequencer_order": order,
    }
    refused = screen(upload, config.tuning.max_video_bytes)
    if refused is None and objects is not None:
        refused, base = _cost_guard(upload, config, objects, base)
    if refused:
        status, reason = refused
        fields = {**base, "status": status, "reason": reason, "submitted_at": iso(moment)}
        if status == "REJECTED":  # a video refused for its size or length is still listed
            fields.update(recency_fields(video, iso(moment)))
        if not table.record_upload(video, fields):
            return _not_recorded(table, video, order, status)
        metrics.add_metric(name=f"Videos{status.title()}", unit=MetricUnit.Count, value=1)
        logger.info("upload not sent to Rekognition", extra={"status": status, "reason": reason})
        return Outcome(video.uri, status, reason=reason, recorded=True)

    # One conditional write and no read first: in a burst every upload costs one request less,
    # and the rare refused write (a late or redelivered event) is told apart afterwards.
    queued_at = iso(moment)
    recorded = table.record_upload(
        video,
        {
            **base,
            "status": "QUEUED",
            "queued_at": queued_at,
            "client_request_token": client_request_token(video, upload.revision),
            "job_tag": job_tag(video),
            "gsi3pk": BACKLOG_PK,
            "gsi3sk": backlog_sk("QUEUED", queued_at, video),
            **recency_fields(video, queued_at),  # ByRecency: the API's newest-first list
        },
    )
    if not recorded:
        return _not_recorded(table, video, order, "QUEUED")
    metrics.add_metric(name="VideosQueued", unit=MetricUnit.Count, value=1)
    logger.info("upload queued")
    return Outcome(video.uri, "QUEUED", recorded=True)


def _not_recorded(table: ResultsTable, video: VideoRef, order: str, status: str) -> Outcome:
    """The sequencer condition refused the write: a newer event (or a delete) is recorded, or
    this is a redelivery of the recorded one. Either way the item and its job stay as they are."""
    current = table.get_video(video)
    if current and str(current.get("sequencer_order", "")) > order:
        # S3 events arrive in any order; this one must not cost a job or revive a deleted video.
        logger.info("stale upload event ignored", extra={"status": current.get("status")})
        return Outcome(video.uri, "STALE", reason="a newer event for this key", recorded=False)
    logger.info("duplicate upload event ignored")
    return Outcome(video.uri, status, recorded=False)


def _cost_guard(
    upload: Upload, config: StartConfig, objects: VideoObjects, base: dict[str, Any]
) -> tuple[tuple[str, str] | None, dict[str, Any]]:
    """Read the duration from the header; too long -> REJECTED before paying. An unreadable
    header is not a rejection: "duration unknown", and Rekognition decides."""
    probe = objects.probe(upload)
    settings = config.backlog
    if probe.minutes is None:
        logger.info("duration unknown", extra={"reason": probe.reason})
        return None, {**base, "duration_unknown": True, "duration_reason": probe.reason}
    minutes = probe.minutes
    cost = estimated_cost_usd(minutes, settings.price_per_minute)
    base = {**base, "duration_minutes": round(minutes, 3), "estimated_cost_usd": cost}
    if minutes > settings.max_video_minutes:
        reason = (
            f"video is {minutes:.1f} minutes long; the limit is "
            f"{settings.max_video_minutes:g} minutes (MaxVideoMinutes)"
        )
        return ("REJECTED", reason), base
    return None, base


# -- slots -------------------------------------------------------------------------------------


def _lapsed(slot: Item, now: int) -> bool:
    """A starter's lease that ran out: it crashed between taking the slot and its Start."""
    lease = slot.get("lease_until")
    return lease is not None and not slot.get("job_id") and int(lease) < now


def free_slots(slots: Iterable[Item], capacity: int, now: int) -> list[int]:
    """Indexes of the slots a drain may take. Slots above `capacity` (MaxConcurrentJobs was
    lowered) still count while their jobs run, so lowering it never overshoots the new value."""
    held = {slot_index(s["sk"]) for s in slots if s.get("holder") and not _lapsed(s, now)}
    free = [i for i in range(capacity) if i not in held]
    return free[: max(0, capacity - len(held))]


@dataclass(frozen=True)
class Released:
    freed: int  # slots freed: normally one; two only if a starter outlived its lease and the
    # retried Start (same token, same JobId) took a second slot for the same job
    slots: list[Item]  # every slot as just read, the freed ones emptied: the next drain's view


def release(table: ResultsTable, job_id: str) -> Released:
    """Free the slot(s) `job_id` holds (none when already free)."""
    freed, slots = 0, []
    for slot in table.slots():
        if slot.get("job_id") == job_id and table.release_slot(
            slot_index(slot["sk"]), job_id=job_id
        ):
            freed += 1
            slot = {"pk": slot["pk"], "sk": slot["sk"]}
        slots.append(slot)
    return Released(freed, slots)


# -- draining ----------------------------------------------------------------------------------


@dataclass
class _Round:
    outcome: Outcome
    stop: bool  # the quota is full, Start is throttled or unwell: stop this drain


def _video_of(key: Item) -> VideoRef:
    return VideoRef.parse(str(key["pk"]).removeprefix("VIDEO#"))


def drain(
    backlog: Backlog, hint: Sequence[VideoRef] = (), slots: list[Item] | None = None
) -> list[Outcome]:
    """Start the oldest QUEUED videos while slots are free; the outcome of each attempt.

    `hint` lists videos just queued: the index may not show them yet (GSIs are eventually
    consistent), and an idle system should not wait for the sweep to notice them. They come
    after what the index shows, so the oldest upload still goes first.

    `slots` is a view of the slots just read (a completion's release): the first round uses it
    instead of reading them again, and when that round fills every slot it saw free, the drain
    ends there. A slot freed since has its own wake-up (its completion, or the sweep); taking
    a slot is a conditional write, so a stale view costs a failed write, never an extra job.
    """
    outcomes: list[Outcome] = []
    tried: set[str] = set()
    table = backlog.table
    while backlog.time_left_s() > DRAIN_RESERVE_S:
        handed, view, slots = slots is not None, slots, None
        free = free_slots(
            table.slots() if view is None else view, backlog.capacity, epoch(backlog.clock())
        )
        if not free:
            break
        shown = [_video_of(k) for k in table.backlog("QUEUED", limit=len(free) + SPARE_CANDIDATES)]
        candidates = [v for v in dict.fromkeys([*shown, *hint]) if v.uri not in tried]
        if not candidates:
            break
        progressed = raced = False
        for video in candidates:
            if not free or backlog.time_left_s() <= DRAIN_RESERVE_S:
                break
            slot = _take_slot(backlog, video, free)
            if slot is None:
                raced = True  # every slot we saw was taken meanwhile: read them again
                break
            tried.add(video.uri)
            index, lease_id = slot
            claimed = _claim(backlog, video)
            if claimed is None:
                # Claimed by another drain, superseded or erased since the index was read.
                table.release_slot(index, lease_id=lease_id)
                free.insert(0, index)
                continue
            progressed = True
            result = _start(backlog, claimed, index, lease_id)
            outcomes.append(result.outcome)
            if result.stop:
                return outcomes
        if not progressed or (handed and not free and not raced):
            break
    return outcomes


def _take_slot(backlog: Backlog, video: VideoRef, free: list[int]) -> tuple[int, str] | None:
    now = epoch(backlog.clock())
    lease_id = uuid.uuid4().hex
    while free:
        index = free.pop(0)
        if backlog.table.acquire_slot(
            index, holder=video.uri, lease_id=lease_id, now=now, lease_until=now + LEASE_S
        ):
            return index, lease_id
    return None


def _claim(backlog: Backlog, video: VideoRef) -> Item | None:
    """QUEUED -> STARTING, before paying: the job is known to the table before it exists."""
    since = iso(backlog.clock())
    return backlog.table.update_video(
        video,
        {
            "status": "STARTING",
            "starting_at": since,
            "gsi3sk": backlog_sk("STARTING", since, video),
            # An early completion of the new job must not look like a late one of the old job.
            "job_id": None,
        },
        expect={"status": "QUEUED"},
    )


def _start(backlog: Backlog, item: Item, index: int, lease_id: str) -> _Round:
    table, config = backlog.table, backlog.config
    video = VideoRef(str(item["bucket"]), str(item["key"]))
    claim = {"status": "STARTING", "gsi3sk": item["gsi3sk"]}
    request = StartRequest(
        bucket=video.bucket,
        key=video.key,
        version_id=item.get("version_id"),
        client_request_token=str(item["client_request_token"]),
        job_tag=str(item["job_tag"]),
        sns_topic_arn=config.sns_topic_arn,
        role_arn=config.rekognition_role_arn,
    )
    try:
        job_id = backlog.jobs.start(request)
    except RejectedVideo as exc:
        table.update_video(
            video,
            {
                "status": "FAILED",
                "reason": exc.message,
                "error_code": exc.code,
                "completed_at": iso(backlog.clock()),
                "gsi3pk": None,
                "gsi3sk": None,
            },
            expect=claim,
        )
        table.release_slot(index, lease_id=lease_id)
        metrics.add_metric(name="VideosFailed", unit=MetricUnit.Count, value=1)
        logger.warning("Rekognition refused the video", extra={"error_code": exc.code})
        return _Round(Outcome(video.uri, "FAILED", reason=exc.message), stop=False)
    except StartDeferred as exc:
        outcome = _defer(backlog, item, claim, exc)
        table.release_slot(index, lease_id=lease_id)
        return _Round(outcome, stop=True)

    # The slot first: a completion that arrives between these two writes finds the job in the
    # slot and frees it. The other order could leave a slot held for a job already finished.
    if not table.hold_slot_for_job(index, lease_id, job_id):
        logger.warning("slot lease lapsed during Start", extra={"job_id": job_id})
        metrics.add_metric(name="SlotLeasesLost", unit=MetricUnit.Count, value=1)
    now = iso(backlog.clock())
    submitted = table.update_video(
        video,
        {
            "status": "SUBMITTED",
            "job_id": job_id,
            "submitted_at": now,
            "gsi3sk": backlog_sk("SUBMITTED", now, video),
            "waiting_reason": None,
            "start_faults": None,
        },
        expect=claim,
    )
    if submitted is None:
        # A newer upload or a delete replaced the item while we started: this job runs (and
        # holds its slot) until its completion, which the results function then drops as stale.
        logger.info("video superseded while its job started", extra={"job_id": job_id})
        metrics.add_metric(name="JobsSuperseded", unit=MetricUnit.Count, value=1)
        return _Round(Outcome(video.uri, "SUPERSEDED", job_id=job_id), stop=False)
    metrics.add_metric(name="JobsStarted", unit=MetricUnit.Count, value=1)
    logger.info("celebrity recognition started", extra={"job_id": job_id})
    return _Round(Outcome(video.uri, "SUBMITTED", job_id=job_id), stop=False)


def _defer(backlog: Backlog, item: Item, claim: dict[str, Any], exc: StartDeferred) -> Outcome:
    """Back to QUEUED at its old place in the line, with the reason; or FAILED after
    MAX_START_FAULTS faults that are not the quota or a throttle."""
    video = VideoRef(str(item["bucket"]), str(item["key"]))
    waiting = isinstance(exc, JobLimitExceeded | StartThrottled)
    faults = int(item.get("start_faults", 0)) + (0 if waiting else 1)
    if faults >= MAX_START_FAULTS:
        reason = f"StartCelebrityRecognition failed {faults} times; last: {exc}"
        backlog.table.update_video(
            video,
            {
                "status": "FAILED",
                "reason": reason,
                "error_code": exc.code,
                "completed_at": iso(backlog.clock()),
                "gsi3pk": None,
                "gsi3sk": None,
            },
            expect=claim,
        )
        metrics.add_metric(name="VideosFailed", unit=MetricUnit.Count, value=1)
        logger.error("Start kept failing; video recorded FAILED", extra={"error_code": exc.code})
        return Outcome(video.uri, "FAILED", reason=reason)
    if isinstance(exc, JobLimitExceeded):
        reason = "Rekognition's concurrent job quota is full (LimitExceededException)"
        metrics.add_metric(name="JobLimitWaits", unit=MetricUnit.Count, value=1)
    elif isinstance(exc, StartThrottled):
        reason = f"StartCelebrityRecognition is throttled ({exc.code})"
        metrics.add_metric(name="StartThrottles", unit=MetricUnit.Count, value=1)
    else:
        reason = f"StartCelebrityRecognition failed ({exc.code}); attempt {faults}"
        metrics.add_metric(name="StartFaults", unit=MetricUnit.Count, value=1)
    backlog.table.update_video(video, _requeued(item, video, reason, faults), expect=claim)
    logger.warning("job start deferred; the video waits in the backlog", extra={"reason": reason})
    return Outcome(video.uri, "QUEUED", reason=reason)


def _requeued(item: Item, video: VideoRef, reason: str, faults: int) -> dict[str, Any]:
    return {
        "status": "QUEUED",
        "gsi3sk": backlog_sk("QUEUED", str(item["queued_at"]), video),
        "waiting_reason": reason,
        "start_faults": faults or None,
        "starting_at": None,
    }


# -- the start function's completion path --------------------------------------------------------


def on_completion(backlog: Backlog, completion: Any) -> tuple[dict[str, Any], list[Item] | None]:
    """A finished job frees its slot at once (Rekognition counts it free as it finishes, not
    when our paging ends). `completion` is a results.Completion. Returns what happened and,
    when a slot was freed, the slots as just read: the next job starts in it without
    reading them again."""
    video, job_id = completion.video, str(completion.job_id)
    if completion.api != API:
        ignored = {"video": video.uri, "job_id": job_id, "released": 0, "ignored": "another API"}
        return ignored, None
    released = release(backlog.table, job_id)
    if not released.freed:
        current = backlog.table.get_video(video)
        if current is not None and current.get("status") == "STARTING":
            # Probably this very job, finished before its starter recorded it: the slot is
            # still held under the starter's lease, not under the JobId. Come back later.
            raise RetryableError(f"{video.uri} is STARTING; completion of {job_id} retried")
    outcome = {"video": video.uri, "job_id": job_id, "released": released.freed}
    return outcome, released.slots if released.freed else None


# -- the sweep ---------------------------------------------------------------------------------


def completion_message(item: Item, status: str, moment: datetime) -> dict[str, Any]:
    """What Rekognition publishes when a job ends, for a job whose notification was lost."""
    return {
        "JobId": str(item["job_id"]),
        "Status": status,
        "API": API,
        "JobTag": item.get("job_tag"),
        "Timestamp": int(moment.timestamp() * 1000),
        "Video": {"S3ObjectName": str(item["key"]), "S3Bucket": str(item["bucket"])},
    }


def sweep(backlog: Backlog) -> dict[str, Any]:
    """The scheduled pass: expired claims back to QUEUED, stuck jobs reconciled, leaked slots
    freed, queue metrics, then a drain. Failures to reach Rekognition or SNS for one job do
    not stop the others; they are raised at the end so the invocation counts as failed."""
    now = backlog.clock()
    errors: list[Exception] = []
    report: dict[str, Any] = {
        "requeued": _expire_claims(backlog, now),
        "reconciled": _reconcile(backlog, now, errors),
        "slots_freed": _free_leaked_slots(backlog, now, errors),
    }
    report.update(_queue_metrics(backlog, now))
    report["started"] = [o.as_dict() for o in drain(backlog)]
    if errors:
        raise RetryableError(f"sweep: {len(errors)} job(s) could not be checked") from errors[0]
    return report


def _expire_claims(backlog: Backlog, now: datetime) -> int:
    """STARTING past its lease: the starter died. Back to QUEUED; the retried Start sends the
    same token, so Rekognition answers with the first Start's job if it had gone through."""
    cutoff = iso(now - timedelta(seconds=LEASE_S))
    requeued = 0
    for key in list(backlog.table.backlog("STARTING", before=cutoff)):
        video = _video_of(key)
        item = backlog.table.get_video(video)
        if item is None or item.get("gsi3sk") != key["gsi3sk"]:
            continue  # moved on since the index was read
        reason = "the previous start attempt stopped before recording its job; retrying"
        fields = _requeued(item, video, reason, int(item.get("start_faults", 0)))
        if backlog.table.update_video(
            video, fields, expect={"status": "STARTING", "gsi3sk": key["gsi3sk"]}
        ):
            requeued += 1
            logger.warning("expired start claim requeued")
            metrics.add_metric(name="StartClaimsExpired", unit=MetricUnit.Count, value=1)
    return requeued


def _reconcile(backlog: Backlog, now: datetime, errors: list[Exception]) -> list[dict[str, Any]]:
    """SUBMITTED longer than ReconcileAfterMinutes: ask Rekognition. A finished job is
    announced again on the completion topic, so both subscribers handle it exactly as if its
    notification had come. Each job is checked at most once per ReconcileAfterMinutes: the
    check moves its index entry to now, by a conditional write only one sweep can win."""
    after = timedelta(minutes=backlog.config.backlog.reconcile_after_minutes)
    table = backlog.table
    done: list[dict[str, Any]] = []
    for key in list(table.backlog("SUBMITTED", before=iso(now - after))):
        video = _video_of(key)
        item = table.get_video(video)
        if item is None or item.get("gsi3sk") != key["gsi3sk"] or not item.get("job_id"):
            continue
        job_id = str(item["job_id"])
        try:
            state = backlog.jobs.job_status(job_id)
        except ResultsExpired:
            reason = "Rekognition no longer knows this job (its results expire after ~7 days)"
            if table.finish_job(
                video, job_id, {"status": "FAILED", "reason": reason, "completed_at": iso(now)}
            ):
                release(table, job_id)
                logger.warning("stuck job's results are gone", extra={"job_id": job_id})
                metrics.add_metric(name="StuckJobsExpired", unit=MetricUnit.Count, value=1)
                done.append({"video": video.uri, "job_id": job_id, "status": "FAILED"})
            continue
        except RetryableError as exc:
            errors.append(exc)
            continue
        checked = iso(now)
        moved = table.update_video(
            video,
            {"gsi3sk": backlog_sk("SUBMITTED", checked, video), "reconciled_at": checked},
            expect={"status": "SUBMITTED", "job_id": job_id, "gsi3sk": key["gsi3sk"]},
        )
        if moved is None or not state.finished:
            continue  # another sweep took it, or the job is simply long
        if backlog.topic is None:
            raise RuntimeError("the sweep needs the completion topic")
        try:
            backlog.topic.publish(completion_message(item, state.status, now))
        except RetryableError as exc:
            # Undo the check, so the next sweep announces it instead of one a period later.
            table.update_video(video, {"gsi3sk": key["gsi3sk"]}, expect={"gsi3sk": moved["gsi3sk"]})
            errors.append(exc)
            continue
        logger.warning(
            "stuck job reconciled",
            extra={
                "job_id": job_id,
                "job_status": state.status,
                "submitted_at": item.get("submitted_at"),
            },
        )
        metrics.add_metric(name="StuckJobsReconciled", unit=MetricUnit.Count, value=1)
        done.append({"video": video.uri, "job_id": job_id, "status": state.status})
    return done


def _free_leaked_slots(backlog: Backlog, now: datetime, errors: list[Exception]) -> int:
    """A slot held for a job that is not the video's SUBMITTED job (superseded, or its
    completion never reached the start function) is freed once Rekognition says it ended."""
    cutoff = epoch(now - timedelta(minutes=backlog.config.backlog.reconcile_after_minutes))
    freed = 0
    for slot in backlog.table.slots():
        job_id = slot.get("job_id")
        if not job_id or int(slot.get("acquired_at", 0)) >= cutoff:
            continue
        item = backlog.table.get_video(VideoRef.parse(str(slot["holder"])))
        if item and item.get("status") == "SUBMITTED" and item.get("job_id") == job_id:
            continue  # a current job: _reconcile looks after it
        try:
            ended = backlog.jobs.job_status(str(job_id)).finished
        except ResultsExpired:
            ended = True
        except RetryableError as exc:
            errors.append(exc)
            continue
        if ended and backlog.table.release_slot(slot_index(slot["sk"]), job_id=str(job_id)):
            freed += 1
            logger.warning("leaked slot freed", extra={"job_id": job_id})
            metrics.add_metric(name="SlotsLeaked", unit=MetricUnit.Count, value=1)
    return freed


def _queue_metrics(backlog: Backlog, now: datetime) -> dict[str, Any]:
    table = backlog.table
    queued = table.backlog_count("QUEUED")
    oldest = next(iter(table.backlog("QUEUED", limit=1)), None)
    age = 0.0
    if oldest is not None:
        since = datetime.fromisoformat(backlog_since(str(oldest["gsi3sk"])))
        age = max(0.0, (now - since).total_seconds())
    in_use = backlog.capacity - len(free_slots(table.slots(), backlog.capacity, epoch(now)))
    metrics.add_metric(name="QueuedVideos", unit=MetricUnit.Count, value=queued)
    metrics.add_metric(name="OldestQueuedAgeSeconds", unit=MetricUnit.Seconds, value=age)
    metrics.add_metric(name="SlotsInUse", unit=MetricUnit.Count, value=in_use)
    return {"queued": queued, "oldest_queued_age_s": round(age, 3), "slots_in_use": in_use}
