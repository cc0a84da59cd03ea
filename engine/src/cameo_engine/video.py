"""Video decoding with PyAV: container metadata and time-based frame sampling.

Sampling is by presentation time, never by frame index, so 29.97 fps and variable-frame-rate
videos are sampled on the same grid: a frame is taken when it is the first frame at or after a
grid point k / sample_fps (seconds from the start of the stream). Its Timestamp is its own pts in
milliseconds, not the grid point.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
import numpy.typing as npt

from cameo_engine.models import RGB, Gray

# Codecs whose non-reference frames (B-frames) we can skip: at 5 samples/s from 25 fps the
# decoder then does a fraction of the work, and the picked frame still carries its exact pts.
_SKIP_NONREF_CODECS = {"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video", "vp9", "av1"}
# Demuxers that open still images; Rekognition Video rejects those, and so do we.
_IMAGE_FORMATS = {"image2", "image2pipe", "gif", "webp_pipe", "apng", "tiff_pipe"}


class VideoDecodeError(Exception):
    """The file cannot be analysed as a video. str(exc) is the job's StatusMessage."""


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    format: str
    duration_ms: int | None
    frame_rate: float
    width: int
    height: int
    color_range: str
    start_time: float  # seconds; subtracted so that timestamps start at 0

    def metadata(self) -> dict[str, Any]:
        """Rekognition's VideoMetadata."""
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms or 0,
            "Format": self.format,
            "FrameRate": round(self.frame_rate, 3),
            "FrameHeight": self.height,
            "FrameWidth": self.width,
            "ColorRange": self.color_range,
        }


