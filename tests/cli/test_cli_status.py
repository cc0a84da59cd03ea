"""`cameo status`, and the errors every command shares."""

from __future__ import annotations

import pytest

from tests.cli.scenario import BROKEN, FAILURE_REASON, METADATA, PENDING, VIDEO_A, json_out


def test_status_json_of_a_finished_video(cli, seeded) -> None:
    document = json_out(cli("status", VIDEO_A.uri, "--json"))

    assert document["video"] == VIDEO_A.uri
    assert document["bucket"] == VIDEO_A.bucket
    assert document["key"] == VIDEO_A.key
    assert document["status"] == "SUCCEEDED"
    assert document["job_id"] == "job-a"
    assert document["reason"] is None
    assert (
        document["appearance_count"],
        document["celebrity_count"],
        document["detection_count"],
    ) == (3, 2, 8)
    assert document["video_metadata"] == METADATA
    assert document["submitted_at"] == "2026-01-02T03:04:05.000+00:00"
    assert document["completed_at"].endswith("+00:00")


def test_status_json_carries_the_failure_reason(cli, seeded) -> None:
    document = json_out(cli("status", BROKEN.uri, "--json"))

    assert document["status"] == "FAILED"
    assert document["job_id"] == "job-broken"
    assert document["reason"] == FAILURE_REASON


def test_status_table_shows_status_job_and_reason(cli, seeded) -> None:
    result = cli("status", BROKEN.uri)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.split() == ["status", "FAILED"] for line in lines)
    assert any(line.split() == ["job_id", "job-broken"] for line in lines)
    assert any(line.startswith("reason") and FAILURE_REASON in line for line in lines)


def test_status_table_of_a_finished_video_shows_its_duration(cli, seeded) -> None:
    result = cli("status", VIDEO_A.uri)

    assert "0:01:05.000" in result.stdout  # DurationMillis 65000


def test_status_of_a_submitted_video(cli, seeded) -> None:
    document = json_out(cli("status", PENDING.uri, "--json"))

    assert (document["status"], document["job_id"], document["completed_at"]) == (
        "SUBMITTED",
        "job-pending",
        None,
    )


def test_status_of_an_unknown_video_exits_1(cli, seeded) -> None:
    result = cli("status", "s3://cameo-videos-local/missing.mp4")

    assert result.exit_code == 1
    assert "no record of s3://cameo-videos-local/missing.mp4" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["video", "status", "at"])
def test_missing_table_name_is_a_usage_error(cli, world, monkeypatch, command) -> None:
    monkeypatch.delenv("TABLE_NAME")
    args = [command, VIDEO_A.uri] + (["0:00:01"] if command == "at" else [])

    result = cli(*args)

    assert result.exit_code == 2
    assert "pass --table or set TABLE_NAME" in result.stderr
    assert "Traceback" not in result.output


def test_cameo_table_is_read_when_table_name_is_unset(cli, seeded, monkeypatch) -> None:
    monkeypatch.delenv("TABLE_NAME")
    monkeypatch.setenv("CAMEO_TABLE", seeded.table_name)

    assert json_out(cli("status", VIDEO_A.uri, "--json"))["status"] == "SUCCEEDED"


def test_table_option_wins_over_the_environment(cli, seeded, monkeypatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "some-other-table")

    result = cli("status", VIDEO_A.uri, "--table", seeded.table_name, "--json")

    assert json_out(result)["job_id"] == "job-a"


@pytest.mark.parametrize("command", ["video", "status", "celebrity"])
def test_a_table_that_does_not_exist_is_reported_without_a_traceback(cli, world, command):
    target = "Jeff Bezos" if command == "celebrity" else VIDEO_A.uri

    result = cli(command, target, "--table", "no-such-table")

    assert result.exit_code == 1
    assert "table 'no-such-table' not found" in result.stderr
    assert "ResourceNotFoundException" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("uri", ["cameo-videos-local/a.mp4", "s3://bucket-only", "s3:///key.mp4"])
def test_a_malformed_video_uri_is_a_usage_error(cli, world, uri) -> None:
    result = cli("status", uri)

    assert result.exit_code == 2
    assert "s3://BUCKET/KEY" in result.stderr
    assert "Traceback" not in result.output


def test_region_and_profile_pick_the_session(cli, seeded, spy) -> None:
    # moto keeps tables per region: the same name in another region does not exist.
    result = cli("status", VIDEO_A.uri, "--region", "eu-west-1")
    assert result.exit_code == 1
    assert "not found" in result.stderr

    unknown = cli("status", VIDEO_A.uri, "--profile", "no-such-profile")
    assert unknown.exit_code == 1
    assert "no-such-profile" in unknown.stderr
    assert "Traceback" not in unknown.output


def test_status_of_a_queued_video_shows_its_wait_and_place_in_the_queue(cli, seeded) -> None:
    from datetime import UTC, datetime, timedelta

    from cameo_core.backlog import Upload, enqueue
    from cameo_core.config import StartConfig, Tuning

    config = StartConfig(seeded.table_name, "", "", Tuning())
    start = datetime.now(UTC) - timedelta(minutes=5)
    for n in range(3):
        upload = Upload("cameo-videos-local", f"queue/{n}.mp4", 100, "e", sequencer=f"0{n + 1}")
        enqueue(upload, config, seeded.table, None, now=start + timedelta(seconds=n))

    document = json_out(cli("status", "s3://cameo-videos-local/queue/2.mp4", "--json"))

    assert document["status"] == "QUEUED" and document["queue_position"] == 2
    assert 290 <= document["waited_s"] <= 400
    first = json_out(cli("status", "s3://cameo-videos-local/queue/0.mp4", "--json"))
    assert first["queue_position"] == 0
    table = cli("status", "s3://cameo-videos-local/queue/2.mp4")
    assert any(line.split() == ["queue_position", "2"] for line in table.stdout.splitlines())
