"""`cameo export`: the same cues and rows as the API's .vtt and .csv, read through
cameo_core.read; a video without finished results is an error, not an empty file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cameo_cli.main import app
from cameo_core.api.ids import video_id
from cameo_core.keys import VideoRef
from tests.api.world import BEZOS, SWIFT, Reply, World


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TABLE_NAME", world.table.name)
    monkeypatch.delenv("CAMEO_TABLE", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["export", *args])


def test_vtt_and_csv_exports_equal_the_apis(
    run: Any, get: Any, videos: dict[str, VideoRef]
) -> None:
    video = videos["red_carpet"]
    for fmt in ("vtt", "csv"):
        result = run(video.uri, "--format", fmt)
        assert result.exit_code == 0, result.output
        api: Reply = get(f"/videos/{video_id(video)}/appearances.{fmt}")
        assert result.stdout_bytes == api.body
    assert "Jeff Bezos (99.5)" in run(video.uri).stdout  # vtt is the default


def test_json_export_is_the_read_models_timeline_and_filters_by_celebrity(
    run: Any, videos: dict[str, VideoRef]
) -> None:
    result = run(videos["red_carpet"].uri, "--format", "json", "--celebrity-id", SWIFT)
    document = json.loads(result.stdout)
    assert document["job_id"] == "job-red"
    assert [a["celebrity_id"] for a in document["appearances"]] == [SWIFT]
    everyone = json.loads(run(videos["red_carpet"].uri, "-f", "json").stdout)
    assert [a["celebrity_id"] for a in everyone["appearances"]] == [BEZOS, SWIFT, BEZOS]


def test_export_to_a_file(run: Any, videos: dict[str, VideoRef], tmp_path: Path) -> None:
    out = tmp_path / "cast.csv"
    result = run(videos["news"].uri, "--format", "csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().count(b"\r\n") == 3  # header + 2 appearances


def test_a_video_without_finished_results_is_an_error(
    run: Any, videos: dict[str, VideoRef]
) -> None:
    result = run(videos["queued"].uri, "--format", "vtt")
    assert result.exit_code == 1
    assert "QUEUED" in result.stderr
    assert result.stdout == ""
    assert run(videos["red_carpet"].uri, "--format", "srt").exit_code == 2
