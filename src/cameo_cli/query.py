"""`cameo video | celebrity | at | status | reprocess`: read (and re-derive) results.

Everything goes through cameo_core's adapters, so the CLI reads exactly what the functions
wrote. Endpoints come only from boto3's standard AWS_ENDPOINT_URL_* variables; --profile and
--region pick the session. boto3 and the layer's results module (Powertools) are imported inside
the commands, so `cameo --help` stays fast.

The JSON shapes built here are a documented contract (docs/cli.md): keys are always present
(null when unknown) and lists have a fixed order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from cameo_cli.timefmt import format_ms, parse_position
from cameo_core.keys import APPEARANCE_PREFIX, VideoRef

if TYPE_CHECKING:
    from cameo_core.adapters.table import ResultsTable

TABLE_ENV = ("TABLE_NAME", "CAMEO_TABLE")

# Exit codes: 1 = nothing to show or AWS said no; 2 = the command line itself is wrong.
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2

APPEARANCE_FIELDS = (
    "celebrity_id",
    "name",
    "start_ms",
    "end_ms",
    "duration_ms",
    "detections",
    "max_confidence",
    "mean_confidence",
    "known_gender",
    "urls",
    "bounding_box",
)
STATUS_FIELDS = (
    "video",
    "bucket",
    "key",
    "status",
    "reason",
    "job_id",
    "job_tag",
    "size",
    "etag",
    "version_id",
    "queued_at",
    "waited_s",
    "queue_position",
    "waiting_reason",
    "duration_minutes",
    "estimated_cost_usd",
    "submitted_at",
    "completed_at",
    "erased_at",
    "appearance_count",
    "celebrity_count",
    "detection_count",
    "video_metadata",
)


class CliError(Exception):
    """An expected failure: printed as one line on stderr, no traceback."""

    def __init__(self, message: str, code: int = EXIT_NOT_FOUND) -> None:
        super().__init__(message)
        self.code = code


# -- options shared by every command --------------------------------------------------------


def _video_ref(value: str) -> VideoRef:
    try:
        return VideoRef.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _position(value: str) -> int:
    try:
        return parse_position(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected HH:MM:SS[.mmm], MM:SS[.mmm] or seconds, got {value!r}"
        ) from None


VideoArg = Annotated[
    VideoRef,
    typer.Argument(
        parser=_video_ref, metavar="s3://BUCKET/KEY", help="The video, as s3://BUCKET/KEY."
    ),
]
TableOpt = Annotated[
    str | None,
    typer.Option(
        "--table",
        envvar=list(TABLE_ENV),
        show_envvar=True,
        help="Results table name (the stack's TableName output).",
    ),
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS named profile.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print stable JSON (see docs/cli.md).")]


class Target:
    """Where to read: the table name plus the boto3 session (--profile, --region)."""

    def __init__(self, table: str | None, profile: str | None, region: str | None) -> None:
        self.table = table
        self.profile = profile
        self.region = region

    @cached_property
    def session(self) -> Any:
        import boto3

        return boto3.session.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str) -> Any:
        from cameo_core.clients import RETRY_CONFIG

        return self.session.client(service, config=RETRY_CONFIG)

    @cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    def results_table(self) -> ResultsTable:
        from cameo_core.adapters.table import ResultsTable

        if not self.table:
            raise CliError(
                "no results table: pass --table or set TABLE_NAME (or CAMEO_TABLE)", EXIT_USAGE
            )
        return ResultsTable(self.dynamodb, self.table)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"cameo: error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _expected_errors(target: Target) -> Iterator[None]:
    """Turn the failures a user can fix into one clear line and an exit code."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cameo_core.errors import CameoError

    try:
        yield
    except CliError as exc:
        _fail(str(exc), exc.code)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        if code == "ResourceNotFoundException" and exc.operation_name in _TABLE_OPERATIONS:
            _fail(f"table {target.table!r} not found ({code}: {message})", EXIT_NOT_FOUND)
        _fail(f"{exc.operation_name} failed: {code}: {message}", EXIT_NOT_FOUND)
    except BotoCoreError as exc:  # no credentials, no region, unknown profile, endpoint down
        _fail(str(exc), EXIT_NOT_FOUND)
    except CameoError as exc:
        _fail(str(exc), EXIT_NOT_FOUND)


