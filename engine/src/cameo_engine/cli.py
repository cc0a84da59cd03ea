"""`cameo engine ...`: serve the engine, manage the gallery, watch jobs.

Mounted by the project CLI (``app.add_typer(engine_app, name="engine")``). Heavy modules
(dlib, PyAV, numpy, boto3, werkzeug) are imported inside the commands, so ``--help`` is fast.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="The local Rekognition-compatible engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
gallery_app = typer.Typer(
    help="Enroll, list and remove the people the engine knows.", no_args_is_help=True
)
app.add_typer(gallery_app, name="gallery")

DEFAULT_PORT = 4577

GalleryDir = Annotated[
    Path,
    typer.Option(
        "--gallery", envvar="CAMEO_GALLERY", help="Gallery folder: one subfolder per person."
    ),
]


def default_processes() -> int:
    """One recognition process per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Gender(StrEnum):
    Male = "Male"
    Female = "Female"
    Nonbinary = "Nonbinary"
    Unlisted = "Unlisted"


@app.command()
def serve(
    gallery: GalleryDir,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = DEFAULT_PORT,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(envvar="AWS_ENDPOINT_URL_S3", help="S3 endpoint the videos are read from."),
    ] = None,
    sns_endpoint: Annotated[
        str | None,
        typer.Option(envvar="AWS_ENDPOINT_URL_SNS", help="SNS endpoint completions go to."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Jobs processed at once.")] = 1,
    processes: Annotated[
        int | None,
        typer.Option(min=1, help="Recognition processes per job (default: the number of CPUs)."),
    ] = None,
    max_concurrent_jobs: Annotated[
        int, typer.Option(min=1, help="IN_PROGRESS jobs before LimitExceededException.")
    ] = 20,
    sample_fps: Annotated[float, typer.Option(min=0.1, help="Frames analysed per second.")] = 5.0,
    max_video_bytes: Annotated[
        int, typer.Option(min=1, help="Larger videos get VideoTooLargeException.")
    ] = 10 * 1024**3,
    state_dir: Annotated[
        Path,
        typer.Option(
            envvar="CAMEO_ENGINE_STATE",
            help="Job database and scratch files; keep it to survive restarts.",
        ),
    ] = Path(".cache/engine-state"),
    fault: Annotated[
        list[str] | None,
        typer.Option(help="Inject errors for tests: Operation:Error:count=N or :p=0.5."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
) -> None:
    """Serve the Rekognition API (JSON 1.1) until interrupted."""
    from cameo_engine.api import EngineConfig, start_engine

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    config = EngineConfig(
        gallery_dir=gallery,
        state_dir=state_dir,
        host=host,
        port=port,
        s3_endpoint=s3_endpoint,
        sns_endpoint=sns_endpoint,
        workers=workers,
        processes=processes or default_processes(),
        max_concurrent_jobs=max_concurrent_jobs,
        sample_fps=sample_fps,
        max_video_bytes=max_video_bytes,
        faults=list(fault or []),
    )
    try:
        engine = start_engine(config)
    except (OSError, ValueError) as exc:
        typer.secho(f"error: cannot start the engine: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"cameo engine listening on {engine.endpoint_url}", err=True)

    done = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done.wait()
    engine.stop()


# -- gallery ---------------------------------------------------------------------------


def _load_gallery(root: Path) -> Any:
    from cameo_engine.gallery import Gallery, GalleryError

    try:
        return Gallery.load(root)
    except GalleryError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc


def _person_line(person: Any) -> str:
    gender = person.known_gender
    if isinstance(gender, dict):
        gender = gender.get("Type")
    urls = ", ".join(person.urls or [])
    return "\t".join([person.id, person.name, str(gender or "-"), urls or "-"])


def _photo_lines(gallery: Any, person: Any) -> list[str]:
    """One line per enrolled photo: which face was used, its size and quality, the thumbnail."""
    lines = []
    for photo in gallery.photos(person):
        face = photo.face.describe() if photo.face else "enrolled before faces were recorded"
        thumb = f"; thumbnail {photo.thumbnail}" if photo.thumbnail else ""
        lines.append(f"  {photo.path.name}: {face}{thumb}")
    return lines


@gallery_app.command("add")
def gallery_add(
    name: Annotated[str, typer.Argument(help="The person's display name.")],
    photos: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Photos.")],
    gallery: GalleryDir,
    person_id: Annotated[
        str | None, typer.Option("--id", help="Stable Id (default: generated).")
    ] = None,
    url: Annotated[
        list[str] | None, typer.Option("--url", help="A URL about the person (repeatable).")
    ] = None,
    gender: Annotated[Gender | None, typer.Option(help="KnownGender.Type.")] = None,
) -> None:
    """Enroll a person (or add photos to one): the dominant face of each photo.

    Prints, for every photo, which face was enrolled (size, quality, faces ignored) and where
    the thumbnail of the enrolled crop is. A photo with no face, or two equally large ones,
    is refused.
    """
    from cameo_engine.gallery import GalleryError

    people = _load_gallery(gallery)
    try:
        person = people.add(
            name,
            photos,
            person_id=person_id,
            urls=list(url) if url else None,
            known_gender=gender.value if gender else None,
        )
    except GalleryError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"enrolled {person.name} (Id {person.id}) from {len(photos)} photo(s)")
    for line in _photo_lines(people, person):
        typer.echo(line)


@gallery_app.command("list")
def gallery_list(gallery: GalleryDir) -> None:
    """List enrolled people (Id, name, gender, URLs), each with their enrolled photos."""
    loaded = _load_gallery(gallery)
    people = list(loaded.people)
    if not people:
        typer.echo(f"no people enrolled in {gallery}")
        return
    for person in sorted(people, key=lambda p: p.name.casefold()):
        typer.echo(_person_line(person))
        for line in _photo_lines(loaded, person):
            typer.echo(line)
    for warning in loaded.warnings:
        typer.secho(f"warning: {warning}", fg="yellow", err=True)


@gallery_app.command("remove")
def gallery_remove(
    name_or_id: Annotated[str, typer.Argument(help="Name or Id of the person.")],
    gallery: GalleryDir,
) -> None:
    """Remove a person and their photos from the gallery."""
    from cameo_engine.gallery import GalleryError

    people = _load_gallery(gallery)
    try:
        person = people.remove(name_or_id)
    except GalleryError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"removed {person.name} (Id {person.id})")


# -- jobs ------------------------------------------------------------------------------


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - user-given http URL
        return json.load(resp)


@app.command()
def jobs(
    endpoint: Annotated[
        str,
        typer.Option(envvar="AWS_ENDPOINT_URL_REKOGNITION", help="The engine's URL."),
    ] = f"http://127.0.0.1:{DEFAULT_PORT}",
    limit: Annotated[int, typer.Option(min=1, help="Most recent jobs to show.")] = 20,
    watch: Annotated[
        bool, typer.Option("--watch", help="Refresh until no job is IN_PROGRESS.")
    ] = False,
) -> None:
    """Show recent jobs with their status and progress."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    url = f"{endpoint.rstrip('/')}/admin/jobs?limit={limit}"
    if not url.startswith(("http://", "https://")):
        typer.secho("error: --endpoint must be an http(s) URL", fg="red", err=True)
        raise typer.Exit(2)

    def fetch() -> list[dict[str, Any]]:
        try:
            return list(_get_json(url)["Jobs"])
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            typer.secho(f"error: cannot read jobs from {endpoint}: {exc}", fg="red", err=True)
            raise typer.Exit(1) from exc

    def table(rows: list[dict[str, Any]]) -> Table:
        t = Table("JobId", "Video", "Status", "Progress", "Detections", "Message")
        for job in rows:
            video = job["Video"]
            t.add_row(
                job["JobId"][:12] + "…",
                f"s3://{video['S3Bucket']}/{video['S3ObjectName']}",
                job["JobStatus"],
                f"{job['Progress']:.0f}%",
                str(job.get("Detections", "")),
                job.get("StatusMessage", ""),
            )
        return t

    console = Console()
    rows = fetch()
    if not watch:
        console.print(table(rows) if rows else "no jobs")
        return
    with Live(table(rows), console=console, refresh_per_second=2) as live:
        while any(j["JobStatus"] == "IN_PROGRESS" for j in rows):
            time.sleep(1.0)
            rows = fetch()
            live.update(table(rows))
