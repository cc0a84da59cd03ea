"""WebVTT and CSV from a timeline (the API's .vtt/.csv and `cameo export` share them)."""

from __future__ import annotations

import csv
import io

from cameo_core.api.exports import CSV_FIELDS, to_csv, to_vtt, vtt_time
from cameo_core.read import Appearance


def appearance(name: str, start: int, end: int, confidence: float | None = 97.06) -> Appearance:
    return Appearance(
        celebrity_id="id1",
        name=name,
        start_ms=start,
        end_ms=end,
        duration_ms=end - start,
        detections=2,
        max_confidence=confidence,
        mean_confidence=confidence,
        known_gender=None,
        urls=(),
        bounding_box=None,
    )


def test_vtt_timestamps_are_hours_minutes_seconds_millis() -> None:
    assert vtt_time(0) == "00:00:00.000"
    assert vtt_time(3_723_004) == "01:02:03.004"
    assert vtt_time(100 * 3_600_000) == "100:00:00.000"


def test_one_cue_per_appearance_with_name_and_confidence() -> None:
    text = to_vtt([appearance("Jeff Bezos", 1000, 2500), appearance("Ann", 3000, 3000, None)])
    assert text.splitlines() == [
        "WEBVTT",
        "",
        "1",
        "00:00:01.000 --> 00:00:02.500",
        "Jeff Bezos (97.1)",
        "",
        "2",
        "00:00:03.000 --> 00:00:03.001",  # a one-detection appearance still has a cue
        "Ann",
    ]
    assert text.endswith("Ann\n")


def test_cue_text_cannot_break_the_cue_or_inject_tags() -> None:
    text = to_vtt([appearance("A <b>&\nB --> C", 0, 10)])
    cue = text.splitlines()[4]
    assert cue == "A &lt;b&gt;&amp; B --&gt; C (97.1)"
    assert text.count(" --> ") == 1


def test_csv_has_the_documented_header_and_quotes_what_needs_it() -> None:
    text = to_csv([appearance('Smith, "Jr"', 0, 1500)])
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[1] == ["id1", 'Smith, "Jr"', "0", "1500", "1500", "2", "97.060"]
