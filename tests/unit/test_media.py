"""The duration probe on real containers written by PyAV (FFmpeg's muxers), on hand-built
boxes for what FFmpeg does not write small files with (mvhd v1, 64-bit sizes, OpenDML), and on
broken input, which must end as None, never as an exception."""

from __future__ import annotations

import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cameo_core import media
from cameo_core.media import HeaderUnreadable, duration_seconds, probe
from cameo_core.pricing import estimated_cost_usd

Read = Callable[[int, int], bytes]


def write_video(
    path: Path, fmt: str, seconds: float, fps: int, options: dict[str, str] | None = None
) -> Path:
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), i % 255, np.uint8), format="rgb24"
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


# (file name, muxer, muxer options, seconds, fps)
CONTAINERS = [
    ("moov-at-end.mp4", "mp4", {}, 3.0, 25),
    ("faststart.mp4", "mp4", {"movflags": "faststart"}, 2.4, 10),
    ("moov-at-end.mov", "mov", {}, 1.5, 30),
    ("faststart.mov", "mov", {"movflags": "faststart"}, 4.0, 5),
    ("plain.avi", "avi", {}, 2.0, 25),
    ("slow.avi", "avi", {}, 6.0, 4),
]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, float]]:
    root = tmp_path_factory.mktemp("videos")
    return {
        name: (write_video(root / name, fmt, seconds, fps, options).read_bytes(), seconds)
        for name, fmt, options, seconds, fps in CONTAINERS
    }


