"""Results logic: a Rekognition completion -> appearances, summaries and a final video status.

Reads pages with SortBy=TIMESTAMP so the normalizer streams (memory bounded by the celebrities
on screen), writes in batches of 25 with deterministic keys (a redelivery or a retry after a
crash overwrites, never duplicates), archives every raw page, and only ever finishes the job
that is still the video's current one (a late, older job cannot overwrite a newer one).

Resume, don't restart: each page is archived before the next one is fetched, so the archive is
a checkpoint. A retry replays pages 1..k from S3 (the normalizer needs every detection in
order) and asks Rekognition only for pages k+1.., from page k's NextToken. A kill (timeout,
OOM) therefore costs at most the page in flight, and a job longer than one invocation finishes
over several.

Continue, don't time out: paging stops while a page still fits in the invocation (RESERVE_S
before its end) and the job continues in a new invocation, announced again on the completion
topic as the sweep announces a lost notification. That invocation resumes from the archive, so
a job of any length finishes without a timeout, a failure record or anyone's help.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent

from cameo_core.adapters.archive import RawArchive, decode
from cameo_core.adapters.rekognition import API, CelebrityJobs, JobStatus
from cameo_core.adapters.table import BatchWriter, ResultsTable
from cameo_core.adapters.topic import CompletionTopic
from cameo_core.background import Background
from cameo_core.backlog import completion_message, iso
from cameo_core.clients import client
from cameo_core.config import ProcessResultsConfig, Tuning
from cameo_core.errors import CameoError, PaginationExpired, ResultsExpired, RetryableError
from cameo_core.keys import (
    BACKLOG_PK,
    VideoRef,
    appearance_sk,
    backlog_sk,
    celebrity_sk,
    job_tag_matches,
    name_key,
    video_index_key,
)
from cameo_core.normalize import Appearance, AppearanceBuilder, CelebritySummary, Summaries
from cameo_core.observability import logger, metrics

FINAL = frozenset({"SUCCEEDED", "FAILED"})
# The backlog's states before a job id is recorded (backlog.py): a completion may be this
# video's own job, whose SUBMITTED record is not written yet.
NOT_YET_SUBMITTED = frozenset({"QUEUED", "STARTING"})
PAGINATION_RESTARTS = 3
# Threads for batch writes (boto3 clients are thread-safe); queued batches hold only 25 small
# items each (RSS goal: <= 50 MB growth for 200,000 detections). Archive uploads run in the page
# source, one page at a time (a page is ~3 MB as dicts).
IO_THREADS = 4
BATCHES_IN_FLIGHT = 8
# Archived pages downloaded ahead of the normalizer during a replay (compressed, ~0.3 MB each).
REPLAY_AHEAD = 4
# Paging asks Rekognition for no new page when less than this is left of the invocation: the
# job continues in a new one instead. One page's fetch (a slow attempt hits the 30 s read
# timeout, clients.RETRY_CONFIG, and its retry is quick), its archive upload and the writes
# that end a job fit in it (cf. backlog.DRAIN_RESERVE_S).
RESERVE_S = 45.0


@dataclass(frozen=True)
class Completion:
    """The Rekognition message inside an SNS record. Extra keys are tolerated."""

    job_id: str
    status: str
    api: str
    video: VideoRef
    job_tag: str | None = None
    timestamp: int | None = None

    @classmethod
    def parse(cls, message: Mapping[str, Any]) -> Completion:
        video = message.get("Video") or {}
        return cls(
            job_id=str(message["JobId"]),
            status=str(message["Status"]),
            api=str(message.get("API", "")),
            # The key in the message is not URL-encoded.
            video=VideoRef(str(video["S3Bucket"]), str(video["S3ObjectName"])),
            job_tag=message.get("JobTag"),
            timestamp=message.get("Timestamp"),
        )


@dataclass(frozen=True)
class Outcome:
    video: str
    job_id: str
    status: str
    appearances: int = 0
    celebrities: int = 0
    detections: int = 0
    pages: int = 0
    reason: str | None = None
    pages_replayed: int | None = None  # from the archive, when a retry resumed
    pages_fetched: int | None = None  # by this invocation, when it continues in another

    @classmethod
    def succeeded(
        cls, video: VideoRef, job_id: str, result: Normalized, replayed: int | None = None
    ) -> Outcome:
        return cls(
            video.uri,
            job_id,
            "SUCCEEDED",
            result.appearances,
            result.celebrities,
            result.detections,
            result.pages,
            pages_replayed=replayed or None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# The shape of the face-derived items below. Bump it with any change a reader must know about,
# and teach cameo_core.read (KNOWN_SCHEMA_VERSIONS) first: readers refuse versions they don't know.
SCHEMA_VERSION = 1
# Their DynamoDB TTL attribute (epoch seconds), set when the stack keeps results for a limited
# time (ResultsRetentionDays). TTL deletes lazily, so readers treat an item past it as gone.
EXPIRES_AT = "expires_at"
# On the video item (not a TTL attribute: the record of the upload stays): when its job's
# results expire. Set by the first write of the job; a rewrite (a retry, `cameo reprocess`)
# keeps it, so rebuilding results never extends their retention.
RESULTS_EXPIRE_AT = "results_expire_at"
DAY_S = 86_400


def results_expiry(current: Mapping[str, Any] | None, tuning: Tuning) -> int | None:
    """Epoch seconds at which the current job's items expire, or None (kept until erased)."""
    recorded = (current or {}).get(RESULTS_EXPIRE_AT)
    if recorded is not None:
        return int(recorded)
    if not tuning.retention_days:
        return None
    return int(time.time() + tuning.retention_days * DAY_S)


