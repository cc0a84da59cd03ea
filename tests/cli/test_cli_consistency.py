"""Readers see one job, and only a finished one (issue #8); items carry a schema_version.

Each test leaves the table in a state the results function really passes through (a re-run
recorded but not finished, a crashed attempt's items, a reprocess half-way), written with the
results function's own item builders, and checks what `video`, `at` and `celebrity` show.
"""

from __future__ import annotations

import pytest

from cameo_core.keys import VideoRef
from tests.cli.scenario import (
    BEZOS,
    BUCKET,
    EVANS_1,
    EVANS_2,
    PAGES_A,
    PAGES_B,
    SWIFT,
    VIDEO_A,
    VIDEO_B,
    VIDEO_C,
    detection,
    json_out,
    page,
)

A_TIMELINE = [(BEZOS, 1000, 2000), (SWIFT, 3000, 4000), (BEZOS, 10000, 10500)]
# A different cut of the same video: what a re-run (new upload) or new tuning would find.
PAGES_A2 = [
    page([detection(20_000, EVANS_2, "Chris Evans"), detection(20_500, EVANS_2, "Chris Evans")])
]


def timeline(document) -> list[tuple[str, int, int]]:
    return [(a["celebrity_id"], a["start_ms"], a["end_ms"]) for a in document["appearances"]]


def videos_of(document) -> list[str]:
    return [v["video"] for v in document["videos"]]


def test_a_rerun_in_progress_shows_neither_the_old_nor_the_new_job(cli, seeded) -> None:
    # Given: job-a finished, then a new upload of the same key started job-a2, which has
    # written one appearance so far (its summaries come last).
    seeded.submit(VIDEO_A, "job-a2")
    assert seeded.write_job_items(VIDEO_A, "job-a2", PAGES_A2, first=1) == 1

    document = json_out(cli("video", VIDEO_A.uri, "--json"))
    at = json_out(cli("at", VIDEO_A.uri, "0:00:01.5", "--json"))

    # Then: not job-a's results (they describe the replaced object), not job-a2's partial ones.
    for shown in (document, at):
        assert shown["appearances"] == []
        assert (shown["video"], shown["status"], shown["job_id"]) == (
            VIDEO_A.uri,
            "SUBMITTED",
            "job-a2",
        )
        assert shown["ready"] is False
        assert "is SUBMITTED (job job-a2): no results until it finishes" in shown["note"]


def test_a_rerun_in_progress_table_says_why_nothing_is_shown(cli, seeded) -> None:
    seeded.submit(VIDEO_A, "job-a2")

    result = cli("video", VIDEO_A.uri)
    at = cli("at", VIDEO_A.uri, "0:00:01.5")

    assert result.exit_code == 0 and at.exit_code == 0
    assert "status: SUBMITTED" in result.stdout
    assert "no appearances to show" in result.stdout
    assert "Jeff Bezos" not in result.stdout + at.stdout
    assert "nobody to show" in at.stdout


def test_a_half_written_first_job_is_not_shown_as_complete(cli, world) -> None:
    # A first upload whose results function died after writing two of its three appearances.
    world.submit(VIDEO_A, "job-a")
    world.write_job_items(VIDEO_A, "job-a", PAGES_A, first=2)

    document = json_out(cli("video", VIDEO_A.uri, "--json"))

    assert (document["status"], document["appearances"]) == ("SUBMITTED", [])
    assert document["ready"] is False
    assert json_out(cli("at", VIDEO_A.uri, "0:00:01.5", "--json"))["appearances"] == []


def test_a_finished_job_is_shown_without_another_jobs_leftovers(cli, seeded) -> None:
    # job-old's items stayed behind (its attempt crashed before its own clean-up), next to the
    # finished job-a: only job-a's are the video's results.
    seeded.write_job_items(VIDEO_A, "job-old", PAGES_A2)

    document = json_out(cli("video", VIDEO_A.uri, "--json"))

    assert timeline(document) == A_TIMELINE
    assert (document["job_id"], document["ready"]) == ("job-a", True)
    assert json_out(cli("at", VIDEO_A.uri, "20.2", "--json"))["appearances"] == []
    # Evans #2's only finished video is VIDEO_C; the leftover summary names VIDEO_A.
    assert videos_of(json_out(cli("celebrity", EVANS_2, "--json"))) == [VIDEO_C.uri]


def test_celebrity_leaves_out_videos_whose_summary_is_not_their_finished_job(cli, seeded) -> None:
    # VIDEO_A is being re-run (job-a2 recorded, nothing written yet): its job-a summaries are
    # still in both indexes, but no longer describe the video.
    seeded.submit(VIDEO_A, "job-a2")

    by_id = json_out(cli("celebrity", BEZOS, "--json"))

    assert videos_of(by_id) == [VIDEO_B.uri]
    assert by_id["total_screen_time_ms"] == 1000
    assert [v["job_id"] for v in by_id["videos"]] == ["job-b"]
    # Taylor Swift appears in VIDEO_A only: nobody to show, by id or by name.
    for argument in (SWIFT, "Taylor Swift"):
        result = cli("celebrity", argument, "--json")
        assert result.exit_code == 1, result.output
        assert f"no celebrity with id or name {argument!r}" in result.stderr


