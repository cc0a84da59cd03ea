"""`cameo estimate` and `cameo backfill` on a prefix of 30 objects (moto S3 + the template's
table): videos of known length, unreadable headers, non-videos, a too-long and an empty video,
and videos the table already knows."""

from __future__ import annotations

import io
import struct
from typing import Any

import av
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from cameo_cli import bulk
from cameo_core.adapters.table import ResultsTable
from cameo_core.keys import VideoRef, sequencer_order
from tests.cli.scenario import json_out

BUCKET = "cameo-videos-example"
PREFIX = "library/"


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mp4(seconds: float, *, moov_last: bool = False) -> bytes:
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, round(seconds * 1000)))
    head, mdat, moov = box(b"ftyp", b"isom\0\0\0\0"), box(b"mdat", bytes(2048)), box(b"moov", mvhd)
    return head + mdat + moov if moov_last else head + moov + mdat


def avi(frames: int, fps: int) -> bytes:
    avih = struct.pack("<4sI", b"avih", 56) + struct.pack(
        "<14I", 10**6 // fps, 0, 0, 0, frames, *[0] * 9
    )
    hdrl = struct.pack("<4sI4s", b"LIST", 4 + len(avih), b"hdrl") + avih
    body = b"AVI " + hdrl + struct.pack("<4sI4s", b"LIST", 4, b"movi")
    return struct.pack("<4sI", b"RIFF", len(body)) + body


def real_mp4(seconds: float, fps: int = 10) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return out.getvalue()


# key -> (body, seconds the header says or None)
VIDEOS: dict[str, tuple[bytes, float | None]] = {
    **{f"{PREFIX}talks/talk-{i:02d}.mp4": (mp4(60.0 * i), 60.0 * i) for i in range(1, 9)},
    **{f"{PREFIX}talks/late-moov-{i}.MOV": (mp4(90.0, moov_last=True), 90.0) for i in range(3)},
    f"{PREFIX}old/camcorder.avi": (avi(frames=25 * 600, fps=25), 600.0),
    f"{PREFIX}old/tape.avi": (avi(frames=30 * 45, fps=30), 45.0),
    f"{PREFIX}real/clip.mp4": (real_mp4(3.0), 3.0),
    f"{PREFIX}broken/garbage.mp4": (b"this is not a video at all" * 10, None),
    f"{PREFIX}broken/truncated.mov": (mp4(120.0, moov_last=True)[:1000], None),
    f"{PREFIX}broken/zeros.avi": (bytes(4096), None),
}
EMPTY = f"{PREFIX}broken/empty.mp4"
TOO_LONG = f"{PREFIX}talks/marathon.mp4"  # 7 h: over MaxVideoMinutes (360)
ANALYSED = [f"{PREFIX}done/match-{i}.mp4" for i in range(5)]  # SUCCEEDED, same revision
CHANGED = f"{PREFIX}done/changed.mp4"  # recorded for an older revision of the object
NOT_VIDEOS = [
    f"{PREFIX}cover.jpg",
    f"{PREFIX}notes.txt",
    f"{PREFIX}README",
    f"{PREFIX}x.mkv",
    f"{PREFIX}thumbs/frame-0001.png",
]
OUTSIDE = ["other/ignored.mp4", "library-not-this/also.mp4"]


@pytest.fixture
def library(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> ResultsTable:
    s3 = aws["s3"]
    for key, (body, _) in VIDEOS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    s3.put_object(Bucket=BUCKET, Key=EMPTY, Body=b"")
    s3.put_object(Bucket=BUCKET, Key=TOO_LONG, Body=mp4(7 * 3600.0))
    for key in NOT_VIDEOS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"not a video")
    for key in OUTSIDE:
        s3.put_object(Bucket=BUCKET, Key=key, Body=mp4(60.0))
    table = ResultsTable(aws["dynamodb"], aws["table"])
    for i, key in enumerate([*ANALYSED, CHANGED]):
        body = mp4(30.0 + i)
        etag = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"')
        table.record_upload(
            VideoRef(BUCKET, key),
            {
                "status": "SUCCEEDED",
                "job_id": f"job-{i}",
                "size": len(body),
                "etag": etag if key != CHANGED else "an-older-etag",
                "sequencer": f"0A{i}",
                "sequencer_order": sequencer_order(f"0A{i}"),
            },
        )
    monkeypatch.setenv("TABLE_NAME", aws["table"])
    for name in ("CAMEO_TABLE", "PRICE_PER_MINUTE", "MAX_VIDEO_MINUTES", "MAX_VIDEO_BYTES"):
        monkeypatch.delenv(name, raising=False)
    return table


def keys_under_prefix() -> int:
    return len(VIDEOS) + 2 + len(NOT_VIDEOS) + len(ANALYSED) + 1


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer(pretty_exceptions_enable=False)
    bulk.register(root)
    return root


@pytest.fixture
def cli(app):
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), env={"COLUMNS": "200"})

    return invoke


def video_items(table: ResultsTable) -> dict[str, dict]:
    return {
        key: item
        for key in [*VIDEOS, EMPTY, TOO_LONG, *ANALYSED, CHANGED, *NOT_VIDEOS]
        if (item := table.get_video(VideoRef(BUCKET, key)))
    }


KNOWN_NEW = [s for _, s in VIDEOS.values() if s is not None]  # durations of new, readable videos


def test_the_prefix_has_30_objects():
    assert keys_under_prefix() == 30


