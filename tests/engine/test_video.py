"""Decoding, container metadata and time-based sampling with PyAV."""

from __future__ import annotations

import itertools
import math
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cameo_engine import synth
from cameo_engine.video import VideoDecodeError, probe, sample_frames

pytestmark = pytest.mark.engine


def _by_name(videos, name: str):  # type: ignore[no-untyped-def]
    return next(v for v in videos if v.spec.name == name)


@pytest.mark.parametrize(
    ("name", "codec", "fmt", "rate"),
    [
        ("enter_leave_mp4_25", "h264", "QuickTime / MOV", 25.0),
        ("scale_two_faces_mov_2997", "h264", "QuickTime / MOV", 29.97),
        ("cut_avi_25", "mpeg4", "AVI (Audio Video Interleaved)", 25.0),
    ],
)
def test_video_metadata_comes_from_the_container(standard_videos, name, codec, fmt, rate) -> None:
    video = _by_name(standard_videos, name)
    meta = probe(video.path).metadata()
    assert meta["Codec"] == codec
    assert meta["Format"] == fmt
    assert meta["FrameRate"] == pytest.approx(rate, abs=0.01)
    assert (meta["FrameWidth"], meta["FrameHeight"]) == (640, 360)
    assert meta["ColorRange"] == "LIMITED"
    assert abs(meta["DurationMillis"] - video.spec.duration * 1000) <= 1000 / rate + 1


@pytest.mark.parametrize("name", ["scale_two_faces_mov_2997", "vfr_mp4", "cut_avi_25"])
def test_samples_follow_the_time_grid_not_the_frame_index(standard_videos, name) -> None:
    video = _by_name(standard_videos, name)
    frame_ms = [f.t_ms for f in video.truth]
    samples = [s.timestamp_ms for s in sample_frames(video.path, 5.0, skip_nonref=False)]
    # Each sample is a real frame: its timestamp is that frame's pts in ms
    assert all(any(abs(ms - t) <= 0.5 for t in frame_ms) for ms in samples)
    # Every 200 ms grid point is covered by the first frame at or after it
    grid = [k * 200 for k in range(math.ceil(frame_ms[-1] / 200))]
    expected = sorted({round(min(t for t in frame_ms if t >= g - 1e-6)) for g in grid})
    assert samples == expected


def test_29_97_fps_timestamps_drift_from_frame_counting(standard_videos) -> None:
    # At 30000/1001 fps frame 150 is at 5005 ms, not 5000: timestamps must come from pts
    video = _by_name(standard_videos, "scale_two_faces_mov_2997")
    samples = [s.timestamp_ms for s in sample_frames(video.path, 5.0, skip_nonref=False)]
    assert 5005 in samples
    assert 5000 not in samples


def test_skipping_non_reference_frames_keeps_samples_within_a_few_frames(standard_videos) -> None:
    video = _by_name(standard_videos, "enter_leave_mp4_25")
    fast = [s.timestamp_ms for s in sample_frames(video.path, 5.0, skip_nonref=True)]
    exact = [s.timestamp_ms for s in sample_frames(video.path, 5.0, skip_nonref=False)]
    assert len(fast) == len(exact)
    assert all(0 <= f - e < 200 for f, e in zip(fast, exact, strict=True))


@pytest.mark.parametrize("name", ["enter_leave_mp4_25", "cut_avi_25", "vfr_mp4"])
def test_chunks_decoded_separately_sample_the_same_frames(standard_videos, name) -> None:
    video = _by_name(standard_videos, name)
    whole = [s.timestamp_ms for s in sample_frames(video.path, 5.0)]
    bounds = [0.0, 1.4, 2.6, 4.0, math.inf]
    parts = [
        s.timestamp_ms
        for a, b in itertools.pairwise(bounds)
        for s in sample_frames(video.path, 5.0, start_s=a, end_s=b)
    ]
    assert parts == whole


def test_sampled_frames_convert_to_grey_and_rgb(standard_videos) -> None:
    video = _by_name(standard_videos, "enter_leave_mp4_25")
    sample = next(iter(sample_frames(video.path, 5.0)))
    gray, rgb = sample.gray(), sample.rgb()
    assert gray.shape == (360, 640)
    assert rgb.shape == (360, 640, 3)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.corrcoef(gray.ravel(), luma.ravel())[0, 1] > 0.99