def appearance_item(
    video: VideoRef, job_id: str, appearance: Appearance, *, expires_at: int | None = None
) -> dict[str, Any]:
    """`expires_at=None` writes no TTL attribute (results kept until erased)."""
    celebrity = appearance.celebrity
    return {
        "pk": video.pk,
        "sk": appearance_sk(appearance.start_ms, celebrity.id),
        "type": "appearance",
        "schema_version": SCHEMA_VERSION,
        "video": video.uri,
        "job_id": job_id,
        "celebrity_id": celebrity.id,
        "name": celebrity.name,
        "urls": list(celebrity.urls),
        "known_gender": celebrity.known_gender,
        "start_ms": appearance.start_ms,
        "end_ms": appearance.end_ms,
        "detections": appearance.detections,
        "max_confidence": appearance.max_confidence,
        "mean_confidence": appearance.mean_confidence,
        "bounding_box": dict(appearance.bounding_box) if appearance.bounding_box else None,
        EXPIRES_AT: expires_at,
    }


def summary_item(
    video: VideoRef, job_id: str, summary: CelebritySummary, *, expires_at: int | None = None
) -> dict[str, Any]:
    celebrity = summary.celebrity
    return {
        "pk": video.pk,
        "sk": celebrity_sk(celebrity.id),
        "gsi1pk": celebrity_sk(celebrity.id),
        "gsi1sk": video_index_key(video),
        "gsi2pk": name_key(celebrity.name),
        "gsi2sk": video_index_key(video),
        "type": "summary",
        "schema_version": SCHEMA_VERSION,
        "video": video.uri,
        "job_id": job_id,
        "celebrity_id": celebrity.id,
        "name": celebrity.name,
        "urls": list(celebrity.urls),
        "known_gender": celebrity.known_gender,
        "screen_time_ms": summary.screen_time_ms,
        "first_seen_ms": summary.first_seen_ms,
        "last_seen_ms": summary.last_seen_ms,
        "appearances": summary.appearances,
        "best_confidence": summary.best_confidence,
        EXPIRES_AT: expires_at,
    }


PageSource = Callable[[], Iterable[dict[str, Any]]]


class JobFailed(CameoError):
    """A result page says FAILED although the notification said SUCCEEDED: Rekognition's own
    answer decides, and the job is recorded FAILED with its message."""


class OutOfTime(Exception):
    """Paging stopped RESERVE_S before the invocation's end; pages 1..`pages` are archived."""

    def __init__(self, pages: int, fetched: int) -> None:
        super().__init__(f"stopped after page {pages}")
        self.pages = pages
        self.fetched = fetched


