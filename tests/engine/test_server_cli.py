"""`cameo engine` commands: gallery management, the jobs view, and a light import."""

from __future__ import annotations

# Fixtures are imported from server_harness; pytest injects them by parameter name.
# ruff: noqa: F811
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cameo_engine.cli import app
from tests.engine.server_harness import (  # noqa: F401 - fixtures
    engine,
    engine_factory,
    fake_backend,
    moto_aws,
    moto_endpoint,
    rekognition,
    start_job,
    video_script,
    wait_done,
)

runner = CliRunner()


def test_importing_the_cli_loads_no_heavy_module():
    code = (
        "import sys, cameo_engine.cli; "
        "heavy = {'dlib', 'av', 'numpy', 'boto3', 'werkzeug'} & set(sys.modules); "
        "print(sorted(heavy)); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_serve_help_lists_the_contract_options():
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--gallery",
        "--s3-endpoint",
        "--sns-endpoint",
        "--workers",
        "--max-concurrent-jobs",
        "--sample-fps",
        "--state-dir",
    ):
        assert option in result.output


def test_jobs_view_shows_status_and_progress(moto_aws, engine, rekognition):
    moto_aws.put_video("a.mp4", video_script(detections=4))
    job_id = start_job(rekognition, moto_aws.bucket, "a.mp4")
    wait_done(rekognition, job_id)
    result = runner.invoke(app, ["jobs", "--endpoint", engine.endpoint_url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert job_id[:12] in result.output
    assert "SUCCEEDED" in result.output and "100%" in result.output


def test_jobs_view_reports_an_unreachable_engine():
    result = runner.invoke(app, ["jobs", "--endpoint", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot read jobs" in result.output


@pytest.mark.engine
@pytest.mark.slow
def test_gallery_add_list_remove(tmp_path: Path):
    from cameo_engine import synth

    gallery = tmp_path / "gallery"
    photo = synth.photo_path("biden")
    added = runner.invoke(
        app,
        ["gallery", "add", "Joe Biden", str(photo), "--gallery", str(gallery),
         "--id", "biden46", "--url", "www.example.org/biden", "--gender", "Male"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "Id biden46" in added.output
    listed = runner.invoke(app, ["gallery", "list", "--gallery", str(gallery)])
    assert "biden46\tJoe Biden\tMale\twww.example.org/biden" in listed.output
    removed = runner.invoke(app, ["gallery", "remove", "biden46", "--gallery", str(gallery)])
    assert removed.exit_code == 0 and "removed Joe Biden" in removed.output
    empty = runner.invoke(app, ["gallery", "list", "--gallery", str(gallery)])
    assert "no people enrolled" in empty.output


@pytest.mark.engine
@pytest.mark.slow
def test_gallery_errors_are_clear_and_exit_non_zero(tmp_path: Path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (90, 120, 150)).save(blank)
    gallery = tmp_path / "gallery"
    no_face = runner.invoke(
        app, ["gallery", "add", "Nobody", str(blank), "--gallery", str(gallery)]
    )
    assert no_face.exit_code == 1
    assert "error:" in no_face.output and "face" in no_face.output
    missing = runner.invoke(app, ["gallery", "remove", "Nobody", "--gallery", str(gallery)])
    assert missing.exit_code == 1 and "error:" in missing.output