_TABLE_OPERATIONS = frozenset({"GetItem", "Query", "UpdateItem", "BatchWriteItem", "PutItem"})


def _print_json(document: Mapping[str, Any]) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


# -- JSON views (the documented contract) -----------------------------------------------------


def _float(value: Any) -> float | None:
    # DynamoDB hands back 99 for 99.0; JSON readers should always see a float here.
    return None if value is None else float(value)


def appearance_view(item: Mapping[str, Any]) -> dict[str, Any]:
    view = {name: item.get(name) for name in APPEARANCE_FIELDS}
    view["duration_ms"] = int(item["end_ms"]) - int(item["start_ms"])
    view["max_confidence"] = _float(item.get("max_confidence"))
    view["mean_confidence"] = _float(item.get("mean_confidence"))
    view["urls"] = list(item.get("urls") or [])
    box = item.get("bounding_box")
    view["bounding_box"] = {k: float(v) for k, v in box.items()} if box else None
    return view


def _sorted_appearances(items: Iterator[Mapping[str, Any]]) -> list[dict[str, Any]]:
    views = [appearance_view(item) for item in items]
    return sorted(views, key=lambda a: (a["start_ms"], a["end_ms"], a["celebrity_id"]))


def status_view(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: item.get(name) for name in STATUS_FIELDS}


def celebrity_view(celebrity_id: str, summaries: list[Mapping[str, Any]]) -> dict[str, Any]:
    videos = sorted(
        (
            {
                "video": s["video"],
                "screen_time_ms": s.get("screen_time_ms"),
                "appearances": s.get("appearances"),
                "first_seen_ms": s.get("first_seen_ms"),
                "last_seen_ms": s.get("last_seen_ms"),
                "best_confidence": _float(s.get("best_confidence")),
            }
            for s in summaries
        ),
        key=lambda v: v["video"],
    )
    return {
        "celebrity_id": celebrity_id,
        "name": summaries[0].get("name"),
        "total_screen_time_ms": sum(v["screen_time_ms"] or 0 for v in videos),
        "videos": videos,
    }


def _video_item(table: ResultsTable, video: VideoRef) -> dict[str, Any]:
    item = table.get_video(video)
    if item is None:
        raise CliError(f"no record of {video.uri} in table {table.name!r}")
    return item


def on_screen_items(
    dynamodb: Any, table_name: str, video: VideoRef, at_ms: int
) -> Iterator[dict[str, Any]]:
    """Appearances with start_ms <= at_ms <= end_ms.

    The sort key carries the zero-padded start, so the key condition reads only appearances
    that started by `at_ms` ('$' sorts right after the '#' that follows the start), and the
    filter keeps those still running.
    """
    from cameo_core.adapters.table import deserialize, serialize

    paginator = dynamodb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table_name,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
        FilterExpression="end_ms >= :at",
        ExpressionAttributeValues=serialize(
            {
                ":pk": video.pk,
                ":low": APPEARANCE_PREFIX,
                ":high": f"{APPEARANCE_PREFIX}{at_ms:012d}$",
                ":at": at_ms,
            }
        ),
        ConsistentRead=True,
    )
    for page in pages:
        for raw in page.get("Items", []):
            yield deserialize(raw)


# -- commands -----------------------------------------------------------------------------------


