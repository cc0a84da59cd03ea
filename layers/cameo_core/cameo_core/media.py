"""A video's duration from its container header, read in a few ranged reads (no download).

Pure: the caller passes `read(offset, length) -> bytes` (an S3 ranged GET in the start path and
in `cameo estimate`, a file or a bytes object in tests). Every failure to find a plausible
duration is None, never an exception: an unreadable header is "duration unknown", and
Rekognition decides (issue 7, cost guard).

- MP4/MOV (ISO BMFF / QuickTime): walk the top-level boxes to `moov` (faststart puts it first,
  many encoders write it last, after a multi-GB `mdat`), then its children to `mvhd`:
  duration / timescale. Version 0 and 1 mvhd, 32- and 64-bit box sizes, size 0 ("to the end").
  A fragmented MP4's mvhd covers only what is in moov; its `mvex/mehd` holds the whole
  duration when the muxer wrote one, otherwise the duration is unknown.
- AVI (RIFF): `hdrl/avih` gives microseconds per frame and the frame count of the first RIFF
  chunk; an OpenDML file (> 1 GB, more RIFF chunks) gives the whole count in `hdrl/odml/dmlh`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cameo_core.errors import CameoError

Read = Callable[[int, int], bytes]
"""read(offset, length) -> up to `length` bytes at `offset` (fewer at the end of the object)."""

# One ranged read fetches a whole block: in a faststart MP4 the first block holds ftyp, the
# moov header and mvhd; with moov at the end, the second read (at moov) does.
BLOCK = 64 * 1024
# Bounds the cost of a pathological file to a few requests (at most 768 KiB). A real one needs
# 1-2 reads to reach mvhd, plus one per large trak when walking the rest of moov for mvex.
MAX_READS = 12
MAX_BOXES = 256
# Longer than any real video (Rekognition stops at 6 h); beyond it the header is nonsense.
MAX_PLAUSIBLE_SECONDS = 7 * 24 * 3600.0

MP4_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v"})
AVI_EXTENSIONS = frozenset({".avi"})


class HeaderUnreadable(CameoError):
    """The header cannot be read (malformed, truncated, or the reader failed). Readers raise it
    for their own failures; `probe` turns it into a reason and `duration_seconds` into None."""


class _Window:
    """Block-cached reads with a budget, so the parser can ask for a few bytes at a time."""

    def __init__(self, read: Read, size: int) -> None:
        self._read = read
        self.size = size
        self.reads = 0
        self._start = 0
        self._data = b""

    def bytes(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes at `offset`, or HeaderUnreadable."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise HeaderUnreadable(f"{length} bytes at {offset} are past the end ({self.size})")
        end = self._start + len(self._data)
        if not (self._start <= offset and offset + length <= end):
            if self.reads >= MAX_READS:
                raise HeaderUnreadable(f"more than {MAX_READS} reads")
            self.reads += 1
            want = min(max(length, BLOCK), self.size - offset)
            data = self._read(offset, want)
            if not isinstance(data, bytes | bytearray | memoryview):
                raise HeaderUnreadable(f"read returned {type(data).__name__}")
            self._start, self._data = offset, bytes(data)
            if len(self._data) < length:
                raise HeaderUnreadable(f"short read at {offset}: {len(self._data)} of {length}")
        start = offset - self._start
        return self._data[start : start + length]

    def u32(self, offset: int) -> int:
        """Big-endian, as in ISO BMFF."""
        return int(struct.unpack(">I", self.bytes(offset, 4))[0])

    def le32(self, offset: int) -> int:
        """Little-endian, as in RIFF."""
        return int(struct.unpack("<I", self.bytes(offset, 4))[0])


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int  # of the header
    body: int  # first byte after the header
    end: int  # first byte after the box


def _boxes(window: _Window, start: int, end: int) -> Iterator[_Box]:
    """ISO BMFF boxes between start and end. A box running past `end` ends the walk after it
    is yielded (a truncated file may still hold the header we want inside that box)."""
    offset = start
    count = 0
    while offset + 8 <= end:
        count += 1
        if count > MAX_BOXES:
            raise HeaderUnreadable(f"more than {MAX_BOXES} boxes")
        header = window.bytes(offset, 8)
        size, kind = struct.unpack(">I4s", header)
        body = offset + 8
        if size == 1:  # 64-bit largesize follows the type
            (size,) = struct.unpack(">Q", window.bytes(offset + 8, 8))
            body += 8
        elif size == 0:  # the box runs to the end of its container
            size = end - offset
        if size < body - offset:
            raise HeaderUnreadable(f"box {kind!r} at {offset} declares {size} bytes")
        box = _Box(kind, offset, body, offset + size)
        yield box
        if box.end > end:
            return
        offset = box.end


def _find(window: _Window, kind: bytes, start: int, end: int) -> _Box | None:
    for box in _boxes(window, start, end):
        if box.kind == kind:
            return box
    return None


def _mp4_seconds(window: _Window) -> float | None:
    moov = _find(window, b"moov", 0, window.size)
    if moov is None:
        return None
    children = {box.kind: box for box in _boxes(window, moov.body, min(moov.end, window.size))}
    mvhd = children.get(b"mvhd")
    if mvhd is None:
        return None
    timescale: int
    duration: int
    version = window.bytes(mvhd.body, 1)[0]
    if version == 1:
        timescale, duration = struct.unpack(">IQ", window.bytes(mvhd.body + 20, 12))
    elif version == 0:
        timescale, duration = struct.unpack(">II", window.bytes(mvhd.body + 12, 8))
    else:
        return None
    if b"mvex" in children:
        # Fragmented MP4: mvhd covers only the samples in moov (often none, or the first
        # fragment); the whole length is in mehd, when the muxer wrote one.
        duration = _mehd_duration(window, children[b"mvex"], moov.end) or 0
    # All ones is the spec's "unknown"; unknown, zero and the like all end as None.
    if timescale == 0 or duration in (0, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF):
        return None
    return float(duration) / timescale


def _mehd_duration(window: _Window, mvex: _Box, moov_end: int) -> int | None:
    mehd = _find(window, b"mehd", mvex.body, min(mvex.end, moov_end, window.size))
    if mehd is None:
        return None
    version = window.bytes(mehd.body, 1)[0]
    if version == 1:
        return int(struct.unpack(">Q", window.bytes(mehd.body + 4, 8))[0])
    return window.u32(mehd.body + 4)


def _chunks(window: _Window, start: int, end: int) -> Iterator[tuple[bytes, int, int, bytes]]:
    """RIFF chunks between start and end: (id, body offset, body size, list type or b"")."""
    offset = start
    count = 0
    while offset + 8 <= end:
        count += 1
        if count > MAX_BOXES:
            raise HeaderUnreadable(f"more than {MAX_BOXES} chunks")
        kind, size = struct.unpack("<4sI", window.bytes(offset, 8))
        body = offset + 8
        list_type = window.bytes(body, 4) if kind in (b"LIST", b"RIFF") else b""
        yield kind, body, size, list_type
        # Chunks are padded to an even size.
        offset = body + size + (size & 1)


def _avi_seconds(window: _Window) -> float | None:
    riff, form = struct.unpack("<4s4x4s", window.bytes(0, 12))
    if riff != b"RIFF" or form != b"AVI ":
        return None
    # The first RIFF's declared size may exceed a truncated file; hdrl comes first anyway.
    for kind, body, size, list_type in _chunks(window, 12, window.size):
        if kind == b"LIST" and list_type == b"hdrl":
            return _hdrl_seconds(window, body + 4, min(body + size, window.size))
    return None


def _hdrl_seconds(window: _Window, start: int, end: int) -> float | None:
    micros_per_frame = total_frames = None
    grand_frames = None
    for kind, body, size, list_type in _chunks(window, start, end):
        if kind == b"avih" and size >= 20:
            micros_per_frame = window.le32(body)
            total_frames = window.le32(body + 16)
        elif kind == b"LIST" and list_type == b"odml":
            for inner, inner_body, inner_size, _ in _chunks(window, body + 4, body + size):
                if inner == b"dmlh" and inner_size >= 4:
                    grand_frames = window.le32(inner_body)
    frames = grand_frames or total_frames
    if not micros_per_frame or not frames:
        return None
    return micros_per_frame * frames / 1_000_000


def _normalized_extension(extension: str) -> str:
    extension = extension.strip().lower()
    return extension if extension.startswith(".") else f".{extension}"


@dataclass(frozen=True)
class Probe:
    """What the header says: seconds, or None with the reason (for logs and `cameo estimate`)."""

    seconds: float | None
    reason: str | None = None
    reads: int = 0

    @property
    def minutes(self) -> float | None:
        return None if self.seconds is None else self.seconds / 60


def probe(read: Read, size: int, extension: str) -> Probe:
    """The duration, or why it is unknown. Never raises for a bad file or a failed read.

    `extension` (".mp4", "MOV", ...) only says which kind of video the object claims to be;
    the bytes decide which parser runs, since a .mov is often an MP4 and vice versa.
    """
    extension = _normalized_extension(extension)
    if extension not in MP4_EXTENSIONS | AVI_EXTENSIONS:
        return Probe(None, f"no duration parser for {extension!r}")
    if size < 12:
        return Probe(None, f"too small for a video header ({size} bytes)")
    window = _Window(read, size)
    try:
        if window.bytes(0, 4) == b"RIFF":
            seconds, kind = _avi_seconds(window), "AVI avih"
        else:
            seconds, kind = _mp4_seconds(window), "MP4/MOV moov/mvhd"
    # struct/index errors are malformed input that slipped past a bounds check; the reader's
    # own failures arrive as HeaderUnreadable (the S3 adapter) or OSError (a file).
    except (HeaderUnreadable, struct.error, IndexError, OSError) as exc:
        return Probe(None, f"unreadable header: {exc}", window.reads)
    if seconds is None:
        return Probe(None, f"no {kind} duration in the header", window.reads)
    if not 0 < seconds <= MAX_PLAUSIBLE_SECONDS:
        return Probe(None, f"implausible duration in the header ({seconds:.0f} s)", window.reads)
    return Probe(seconds, None, window.reads)


def duration_seconds(read: Read, size: int, extension: str) -> float | None:
    """The duration in seconds, or None when the header does not tell (never raises)."""
    return probe(read, size, extension).seconds
