"""Pure normalization: Rekognition celebrity detections -> appearances and per-video summaries.

An appearance is a run of detections of one celebrity whose consecutive timestamps are at most
`gap_ms` apart. `AppearanceBuilder` streams: given detections in time order (SortBy=TIMESTAMP),
it emits an appearance as soon as it can no longer grow, so memory is bounded by the number of
open appearances (celebrities on screen), not by the number of detections.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Detection = Mapping[str, Any]


@dataclass(frozen=True)
class Celebrity:
    id: str
    name: str
    urls: tuple[str, ...] = ()
    known_gender: str | None = None


@dataclass(frozen=True)
class Appearance:
    celebrity: Celebrity
    start_ms: int
    end_ms: int
    detections: int
    max_confidence: float
    mean_confidence: float
    bounding_box: Mapping[str, float] | None

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass
class _Open:
    celebrity: Celebrity
    start_ms: int
    last_ms: int
    detections: int = 0
    # Micro-units in an int: an exact sum, so the mean does not depend on the order detections
    # arrive in (float addition is not associative).
    confidence_micros: int = 0
    max_confidence: float = -1.0
    bounding_box: Mapping[str, float] | None = None

    def add(self, timestamp: int, confidence: float, box: Mapping[str, float] | None) -> None:
        self.last_ms = timestamp
        self.detections += 1
        self.confidence_micros += round(confidence * 1_000_000)
        # Representative box: the one seen with the highest confidence (earliest on ties).
        if confidence > self.max_confidence:
            self.max_confidence = confidence
            self.bounding_box = box

    def close(self) -> Appearance:
        return Appearance(
            celebrity=self.celebrity,
            start_ms=self.start_ms,
            end_ms=self.last_ms,
            detections=self.detections,
            max_confidence=self.max_confidence,
            mean_confidence=self.confidence_micros / self.detections / 1_000_000,
            bounding_box=self.bounding_box,
        )


def parse_celebrity(raw: Mapping[str, Any]) -> Celebrity:
    gender = raw.get("KnownGender") or {}
    return Celebrity(
        id=str(raw["Id"]),
        name=str(raw.get("Name") or raw["Id"]),
        urls=tuple(raw.get("Urls") or ()),
        known_gender=gender.get("Type") if isinstance(gender, Mapping) else None,
    )


def parse_detection(
    item: Detection, known: dict[str, Celebrity] | None = None
) -> tuple[int, Celebrity, float, Mapping[str, float] | None]:
    """One CelebrityRecognition item -> (timestamp, celebrity, confidence, face box).

    `known` caches celebrities by id: a long video names the same few people thousands of times.
    Raises KeyError/TypeError/ValueError on a malformed item; callers decide what that means.
    """
    raw = item["Celebrity"]
    if known is None:
        celebrity = parse_celebrity(raw)
    else:
        celebrity = known.get(raw["Id"]) or known.setdefault(raw["Id"], parse_celebrity(raw))
    box = (raw.get("Face") or {}).get("BoundingBox")
    return int(item["Timestamp"]), celebrity, float(raw.get("Confidence", 0.0)), box


class OutOfOrderError(ValueError):
    """The streaming builder needs detections in time order (SortBy=TIMESTAMP)."""


class AppearanceBuilder:
    def __init__(self, gap_ms: int, min_confidence: float = 0.0) -> None:
        self.gap_ms = gap_ms
        self.min_confidence = min_confidence
        self._open: dict[str, _Open] = {}
        self._known: dict[str, Celebrity] = {}
        self._now = -1
        self.detections_seen = 0
        self.detections_used = 0

    @property
    def open_count(self) -> int:
        return len(self._open)

    def feed(self, items: Iterable[Detection]) -> Iterator[Appearance]:
        """Consume detections in time order; yield the appearances that can no longer grow."""
        for item in items:
            self.detections_seen += 1
            timestamp, celebrity, confidence, box = parse_detection(item, self._known)
            if timestamp < self._now:
                raise OutOfOrderError(f"detection at {timestamp} ms after {self._now} ms")
            if timestamp != self._now:  # the open set can only expire when time moves on
                self._now = timestamp
                yield from self._expire(timestamp)
            if confidence < self.min_confidence:
                continue
            self.detections_used += 1
            current = self._open.get(celebrity.id)
            if current is None:
                current = self._open[celebrity.id] = _Open(celebrity, timestamp, timestamp)
            current.add(timestamp, confidence, box)

    def close(self) -> Iterator[Appearance]:
        """End of input: everything still open is final."""
        for celebrity_id in sorted(self._open, key=lambda cid: (self._open[cid].start_ms, cid)):
            yield self._open[celebrity_id].close()
        self._open.clear()

    def _expire(self, now: int) -> Iterator[Appearance]:
        done = [cid for cid, run in self._open.items() if now - run.last_ms > self.gap_ms]
        for celebrity_id in sorted(done, key=lambda cid: (self._open[cid].start_ms, cid)):
            yield self._open.pop(celebrity_id).close()


@dataclass
class CelebritySummary:
    celebrity: Celebrity
    screen_time_ms: int = 0
    first_seen_ms: int | None = None
    last_seen_ms: int | None = None
    appearances: int = 0
    best_confidence: float = 0.0

    def add(self, appearance: Appearance) -> None:
        self.screen_time_ms += appearance.duration_ms
        start, end = appearance.start_ms, appearance.end_ms
        self.first_seen_ms = start if self.first_seen_ms is None else min(self.first_seen_ms, start)
        self.last_seen_ms = end if self.last_seen_ms is None else max(self.last_seen_ms, end)
        self.appearances += 1
        self.best_confidence = max(self.best_confidence, appearance.max_confidence)


@dataclass
class Summaries:
    """Per-video, per-celebrity totals; bounded by the number of distinct celebrities."""

    by_id: dict[str, CelebritySummary] = field(default_factory=dict)

    def add(self, appearance: Appearance) -> None:
        cid = appearance.celebrity.id
        self.by_id.setdefault(cid, CelebritySummary(appearance.celebrity)).add(appearance)

    def __iter__(self) -> Iterator[CelebritySummary]:
        return iter(sorted(self.by_id.values(), key=lambda s: s.celebrity.id))


def normalize(
    items: Iterable[Detection], gap_ms: int, min_confidence: float = 0.0
) -> list[Appearance]:
    """Whole-list convenience (sorts first, so any input order works): appearances by start."""
    ordered = sorted(items, key=lambda d: (int(d["Timestamp"]), str(d["Celebrity"]["Id"])))
    builder = AppearanceBuilder(gap_ms, min_confidence)
    result = [*builder.feed(ordered), *builder.close()]
    return sorted(result, key=lambda a: (a.start_ms, a.celebrity.id))
