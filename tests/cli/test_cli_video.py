"""`cameo video` and `cameo at` against results written by the real results path."""

from __future__ import annotations

import pytest

from tests.cli.scenario import (
    BEZOS,
    BROKEN,
    EVANS_1,
    FAILURE_REASON,
    PENDING,
    SWIFT,
    VIDEO_A,
    VIDEO_B,
    json_out,
)


def test_video_json_lists_appearances_sorted_by_start(cli, seeded) -> None:
    document = json_out(cli("video", VIDEO_A.uri, "--json"))

    assert document["video"] == VIDEO_A.uri
    assert document["status"] == "SUCCEEDED"
    assert document["job_id"] == "job-a"
    assert (document["ready"], document["note"]) == (True, None)
    timeline = [
        (a["celebrity_id"], a["name"], a["start_ms"], a["end_ms"], a["detections"])
        for a in document["appearances"]
    ]
    assert timeline == [
        (BEZOS, "Jeff Bezos", 1000, 2000, 3),
        (SWIFT, "Taylor Swift", 3000, 4000, 3),  # the 50% detection at 5 s is not counted
        (BEZOS, "Jeff Bezos", 10000, 10500, 2),
    ]


def test_video_json_appearance_carries_the_documented_fields(cli, seeded) -> None:
    first = json_out(cli("video", VIDEO_A.uri, "--json"))["appearances"][0]

    assert first == {
        "celebrity_id": BEZOS,
        "name": "Jeff Bezos",
        "start_ms": 1000,
        "end_ms": 2000,
        "duration_ms": 1000,
        "detections": 3,
        "max_confidence": 99.5,
        "mean_confidence": pytest.approx((99.5 + 98.0 + 97.25) / 3, abs=0.001),
        "known_gender": "Male",
        "urls": [f"www.wikidata.org/wiki/{BEZOS}"],
        "bounding_box": {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.1},
    }


def test_video_table_shows_status_and_timeline_in_h_mm_ss_mmm(cli, seeded) -> None:
    result = cli("video", VIDEO_A.uri)

    assert result.exit_code == 0, result.output
    assert VIDEO_A.uri in result.stdout
    assert "status: SUCCEEDED" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "0:00:" in line]
    assert len(rows) == 3
    assert "Jeff Bezos" in rows[0] and "0:00:01.000" in rows[0] and "0:00:02.000" in rows[0]
    assert "Taylor Swift" in rows[1] and "0:00:03.000" in rows[1] and "99.8" in rows[1]
    assert "0:00:10.000" in rows[2] and "0:00:10.500" in rows[2] and "0:00:00.500" in rows[2]


def test_video_table_of_a_failed_job_shows_the_reason(cli, seeded) -> None:
    result = cli("video", BROKEN.uri)

    assert result.exit_code == 0, result.output
    assert "status: FAILED" in result.stdout
    assert FAILURE_REASON in result.stdout
    assert "no appearances" in result.stdout


def test_video_json_of_a_pending_job_has_no_appearances(cli, seeded) -> None:
    document = json_out(cli("video", PENDING.uri, "--json"))

    assert document == {
        "video": PENDING.uri,
        "status": "SUBMITTED",
        "reason": None,
        "job_id": "job-pending",
        "ready": False,
        "note": f"{PENDING.uri} is SUBMITTED (job job-pending): no results until it finishes",
        "appearances": [],
    }


def test_unknown_video_exits_1_with_a_message(cli, seeded) -> None:
    result = cli("video", "s3://cameo-videos-local/nope.mp4", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no record of s3://cameo-videos-local/nope.mp4" in result.stderr


def on_screen(cli, video, position) -> list[tuple[str, int, int]]:
    document = json_out(cli("at", video.uri, position, "--json"))
    return [(a["celebrity_id"], a["start_ms"], a["end_ms"]) for a in document["appearances"]]


AT_BOUNDARIES = [
    ("0:00:00.999", []),  # just before the first appearance
    ("0:00:01", [(BEZOS, 1000, 2000)]),  # exactly at its start
    ("1.5", [(BEZOS, 1000, 2000)]),  # plain seconds
    ("00:02.000", [(BEZOS, 1000, 2000)]),  # exactly at its end (mm:ss)
    ("0:00:02.001", []),  # just after it
    ("0:00:02.5", []),  # between two appearances
    ("0:00:04", [(SWIFT, 3000, 4000)]),
    ("0:00:05", []),  # the low-confidence detection did not extend Swift's run
    ("10.5", [(BEZOS, 10000, 10500)]),
    ("1:00:00", []),  # far past the end
]


def test_at_includes_appearances_from_start_to_end_inclusive(cli, seeded) -> None:
    # One seeded table for every position: moto setup dominates this suite's run time.
    seen = {position: on_screen(cli, VIDEO_A, position) for position, _ in AT_BOUNDARIES}

    assert seen == dict(AT_BOUNDARIES)


def test_at_lists_overlapping_appearances_by_start(cli, seeded) -> None:
    document = json_out(cli("at", VIDEO_B.uri, "0:01:00.750", "--json"))

    assert document["at_ms"] == 60_750
    assert document["at"] == "0:01:00.750"
    assert [(a["celebrity_id"], a["name"]) for a in document["appearances"]] == [
        (BEZOS, "Jeff Bezos"),
        (EVANS_1, "Chris Evans"),
    ]


def test_at_table_names_who_is_on_screen(cli, seeded) -> None:
    result = cli("at", VIDEO_A.uri, "0:00:03.250")

    assert result.exit_code == 0, result.output
    assert "Taylor Swift" in result.stdout
    assert "Jeff Bezos" not in result.stdout

    nobody = cli("at", VIDEO_A.uri, "0:00:07")
    assert "nobody on screen" in nobody.stdout


@pytest.mark.parametrize("position", ["1:75", "abc", "-3", "1:2:3:4"])
def test_at_rejects_a_malformed_time(cli, world, position) -> None:
    result = cli("at", VIDEO_A.uri, position)

    assert result.exit_code == 2
    assert "HH:MM:SS" in result.stderr
    assert "Traceback" not in result.output
