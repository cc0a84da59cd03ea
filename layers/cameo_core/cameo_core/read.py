"""The read model: what a reader may see of a video's results (the CLI now, the HTTP API next).

The rule is the write side's (results.py). `finish_success` records `status: SUCCEEDED` with a
`job_id` on the video item only after every item of that job is flushed, and only while that
job is still the video's current one; other jobs' items are deleted after that, not before. So:

- a video's APPEARANCE and CELEBRITY items are shown only when its video item is SUCCEEDED, and
  only those whose `job_id` is the video item's `job_id`: leftovers of an older job or a
  crashed attempt, and the partial writes of a running job, are never shown;
- a video with no finished current job (queued, running, failed, skipped, rejected, erased)
  raises `NotReady`. A new upload replaces the video item, so once a re-run is recorded the
  table no longer says which earlier job had finished: the previous results are not shown
  (docs/cli.md, "What a reader sees");
- the counts `finish_success` recorded must match the items found. They differ only while
  `reprocess` rewrites the job's items in place (same job id, still SUCCEEDED), and then the
  read raises `NotReady` instead of showing a mix of two normalizations.

Every face-derived item carries `schema_version` (results.SCHEMA_VERSION); items written
before it existed count as version 1. A version this module does not know raises
`SchemaVersionError` rather than being guessed at. An item past its `expires_at` (the
ResultsRetentionDays TTL, which DynamoDB applies lazily) is gone: a job with expired items raises
`NotReady`, and an expired summary is left out of the celebrity lookups.

Answers are frozen dataclasses; `.as_dict()` gives the JSON-ready form (lists, floats, None).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cameo_core.adapters.recency import RECENCY_KEY_FIELDS, RecencyIndex, uploaded_at
from cameo_core.adapters.table import Item, ResultsTable
from cameo_core.errors import CameoError
from cameo_core.keys import VideoRef

# What this reader understands; results.SCHEMA_VERSION must be one of them.
KNOWN_SCHEMA_VERSIONS = frozenset({1})
# Items written before schema_version existed have exactly version 1's shape.
UNVERSIONED_SCHEMA_VERSION = 1
# The TTL attribute (epoch seconds) results.py may set on those items (results.EXPIRES_AT).
EXPIRES_AT = "expires_at"
# On the video item: when its job's results expire (results.RESULTS_EXPIRE_AT).
RESULTS_EXPIRE_AT = "results_expire_at"
FINISHED = "SUCCEEDED"


# -- errors -------------------------------------------------------------------------------------


class ReadError(CameoError):
    """Base class of what a reader can be told instead of an answer."""


class NotFound(ReadError):
    """No such video, or no such celebrity among finished results."""


class NotReady(ReadError):
    """The video exists but has no finished current job to show (yet, or any more).

    `status` is the video's status record: the running job, the failure reason, ...
    """

    def __init__(self, message: str, status: VideoStatus) -> None:
        super().__init__(message)
        self.status = status


class SchemaVersionError(ReadError):
    """An item was written in a shape this reader does not know (a newer cameo wrote it)."""

    def __init__(self, item: Mapping[str, Any], version: Any) -> None:
        known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        super().__init__(
            f"{item.get('type', 'item')} {item.get('sk')} of {item.get('video')} has"
            f" schema_version {version!r}; this cameo reads version(s) {known}: upgrade cameo"
        )
        self.version = version


# -- answers ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready: nested answers, tuples and mappings become dicts and lists."""
    if isinstance(value, _Answer):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class _Answer:
    def as_dict(self) -> dict[str, Any]:
        # Fields in declaration order: the documented key order of the JSON views.
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class VideoStatus(_Answer):
    """The video item, as a reader may see it (no face-derived data lives here)."""

    video: str
    bucket: str
    key: str
    status: str | None
    reason: str | None = None
    job_id: str | None = None
    job_tag: str | None = None
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    queued_at: str | None = None
    waited_s: float | None = None  # only while QUEUED
    queue_position: int | None = None  # only while QUEUED: uploads waiting ahead (0 = next)
    waiting_reason: str | None = None
    duration_minutes: float | None = None
    estimated_cost_usd: float | None = None
    submitted_at: str | None = None
    completed_at: str | None = None
    erased_at: str | None = None
    appearance_count: int | None = None
    celebrity_count: int | None = None
    detection_count: int | None = None
    video_metadata: Mapping[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """A finished current job: the only state whose results are shown."""
        return self.status == FINISHED and bool(self.job_id)

    @property
    def duration_ms(self) -> int | None:
        millis = (self.video_metadata or {}).get("DurationMillis")
        return int(millis) if millis else None


@dataclass(frozen=True)
class Appearance(_Answer):
    celebrity_id: str
    name: str
    start_ms: int
    end_ms: int
    duration_ms: int
    detections: int
    max_confidence: float | None
    mean_confidence: float | None
    known_gender: str | None
    urls: tuple[str, ...]
    bounding_box: Mapping[str, float] | None


@dataclass(frozen=True)
class Timeline(_Answer):
    """The current finished job's appearances, by start (then end, then celebrity id)."""

    video: str
    job_id: str
    duration_ms: int | None
    appearances: tuple[Appearance, ...]


@dataclass(frozen=True)
class OnScreen(_Answer):
    video: str
    job_id: str
    at_ms: int
    appearances: tuple[Appearance, ...]


@dataclass(frozen=True)
class CastMember(_Answer):
    celebrity_id: str
    name: str
    known_gender: str | None
    urls: tuple[str, ...]
    screen_time_ms: int
    share_of_runtime: float | None  # screen_time_ms / the video's duration; None if unknown
    first_seen_ms: int | None
    last_seen_ms: int | None
    appearances: int
    best_confidence: float | None


@dataclass(frozen=True)
class Cast(_Answer):
    """Per-celebrity totals of the current finished job, most screen time first."""

    video: str
    job_id: str
    duration_ms: int | None
    members: tuple[CastMember, ...]


@dataclass(frozen=True)
class VideoScreenTime(_Answer):
    video: str
    screen_time_ms: int
    appearances: int
    first_seen_ms: int | None
    last_seen_ms: int | None
    best_confidence: float | None
    job_id: str
    duration_ms: int | None
    share_of_runtime: float | None


@dataclass(frozen=True)
class CelebrityVideos(_Answer):
    """One Rekognition celebrity id and the finished videos it appears in, by video URI."""

    celebrity_id: str
    name: str
    total_screen_time_ms: int
    videos: tuple[VideoScreenTime, ...]


# -- the video and its job ----------------------------------------------------------------------

_STATUS_FIELDS = frozenset(f.name for f in dataclasses.fields(VideoStatus))


def _status(video: VideoRef, item: Mapping[str, Any]) -> VideoStatus:
    known = {k: v for k, v in item.items() if k in _STATUS_FIELDS}
    return VideoStatus(**{**known, "video": video.uri, "bucket": video.bucket, "key": video.key})


def _video_item(table: ResultsTable, video: VideoRef) -> Item:
    item = table.get_video(video)
    if item is None:
        raise NotFound(f"no record of {video.uri} in table {table.name!r}")
    return item


def _get(table: ResultsTable, video: VideoRef) -> VideoStatus:
    return _status(video, _video_item(table, video))


def video_status(
    table: ResultsTable, video: VideoRef, *, now: datetime | None = None
) -> VideoStatus:
    """The status record; while QUEUED, with the time waited and the place in the queue (a
    keys-only count on the backlog index)."""
    item = _video_item(table, video)
    status = _status(video, item)
    if status.status == "QUEUED" and item.get("gsi3sk") and status.queued_at:
        queued = datetime.fromisoformat(status.queued_at)
        waited = ((now or datetime.now(UTC)) - queued).total_seconds()
        position = table.backlog_count("QUEUED", ahead_of=str(item["gsi3sk"]))
        status = dataclasses.replace(status, waited_s=round(waited, 1), queue_position=position)
    return status


def _not_ready(status: VideoStatus) -> NotReady:
    state = status.status or "unknown"
    if state in {"QUEUED", "STARTING", "SUBMITTED"}:
        job = f" (job {status.job_id})" if status.job_id else ""
        return NotReady(f"{status.video} is {state}{job}: no results until it finishes", status)
    reason = f": {status.reason}" if status.reason else ""
    return NotReady(f"{status.video} is {state}{reason}; it has no results to show", status)


def _finished(table: ResultsTable, video: VideoRef) -> tuple[VideoStatus, str]:
    """The status record and the finished job's id, or NotFound / NotReady."""
    item = _video_item(table, video)
    status = _status(video, item)
    if not status.finished:
        raise _not_ready(status)
    if _expired({EXPIRES_AT: item.get(RESULTS_EXPIRE_AT)}, time.time()):
        # TTL may have deleted some or all of the items already: say so, not "incomplete".
        raise _past_retention(status)
    return status, str(status.job_id)


def _past_retention(status: VideoStatus) -> NotReady:
    return NotReady(
        f"the results of {status.video} (job {status.job_id}) are past their retention"
        " (ResultsRetentionDays) and are being deleted",
        status,
    )


def _schema_checked(item: Item) -> Item:
    version = item.get("schema_version", UNVERSIONED_SCHEMA_VERSION)
    if version not in KNOWN_SCHEMA_VERSIONS:
        raise SchemaVersionError(item, version)
    return item


def _expired(item: Mapping[str, Any], now: float) -> bool:
    expires = item.get(EXPIRES_AT)
    return expires is not None and float(expires) <= now


def _job_items(
    status: VideoStatus, job_id: str, items: Iterable[Item], recorded: int | None, what: str
) -> list[Item]:
    """The finished job's items, checked: every item read is schema-checked, shown or not (a
    newer writer's items are refused rather than misread); none may be past its retention; and
    there must be as many as the job recorded."""
    mine = [item for item in items if _schema_checked(item).get("job_id") == job_id]
    now = time.time()
    if any(_expired(item, now) for item in mine):
        # A job's items share one expiry; TTL removes them one by one, within days.
        raise _past_retention(status)
    found = len(mine)
    if recorded is not None and found != recorded:
        raise NotReady(
            f"the results of {status.video} (job {status.job_id}) are incomplete or being"
            f" rewritten: {found} {what} found, {recorded} recorded; try again shortly, or"
            " rebuild them with `cameo reprocess`",
            status,
        )
    return mine


# -- per video ----------------------------------------------------------------------------------


def _float(value: Any) -> float | None:
    # DynamoDB hands back 99 for 99.0; readers should always see a float here.
    return None if value is None else float(value)


def _appearance(item: Mapping[str, Any]) -> Appearance:
    box = item.get("bounding_box")
    start, end = int(item["start_ms"]), int(item["end_ms"])
    return Appearance(
        celebrity_id=str(item["celebrity_id"]),
        name=str(item.get("name") or item["celebrity_id"]),
        start_ms=start,
        end_ms=end,
        duration_ms=end - start,
        detections=int(item.get("detections") or 0),
        max_confidence=_float(item.get("max_confidence")),
        mean_confidence=_float(item.get("mean_confidence")),
        known_gender=item.get("known_gender"),
        urls=tuple(item.get("urls") or ()),
        bounding_box={k: float(v) for k, v in box.items()} if box else None,
    )


def _all_appearances(table: ResultsTable, video: VideoRef) -> tuple[VideoStatus, list[Appearance]]:
    status, job_id = _finished(table, video)
    items = _job_items(
        status, job_id, table.appearances(video), status.appearance_count, "appearances"
    )
    views = [_appearance(item) for item in items]
    views.sort(key=lambda a: (a.start_ms, a.end_ms, a.celebrity_id))
    return status, views


def appearances(
    table: ResultsTable,
    video: VideoRef,
    celebrity_id: str | None = None,
    min_confidence: float | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> Timeline:
    """The timeline of the current finished job.

    Filters: one `celebrity_id`; `min_confidence` against an appearance's best detection
    (`max_confidence`); `from_ms`/`to_ms` keep the appearances that overlap that window (both
    ends inclusive). Raises NotFound, NotReady, SchemaVersionError, or ValueError for a window
    that ends before it starts.
    """
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise ValueError(f"from_ms {from_ms} is after to_ms {to_ms}")
    status, views = _all_appearances(table, video)
    kept = [
        a
        for a in views
        if (celebrity_id is None or a.celebrity_id == celebrity_id)
        and (min_confidence is None or (a.max_confidence or 0.0) >= min_confidence)
        and (from_ms is None or a.end_ms >= from_ms)
        and (to_ms is None or a.start_ms <= to_ms)
    ]
    return Timeline(video.uri, str(status.job_id), status.duration_ms, tuple(kept))


def on_screen(table: ResultsTable, video: VideoRef, at_ms: int) -> OnScreen:
    """Who is on screen at `at_ms`: appearances with start_ms <= at_ms <= end_ms.

    It reads the whole timeline, not a key range of it, so that the same completeness check
    as `appearances` applies (a range would read about half of it anyway, on average).
    """
    timeline = appearances(table, video, from_ms=at_ms, to_ms=at_ms)
    return OnScreen(video.uri, timeline.job_id, at_ms, timeline.appearances)


def _share(screen_time_ms: int, duration_ms: int | None) -> float | None:
    return round(screen_time_ms / duration_ms, 4) if duration_ms else None


def cast(table: ResultsTable, video: VideoRef) -> Cast:
    """Per-celebrity screen time, share of runtime, first/last seen, appearances and best
    confidence, from the job's summary items; most screen time first (then celebrity id)."""
    status, job_id = _finished(table, video)
    items = _job_items(
        status, job_id, table.summaries(video), status.celebrity_count, "celebrity summaries"
    )
    duration = status.duration_ms
    members = sorted(
        (
            CastMember(
                celebrity_id=str(item["celebrity_id"]),
                name=str(item.get("name") or item["celebrity_id"]),
                known_gender=item.get("known_gender"),
                urls=tuple(item.get("urls") or ()),
                screen_time_ms=int(item.get("screen_time_ms") or 0),
                share_of_runtime=_share(int(item.get("screen_time_ms") or 0), duration),
                first_seen_ms=item.get("first_seen_ms"),
                last_seen_ms=item.get("last_seen_ms"),
                appearances=int(item.get("appearances") or 0),
                best_confidence=_float(item.get("best_confidence")),
            )
            for item in items
        ),
        key=lambda m: (-m.screen_time_ms, m.celebrity_id),
    )
    return Cast(video.uri, job_id, duration, tuple(members))


# -- per celebrity (the GSIs) -------------------------------------------------------------------


def _current_summaries(table: ResultsTable, summaries: Iterable[Item]) -> list[CelebrityVideos]:
    """Keep the summaries of each video's current finished job, grouped by celebrity id.

    The indexes hold every summary item, whatever its job: each video item is read (once per
    video, consistently) to know which job is finished; one GetItem each, as the table adapter
    has no BatchGetItem. Expired summaries are left out.
    """
    now = time.time()
    items = [item for item in summaries if not _expired(_schema_checked(item), now)]
    statuses: dict[str, VideoStatus | None] = {}
    for uri in {str(item["video"]) for item in items}:
        video = VideoRef.parse(uri)
        found = table.get_video(video)
        statuses[uri] = _status(video, found) if found else None
    by_id: dict[str, list[tuple[Item, VideoStatus]]] = {}
    for item in items:
        status = statuses[str(item["video"])]
        if status is not None and status.finished and item.get("job_id") == status.job_id:
            by_id.setdefault(str(item["celebrity_id"]), []).append((item, status))
    return [_celebrity(cid, rows) for cid, rows in by_id.items()]


def _celebrity(celebrity_id: str, rows: list[tuple[Item, VideoStatus]]) -> CelebrityVideos:
    videos = []
    for item, status in rows:
        screen = int(item.get("screen_time_ms") or 0)
        videos.append(
            VideoScreenTime(
                video=status.video,
                job_id=str(status.job_id),
                screen_time_ms=screen,
                appearances=int(item.get("appearances") or 0),
                first_seen_ms=item.get("first_seen_ms"),
                last_seen_ms=item.get("last_seen_ms"),
                best_confidence=_float(item.get("best_confidence")),
                duration_ms=status.duration_ms,
                share_of_runtime=_share(screen, status.duration_ms),
            )
        )
    videos.sort(key=lambda v: v.video)
    first = min(rows, key=lambda row: row[1].video)[0]
    return CelebrityVideos(
        celebrity_id=celebrity_id,
        name=str(first.get("name") or celebrity_id),
        total_screen_time_ms=sum(v.screen_time_ms for v in videos),
        videos=tuple(videos),
    )


def videos_for_celebrity(table: ResultsTable, celebrity_id: str) -> CelebrityVideos:
    """The finished videos a Rekognition celebrity id appears in (ByCelebrity, never a Scan)."""
    found = _current_summaries(table, table.videos_for_celebrity(celebrity_id))
    if not found:
        raise NotFound(f"no celebrity with id {celebrity_id!r} in {table.name!r}")
    return found[0]


def celebrities_by_name(table: ResultsTable, name: str) -> tuple[CelebrityVideos, ...]:
    """Every celebrity id with this name (case and spacing ignored; ByName, never a Scan).

    Two people can share a name, so they are never merged: most total screen time first, then
    the lowest id.
    """
    found = _current_summaries(table, table.videos_for_name(name))
    if not found:
        raise NotFound(f"no celebrity named {name!r} in {table.name!r}")
    return tuple(sorted(found, key=lambda c: (-c.total_screen_time_ms, c.celebrity_id)))


# -- every video, newest first (the API's list; the ByRecency index) ---------------------------

# Index pages read at most per call when filtering by status, so that a rare status costs a
# bounded number of reads per request; the cursor then continues where the reading stopped.
MAX_LIST_PAGES = 5
_FILTERED_PAGE = 100


@dataclass(frozen=True)
class RecentVideo(_Answer):
    status: VideoStatus
    uploaded_at: str | None


@dataclass(frozen=True)
class VideoPage(_Answer):
    videos: tuple[RecentVideo, ...]
    next_key: Mapping[str, Any] | None  # ExclusiveStartKey of the next page; None: the last


def recent_videos(
    index: RecencyIndex,
    *,
    limit: int,
    status: str | None = None,
    start_key: Mapping[str, Any] | None = None,
) -> VideoPage:
    """Up to `limit` video status records, newest upload first, optionally of one status.

    The list shows each video's status record only (no results), so nothing here depends on
    which job finished; the index is eventually consistent, like any GSI.
    """
    found: list[Item] = []
    key = dict(start_key) if start_key else None
    exhausted = False
    for _ in range(MAX_LIST_PAGES):
        want = limit - len(found)
        items, key = index.page(
            limit=want if status is None else _FILTERED_PAGE, start_key=key, status=status
        )
        found += items[:want]
        if len(items) > want:
            key = {name: found[-1][name] for name in RECENCY_KEY_FIELDS}  # stopped mid-page
        if key is None:
            exhausted = True
            break
        if len(found) >= limit:
            break
    videos = tuple(
        RecentVideo(
            _status(VideoRef(str(item["bucket"]), str(item["key"])), item), uploaded_at(item)
        )
        for item in found
    )
    return VideoPage(videos, None if exhausted else key)