class JobPages:
    """A job's pages, resumable (a PageSource: each call is one pass from page 1).

    The first pass replays the archived pages 1..k, then asks Rekognition from page k's
    NextToken; every fetched page is archived before the next is fetched. When that token has
    expired, the next pass starts over from Rekognition's page 1 (re-archiving as it goes).

    After each fetched page is archived, `time_left_s` (the invocation's remaining time) is
    checked: with RESERVE_S or less left, OutOfTime is raised instead of asking for the next.
    Each invocation therefore fetches at least one page, however long its replay took.
    """

    def __init__(
        self,
        video: VideoRef,
        job_id: str,
        jobs: CelebrityJobs,
        archive: RawArchive,
        time_left_s: Callable[[], float] = lambda: math.inf,
    ) -> None:
        self._video = video
        self._job_id = job_id
        self._jobs = jobs
        self._archive = archive
        self._time_left_s = time_left_s
        self._resume = True
        self.replayed = 0  # archived pages replayed by the last pass
        self.fetched = 0  # pages Rekognition answered, over all passes

    def __call__(self) -> Iterator[dict[str, Any]]:
        with ThreadPoolExecutor(REPLAY_AHEAD, thread_name_prefix="cameo-archive") as pool:
            index, token = 0, None
            self.replayed = 0
            if self._resume:
                self._resume = False  # a later pass means the resume token failed
                for page in self._replay(pool):
                    index += 1
                    self.replayed += 1
                    token = page.get("NextToken")
                    yield page
                if index and not token:
                    return  # the archive is complete: nothing to ask Rekognition
                if index:
                    logger.info("resuming paging", extra={"pages_replayed": index})
                    metrics.add_metric(name="PagesReplayed", unit=MetricUnit.Count, value=index)
            for page in self._jobs.pages(self._job_id, start_token=token):
                if page.get("JobStatus") == "FAILED":
                    raise JobFailed(str(page.get("StatusMessage") or "Rekognition: FAILED"))
                index += 1
                self.fetched += 1
                upload = pool.submit(self._archive.put_page, self._video, self._job_id, index, page)
                yield page  # normalized while the upload runs
                # The checkpoint: page k is in S3 before page k+1 is asked for.
                upload.result()
                if page.get("NextToken") and self._time_left_s() <= RESERVE_S:
                    raise OutOfTime(index, self.fetched)

    def _replay(self, pool: ThreadPoolExecutor) -> Iterator[dict[str, Any]]:
        keys = deque(self._archive.checkpoint(self._video, self._job_id))
        ahead: deque[Future[bytes]] = deque()
        while keys or ahead:
            while keys and len(ahead) < REPLAY_AHEAD:
                ahead.append(pool.submit(self._archive.get_raw, keys.popleft()))
            raw = ahead.popleft().result()
            try:
                page = decode(raw)
            except (OSError, EOFError, ValueError) as exc:
                # Not expected (S3 writes are atomic), but then the checkpoint ends one page
                # earlier and Rekognition is asked again from there.
                logger.warning(
                    "archived page unreadable; resuming before it", extra={"error": repr(exc)}
                )
                for future in ahead:
                    future.cancel()
                return
            yield page


class _KeyTrackingWriter:
    """A BatchWriter that can remember the sort keys it wrote (for reprocessing)."""

    def __init__(self, writer: BatchWriter, track: bool) -> None:
        self._writer = writer
        self._track = track
        self.written: set[str] = set()

    def put(self, item: dict[str, Any]) -> None:
        if self._track:
            self.written.add(item["sk"])
        self._writer.put(item)

    def flush(self) -> None:
        self._writer.flush()


@dataclass(frozen=True)
class Normalized:
    appearances: int
    celebrities: int
    detections: int
    pages: int
    video_metadata: Mapping[str, Any] | None
    written: frozenset[str] = frozenset()  # sort keys, only when asked to track them