class Reads:
    """A reader over bytes that records each call, like the S3 adapter's ranged GETs."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        return self.data[offset : offset + length]


def of(data: bytes, extension: str = ".mp4") -> float | None:
    return duration_seconds(Reads(data), len(data), extension)


@pytest.mark.parametrize("name", [c[0] for c in CONTAINERS])
def test_real_containers_give_their_duration_in_one_or_two_reads(videos, name):
    data, seconds = videos[name]
    reads = Reads(data)

    result = probe(reads, len(data), Path(name).suffix.upper())

    assert result.seconds == pytest.approx(seconds, abs=0.001), result.reason
    assert result.minutes == pytest.approx(seconds / 60, abs=1e-4)
    assert 1 <= len(reads.calls) <= 2
    # The same answer as FFmpeg's demuxer gives.
    with av.open(__import__("io").BytesIO(data)) as container:
        assert result.seconds == pytest.approx(container.duration / 1e6, abs=0.05)


def test_moov_after_a_huge_mdat_is_found_in_two_small_reads(videos):
    """A 5 GB mdat with a 64-bit size before moov: the reads jump over it, no download."""
    data, _ = videos["faststart.mp4"]
    ftyp = data[: struct.unpack(">I", data[:4])[0]]
    moov = top_level(data)[b"moov"]
    gap = 5 * 1024**3
    mdat_header = struct.pack(">I4sQ", 1, b"mdat", 16 + gap)
    layout = Sparse({0: ftyp + mdat_header, len(ftyp) + 16 + gap: moov})

    result = probe(layout, layout.size, ".mp4")

    assert result.seconds == pytest.approx(2.4, abs=0.001)
    assert len(layout.calls) == 2 and sum(n for _, n in layout.calls) <= 2 * media.BLOCK


def test_a_two_hour_layout_with_large_sample_tables_stays_within_five_reads():
    """moov at the end of 4 GB, holding mvhd, two multi-MB traks and udta: the walk over moov's
    children (looking for mvex) costs one read per large trak, no more."""
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 600, 600 * 7200))
    traks = [struct.pack(">I4s", 8 + n, b"trak") for n in (6_000_000, 2_500_000)]
    udta = box(b"udta", bytes(64))
    moov_size = 8 + len(mvhd) + sum(8 + n for n in (6_000_000, 2_500_000)) + len(udta)
    ftyp = box(b"ftyp", b"isom\0\0\0\0")
    moov_at = len(ftyp) + 16 + 4 * 1024**3
    trak1_at = moov_at + 8 + len(mvhd)
    trak2_at = trak1_at + 8 + 6_000_000
    udta_at = trak2_at + 8 + 2_500_000
    layout = Sparse(
        {
            0: ftyp + struct.pack(">I4sQ", 1, b"mdat", moov_at - len(ftyp)),
            moov_at: struct.pack(">I4s", moov_size, b"moov") + mvhd + traks[0],
            trak2_at: traks[1],
            udta_at: udta,
        }
    )

    assert probe(layout, layout.size, ".mp4").seconds == 7200.0
    assert len(layout.calls) <= 5


def test_mvhd_version_1_with_64_bit_duration():
    mvhd = box(b"mvhd", bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, 90_000, 90_000 * 7200))
    assert of(box(b"ftyp", b"isom\0\0\0\0") + box(b"moov", mvhd)) == 7200.0


def test_mvhd_version_0_after_other_moov_children():
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 600, 600 * 95))
    moov = box(b"moov", box(b"iods", bytes(16)) + box(b"trak", bytes(400)) + mvhd)
    assert of(box(b"ftyp", b"qt  \0\0\0\0") + box(b"wide", b"") + moov, ".mov") == 95.0


def test_size_zero_box_runs_to_the_end():
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, 12_000))
    moov = box(b"moov", mvhd)
    data = box(b"ftyp", b"isom\0\0\0\0") + struct.pack(">I4s", 0, b"moov") + moov[8:]
    assert of(data) == 12.0


def test_fragmented_mp4_uses_mehd_and_is_unknown_without_it():
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, 40))  # first fragment only
    mehd = box(b"mehd", bytes(4) + struct.pack(">I", 61_000))
    with_mehd = box(b"ftyp", b"iso5\0\0\0\0") + box(b"moov", mvhd + box(b"mvex", mehd))
    without = box(b"ftyp", b"iso5\0\0\0\0") + box(b"moov", mvhd + box(b"mvex", box(b"trex", b"")))

    assert of(with_mehd) == 61.0
    assert of(without) is None


@pytest.mark.parametrize(
    ("timescale", "duration"), [(0, 100), (1000, 0), (1000, 0xFFFF_FFFF)], ids=str
)
def test_unknown_or_zero_mvhd_values_are_none(timescale, duration):
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, timescale, duration))
    assert of(box(b"ftyp", b"isom\0\0\0\0") + box(b"moov", mvhd)) is None


def test_avi_open_dml_total_frames_win_over_the_first_riffs(videos):
    """Past 1 GB, avih counts only the first RIFF's frames; odml/dmlh counts them all."""
    data, _ = videos["plain.avi"]  # 25 fps, FFmpeg reserves the odml list as JUNK
    junk = data.index(b"odml") - 8
    assert data[junk : junk + 4] == b"JUNK" and data[junk + 12 : junk + 16] == b"dmlh"
    frames = 25 * 3600  # an hour
    # JUNK -> LIST; keep its size, "odml", "dmlh" and dmlh's size; then dwGrandFrames.
    patched = data[:junk] + b"LIST" + data[junk + 4 : junk + 20]
    patched += struct.pack("<I", frames) + data[junk + 24 :]

    assert of(data, ".avi") == pytest.approx(2.0)
    assert of(patched, ".avi") == pytest.approx(3600.0)


def test_the_bytes_decide_not_the_extension(videos):
    assert of(videos["plain.avi"][0], ".mov") == pytest.approx(2.0)
    assert of(videos["faststart.mov"][0], ".MP4") == pytest.approx(4.0)


@pytest.mark.parametrize("extension", [".mkv", ".jpg", "", ".txt"])
def test_other_extensions_are_not_read(videos, extension):
    reads = Reads(videos["faststart.mp4"][0])
    result = probe(reads, len(reads.data), extension)
    assert result.seconds is None and "no duration parser" in (result.reason or "")
    assert reads.calls == []


def test_zero_length_and_tiny_objects_are_unknown():
    assert of(b"") is None
    assert of(b"\x00\x00\x00\x08ftyp") is None
    assert "too small" in (probe(Reads(b""), 0, ".mp4").reason or "")


def test_moov_only_after_a_truncation_is_unknown(videos):
    data, _ = videos["moov-at-end.mp4"]
    moov_at = data.index(b"moov") - 4
    assert of(data[:moov_at]) is None
    assert of(data[: moov_at + 20]) is None  # moov header, mvhd cut off