# ---------------------------------------------------------------- bad videos


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _unknown_codec(source: Path, path: Path) -> Path:
    data = source.read_bytes()  # an mpeg4 AVI whose FourCC no decoder knows
    path.write_bytes(data.replace(b"FMP4", b"ZZZZ"))
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, v: _write(d / "empty.mp4", b""), "empty (0 bytes)"),
        (lambda d, v: _write(d / "junk.mp4", bytes(range(256)) * 200), "not a readable video"),
        (
            lambda d, v: _write(d / "cut.mp4", v["enter_leave_mp4_25"].read_bytes()[:30000]),
            "not a readable video",
        ),
        (lambda d, v: _audio_only(d / "sound.m4a"), "no video stream (audio only)"),
        (lambda d, v: _unknown_codec(v["cut_avi_25"], d / "odd.avi"), "unsupported video codec"),
        (lambda d, v: d / "missing.mp4", "cannot read the video file"),
    ],
    ids=["zero-length", "garbage", "truncated", "audio-only", "unknown-codec", "missing"],
)
def test_bad_videos_raise_a_clear_decode_error(tmp_path, standard_videos, make, message) -> None:
    paths = {v.spec.name: v.path for v in standard_videos}
    path = make(tmp_path, paths)
    with pytest.raises(VideoDecodeError, match=re.escape(message)):
        list(sample_frames(path, 5.0))


def test_a_still_image_is_not_a_video(tmp_path, photo_dir) -> None:
    with pytest.raises(VideoDecodeError, match="still image"):
        probe(photo_dir / "obama.jpg")


def test_a_video_can_be_written_at_29_97_fps_exactly(tmp_path) -> None:
    # The synthesizer itself: 30000/1001 fps frames land on 1001/30 ms steps
    scene = synth.Scene(64, 64, actors=[])
    spec = synth.VideoSpec("tiny", ".mp4", Fraction(30000, 1001), 0.5)
    truth = synth.write_video(tmp_path / "tiny.mp4", scene, spec)
    assert [round(f.t_ms, 3) for f in truth[:3]] == [0.0, 33.367, 66.733]


def test_a_jpeg_range_stream_reports_full_color_range(tmp_path) -> None:
    spec = synth.VideoSpec("mjpeg", ".avi", Fraction(25), 0.4, codec="mjpeg")
    synth.write_video(tmp_path / "mjpeg.avi", synth.Scene(160, 120, actors=[]), spec)
    meta = probe(tmp_path / "mjpeg.avi").metadata()
    assert (meta["Codec"], meta["ColorRange"]) == ("mjpeg", "FULL")
    # intra-only codec: nothing to skip, every grid point still gets its frame
    assert [s.timestamp_ms for s in sample_frames(tmp_path / "mjpeg.avi", 5.0)] == [0, 200]


@pytest.mark.parametrize("name", ["enter_leave_mp4_25", "cut_avi_25", "scale_two_faces_mov_2997"])
def test_damaged_videos_either_decode_or_raise_a_decode_error(standard_videos, tmp_path, name):
    # Seeded damage: overwritten blocks, truncation, scattered byte flips (headers included)
    video = _by_name(standard_videos, name)
    data = video.path.read_bytes()
    rng = np.random.default_rng(7)
    outcomes = set()
    for trial in range(24):
        damaged = bytearray(data)
        if trial % 3 == 0:
            at = int(rng.integers(len(damaged)))
            damaged[at : at + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
        elif trial % 3 == 1:
            damaged = damaged[: int(rng.integers(100, len(damaged)))]
        else:
            for at in rng.integers(0, len(damaged), 60):
                damaged[at] = int(rng.integers(256))
        path = _write(tmp_path / f"damaged{video.spec.suffix}", bytes(damaged))
        try:
            frames = [s.gray().shape for s in sample_frames(path, 5.0)]
            outcomes.add("decoded")
            assert all(shape == (360, 640) for shape in frames)
        except VideoDecodeError as exc:
            outcomes.add("refused")
            assert str(exc)
    assert "refused" in outcomes
