"""`cameo celebrity`: by id through ByCelebrity, by name through ByName; never a Scan."""

from __future__ import annotations

from tests.cli.scenario import BEZOS, EVANS_1, EVANS_2, VIDEO_A, VIDEO_B, VIDEO_C, json_out

BEZOS_VIDEOS = [
    {
        "video": VIDEO_A.uri,
        "screen_time_ms": 1000 + 500,
        "appearances": 2,
        "first_seen_ms": 1000,
        "last_seen_ms": 10500,
        "best_confidence": 99.5,
        "job_id": "job-a",
        "duration_ms": 65_000,
        "share_of_runtime": round(1500 / 65_000, 4),
    },
    {
        "video": VIDEO_B.uri,
        "screen_time_ms": 1000,
        "appearances": 1,
        "first_seen_ms": 60000,
        "last_seen_ms": 61000,
        "best_confidence": 99.0,
        "job_id": "job-b",
        "duration_ms": 65_000,
        "share_of_runtime": round(1000 / 65_000, 4),
    },
]


def test_celebrity_by_id_queries_the_by_celebrity_index(cli, seeded, spy) -> None:
    spy.clear()

    document = json_out(cli("celebrity", BEZOS, "--json"))

    # Stored as Decimal('99'); the contract says confidences are JSON floats.
    assert isinstance(document["videos"][1]["best_confidence"], float)
    assert document == {
        "celebrity_id": BEZOS,
        "name": "Jeff Bezos",
        "total_screen_time_ms": 2500,
        "videos": BEZOS_VIDEOS,
        "other_matches": [],
    }
    # One index query, then each video's own item: which of its jobs is the finished one.
    assert spy.calls == [("Query", "ByCelebrity"), ("GetItem", None), ("GetItem", None)]


def test_celebrity_by_name_falls_back_to_the_by_name_index(cli, seeded, spy) -> None:
    spy.clear()

    # Case and spacing do not matter: names are keyed casefolded with single spaces.
    document = json_out(cli("celebrity", "jeff  BEZOS", "--json"))

    assert document["celebrity_id"] == BEZOS
    assert document["name"] == "Jeff Bezos"
    assert document["videos"] == BEZOS_VIDEOS
    assert [call for call in spy.calls if call[0] == "Query"] == [
        ("Query", "ByCelebrity"),
        ("Query", "ByName"),
    ]
    assert "Scan" not in spy.operations


def test_a_name_shared_by_two_ids_keeps_the_contract_and_lists_the_other(cli, seeded, spy) -> None:
    spy.clear()

    document = json_out(cli("celebrity", "Chris Evans", "--json"))

    # The contract's keys describe one person; the namesake is listed, never merged.
    [other] = document["other_matches"]
    found = {
        (document["celebrity_id"], document["videos"][0]["video"]),
        (other["celebrity_id"], other["videos"][0]["video"]),
    }
    assert found == {(EVANS_1, VIDEO_B.uri), (EVANS_2, VIDEO_C.uri)}
    assert document["total_screen_time_ms"] >= other["total_screen_time_ms"]
    assert document["name"] == other["name"] == "Chris Evans"
    assert "Scan" not in spy.operations


def test_celebrity_table_shows_screen_time_per_video(cli, seeded) -> None:
    result = cli("celebrity", BEZOS)

    assert result.exit_code == 0, result.output
    assert "Jeff Bezos" in result.stdout
    row_a = next(line for line in result.stdout.splitlines() if VIDEO_A.uri in line)
    assert "0:00:01.500" in row_a  # screen time
    assert "0:00:10.500" in row_a  # last seen
    assert "total screen time 0:00:02.500 in 2 videos" in result.stdout


def test_unknown_celebrity_exits_1(cli, seeded, spy) -> None:
    spy.clear()

    result = cli("celebrity", "Nobody Famous", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no celebrity with id or name 'Nobody Famous'" in result.stderr
    assert "Scan" not in spy.operations