def write_results(
    video: VideoRef,
    job_id: str,
    pages: PageSource,
    table: ResultsTable,
    tuning: Tuning,
    track_keys: bool = False,
    expires_at: int | None = None,
) -> Normalized:
    """Stream pages -> appearances -> table. Restarts from page 1 when the token expires;
    deterministic keys make the second pass overwrite the first.

    The batch writes run on a few background threads, so waiting on the network overlaps with
    normalizing the next page (the page source overlaps its own archive uploads).
    """
    with ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="cameo-io") as pool:
        for attempt in range(PAGINATION_RESTARTS + 1):
            batches = Background(pool, limit=BATCHES_IN_FLIGHT)
            try:
                return _write_pass(
                    video, job_id, pages, table, tuning, track_keys, batches, expires_at
                )
            except PaginationExpired:
                # Let the first pass's writes land before the second's.
                batches.drain()
                if attempt == PAGINATION_RESTARTS:
                    raise RetryableError("pagination token kept expiring") from None
                logger.warning("pagination token expired; restarting from the first page")
                metrics.add_metric(name="PaginationRestarts", unit=MetricUnit.Count, value=1)
    raise AssertionError("unreachable")


@contextmanager
def _one_pass(pages: PageSource) -> Iterator[Iterator[dict[str, Any]]]:
    iterator = iter(pages())
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _write_pass(
    video: VideoRef,
    job_id: str,
    pages: PageSource,
    table: ResultsTable,
    tuning: Tuning,
    track_keys: bool,
    batches: Background,
    expires_at: int | None = None,
) -> Normalized:
    builder = AppearanceBuilder(tuning.merge_gap_ms, tuning.min_confidence)
    summaries = Summaries()
    appearances = 0
    metadata: Mapping[str, Any] | None = None
    count = 0
    writer = _KeyTrackingWriter(table.writer(background=batches), track_keys)
    # Closed on any error, so the page source's archive upload in flight ends before the
    # caller cleans up (a traceback would otherwise keep the generator, and its upload, alive).
    with _one_pass(pages) as source:
        for page in source:
            count += 1
            metadata = page.get("VideoMetadata") or metadata
            for appearance in builder.feed(page.get("Celebrities") or []):
                writer.put(appearance_item(video, job_id, appearance, expires_at=expires_at))
                summaries.add(appearance)
                appearances += 1
    for appearance in builder.close():
        writer.put(appearance_item(video, job_id, appearance, expires_at=expires_at))
        summaries.add(appearance)
        appearances += 1
    for summary in summaries:
        writer.put(summary_item(video, job_id, summary, expires_at=expires_at))
    writer.flush()
    return Normalized(
        appearances=appearances,
        celebrities=len(summaries.by_id),
        detections=builder.detections_used,
        pages=count,
        video_metadata=metadata,
        written=frozenset(writer.written),
    )


def finish_success(
    video: VideoRef,
    job_id: str,
    result: Normalized,
    table: ResultsTable,
    expires_at: int | None = None,
) -> bool:
    finished = table.finish_job(
        video,
        job_id,
        {
            "status": "SUCCEEDED",
            "completed_at": _now(),
            "video_metadata": dict(result.video_metadata or {}),
            "appearance_count": result.appearances,
            "celebrity_count": result.celebrities,
            "detection_count": result.detections,
            "reason": None,
            RESULTS_EXPIRE_AT: expires_at,
        },
    )
    if finished:
        # Only once this job is known to be current may an earlier job's results go.
        table.delete_results(video, keep=lambda item: item.get("job_id") == job_id)
    return finished