def test_a_huge_declared_box_size_is_unknown_not_a_giant_read():
    reads = Reads(box(b"ftyp", b"isom\0\0\0\0") + struct.pack(">I4sQ", 1, b"mdat", 2**63))
    assert probe(reads, len(reads.data), ".mp4").seconds is None
    assert all(length <= media.BLOCK for _, length in reads.calls)


def test_a_declared_object_size_larger_than_the_bytes_is_unknown(videos):
    """The listing says 10 GB but the reads come back short (object replaced meanwhile)."""
    data, _ = videos["moov-at-end.mp4"]
    assert duration_seconds(Reads(data[:100]), 10 * 1024**3, ".mp4") is None


def test_many_small_boxes_stop_at_the_read_budget():
    skips = b"".join(box(b"skip", bytes(media.BLOCK)) for _ in range(3 * media.MAX_READS))
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1, 10))
    reads = Reads(box(b"ftyp", b"isom\0\0\0\0") + skips + box(b"moov", mvhd))

    result = probe(reads, len(reads.data), ".mp4")

    assert result.seconds is None and "reads" in (result.reason or "")
    assert len(reads.calls) == media.MAX_READS


def test_a_failing_reader_is_unknown_with_its_reason():
    def read(offset: int, length: int) -> bytes:
        raise HeaderUnreadable("S3 GetObject AccessDenied")

    result = probe(read, 1000, ".mov")
    assert result.seconds is None and "AccessDenied" in (result.reason or "")


def test_implausible_durations_are_unknown():
    mvhd = box(b"mvhd", bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, 1, 2**40))
    assert of(box(b"ftyp", b"isom\0\0\0\0") + box(b"moov", mvhd)) is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000), name=st.sampled_from(CONTAINERS))
def test_any_truncation_gives_the_true_duration_or_none(videos, cut, name):
    data, seconds = videos[name[0]]
    result = of(data[:cut], Path(name[0]).suffix)
    assert result is None or result == pytest.approx(seconds, abs=0.001)


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=4096),
    extension=st.sampled_from([".mp4", ".mov", ".avi"]),
    declared=st.one_of(st.none(), st.integers(min_value=0, max_value=2**64)),
)
def test_garbage_never_raises(data, extension, declared):
    size = len(data) if declared is None else declared
    result = duration_seconds(Reads(data), size, extension)
    assert result is None or 0 < result <= media.MAX_PLAUSIBLE_SECONDS


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(CONTAINERS),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), max_size=8),
)
def test_corrupted_real_headers_never_raise(videos, name, flips):
    data = bytearray(videos[name[0]][0])
    for offset, value in flips:
        data[offset % len(data)] = value
    result = of(bytes(data), Path(name[0]).suffix)
    assert result is None or 0 < result <= media.MAX_PLAUSIBLE_SECONDS


def test_cost_is_minutes_times_the_price():
    assert estimated_cost_usd(90.0, 0.10) == pytest.approx(9.0)
    assert estimated_cost_usd(0.5, 0.10) == 0.05
    assert estimated_cost_usd(float(Fraction(1, 3)), 0.12) == 0.04
    with pytest.raises(ValueError, match="must be >= 0"):
        estimated_cost_usd(-1.0, 0.10)


# -- helpers -------------------------------------------------------------------------------


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def top_level(data: bytes) -> dict[bytes, bytes]:
    boxes, offset = {}, 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes[kind] = data[offset : offset + size]
        offset += size
    return boxes


class Sparse(Reads):
    """A huge object that is zeros except for a few segments (nothing real is allocated)."""

    def __init__(self, segments: dict[int, bytes]) -> None:
        super().__init__(b"")
        self.segments = segments
        self.size = max(at + len(seg) for at, seg in segments.items())

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        end = min(offset + length, self.size)
        out = bytearray(end - offset)
        for at, seg in self.segments.items():
            lo, hi = max(at, offset), min(at + len(seg), end)
            if lo < hi:
                out[lo - offset : hi - offset] = seg[lo - at : hi - at]
        return bytes(out)
