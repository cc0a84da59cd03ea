"""`cameo reprocess`: results come back from the raw-results archive, not from Rekognition."""

from __future__ import annotations

from tests.cli.scenario import BEZOS, BROKEN, SWIFT, VIDEO_A, json_out


def timeline(cli, video) -> list[tuple[str, int, int, int]]:
    document = json_out(cli("video", video.uri, "--json"))
    return [
        (a["celebrity_id"], a["start_ms"], a["end_ms"], a["detections"])
        for a in document["appearances"]
    ]


def test_reprocess_restores_deleted_appearances_from_the_archive(cli, seeded, spy) -> None:
    before = json_out(cli("video", VIDEO_A.uri, "--json"))
    celebrity_before = json_out(cli("celebrity", BEZOS, "--json"))
    assert seeded.table.delete_results(VIDEO_A) == 3 + 2  # appearances + summaries
    assert timeline(cli, VIDEO_A) == []
    spy.clear()

    result = cli("reprocess", VIDEO_A.uri, "--archive-bucket", seeded.archive_bucket, "--json")

    assert json_out(result) == {
        "video": VIDEO_A.uri,
        "job_id": "job-a",
        "status": "SUCCEEDED",
        "appearances": 3,
        "celebrities": 2,
        "detections": 8,
        "pages": 2,
    }
    assert "rekognition" not in spy.services
    assert set(spy.services) == {"dynamodb", "s3"}
    assert json_out(cli("video", VIDEO_A.uri, "--json")) == before
    assert json_out(cli("celebrity", BEZOS, "--json")) == celebrity_before


def test_reprocess_reads_the_archive_bucket_from_the_environment(cli, seeded, monkeypatch):
    monkeypatch.setenv("ARCHIVE_BUCKET", seeded.archive_bucket)

    result = cli("reprocess", VIDEO_A.uri)

    assert result.exit_code == 0, result.output
    assert "re-normalized from 2 archived page(s): 3 appearance(s)" in result.stdout


def test_reprocess_with_a_wider_gap_merges_appearances(cli, seeded) -> None:
    result = cli(
        "reprocess",
        VIDEO_A.uri,
        "--archive-bucket",
        seeded.archive_bucket,
        "--merge-gap-ms",
        "10000",
        "--json",
    )

    assert json_out(result)["appearances"] == 2
    # Bezos' two runs (8 s apart) are one now, and the old split items are gone.
    assert timeline(cli, VIDEO_A) == [(BEZOS, 1000, 10500, 5), (SWIFT, 3000, 4000, 3)]


def test_reprocess_without_an_archive_bucket_is_a_usage_error(cli, seeded) -> None:
    result = cli("reprocess", VIDEO_A.uri)

    assert result.exit_code == 2
    assert "--archive-bucket or set ARCHIVE_BUCKET" in result.stderr


def test_reprocess_rejects_an_out_of_range_confidence(cli, seeded) -> None:
    result = cli(
        "reprocess",
        VIDEO_A.uri,
        "--archive-bucket",
        seeded.archive_bucket,
        "--min-confidence",
        "150",
    )

    assert result.exit_code == 2
    assert "MIN_CONFIDENCE" in result.stderr
    assert timeline(cli, VIDEO_A)  # untouched


def test_reprocess_of_a_failed_job_exits_1(cli, seeded) -> None:
    result = cli("reprocess", BROKEN.uri, "--archive-bucket", seeded.archive_bucket)

    assert result.exit_code == 1
    assert "is FAILED; only a SUCCEEDED job is reprocessed" in result.stderr
    assert "Traceback" not in result.output


def test_reprocess_of_an_unknown_video_exits_1(cli, seeded) -> None:
    result = cli(
        "reprocess", "s3://cameo-videos-local/nope.mp4", "--archive-bucket", seeded.archive_bucket
    )

    assert result.exit_code == 1
    assert "has no job to reprocess" in result.stderr