def process_completion(
    completion: Completion,
    jobs: CelebrityJobs,
    table: ResultsTable,
    archive: RawArchive,
    tuning: Tuning,
    *,
    time_left_s: Callable[[], float] = lambda: math.inf,
    topic: CompletionTopic | None = None,
) -> Outcome:
    """`time_left_s` is the invocation's remaining time; when it runs short, paging stops and
    the completion is announced again on `topic` (required then) for a new invocation."""
    video, job_id = completion.video, completion.job_id
    if completion.api != API:
        logger.warning("ignoring a notification from another API", extra={"api": completion.api})
        metrics.add_metric(name="ForeignNotifications", unit=MetricUnit.Count, value=1)
        return Outcome(video.uri, job_id, "IGNORED", reason=f"API {completion.api!r}")
    if not job_tag_matches(completion.job_tag, video):
        logger.warning("JobTag does not match the video; ignoring", extra={"job_id": job_id})
        return Outcome(video.uri, job_id, "IGNORED", reason="JobTag does not match the video")
    current = table.get_video(video)
    if current is None:
        # The start function records the upload before it calls Rekognition, so this is an
        # event that overtook its own record (or a table restored meanwhile). Come back later.
        raise RetryableError(f"no record of {video.uri} yet for job {job_id}")
    if current.get("status") in NOT_YET_SUBMITTED:
        # The job id is recorded after Start answers: a short video can finish before that (or
        # a crashed starter's retry re-sends the same token). Neither this job's results nor an
        # older job's may be decided yet; the retry (or the sweep's re-announcement) will know.
        raise RetryableError(f"{video.uri} is {current.get('status')}; job {job_id} may be its own")
    if current.get("job_id") != job_id:
        # An older job finishing late, or a video deleted meanwhile: never overwrite. What this
        # job may have written before it was superseded (a crashed attempt) goes too, pages
        # included: nothing reads a job that is not current.
        discard_job(video, job_id, table, archive)
        logger.info("completion for a job that is no longer current", extra={"job_id": job_id})
        metrics.add_metric(name="StaleCompletions", unit=MetricUnit.Count, value=1)
        return Outcome(video.uri, job_id, "IGNORED", reason="job is no longer current")
    state = str(current.get("status"))
    if state in FINAL:
        # A redelivered notification (or the retry of an attempt that died after recording
        # the outcome): finish the clean-up, which is idempotent, and stop there.
        _remove_other_results(video, job_id, state, table)
        logger.info("duplicate completion; already recorded", extra={"job_id": job_id})
        metrics.add_metric(name="DuplicateCompletions", unit=MetricUnit.Count, value=1)
        return Outcome(video.uri, job_id, "IGNORED", reason=f"already {state}")

    if completion.status != "SUCCEEDED":
        # The notification is a hint; the job's own status decides (they can disagree when a
        # notification is re-announced, replayed from a queue, or hand-made).
        try:
            job: JobStatus | None = jobs.job_status(job_id)
        except ResultsExpired:
            job = None
        if job is not None and job.status == "IN_PROGRESS":
            raise RetryableError(f"{video.uri}: notified {completion.status}, job still running")
        if job is None or job.status != "SUCCEEDED":
            reason = (job.message if job else None) or f"Rekognition reported {completion.status}"
            return _fail(video, job_id, reason, table, archive)
        logger.warning(
            "notification disagrees with the job; the job's SUCCEEDED wins",
            extra={"job_id": job_id, "notified": completion.status},
        )
        metrics.add_metric(name="StatusMismatches", unit=MetricUnit.Count, value=1)

    pages = JobPages(video, job_id, jobs, archive, time_left_s)
    expires_at = results_expiry(current, tuning)
    try:
        with _discard_if_superseded(video, job_id, table, archive):
            result = write_results(video, job_id, pages, table, tuning, expires_at=expires_at)
    except OutOfTime as stop:
        return _continue_later(completion, stop, pages.replayed, table, topic)
    except ResultsExpired:
        reason = "Rekognition no longer has this job's results (they expire after ~7 days)"
        return _fail(video, job_id, reason, table, archive)
    except JobFailed as exc:
        return _fail(video, job_id, str(exc), table, archive)
    finally:
        metrics.add_metric(name="PagesFetched", unit=MetricUnit.Count, value=pages.fetched)

    if not finish_success(video, job_id, result, table, expires_at):
        # A newer upload (or a delete) took over while we wrote: remove what this job wrote,
        # items and archived pages (an erase that ran meanwhile could not see them all).
        discard_job(video, job_id, table, archive)
        return Outcome(video.uri, job_id, "IGNORED", reason="superseded while writing")
    metrics.add_metric(name="AppearancesWritten", unit=MetricUnit.Count, value=result.appearances)
    return Outcome.succeeded(video, job_id, result, replayed=pages.replayed)


