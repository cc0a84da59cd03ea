"""The server with the real recognition core (dlib + PyAV) on short synthesized videos."""

from __future__ import annotations

# Fixtures are imported from server_harness; pytest injects them by parameter name.
# ruff: noqa: F811
import logging
import time
from fractions import Fraction
from pathlib import Path

import pytest

from cameo_engine.api import Engine, EngineConfig, start_engine
from cameo_engine.store import IN_PROGRESS, Store
from tests.engine.server_harness import (  # noqa: F401 - fixtures
    REGION,
    moto_aws,
    moto_endpoint,
    rekognition_client,
    start_job,
    wait_done,
)

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from cameo_engine import synth

    root = tmp_path_factory.mktemp("real")
    gallery = synth.make_gallery(root / "gallery", [synth.OBAMA, synth.COLLINS])
    sprites = {k: synth.Sprite.from_photo(k) for k in ("obama3", "biden")}
    short = root / "obama.mp4"
    synth.write_video(
        short,
        synth.Scene(
            320,
            240,
            seed=5,
            actors=[
                synth.Actor(sprites["obama3"], [synth.Key(0, 160, 120, 90)], enter=0.4),
                # Biden is not enrolled: present on screen, never named
                synth.Actor(sprites["biden"], [synth.Key(0, 260, 110, 70)], leave=1.0),
            ],
        ),
        synth.VideoSpec("obama", ".mp4", Fraction(25), 2.0),
    )
    long = root / "long.mp4"
    synth.write_video(
        long,
        synth.Scene(
            320, 240, seed=6, actors=[synth.Actor(sprites["obama3"], [synth.Key(0, 160, 120, 90)])]
        ),
        synth.VideoSpec("long", ".mp4", Fraction(25), 20.0),
    )
    return {
        "gallery": gallery,
        "short": short,
        "long": long,
        "photo": synth.photo_path("obama"),
    }


def real_engine(moto_endpoint: str, media: dict[str, Path], state: Path) -> Engine:
    return start_engine(
        EngineConfig(
            gallery_dir=media["gallery"],
            state_dir=state,
            s3_endpoint=moto_endpoint,
            sns_endpoint=moto_endpoint,
            region=REGION,
        )
    )


def test_real_video_job_names_enrolled_people_only(moto_aws, moto_endpoint, media, tmp_path):
    moto_aws.put_video("obama.mp4", media["short"].read_bytes())
    with real_engine(moto_endpoint, media, tmp_path / "state") as engine:
        client = rekognition_client(engine.endpoint_url)
        page = wait_done(client, start_job(client, moto_aws.bucket, "obama.mp4"), timeout=120)
        info_id = page["Celebrities"][0]["Celebrity"]["Id"]
        info = client.get_celebrity_info(Id=info_id)
    assert page["JobStatus"] == "SUCCEEDED"
    names = {c["Celebrity"]["Name"] for c in page["Celebrities"]}
    assert names == {"Barack Obama"}
    first = min(c["Timestamp"] for c in page["Celebrities"])
    assert 400 <= first <= 600  # enters at 0.4 s; sampled every 200 ms
    meta = page["VideoMetadata"]
    assert (meta["Codec"], meta["FrameWidth"], meta["FrameHeight"]) == ("h264", 320, 240)
    assert info["Name"] == "Barack Obama"


def test_real_corrupt_video_fails_with_the_decoder_message(
    moto_aws, moto_endpoint, media, tmp_path
):
    good = media["short"].read_bytes()
    moto_aws.put_video("broken.mp4", good[:64] + b"\0" * 512)
    with real_engine(moto_endpoint, media, tmp_path / "state") as engine:
        client = rekognition_client(engine.endpoint_url)
        page = wait_done(client, start_job(client, moto_aws.bucket, "broken.mp4"), timeout=60)
    assert page["JobStatus"] == "FAILED"
    assert page["StatusMessage"].startswith("Unable to decode the video: ")


def test_real_recognize_celebrities_on_a_photo(moto_endpoint, media, tmp_path):
    with real_engine(moto_endpoint, media, tmp_path / "state") as engine:
        client = rekognition_client(engine.endpoint_url)
        found = client.recognize_celebrities(Image={"Bytes": media["photo"].read_bytes()})
        with pytest.raises(client.exceptions.InvalidImageFormatException):
            client.recognize_celebrities(Image={"Bytes": b"definitely not an image"})
    assert [f["Name"] for f in found["CelebrityFaces"]] == ["Barack Obama"]


def test_shutdown_interrupts_a_real_analysis_and_leaves_it_resumable(
    moto_aws, moto_endpoint, media, tmp_path, caplog
):
    # The core swallows ordinary exceptions from progress callbacks; the engine's
    # cancellation must still get through, so stop() does not wait for the whole video.
    caplog.set_level(logging.INFO, logger="cameo_engine")
    moto_aws.put_video("long.mp4", media["long"].read_bytes())
    engine = real_engine(moto_endpoint, media, tmp_path / "state")
    client = rekognition_client(engine.endpoint_url)
    job_id = start_job(client, moto_aws.bucket, "long.mp4")
    deadline = time.monotonic() + 60
    while engine.runner.progress(job_id) in (None, 0.0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.runner.progress(job_id)
    engine.stop()
    # the cancellation reached the job, instead of being logged and ignored by the core
    assert not [r for r in caplog.records if "progress callback failed" in r.getMessage()]
    assert any("interrupted by shutdown" in r.getMessage() for r in caplog.records)
    store = Store(tmp_path / "state" / "engine.sqlite3")
    job = store.get(job_id)
    store.close()
    assert job is not None and job.status == IN_PROGRESS and job.attempts == 0
