"""Human-readable views of the documents query.py builds (the JSON views, rendered by rich).

Values from the table (names, keys) go in as `Text`, never as markup, so a key holding
`[bold]` prints as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cameo_cli.timefmt import format_ms


def _console() -> Console:
    return Console(highlight=False)


def _confidence(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}"


def _ms(value: Any) -> str:
    return "" if value is None else format_ms(int(value))


def _status_line(document: Mapping[str, Any]) -> Text:
    line = Text("status: ")
    line.append(str(document.get("status") or "unknown"), style="bold")
    if document.get("job_id"):
        line.append(f"  job: {document['job_id']}")
    if document.get("reason"):
        line.append(f"  reason: {document['reason']}")
    return line


def _appearance_table(title: str, appearances: list[Mapping[str, Any]]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    table.add_column("Who")
    table.add_column("Celebrity id", style="dim")
    table.add_column("From", justify="right")
    table.add_column("To", justify="right")
    table.add_column("Duration", justify="right")
    table.add_column("Detections", justify="right")
    table.add_column("Max conf.", justify="right")
    for appearance in appearances:
        table.add_row(
            Text(str(appearance["name"])),
            Text(str(appearance["celebrity_id"])),
            _ms(appearance["start_ms"]),
            _ms(appearance["end_ms"]),
            _ms(appearance["duration_ms"]),
            str(appearance["detections"]),
            _confidence(appearance["max_confidence"]),
        )
    return table


def video(document: Mapping[str, Any]) -> None:
    console = _console()
    console.print(Text(str(document["video"]), style="bold"))
    console.print(_status_line(document))
    if not document.get("ready", True):
        # No finished current job: say why rather than print an empty timeline.
        console.print(Text(f"no appearances to show: {document['note']}"))
        return
    appearances = document["appearances"]
    if not appearances:
        console.print("no appearances")
        return
    console.print(_appearance_table("Appearances", appearances))


def at(document: Mapping[str, Any]) -> None:
    console = _console()
    console.print(Text(f"{document['video']} at {document['at']}", style="bold"))
    if not document.get("ready", True):
        console.print(Text(f"nobody to show: {document['note']}"))
        return
    if not document["appearances"]:
        console.print(Text("nobody on screen"))
        return
    console.print(_appearance_table("On screen", document["appearances"]))


def celebrity(document: Mapping[str, Any]) -> None:
    console = _console()
    title = f"{document['name']} ({document['celebrity_id']})"
    table = Table(title=Text(title), title_justify="left")
    table.add_column("Video")
    table.add_column("Screen time", justify="right")
    table.add_column("Appearances", justify="right")
    table.add_column("First seen", justify="right")
    table.add_column("Last seen", justify="right")
    table.add_column("Best conf.", justify="right")
    for entry in document["videos"]:
        table.add_row(
            Text(str(entry["video"])),
            _ms(entry["screen_time_ms"]),
            str(entry["appearances"]),
            _ms(entry["first_seen_ms"]),
            _ms(entry["last_seen_ms"]),
            _confidence(entry["best_confidence"]),
        )
    console.print(table)
    videos = len(document["videos"])
    console.print(
        Text(
            f"total screen time {_ms(document['total_screen_time_ms'])}"
            f" in {videos} video{'s' if videos != 1 else ''}"
        )
    )


def status(document: Mapping[str, Any]) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in document.items():
        if value is None or name == "video_metadata":
            continue
        table.add_row(name, Text(str(value)))
    metadata = document.get("video_metadata") or {}
    for name in ("DurationMillis", "FrameRate", "FrameWidth", "FrameHeight", "Codec", "Format"):
        if name in metadata:
            shown = _ms(metadata[name]) if name == "DurationMillis" else str(metadata[name])
            table.add_row(f"video {name}", Text(shown))
    _console().print(table)


def reprocessed(outcome: Mapping[str, Any]) -> None:
    _console().print(
        Text(
            f"{outcome['video']}: job {outcome['job_id']} re-normalized from"
            f" {outcome.get('pages', 0)} archived page(s): {outcome.get('appearances', 0)}"
            f" appearance(s) of {outcome.get('celebrities', 0)} celebrit"
            f"{'y' if outcome.get('celebrities') == 1 else 'ies'},"
            f" {outcome.get('detections', 0)} detection(s) used"
        )
    )