@dataclass
class SampledFrame:
    """One sampled frame, upright: a display rotation (phone videos) is applied on conversion."""

    index: int  # sample number on the grid (not the frame number)
    timestamp_ms: int
    frame: Any  # av.VideoFrame; converted lazily, RGB is only needed to embed a face

    _gray: Gray | None = None
    _rgb: RGB | None = None

    @property
    def quarter_turns(self) -> int:
        """Counter-clockwise quarter turns that show the frame upright (its display matrix)."""
        return round(float(getattr(self.frame, "rotation", 0) or 0) / 90) % 4

    @property
    def width(self) -> int:
        return int(self.frame.height if self.quarter_turns % 2 else self.frame.width)

    @property
    def height(self) -> int:
        return int(self.frame.width if self.quarter_turns % 2 else self.frame.height)

    def _upright(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        turns = self.quarter_turns
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def gray(self) -> Gray:
        if self._gray is None:
            frame = self.frame
            if frame.format.name in ("yuv420p", "yuvj420p", "nv12", "yuv422p", "yuv444p"):
                # The luma plane is the grey image: no colour conversion needed.
                plane = frame.planes[0]
                buf = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
                gray = np.ascontiguousarray(buf[: frame.height, : frame.width])
            else:
                gray = frame.to_ndarray(format="gray")
            self._gray = self._upright(gray)
        return self._gray

    def rgb(self) -> RGB:
        if self._rgb is None:
            self._rgb = self._upright(self.frame.to_ndarray(format="rgb24"))
        return self._rgb

    def small_rgb(self, width: int) -> tuple[RGB, float]:
        """The upright frame scaled down to `width` (never up), and the scale used.

        Scaling and colour conversion are one libswscale call on the decoded frame: the detector
        input costs about as much as a copy, and the full-size RGB is made only for frames where
        a face gets embedded.
        """
        if width >= self.width:
            return self.rgb(), 1.0
        scale = width / self.width
        height = max(1, round(self.height * scale))
        coded = (height, width) if self.quarter_turns % 2 else (width, height)
        small = self.frame.reformat(
            width=coded[0], height=coded[1], format="rgb24", interpolation="AREA"
        )
        return self._upright(small.to_ndarray()), scale


def _open(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise VideoDecodeError(f"cannot read the video file: {exc.strerror}") from exc
    if size == 0:
        raise VideoDecodeError("the video file is empty (0 bytes)")
    try:
        # Damaged files can carry undecodable metadata text: replace it rather than fail.
        return av.open(str(path), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeError, ValueError) as exc:
        raise VideoDecodeError(
            f"not a readable video: the container could not be parsed ({_reason(exc)})"
        ) from exc


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _video_stream(container: Any) -> Any:
    if container.format.name in _IMAGE_FORMATS or container.format.name.endswith("_pipe"):
        raise VideoDecodeError(
            f"not a video: the file is a still image ({container.format.long_name})"
        )
    streams = container.streams.video
    if not streams:
        if container.streams.audio:
            raise VideoDecodeError("the file has no video stream (audio only)")
        raise VideoDecodeError("the file has no video stream")
    stream = streams[0]
    ctx = stream.codec_context
    if ctx is None or not getattr(ctx, "name", None) or stream.codec_context.codec is None:
        raise VideoDecodeError("unsupported video codec: FFmpeg has no decoder for this stream")
    return stream


def _stream_seconds(stream: Any, pts: int | None) -> float | None:
    if pts is None or stream.time_base is None:
        return None
    return float(pts * stream.time_base)


def probe(path: Path) -> VideoInfo:
    """Container metadata (VideoMetadata). Raises VideoDecodeError for unusable files."""
    container = _open(path)
    try:
        return _probe_open(container)
    finally:
        container.close()


def _probe_open(container: Any) -> VideoInfo:
    stream = _video_stream(container)
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise VideoDecodeError(
            f"unsupported video stream: codec {ctx.name!r} reports no frame size"
        )
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    start = _stream_seconds(stream, stream.start_time) or 0.0
    duration_s: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / av.time_base
    # Unspecified range on a YUV stream means the broadcast (limited) range, except the
    # JPEG-style yuvj formats.
    color_range = "FULL" if int(ctx.color_range or 0) == 2 else "LIMITED"
    if int(ctx.color_range or 0) == 0 and (ctx.format and ctx.format.name.startswith("yuvj")):
        color_range = "FULL"
    return VideoInfo(
        codec=ctx.name,
        format=container.format.long_name or container.format.name,
        duration_ms=round(duration_s * 1000) if duration_s is not None else None,
        frame_rate=float(rate) if rate else 0.0,
        width=int(ctx.width),
        height=int(ctx.height),
        color_range=color_range,
        start_time=start,
    )


class _SeekOvershootError(Exception):
    """The demuxer landed past the chunk start; the caller decodes from the beginning."""


def sample_frames(
    path: Path,
    sample_fps: float,
    *,
    start_s: float = 0.0,
    end_s: float = math.inf,
    skip_nonref: bool = True,
    threads: int = 1,
) -> Iterator[SampledFrame]:
    """Frames on the sampling grid whose own time t is in [start_s, end_s).

    A frame at time t is sampled iff a grid point k/sample_fps lies in (t_prev, t], t_prev being
    the previous decoded frame (the stream's first frame covers grid point 0). The rule depends
    only on neighbouring frames, so chunks of one video decoded by different processes, each
    seeking to just before its own start, agree on every frame. Times are exact fractions.
    """
    if sample_fps <= 0:
        raise ValueError("sample_fps must be positive")
    try:
        yield from _sample(path, sample_fps, start_s, end_s, skip_nonref, threads, seek=True)
    except _SeekOvershootError:
        yield from _sample(path, sample_fps, start_s, end_s, skip_nonref, threads, seek=False)


def _sample(
    path: Path,
    sample_fps: float,
    start_s: float,
    end_s: float,
    skip_nonref: bool,
    threads: int,
    *,
    seek: bool,
) -> Iterator[SampledFrame]:
    container = _open(path)
    try:
        _probe_open(container)  # validates the stream before decoding
        stream = container.streams.video[0]
        ctx = stream.codec_context
        ctx.thread_count = threads
        ctx.thread_type = "AUTO" if threads != 1 else "SLICE"
        if skip_nonref and ctx.name in _SKIP_NONREF_CODECS:
            ctx.skip_frame = "NONREF"
        time_base = Fraction(stream.time_base)
        origin = Fraction(stream.start_time or 0) * time_base
        step = 1 / Fraction(sample_fps).limit_denominator(1001)
        # Chunk bounds arrive as floats; compare as the same exact fractions on both sides.
        start = Fraction(start_s).limit_denominator(1_000_000)
        end = Fraction(end_s).limit_denominator(1_000_000) if math.isfinite(end_s) else None
        seeking = seek and start_s > 0
        if seeking:
            # Land on a keyframe comfortably before the chunk so the frame preceding the
            # chunk's first sample is decoded too.
            target = int((max(Fraction(0), start - 1) + origin) / time_base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
        prev_t: Fraction | None = None
        decoded = 0
        try:
            for frame in container.decode(stream):
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None:
                    continue
                t = Fraction(pts) * time_base - origin
                if prev_t is None:
                    if seeking and t >= start and t > 0:
                        raise _SeekOvershootError
                    sampled = True
                elif t <= prev_t:  # duplicate or out-of-order pts: never sample twice
                    continue
                else:
                    next_grid = (math.floor(prev_t / step) + 1) * step
                    sampled = next_grid <= t
                decoded += 1
                prev_t = t
                if end is not None and t >= end:
                    break
                if sampled and t >= start:
                    yield SampledFrame(
                        index=math.floor(t / step),
                        timestamp_ms=round(t * 1000),
                        frame=frame,
                    )
        except (av.error.FFmpegError, UnicodeError, ValueError) as exc:
            at = f" at {float(prev_t):.2f} s" if prev_t is not None else ""
            raise VideoDecodeError(f"the video could not be decoded{at}: {_reason(exc)}") from exc
        if decoded == 0 and start_s <= 0:
            raise VideoDecodeError("the video stream contains no decodable frames")
    finally:
        container.close()