def _continue_later(
    completion: Completion,
    stop: OutOfTime,
    replayed: int,
    table: ResultsTable,
    topic: CompletionTopic | None,
) -> Outcome:
    """Announce the job again, as the sweep announces a lost notification: a new invocation
    of this function resumes from the archive (the start function's release finds the slot
    already free). The completion is not lost if this fails: the error goes to the platform,
    whose retry resumes from the archive too."""
    if topic is None:
        raise RuntimeError("continuing a job needs the completion topic")
    video, job_id = completion.video, completion.job_id
    moment = datetime.now(UTC)
    # The sweep need not announce the job too while it continues (a second chain would page it
    # twice): its check moves on by a period, as after the sweep's own. Not a backlog item (no
    # gsi3pk) or no longer SUBMITTED: nothing to move.
    since = iso(moment)  # the backlog index's own time format, so the sort order holds
    table.update_video(
        video,
        {"gsi3sk": backlog_sk("SUBMITTED", since, video), "continued_at": since},
        expect={"status": "SUBMITTED", "job_id": job_id, "gsi3pk": BACKLOG_PK},
    )
    job = {
        "job_id": job_id,
        "job_tag": completion.job_tag,
        "bucket": video.bucket,
        "key": video.key,
    }
    topic.publish(completion_message(job, "SUCCEEDED", moment))
    logger.info(
        "job continues in a new invocation",
        extra={"job_id": job_id, "pages_archived": stop.pages, "pages_fetched": stop.fetched},
    )
    metrics.add_metric(name="ResultsContinued", unit=MetricUnit.Count, value=1)
    return Outcome(
        video.uri,
        job_id,
        "CONTINUED",
        pages=stop.pages,
        pages_replayed=replayed or None,
        pages_fetched=stop.fetched,
    )


def discard_job(video: VideoRef, job_id: str, table: ResultsTable, archive: RawArchive) -> None:
    """Remove everything `job_id` wrote for the video: its items, then its archived pages.

    Every writer calls this after a conditional write on the video item has shown the job is
    no longer current. Its own writes all happened before that check, so this sees them all,
    whatever an erase running meanwhile saw.
    """
    table.delete_results(video, keep=lambda item: item.get("job_id") != job_id)
    archive.erase_job(video, job_id)


@contextmanager
def _discard_if_superseded(
    video: VideoRef, job_id: str, table: ResultsTable, archive: RawArchive
) -> Iterator[None]:
    """On any failure while writing, check (one read) whether the job is still current; if a
    delete or a newer upload took over, remove what was written before the error goes on."""
    try:
        yield
    except Exception:
        current = table.get_video(video)
        if current is None or current.get("job_id") != job_id:
            discard_job(video, job_id, table, archive)
        raise


def _remove_other_results(video: VideoRef, job_id: str, state: str, table: ResultsTable) -> None:
    """A SUCCEEDED job keeps only its own items; a FAILED one keeps none (not even a previous
    upload's, which would otherwise be shown next to the failure)."""
    if state == "SUCCEEDED":
        table.delete_results(video, keep=lambda item: item.get("job_id") == job_id)
    else:
        table.delete_results(video)


def _fail(
    video: VideoRef, job_id: str, reason: str, table: ResultsTable, archive: RawArchive
) -> Outcome:
    if table.finish_job(
        video, job_id, {"status": "FAILED", "reason": reason, "completed_at": _now()}
    ):
        _remove_other_results(video, job_id, "FAILED", table)
    else:
        # Superseded (or erased) meanwhile: what a partial attempt wrote must not stay.
        table.delete_results(video, keep=lambda item: item.get("job_id") != job_id)
    # A FAILED or superseded job is never shown or reprocessed: the pages a partial attempt
    # archived go too.
    archive.erase_job(video, job_id)
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    return Outcome(video.uri, job_id, "FAILED", reason=reason)