def test_estimate_counts_minutes_and_cost_without_writing(cli, library, spy):
    before = video_items(library)
    spy.clear()

    document = json_out(cli("estimate", f"s3://{BUCKET}/{PREFIX}", "--json"))

    assert document["objects"] == 30 and document["videos"] == 25
    assert document["not_videos"] == 5
    assert document["already_recorded"] == 6  # 5 analysed + 1 recorded for another revision
    assert document["rejected"] == 2  # empty, over MaxVideoMinutes
    assert document["unknown_duration"] == 3
    assert document["to_queue"] == len(VIDEOS)
    assert document["known_duration"] == len(KNOWN_NEW)
    assert document["total_minutes"] == pytest.approx(sum(KNOWN_NEW) / 60, abs=0.01)
    assert document["estimated_cost_usd"] == pytest.approx(sum(KNOWN_NEW) / 60 * 0.10, abs=0.01)
    by_key = {item["key"]: item for item in document["items"]}
    assert len(by_key) == 30 and not any(k in by_key for k in OUTSIDE)
    assert by_key[f"{PREFIX}old/camcorder.avi"]["minutes"] == pytest.approx(10.0)
    assert by_key[f"{PREFIX}real/clip.mp4"]["minutes"] == pytest.approx(0.05)
    assert by_key[f"{PREFIX}broken/garbage.mp4"]["note"].startswith("duration unknown")
    assert by_key[TOO_LONG]["action"] == "over_limit" and by_key[TOO_LONG]["minutes"] == 420
    assert by_key[ANALYSED[0]]["recorded_status"] == "SUCCEEDED"
    assert by_key[CHANGED]["action"] == "recorded_other_revision"
    assert by_key[f"{PREFIX}cover.jpg"]["action"] == "not_video"
    # Headers only, never a download; nothing written.
    ops = spy.operations
    assert "PutItem" not in ops and "UpdateItem" not in ops and "BatchWriteItem" not in ops
    assert ops.count("GetObject") <= 2 * 20 and "rekognition" not in spy.services
    assert video_items(library) == before


def test_estimate_without_a_table_counts_everything_and_takes_the_price(cli, library, monkeypatch):
    monkeypatch.delenv("TABLE_NAME")
    document = json_out(
        cli("estimate", f"s3://{BUCKET}/{PREFIX}talks/", "--price-per-minute", "0.12", "--json")
    )

    talks = [60.0 * i for i in range(1, 9)] + [90.0] * 3
    assert (document["objects"], document["to_queue"], document["rejected"]) == (12, 11, 1)
    assert document["total_minutes"] == pytest.approx(sum(talks) / 60)
    assert document["estimated_cost_usd"] == pytest.approx(sum(talks) / 60 * 0.12, abs=0.005)
    assert document["table"] is None and document["already_recorded"] == 0


def test_estimate_prints_a_human_summary(cli, library):
    result = cli("estimate", f"s3://{BUCKET}/{PREFIX}")

    assert result.exit_code == 0, result.output
    minutes = sum(KNOWN_NEW) / 60
    assert f"s3://{BUCKET}/{PREFIX}: 30 object(s), 25 video(s)" in result.stdout
    assert f"{minutes:,.1f} min, estimated ${minutes * 0.10:,.2f} at $0.1/min" in result.stdout
    assert "duration unknown (not in the total): 3" in result.stdout
    assert "broken/truncated.mov: duration unknown" in result.stdout


def test_backfill_queues_new_videos_once_and_never_touches_analysed_ones(cli, library, spy):
    spy.clear()
    document = json_out(cli("backfill", f"s3://{BUCKET}/{PREFIX}", "--json"))

    assert document["queued"] == len(VIDEOS) and document["objects"] == 30
    assert document["rejected"] == 2 and document["already_recorded"] == 6
    assert document["not_videos"] == 5
    assert "rekognition" not in spy.services  # queued, not started: the backlog starts them
    items = video_items(library)
    for key, (_, seconds) in VIDEOS.items():
        item = items[key]
        assert item["status"] == "QUEUED" and item["client_request_token"]
        if seconds is None:
            assert item["duration_unknown"] is True
        else:
            assert item["duration_minutes"] == pytest.approx(seconds / 60, abs=0.001)
    assert items[EMPTY]["status"] == "REJECTED"
    assert (
        items[TOO_LONG]["status"] == "REJECTED" and "MaxVideoMinutes" in items[TOO_LONG]["reason"]
    )
    for i, key in enumerate([*ANALYSED, CHANGED]):
        assert (items[key]["status"], items[key]["job_id"]) == ("SUCCEEDED", f"job-{i}")
    assert not any(key in items for key in NOT_VIDEOS)  # nothing recorded for non-videos

    spy.clear()
    again = json_out(cli("backfill", f"s3://{BUCKET}/{PREFIX}", "--json"))

    assert again["queued"] == 0 and again["already_recorded"] == 25
    assert "PutItem" not in spy.operations and "UpdateItem" not in spy.operations
    assert video_items(library) == items


def test_backfill_prints_what_it_queued(cli, library):
    result = cli("backfill", f"s3://{BUCKET}/{PREFIX}old/")

    assert result.exit_code == 0, result.output
    assert f"s3://{BUCKET}/{PREFIX}old/: queued 2 of 2 video(s) (2 objects)" in result.stdout
    assert "queued: 10.8 min, estimated $1.07" in result.stdout
    assert "next sweep" in result.stdout


def test_backfill_needs_a_table_and_a_valid_uri(cli, library, monkeypatch):
    monkeypatch.delenv("TABLE_NAME")
    assert cli("backfill", f"s3://{BUCKET}/{PREFIX}").exit_code == 2
    assert cli("estimate", "library/").exit_code == 2


def test_an_unknown_bucket_is_one_error_line(cli, library):
    result = cli("estimate", "s3://no-such-bucket-cameo/x/")
    assert result.exit_code == 1 and "NoSuchBucket" in result.output
