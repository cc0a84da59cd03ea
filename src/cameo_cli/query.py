"""`cameo video | celebrity | at | status | reprocess`: read (and re-derive) results.

What a reader sees is decided by cameo_core.read (only the current, finished job's items), the
module the HTTP API uses too, so the two cannot disagree; this module only lays its answers out.
Endpoints come only from boto3's standard AWS_ENDPOINT_URL_* variables; --profile and --region
pick the session. boto3 and the layer (Powertools, for `reprocess`) are imported inside the
commands, so `cameo --help` stays fast.

The JSON shapes built here are a documented contract (docs/cli.md): keys are always present
(null when unknown) and lists have a fixed order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from cameo_cli.timefmt import format_ms, parse_position
from cameo_core.keys import VideoRef

if TYPE_CHECKING:
    from cameo_core.adapters.table import ResultsTable
    from cameo_core.read import OnScreen, Timeline

TABLE_ENV = ("TABLE_NAME", "CAMEO_TABLE")

# Exit codes: 1 = nothing to show or AWS said no; 2 = the command line itself is wrong;
# 3 = the table holds items of a schema_version this cameo does not know (upgrade cameo).
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_SCHEMA = 3


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
    from cameo_core.read import SchemaVersionError

    try:
        yield
    except CliError as exc:
        _fail(str(exc), exc.code)
    except SchemaVersionError as exc:
        _fail(str(exc), EXIT_SCHEMA)
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


_TABLE_OPERATIONS = frozenset(
    {"GetItem", "Query", "Scan", "UpdateItem", "BatchWriteItem", "PutItem"}
)


def _print_json(document: Mapping[str, Any]) -> None:
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


# -- JSON views (the documented contract) -----------------------------------------------------
# What to show comes from cameo_core.read (the same module the HTTP API uses); these only lay
# its answers out as the CLI's documents.


def _results_document(video: VideoRef, view: Callable[[], Timeline | OnScreen]) -> dict[str, Any]:
    """The head every per-video document shares, plus `appearances` from `view()`: the current
    finished job's, or [] with `ready: false` and why when there is none to show."""
    from cameo_core import read

    try:
        answer = view()
    except read.NotReady as exc:
        return {
            "video": video.uri,
            "status": exc.status.status,
            "reason": exc.status.reason,
            "job_id": exc.status.job_id,
            "ready": False,
            "note": str(exc),
            "appearances": [],
        }
    return {
        "video": video.uri,
        "status": read.FINISHED,
        "reason": None,
        "job_id": answer.job_id,
        "ready": True,
        "note": None,
        "appearances": [a.as_dict() for a in answer.appearances],
    }


# -- commands -----------------------------------------------------------------------------------


def video(
    video: VideoArg,
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The video's appearances as a timeline: who, from, to, for how long."""
    from cameo_core import read

    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        document = _results_document(video, lambda: read.appearances(results, video))
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
    from cameo_core import read

    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        # An id is exact, so it wins; names are matched case- and space-insensitively.
        try:
            matches: tuple[read.CelebrityVideos, ...] = (
                read.videos_for_celebrity(results, name_or_id),
            )
        except read.NotFound:
            try:
                matches = read.celebrities_by_name(results, name_or_id)
            except read.NotFound:
                raise CliError(
                    f"no celebrity with id or name {name_or_id!r} in {results.name!r}"
                ) from None
    # A name can belong to several Rekognition ids (two actors of the same name): never merged.
    # The one with the most screen time fills the contract's keys, the others follow.
    views = [match.as_dict() for match in matches]
    document = {**views[0], "other_matches": views[1:]}
    if as_json:
        _print_json(document)
        return
    from cameo_cli import render

    for view in views:
        render.celebrity(view)


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
    from cameo_core import read

    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        head = _results_document(video, lambda: read.on_screen(results, video, position))
    appearances = head.pop("appearances")
    document = {**head, "at_ms": position, "at": format_ms(position), "appearances": appearances}
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
    from cameo_core import read

    target = Target(table, profile, region)
    with _expected_errors(target):
        document = read.video_status(target.results_table(), video).as_dict()
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