def reprocess(video: VideoRef, table: ResultsTable, archive: RawArchive, tuning: Tuning) -> Outcome:
    """Re-normalize the current job from the archived raw pages (no Rekognition call).

    Only a finished job whose archive is complete qualifies: an attempt that died mid-paging
    leaves pages 1..k, and normalizing those would record truncated results as SUCCEEDED.
    """
    current = table.get_video(video)
    if current and current.get("status") == "ERASED":
        # Finish what an erase interrupted (a reprocess killed after the tombstone): an erased
        # video keeps nothing face-derived. Every job's items and pages go.
        table.delete_results(video)
        archive.erase(video)
        raise LookupError(f"{video.uri} was erased; nothing to reprocess")
    if not current or not current.get("job_id"):
        raise LookupError(f"{video.uri} has no job to reprocess")
    job_id = str(current["job_id"])
    if current.get("status") != "SUCCEEDED":
        raise LookupError(
            f"{video.uri} is {current.get('status')}; only a SUCCEEDED job is reprocessed"
        )
    last = None
    for page in archive.pages(video, job_id):
        last = page
    if last is None:
        raise LookupError(f"no archived pages for {video.uri} job {job_id}")
    if last.get("NextToken"):
        raise LookupError(f"the archive of {video.uri} job {job_id} is incomplete")
    expires_at = results_expiry(current, tuning)
    with _discard_if_superseded(video, job_id, table, archive):
        result = write_results(
            video,
            job_id,
            lambda: archive.pages(video, job_id),
            table,
            tuning,
            track_keys=True,
            expires_at=expires_at,
        )
        # New tuning can split or merge appearances differently: this job's items that this
        # pass did not write are leftovers of its previous normalization.
        table.delete_results(
            video, keep=lambda item: item.get("job_id") != job_id or item["sk"] in result.written
        )
    if not finish_success(video, job_id, result, table, expires_at):
        # Erased or re-uploaded while we wrote: this job's items (just written) and pages go.
        discard_job(video, job_id, table, archive)
        raise LookupError(f"{video.uri} was superseded while reprocessing")
    return Outcome.succeeded(video, job_id, result)


class MalformedMessage(ValueError):
    """An SNS record whose Message is not a Rekognition completion we can place."""


def handle_sns_event(
    raw: dict[str, Any], on_completion: Callable[[Completion], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every SNS record (Lambda gets one today, but the shape allows more). A malformed message
    is raised after the others are done, so it ends in the dead-letter queue, not in silence."""
    outcomes, malformed = [], []
    for record in SNSEvent(raw).records:
        try:
            completion = Completion.parse(json.loads(record.sns.message))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.error("malformed Rekognition message", extra={"error": repr(exc)})
            metrics.add_metric(name="MalformedMessages", unit=MetricUnit.Count, value=1)
            malformed.append(f"{record.sns.message_id}: {exc!r}")
            continue
        outcomes.append(on_completion(completion))
    if malformed:
        raise MalformedMessage("; ".join(malformed))
    return outcomes


def completion_handler(
    config: ProcessResultsConfig, time_left_s: Callable[[], float] = lambda: math.inf
) -> Callable[[Completion], dict[str, Any]]:
    """The per-message unit of work. `time_left_s`: the invocation's remaining time.

    Idempotency comes from the data, not from a lock: item keys are deterministic, and a
    completion whose job is already SUCCEEDED/FAILED on the video item is skipped. A Powertools
    idempotency record was tried first, but an invocation killed mid-paging (timeout, OOM) left
    it INPROGRESS until the function's timeout, so Lambda's retries 1 and 2 minutes later were
    refused and the completion was dead-lettered instead of finished.
    """

    def on_completion(completion: Completion) -> dict[str, Any]:
        return process_completion(
            completion,
            CelebrityJobs(client("rekognition")),
            ResultsTable(client("dynamodb"), config.table_name),
            RawArchive(client("s3"), config.archive_bucket),
            config.tuning,
            time_left_s=time_left_s,
            topic=CompletionTopic(client("sns"), config.completion_topic_arn),
        ).as_dict()

    return on_completion
