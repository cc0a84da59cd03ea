"""Video positions as people type and read them: h:mm:ss.mmm <-> milliseconds."""

from __future__ import annotations

import re

_SECONDS = re.compile(r"^(\d+)(?:\.(\d{1,3}))?$")
_WHOLE = re.compile(r"^\d+$")


def parse_position(text: str) -> int:
    """`HH:MM:SS[.mmm]`, `MM:SS[.mmm]` or plain seconds `SS[.mmm]` -> milliseconds.

    With more than one field, minutes and seconds must be below 60, so a typo such as `1:75`
    is an error instead of a silent 2:15. At most three fractional digits (the data is in ms).
    """
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(text)
    seconds = _SECONDS.match(parts[-1])
    if seconds is None or not all(_WHOLE.match(p) for p in parts[:-1]):
        raise ValueError(text)
    whole = int(seconds.group(1))
    millis = int((seconds.group(2) or "").ljust(3, "0"))
    fields = [int(p) for p in parts[:-1]]
    if fields and whole >= 60:
        raise ValueError(text)
    if len(fields) == 2 and fields[1] >= 60:
        raise ValueError(text)
    hours, minutes = ([0, 0, *fields])[-2:]
    return ((hours * 60 + minutes) * 60 + whole) * 1000 + millis


def format_ms(ms: int) -> str:
    """Milliseconds -> `h:mm:ss.mmm` (hours unpadded: videos are rarely 10 h long)."""
    sign = "-" if ms < 0 else ""
    seconds, millis = divmod(abs(int(ms)), 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}:{minutes:02d}:{seconds:02d}.{millis:03d}"
