"""`cameo export VIDEO --format vtt|csv|json`: the current finished job's timeline as a file.

The same cues and rows as the HTTP API's appearances.vtt and .csv (cameo_core.api.exports, over
cameo_core.read), so an export and the API cannot disagree. A video with no finished results
is an error (exit 1), not an empty file.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cameo_cli.query import (
    ProfileOpt,
    RegionOpt,
    TableOpt,
    Target,
    VideoArg,
    _expected_errors,
)


class Format(StrEnum):
    vtt = "vtt"
    csv = "csv"
    json = "json"


def export(
    video: VideoArg,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="vtt, csv or json.")
    ] = Format.vtt,
    celebrity_id: Annotated[
        str | None, typer.Option("--celebrity-id", help="Only this celebrity's appearances.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
) -> None:
    """The video's appearances as WebVTT cues, CSV rows or JSON."""
    from cameo_core import read
    from cameo_core.api import exports

    target = Target(table, profile, region)
    with _expected_errors(target):
        timeline = read.appearances(target.results_table(), video, celebrity_id=celebrity_id)
    if format is Format.vtt:
        text = exports.to_vtt(timeline.appearances)
    elif format is Format.csv:
        text = exports.to_csv(timeline.appearances)
    else:
        text = json.dumps(timeline.as_dict(), indent=2, ensure_ascii=False) + "\n"
    # Bytes, so CSV's CRLF row ends (RFC 4180) reach the file or pipe unchanged.
    if output is None:
        typer.echo(text.encode("utf-8"), nl=False)
    else:
        output.write_bytes(text.encode("utf-8"))
        typer.echo(f"wrote {output} ({len(timeline.appearances)} appearances)", err=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
