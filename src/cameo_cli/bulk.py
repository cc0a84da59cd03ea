"""`cameo estimate | backfill s3://BUCKET/PREFIX`: plan and queue a whole library.

- estimate lists the prefix and reads each video's duration from its container header (a few
  ranged GETs, never a download): count, total minutes and the Rekognition cost, before anyone
  pays. With a results table it also leaves out what is already recorded, so its figures are
  what `backfill` would queue.
- backfill queues the videos through the same backlog as an upload (cameo_core.backlog.enqueue:
  QUEUED, or REJECTED by the cost guard), and nothing else: the start function's drain and
  sweep start the jobs, as for any upload. A key the table already knows is never queued
  again, so a second run queues nothing new and no object gets a second job.

Non-videos and unreadable headers are reported per object; they do not stop the run.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cameo_cli.query import (
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TableOpt,
    Target,
    _expected_errors,
    _print_json,
)

if TYPE_CHECKING:
    from cameo_core.adapters.objects import StoredObject, VideoObjects
    from cameo_core.adapters.table import ResultsTable

# The template's defaults (PricePerMinute, MaxVideoMinutes); the options override them.
DEFAULT_PRICE_PER_MINUTE = 0.10
DEFAULT_MAX_VIDEO_MINUTES = 360.0
# Objects probed or queued at once: each is a few small S3/DynamoDB round trips.
DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class Prefix:
    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @classmethod
    def parse(cls, value: str) -> Prefix:
        if not value.startswith("s3://"):
            raise ValueError(f"expected s3://BUCKET/PREFIX, got {value!r}")
        bucket, _, prefix = value[5:].partition("/")
        if not bucket:
            raise ValueError(f"expected s3://BUCKET/PREFIX, got {value!r}")
        return cls(bucket, prefix)


def _prefix(value: str) -> Prefix:
    try:
        return Prefix.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


PrefixArg = Annotated[
    Prefix,
    typer.Argument(
        parser=_prefix,
        metavar="s3://BUCKET/PREFIX",
        help="Every object under this prefix (s3://BUCKET/ for the whole bucket).",
    ),
]
PriceOpt = Annotated[
    float,
    typer.Option(
        "--price-per-minute",
        envvar="PRICE_PER_MINUTE",
        min=0,
        help="USD per minute of video (the stack's PricePerMinute).",
    ),
]
MaxMinutesOpt = Annotated[
    float,
    typer.Option(
        "--max-video-minutes",
        envvar="MAX_VIDEO_MINUTES",
        min=0,
        help="Longer videos are rejected before paying (the stack's MaxVideoMinutes).",
    ),
]
ConcurrencyOpt = Annotated[
    int,
    typer.Option("--concurrency", min=1, max=64, help="Objects handled at once."),
]


# -- the plan: pure, from what S3 and the table say ---------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One object of the prefix, and what a backfill would do with it."""

    uri: str
    key: str
    size: int
    video: bool
    minutes: float | None = None
    estimated_cost_usd: float | None = None
    # estimate: queue | not_video | empty | too_large | over_limit | recorded
    #           | recorded_other_revision;  backfill also: queued | rejected | raced | gone
    action: str = "queue"
    note: str | None = None  # why, for anything but a plain "queue"
    recorded_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def same_revision(recorded: Mapping[str, Any], obj: StoredObject) -> bool:
    """Is the recorded item about this very object? A version id names it exactly; without
    versioning, the ETag and size do (S3 events and listings carry the same ETag)."""
    if recorded.get("version_id") or obj.version_id:
        return bool(recorded.get("version_id") == obj.version_id)
    return bool(recorded.get("etag") == obj.etag and recorded.get("size") == obj.size)


def classify(
    obj: StoredObject,
    *,
    extensions: frozenset[str],
    max_bytes: int,
    recorded: Mapping[str, Any] | None,
) -> Planned | None:
    """What happens before any header is read: None means "a video to probe"."""
    uri = f"s3://{obj.bucket}/{obj.key}"
    base: dict[str, Any] = {"uri": uri, "key": obj.key, "size": obj.size}
    if obj.extension not in extensions:
        shown = obj.extension or "no extension"
        return Planned(**base, video=False, action="not_video", note=f"not a video ({shown})")
    if recorded is not None:
        status = str(recorded.get("status"))
        if same_revision(recorded, obj):
            note = f"already recorded as {status}"
            action = "recorded"
        else:
            # enqueue lets a recorded key win over an upload with no S3 sequencer (which a
            # listing never has): report it, an operator decides (re-upload or reprocess).
            note = f"recorded as {status} for another revision of the object; not queued"
            action = "recorded_other_revision"
        return Planned(**base, video=True, action=action, note=note, recorded_status=status)
    if obj.size <= 0:
        return Planned(**base, video=True, action="empty", note="object is empty (0 bytes)")
    if obj.size > max_bytes:
        note = f"object is {obj.size} bytes; the limit is {max_bytes} bytes"
        return Planned(**base, video=True, action="too_large", note=note)
    return None


