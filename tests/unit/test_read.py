"""cameo_core.read, the one read model (CLI now, HTTP API next), over results written by the
results function's own code path into moto's copy of the template's table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cameo_core import read, results
from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable, to_dynamo
from cameo_core.backlog import Upload, enqueue
from cameo_core.config import StartConfig, Tuning
from cameo_core.keys import VideoRef
from cameo_core.normalize import Appearance, Celebrity, CelebritySummary
from tests.cli.scenario import (
    BEZOS,
    BROKEN,
    BUCKET,
    EVANS_1,
    EVANS_2,
    FAILURE_REASON,
    PAGES_A,
    PAGES_B,
    PAGES_C,
    PENDING,
    SWIFT,
    VIDEO_A,
    VIDEO_B,
    World,
)


@pytest.fixture
def world(aws: dict[str, Any], stack_model: Any) -> World:
    archive_bucket = stack_model.function("process_results").environment["ARCHIVE_BUCKET"]
    world = World(
        ResultsTable(aws["dynamodb"], aws["table"]),
        RawArchive(aws["s3"], archive_bucket),
        aws["table"],
        archive_bucket,
    )
    world.complete(VIDEO_A, "job-a", PAGES_A)
    world.complete(VIDEO_B, "job-b", PAGES_B)
    world.complete(VideoRef(BUCKET, "other evans.avi"), "job-c", PAGES_C)
    world.complete(BROKEN, "job-broken", [], status="FAILED", reason=FAILURE_REASON)
    world.submit(PENDING, "job-pending")
    return world


def spans(answer: read.Timeline | read.OnScreen) -> list[tuple[str, int, int]]:
    return [(a.celebrity_id, a.start_ms, a.end_ms) for a in answer.appearances]


def test_appearances_is_the_finished_jobs_timeline_in_start_order(world) -> None:
    timeline = read.appearances(world.table, VIDEO_A)

    assert (timeline.video, timeline.job_id, timeline.duration_ms) == (
        VIDEO_A.uri,
        "job-a",
        65_000,
    )
    assert spans(timeline) == [(BEZOS, 1000, 2000), (SWIFT, 3000, 4000), (BEZOS, 10000, 10500)]


def test_appearances_filters_by_celebrity_confidence_and_window(world) -> None:
    table = world.table

    assert spans(read.appearances(table, VIDEO_A, celebrity_id=SWIFT)) == [(SWIFT, 3000, 4000)]
    # Bezos' second run peaks at 93.0: below a 95 threshold on the best detection.
    assert [
        a.max_confidence for a in read.appearances(table, VIDEO_A, min_confidence=95).appearances
    ] == [99.5, 99.75]
    # A window keeps what overlaps it, both ends inclusive: 2000 is Bezos' end, 3000 Swift's start.
    assert spans(read.appearances(table, VIDEO_A, from_ms=2000, to_ms=3000)) == [
        (BEZOS, 1000, 2000),
        (SWIFT, 3000, 4000),
    ]
    assert spans(read.appearances(table, VIDEO_A, from_ms=4001, to_ms=9999)) == []
    assert spans(read.appearances(table, VIDEO_A, from_ms=10_500)) == [(BEZOS, 10000, 10500)]


def test_a_window_that_ends_before_it_starts_is_a_value_error(world) -> None:
    with pytest.raises(ValueError, match="from_ms 5 is after to_ms 4"):
        read.appearances(world.table, VIDEO_A, from_ms=5, to_ms=4)


def test_on_screen_lists_everyone_whose_appearance_spans_the_moment(world) -> None:
    answer = read.on_screen(world.table, VIDEO_B, 60_750)

    assert (answer.video, answer.job_id, answer.at_ms) == (VIDEO_B.uri, "job-b", 60_750)
    assert spans(answer) == [(BEZOS, 60000, 61000), (EVANS_1, 60500, 62000)]
    assert read.on_screen(world.table, VIDEO_B, 62_001).appearances == ()


def test_cast_is_sorted_by_screen_time_with_share_of_runtime(world) -> None:
    cast = read.cast(world.table, VIDEO_A)

    assert cast.as_dict() == {
        "video": VIDEO_A.uri,
        "job_id": "job-a",
        "duration_ms": 65_000,
        "members": [
            {
                "celebrity_id": BEZOS,
                "name": "Jeff Bezos",
                "known_gender": "Male",
                "urls": [f"www.wikidata.org/wiki/{BEZOS}"],
                "screen_time_ms": 1500,
                "share_of_runtime": round(1500 / 65_000, 4),
                "first_seen_ms": 1000,
                "last_seen_ms": 10500,
                "appearances": 2,
                "best_confidence": 99.5,
            },
            {
                "celebrity_id": SWIFT,
                "name": "Taylor Swift",
                "known_gender": "Female",
                "urls": [f"www.wikidata.org/wiki/{SWIFT}"],
                "screen_time_ms": 1000,
                "share_of_runtime": round(1000 / 65_000, 4),
                "first_seen_ms": 3000,
                "last_seen_ms": 4000,
                "appearances": 1,
                "best_confidence": 99.75,
            },
        ],
    }


def test_answers_are_json_ready(world) -> None:
    answers = [
        read.appearances(world.table, VIDEO_A),
        read.on_screen(world.table, VIDEO_A, 1000),
        read.cast(world.table, VIDEO_A),
        read.videos_for_celebrity(world.table, BEZOS),
        read.video_status(world.table, VIDEO_A),
        *read.celebrities_by_name(world.table, "Chris Evans"),
    ]

    for answer in answers:
        document = answer.as_dict()
        assert json.loads(json.dumps(document)) == document  # no tuples, Decimals or objects


def test_an_unknown_video_is_not_found(world) -> None:
    missing = VideoRef(BUCKET, "missing.mp4")
    for call in (read.appearances, read.cast, read.video_status):
        with pytest.raises(read.NotFound, match="no record of s3://cameo-videos-local/missing"):
            call(world.table, missing)


def test_a_failed_or_running_job_is_not_ready_and_says_why(world) -> None:
    with pytest.raises(read.NotReady) as failed:
        read.cast(world.table, BROKEN)
    with pytest.raises(read.NotReady) as running:
        read.on_screen(world.table, PENDING, 0)

    assert (failed.value.status.status, failed.value.status.reason) == ("FAILED", FAILURE_REASON)
    assert FAILURE_REASON in str(failed.value)
    assert (running.value.status.status, running.value.status.job_id) == (
        "SUBMITTED",
        "job-pending",
    )


def test_a_rerun_in_progress_is_not_ready_and_names_the_running_job(world) -> None:
    world.submit(VIDEO_A, "job-a2")

    with pytest.raises(read.NotReady) as rerun:
        read.appearances(world.table, VIDEO_A)

    assert rerun.value.status.job_id == "job-a2"
    with pytest.raises(read.NotReady):  # the same rule for every per-video read
        read.cast(world.table, VIDEO_A)


def test_videos_for_celebrity_keeps_only_finished_current_jobs(world) -> None:
    world.submit(VIDEO_B, "job-b2")  # re-run: VIDEO_B's job-b summary is stale now

    found = read.videos_for_celebrity(world.table, BEZOS)

    assert (found.celebrity_id, found.name, found.total_screen_time_ms) == (
        BEZOS,
        "Jeff Bezos",
        1500,
    )
    assert [(v.video, v.job_id, v.appearances) for v in found.videos] == [(VIDEO_A.uri, "job-a", 2)]
    with pytest.raises(read.NotFound, match="no celebrity with id 'nobody'"):
        read.videos_for_celebrity(world.table, "nobody")


def test_celebrities_by_name_never_merges_namesakes(world) -> None:
    found = read.celebrities_by_name(world.table, "  chris EVANS ")

    assert [(c.celebrity_id, c.total_screen_time_ms) for c in found] == [
        (EVANS_1, 1500),
        (EVANS_2, 500),
    ]
    with pytest.raises(read.NotFound, match="no celebrity named 'Nobody'"):
        read.celebrities_by_name(world.table, "Nobody")


def test_video_status_of_a_queued_video_has_its_wait_and_place(world) -> None:
    config = StartConfig(world.table_name, "", "", Tuning())
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    for n in range(3):
        upload = Upload(BUCKET, f"queue/{n}.mp4", 100, "e", sequencer=f"0{n + 1}")
        enqueue(upload, config, world.table, None, now=start + timedelta(seconds=n))

    status = read.video_status(
        world.table, VideoRef(BUCKET, "queue/2.mp4"), now=start + timedelta(seconds=62)
    )

    assert (status.status, status.queue_position, status.waited_s) == ("QUEUED", 2, 60.0)
    assert read.video_status(world.table, VIDEO_A).queue_position is None


def test_the_writers_schema_version_is_one_the_reader_knows() -> None:
    assert results.SCHEMA_VERSION in read.KNOWN_SCHEMA_VERSIONS
    assert read.UNVERSIONED_SCHEMA_VERSION in read.KNOWN_SCHEMA_VERSIONS


def test_the_item_builders_stamp_the_schema_version() -> None:
    video = VideoRef(BUCKET, "a.mp4")
    celebrity = Celebrity(BEZOS, "Jeff Bezos")
    appearance = Appearance(celebrity, 0, 10, 2, 99.0, 98.0, None)
    summary = CelebritySummary(celebrity, 10, 0, 10, 1, 99.0)

    assert (
        results.appearance_item(video, "j", appearance)["schema_version"] == results.SCHEMA_VERSION
    )
    assert results.summary_item(video, "j", summary)["schema_version"] == results.SCHEMA_VERSION


def test_an_unknown_schema_version_raises_and_names_the_item(world) -> None:
    world.write_job_items(VIDEO_B, "job-b", PAGES_B, schema_version=99)

    with pytest.raises(read.SchemaVersionError) as refused:
        read.cast(world.table, VIDEO_B)

    assert refused.value.version == 99
    assert f"summary CELEBRITY#{BEZOS} of {VIDEO_B.uri} has schema_version 99" in str(refused.value)
    assert isinstance(refused.value, read.ReadError)


def test_a_summary_count_that_differs_from_the_recorded_one_is_not_ready(world) -> None:
    # A stray summary under the finished job (a rewrite half-way): the cast would be a mix.
    world.write_job_items(VIDEO_A, "job-a", PAGES_C)  # Evans #2's items, under job-a

    with pytest.raises(read.NotReady, match="3 celebrity summaries found, 2 recorded"):
        read.cast(world.table, VIDEO_A)


def test_the_item_builders_set_the_ttl_attribute_only_when_asked() -> None:
    video = VideoRef(BUCKET, "a.mp4")
    appearance = Appearance(Celebrity(BEZOS, "Jeff Bezos"), 0, 10, 2, 99.0, 98.0, None)

    kept = to_dynamo(results.appearance_item(video, "j", appearance))
    expiring = results.appearance_item(video, "j", appearance, expires_at=1_900_000_000)

    assert read.EXPIRES_AT == results.EXPIRES_AT
    assert results.EXPIRES_AT not in kept  # None is not stored: no TTL
    assert expiring[results.EXPIRES_AT] == 1_900_000_000