def video(
    video: VideoArg,
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The video's appearances as a timeline: who, from, to, for how long."""
    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        item = _video_item(results, video)
        appearances = _sorted_appearances(results.appearances(video))
    document = {
        "video": video.uri,
        "status": item.get("status"),
        "reason": item.get("reason"),
        "job_id": item.get("job_id"),
        "appearances": appearances,
    }
    if as_json:
        _print_json(document)
        return
    from cameo_cli import render

    render.video(document)


def celebrity(
    name_or_id: Annotated[
        str, typer.Argument(metavar="NAME_OR_ID", help="Rekognition celebrity Id, or a name.")
    ],
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The videos a celebrity appears in, with screen time (a GSI Query, never a Scan)."""
    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        # An id is exact, so it wins; names are matched case- and space-insensitively.
        items = list(results.videos_for_celebrity(name_or_id))
        if not items:
            items = list(results.videos_for_name(name_or_id))
        if not items:
            raise CliError(f"no celebrity with id or name {name_or_id!r} in {results.name!r}")
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    for item in items:
        by_id.setdefault(str(item["celebrity_id"]), []).append(item)
    # A name can belong to several Rekognition ids (two actors of the same name): never merge
    # them. The one with the most screen time fills the contract's keys, the others follow.
    matches = sorted(
        (celebrity_view(cid, by_id[cid]) for cid in by_id),
        key=lambda m: (-m["total_screen_time_ms"], m["celebrity_id"]),
    )
    document = {**matches[0], "other_matches": matches[1:]}
    if as_json:
        _print_json(document)
        return
    from cameo_cli import render

    for match in matches:
        render.celebrity(match)


def at(
    video: VideoArg,
    position: Annotated[
        int,
        typer.Argument(
            parser=_position,
            metavar="HH:MM:SS[.mmm]",
            help="Moment in the video: HH:MM:SS[.mmm], MM:SS[.mmm] or seconds.",
        ),
    ],
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who is on screen at a given moment (start <= moment <= end)."""
    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        item = _video_item(results, video)
        appearances = _sorted_appearances(
            on_screen_items(target.dynamodb, results.name, video, position)
        )
    document = {
        "video": video.uri,
        "status": item.get("status"),
        "at_ms": position,
        "at": format_ms(position),
        "appearances": appearances,
    }
    if as_json:
        _print_json(document)
        return
    from cameo_cli import render

    render.at(document)


def status(
    video: VideoArg,
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The video's processing status: job, reason, times and counts."""
    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        item = _video_item(results, video)
        document = status_view(item)
        if item.get("status") == "QUEUED" and item.get("gsi3sk"):
            # How long it has waited, and how many uploads wait ahead of it (a keys-only count
            # on the backlog index).
            from datetime import UTC, datetime

            queued = datetime.fromisoformat(str(item["queued_at"]))
            document["waited_s"] = round((datetime.now(UTC) - queued).total_seconds(), 1)
            document["queue_position"] = results.backlog_count("QUEUED", ahead_of=item["gsi3sk"])
    if as_json:
        _print_json(document)
        return
    from cameo_cli import render

    render.status(document)


def reprocess(
    video: VideoArg,
    archive_bucket: Annotated[
        str | None,
        typer.Option(
            "--archive-bucket",
            envvar="ARCHIVE_BUCKET",
            show_envvar=True,
            help="Raw-results archive bucket (the stack's ArchiveBucketName output).",
        ),
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            "--min-confidence",
            envvar="MIN_CONFIDENCE",
            help="Ignore detections below this confidence [default: 80].",
        ),
    ] = None,
    merge_gap_ms: Annotated[
        int | None,
        typer.Option(
            "--merge-gap-ms",
            envvar="MERGE_GAP_MS",
            help="Largest gap inside one appearance, in ms [default: 2000].",
        ),
    ] = None,
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-normalize the current job from the archived raw pages (no Rekognition call)."""
    target = Target(table, profile, region)
    with _expected_errors(target):
        if not archive_bucket:
            raise CliError("no archive bucket: pass --archive-bucket or set ARCHIVE_BUCKET", 2)
        tuning = _tuning(min_confidence, merge_gap_ms)
        results = target.results_table()
        # Imported here: it brings Powertools, which --help and the read commands don't need.
        from cameo_core.adapters.archive import RawArchive
        from cameo_core.results import reprocess as reprocess_video

        archive = RawArchive(target.client("s3"), archive_bucket)
        try:
            outcome = reprocess_video(video, results, archive, tuning).as_dict()
        except LookupError as exc:
            raise CliError(str(exc)) from None
    if as_json:
        _print_json(outcome)
        return
    from cameo_cli import render

    render.reprocessed(outcome)


def _tuning(min_confidence: float | None, merge_gap_ms: int | None) -> Any:
    from cameo_core.config import Tuning
    from cameo_core.errors import ConfigError

    env = dict(os.environ)
    if min_confidence is not None:
        env["MIN_CONFIDENCE"] = str(min_confidence)
    if merge_gap_ms is not None:
        env["MERGE_GAP_MS"] = str(merge_gap_ms)
    try:
        return Tuning.from_env(env)  # the same validation the functions apply
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def register(app: typer.Typer) -> None:
    """Add the query commands to the root `cameo` app."""
    app.command("video")(video)
    app.command("celebrity")(celebrity)
    app.command("at")(at)
    app.command("status")(status)
    app.command("reprocess")(reprocess)