def test_a_name_lookup_drops_a_namesake_whose_only_video_is_being_rerun(cli, seeded) -> None:
    seeded.submit(VIDEO_C, "job-c2")  # Evans #2's only video

    document = json_out(cli("celebrity", "Chris Evans", "--json"))

    assert (document["celebrity_id"], videos_of(document)) == (EVANS_1, [VIDEO_B.uri])
    assert document["other_matches"] == []


def test_results_being_rewritten_in_place_are_not_shown_as_a_mix(cli, seeded) -> None:
    # `reprocess` with new tuning writes job-a's new items before it deletes the old ones and
    # records the new counts; meanwhile the video stays SUCCEEDED with the same job.
    seeded.write_job_items(VIDEO_A, "job-a", PAGES_A2, first=1)

    document = json_out(cli("video", VIDEO_A.uri, "--json"))

    assert document["appearances"] == []
    assert (document["status"], document["job_id"], document["ready"]) == (
        "SUCCEEDED",
        "job-a",
        False,
    )
    assert "incomplete or being rewritten: 4 appearances found, 3 recorded" in document["note"]


def test_reprocess_ends_the_rewrite_window(cli, seeded) -> None:
    seeded.write_job_items(VIDEO_A, "job-a", PAGES_A2, first=1)

    result = cli("reprocess", VIDEO_A.uri, "--archive-bucket", seeded.archive_bucket, "--json")

    assert result.exit_code == 0, result.output
    assert timeline(json_out(cli("video", VIDEO_A.uri, "--json"))) == A_TIMELINE


@pytest.mark.parametrize("command", ["video", "at", "celebrity"])
def test_an_unknown_schema_version_is_refused_with_exit_3(cli, seeded, command) -> None:
    # A newer cameo rewrote VIDEO_A's items in a shape this one does not know.
    seeded.write_job_items(VIDEO_A, "job-a", PAGES_A, schema_version=2)
    args = {
        "video": ["video", VIDEO_A.uri],
        "at": ["at", VIDEO_A.uri, "0:00:01"],
        "celebrity": ["celebrity", SWIFT],
    }[command]

    result = cli(*args, "--json")

    assert result.exit_code == 3, result.output
    assert result.stdout == ""
    assert "schema_version 2; this cameo reads version(s) 1: upgrade cameo" in result.stderr
    assert "Traceback" not in result.output


def test_items_written_before_schema_version_existed_read_as_version_1(cli, seeded) -> None:
    seeded.write_job_items(VIDEO_A, "job-a", PAGES_A, schema_version=None)  # None: not stored
    stored = list(seeded.table.appearances(VIDEO_A)) + list(seeded.table.summaries(VIDEO_A))
    assert stored and all("schema_version" not in item for item in stored)

    assert timeline(json_out(cli("video", VIDEO_A.uri, "--json"))) == A_TIMELINE
    assert VIDEO_A.uri in videos_of(json_out(cli("celebrity", SWIFT, "--json")))


def test_new_items_carry_schema_version_1(seeded) -> None:
    stored = list(seeded.table.appearances(VIDEO_A)) + list(seeded.table.summaries(VIDEO_A))

    assert len(stored) == 3 + 2
    assert {item["schema_version"] for item in stored} == {1}


def test_a_video_item_missing_for_a_summary_drops_that_summary(cli, seeded) -> None:
    # A summary whose video item is gone (never a state the functions leave, but a GSI can lag
    # behind a delete): not shown, and no error.
    stray = VideoRef(BUCKET, "gone.mp4")
    seeded.write_job_items(stray, "job-gone", PAGES_B)

    assert videos_of(json_out(cli("celebrity", BEZOS, "--json"))) == [VIDEO_A.uri, VIDEO_B.uri]


def test_results_past_their_retention_are_not_shown(cli, seeded) -> None:
    # ResultsRetentionDays set expires_at; DynamoDB's TTL has not deleted the items yet.
    seeded.write_job_items(VIDEO_A, "job-a", PAGES_A, expires_at=1_000_000_000)  # 2001

    document = json_out(cli("video", VIDEO_A.uri, "--json"))

    assert document["appearances"] == []
    assert document["ready"] is False
    assert "past their retention" in document["note"]
    assert videos_of(json_out(cli("celebrity", BEZOS, "--json"))) == [VIDEO_B.uri]


def test_results_within_their_retention_are_shown(cli, seeded) -> None:
    seeded.write_job_items(VIDEO_A, "job-a", PAGES_A, expires_at=4_102_444_800)  # 2100

    assert timeline(json_out(cli("video", VIDEO_A.uri, "--json"))) == A_TIMELINE
