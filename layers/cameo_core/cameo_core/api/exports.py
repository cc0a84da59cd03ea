"""A timeline as WebVTT cues or CSV rows: the API's .vtt/.csv and `cameo export` share these."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from cameo_core.read import Appearance

CSV_FIELDS = (
    "celebrity_id",
    "name",
    "start_ms",
    "end_ms",
    "duration_ms",
    "detections",
    "confidence",
)


def vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _cue_text(appearance: Appearance) -> str:
    # A cue payload is one line of text; &, < and > would start entities and tags.
    name = " ".join(appearance.name.split())
    name = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if appearance.max_confidence is None:
        return name
    return f"{name} ({appearance.max_confidence:.1f})"


def to_vtt(appearances: Iterable[Appearance]) -> str:
    """One cue per appearance, in start order, "Name (best confidence)".

    A single-detection appearance has start == end; WebVTT wants end > start, so such a cue
    lasts one millisecond.
    """
    lines = ["WEBVTT", ""]
    for number, appearance in enumerate(appearances, start=1):
        end = max(appearance.end_ms, appearance.start_ms + 1)
        lines += [
            str(number),
            f"{vtt_time(appearance.start_ms)} --> {vtt_time(end)}",
            _cue_text(appearance),
            "",
        ]
    return "\n".join(lines)


def to_csv(appearances: Iterable[Appearance]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for a in appearances:
        confidence = "" if a.max_confidence is None else f"{a.max_confidence:.3f}"
        writer.writerow(
            [a.celebrity_id, a.name, a.start_ms, a.end_ms, a.duration_ms, a.detections, confidence]
        )
    return out.getvalue()