def priced(
    obj: StoredObject,
    minutes: float | None,
    reason: str | None,
    *,
    price_per_minute: float,
    max_video_minutes: float,
) -> Planned:
    from cameo_core.pricing import estimated_cost_usd

    base: dict[str, Any] = {"uri": f"s3://{obj.bucket}/{obj.key}", "key": obj.key, "size": obj.size}
    if minutes is None:
        # Not a rejection: the upload path queues it as "duration unknown" too.
        return Planned(**base, video=True, note=f"duration unknown: {reason}")
    cost = estimated_cost_usd(minutes, price_per_minute)
    if minutes > max_video_minutes:
        note = f"video is {minutes:.1f} minutes long; the limit is {max_video_minutes:g}"
        return Planned(
            **base, video=True, minutes=minutes, estimated_cost_usd=cost, action="over_limit",
            note=note,
        )  # fmt: skip
    return Planned(**base, video=True, minutes=minutes, estimated_cost_usd=cost)


QUEUE_ACTIONS = frozenset({"queue", "queued"})
REJECT_ACTIONS = frozenset({"empty", "too_large", "over_limit", "rejected"})
RECORDED_ACTIONS = frozenset({"recorded", "recorded_other_revision", "raced"})


@dataclass(frozen=True)
class Totals:
    objects: int = 0
    videos: int = 0
    to_queue: int = 0
    known_duration: int = 0
    unknown_duration: int = 0
    total_minutes: float = 0.0
    estimated_cost_usd: float = 0.0
    not_videos: int = 0
    rejected: int = 0  # empty, too large, over MaxVideoMinutes
    gone: int = 0  # deleted between the listing and the read
    already_recorded: int = 0
    by_action: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, plan: Iterable[Planned]) -> Totals:
        entries = list(plan)
        queue = [p for p in entries if p.action in QUEUE_ACTIONS]
        known = [p for p in queue if p.minutes is not None]
        by_action: dict[str, int] = {}
        for entry in entries:
            by_action[entry.action] = by_action.get(entry.action, 0) + 1
        return cls(
            objects=len(entries),
            videos=sum(p.video for p in entries),
            to_queue=len(queue),
            known_duration=len(known),
            unknown_duration=len(queue) - len(known),
            # Rounded once, here: summing rounded per-object costs drifts.
            total_minutes=round(sum(p.minutes or 0.0 for p in known), 3),
            estimated_cost_usd=round(sum(p.estimated_cost_usd or 0.0 for p in known), 2),
            not_videos=by_action.get("not_video", 0),
            rejected=sum(p.action in REJECT_ACTIONS for p in entries),
            gone=by_action.get("gone", 0),
            already_recorded=sum(p.action in RECORDED_ACTIONS for p in entries),
            by_action=dict(sorted(by_action.items())),
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- I/O ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _layer_output_to_stderr() -> Iterator[None]:
    """The layer logs and emits EMF metrics on stdout (right in Lambda); in the CLI stdout is
    the command's output (--json), so they go to stderr, and unflushed metrics are dropped."""
    from cameo_core.observability import logger, metrics

    handler = logger.registered_handler
    stream = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    level = logger.log_level
    logger.setLevel("WARNING")
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        metrics.clear_metrics()
        logger.setLevel(level)
        if stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def _parallel(fn: Callable[[Any], Planned], items: list[Any], concurrency: int) -> list[Planned]:
    if concurrency == 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(concurrency, thread_name_prefix="cameo-bulk") as pool:
        return list(pool.map(fn, items))  # in key order, like the listing


def _settings(max_video_bytes: int | None = None) -> tuple[frozenset[str], int]:
    from cameo_core.config import VIDEO_EXTENSIONS, Tuning

    return VIDEO_EXTENSIONS, max_video_bytes or Tuning.from_env().max_video_bytes


def plan_prefix(
    objects: VideoObjects,
    source: Prefix,
    table: ResultsTable | None,
    *,
    price_per_minute: float,
    max_video_minutes: float,
    concurrency: int,
) -> list[Planned]:
    from cameo_core.keys import VideoRef

    extensions, max_bytes = _settings()

    def plan_one(obj: StoredObject) -> Planned:
        recorded = None
        if table is not None and obj.extension in extensions:
            recorded = table.get_video(VideoRef(obj.bucket, obj.key))
        early = classify(obj, extensions=extensions, max_bytes=max_bytes, recorded=recorded)
        if early is not None:
            return early
        probe = objects.probe(obj)
        return priced(
            obj,
            probe.minutes,
            probe.reason,
            price_per_minute=price_per_minute,
            max_video_minutes=max_video_minutes,
        )

    return _parallel(plan_one, list(objects.list(source.bucket, source.prefix)), concurrency)


# -- commands -----------------------------------------------------------------------------------


def estimate(
    source: PrefixArg,
    price_per_minute: PriceOpt = DEFAULT_PRICE_PER_MINUTE,
    max_video_minutes: MaxMinutesOpt = DEFAULT_MAX_VIDEO_MINUTES,
    table: TableOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Count, total minutes and estimated Rekognition cost of the videos under a prefix.

    Reads only container headers (a few ranged GETs per video). With --table (or TABLE_NAME),
    videos the results table already knows are listed but not counted in the cost.
    """
    from cameo_core.adapters.objects import VideoObjects

    target = Target(table, profile, region)
    with _expected_errors(target), _layer_output_to_stderr():
        results = target.results_table() if table else None
        plan = plan_prefix(
            VideoObjects(target.client("s3")),
            source,
            results,
            price_per_minute=price_per_minute,
            max_video_minutes=max_video_minutes,
            concurrency=concurrency,
        )
    totals = Totals.of(plan)
    document = {
        "source": source.uri,
        "price_per_minute": price_per_minute,
        "max_video_minutes": max_video_minutes,
        "table": table,
        **totals.as_dict(),
        "items": [p.as_dict() for p in plan],
    }
    if as_json:
        _print_json(document)
        return
    _render_estimate(source, totals, plan, price_per_minute, table)


def backfill(
    source: PrefixArg,
    table: TableOpt = None,
    price_per_minute: PriceOpt = DEFAULT_PRICE_PER_MINUTE,
    max_video_minutes: MaxMinutesOpt = DEFAULT_MAX_VIDEO_MINUTES,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue the videos already under a prefix, through the same backlog as an upload.

    The stack's start function starts them as Rekognition slots free up (at the latest on its
    next sweep). Keys the results table already knows are never queued again.
    """
    from cameo_core.adapters.objects import VideoObjects

    target = Target(table, profile, region)
    with _expected_errors(target), _layer_output_to_stderr():
        results = target.results_table()
        objects = VideoObjects(target.client("s3"))
        plan = queue_prefix(
            objects,
            source,
            results,
            price_per_minute=price_per_minute,
            max_video_minutes=max_video_minutes,
            concurrency=concurrency,
        )
    totals = Totals.of(plan)
    document = {
        "source": source.uri,
        "table": results.name,
        "queued": totals.by_action.get("queued", 0),
        **totals.as_dict(),
        "items": [p.as_dict() for p in plan],
    }
    if as_json:
        _print_json(document)
        return
    _render_backfill(source, totals, plan)


def queue_prefix(
    objects: VideoObjects,
    source: Prefix,
    table: ResultsTable,
    *,
    price_per_minute: float,
    max_video_minutes: float,
    concurrency: int,
) -> list[Planned]:
    """enqueue() every video the table does not know yet; the plan entry says what happened
    (action "queued", "rejected" or "raced" besides the plan's own)."""
    from cameo_core.adapters.objects import ObjectGone
    from cameo_core.backlog import Upload, enqueue
    from cameo_core.config import BacklogSettings, StartConfig, Tuning
    from cameo_core.keys import VideoRef

    tuning = Tuning.from_env()
    # enqueue only records; it starts nothing, so it needs neither the topic nor the role.
    config = StartConfig(
        table_name=table.name,
        sns_topic_arn="",
        rekognition_role_arn="",
        tuning=tuning,
        backlog=BacklogSettings(
            max_video_minutes=max_video_minutes, price_per_minute=price_per_minute
        ),
    )
    extensions = _settings(tuning.max_video_bytes)[0]

    def queue_one(obj: StoredObject) -> Planned:
        if obj.extension in extensions:
            recorded = table.get_video(VideoRef(obj.bucket, obj.key))
        else:
            recorded = None
        early = classify(
            obj, extensions=extensions, max_bytes=tuning.max_video_bytes, recorded=recorded
        )
        if early is not None and early.action not in REJECT_ACTIONS:
            return early  # nothing is written for these (rejections are, as for an upload)
        try:
            current = objects.head(obj)  # the version id, which a listing does not give
        except ObjectGone as exc:
            return Planned(
                uri=f"s3://{obj.bucket}/{obj.key}", key=obj.key, size=obj.size, video=True,
                action="gone", note=str(exc),
            )  # fmt: skip
        upload = Upload(
            bucket=current.bucket,
            key=current.key,
            size=current.size,
            etag=current.etag,
            version_id=current.version_id,
            sequencer=None,  # a listing has none; any real S3 event for the key wins
        )
        outcome = enqueue(upload, config, table, objects)
        item = table.get_video(upload.video) or {}
        base: dict[str, Any] = {
            "uri": outcome.video,
            "key": obj.key,
            "size": current.size,
            "video": True,
        }
        minutes = item.get("duration_minutes")
        cost = item.get("estimated_cost_usd")
        if not outcome.recorded:
            # Another writer (an S3 event, a parallel backfill) recorded the key meanwhile.
            note = f"recorded meanwhile as {item.get('status')}; not queued"
            return Planned(**base, action="raced", note=note, recorded_status=item.get("status"))
        if outcome.status == "QUEUED":
            unknown = item.get("duration_reason")
            return Planned(
                **base,
                minutes=None if minutes is None else float(minutes),
                estimated_cost_usd=None if cost is None else float(cost),
                action="queued",
                note=f"duration unknown: {unknown}" if item.get("duration_unknown") else None,
                recorded_status="QUEUED",
            )
        return Planned(
            **base,
            minutes=None if minutes is None else float(minutes),
            estimated_cost_usd=None if cost is None else float(cost),
            action="rejected",
            note=outcome.reason,
            recorded_status=outcome.status,
        )

    return _parallel(queue_one, list(objects.list(source.bucket, source.prefix)), concurrency)


# -- human output -------------------------------------------------------------------------------


def _minutes(value: float) -> str:
    return f"{value:,.1f} min"


def _render_estimate(
    source: Prefix, totals: Totals, plan: list[Planned], price: float, table: str | None
) -> None:
    echo = typer.echo
    echo(f"{source.uri}: {totals.objects} object(s), {totals.videos} video(s)")
    echo(
        f"  to analyse: {totals.to_queue} video(s), {_minutes(totals.total_minutes)}, "
        f"estimated ${totals.estimated_cost_usd:,.2f} at ${price:g}/min"
    )
    if totals.unknown_duration:
        echo(f"  duration unknown (not in the total): {totals.unknown_duration}")
    if totals.rejected:
        echo(f"  would be rejected: {totals.rejected}")
    if table:
        echo(f"  already in {table}: {totals.already_recorded}")
    echo(f"  not videos: {totals.not_videos}")
    for entry in plan:
        if entry.note and entry.action != "not_video":
            echo(f"  {entry.uri}: {entry.note}")


def _render_backfill(source: Prefix, totals: Totals, plan: list[Planned]) -> None:
    echo = typer.echo
    queued = totals.by_action.get("queued", 0)
    echo(f"{source.uri}: queued {queued} of {totals.videos} video(s) ({totals.objects} objects)")
    queued_minutes = sum(p.minutes or 0.0 for p in plan if p.action == "queued")
    queued_cost = sum(p.estimated_cost_usd or 0.0 for p in plan if p.action == "queued")
    echo(f"  queued: {_minutes(queued_minutes)}, estimated ${queued_cost:,.2f}")
    echo(f"  already recorded: {totals.already_recorded}")
    echo(f"  rejected: {totals.rejected}")
    echo(f"  not videos: {totals.not_videos}")
    for entry in plan:
        if entry.note and entry.action not in ("not_video", "recorded"):
            echo(f"  {entry.uri}: {entry.note}")
    if queued:
        echo("The start function starts them as slots free up (at the latest on its next sweep).")


def register(app: typer.Typer) -> None:
    """Add the bulk commands to the root `cameo` app."""
    app.command("estimate")(estimate)
    app.command("backfill")(backfill)
