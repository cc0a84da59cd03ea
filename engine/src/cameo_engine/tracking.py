"""Per-sample face analysis with tracking, so that a face is not re-embedded every sample.

Every sampled frame is searched for faces: each reported box, landmark set, pose and quality is
measured in that frame, never predicted. What tracking saves is the ResNet embedding (about
60 ms per face, the dominant cost): a detection that overlaps a face found in the previous
sample, and whose aligned appearance still correlates with the crop that was last embedded,
keeps that face's identity. A face is embedded again when:
  * it is new (no overlapping face in the previous sample);
  * its appearance changed (a cut to another person at the same place, a turn of the head);
  * it grew much larger than when it was embedded (small faces give weaker embeddings);
  * `reverify_s` seconds passed since its last embedding (a periodic safety net), or
    `reverify_clear_s` when the last answer was clear-cut (a close match, or nobody near).

Small or hard faces: HOG without upsampling finds faces from about 60-80 px. Upsampling the
whole frame costs 4x, so it is done only where it is needed: around a tracked face that the
plain pass missed in this sample (small, noisy or soft), and over the whole frame once every
`small_scan_s` seconds to discover new small faces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import dlib
import numpy as np
import numpy.typing as npt

from cameo_engine.models import Detection, FaceModels, Gray, shape_points
from cameo_engine.video import SampledFrame


@dataclass(frozen=True)
class TrackerConfig:
    reverify_s: float = 4.0
    # Clear-cut identities (a close match, or nobody near) are re-verified less often.
    reverify_clear_s: float = 8.0
    clear_match_distance: float = 0.45
    clear_unknown_distance: float = 0.75
    small_scan_s: float = 2.0  # 0 disables the periodic upsampled full-frame scan
    small_face_px: float = 90.0  # lost faces narrower than this get a wider search area
    min_appearance_ncc: float = 0.8
    regrow_ratio: float = 1.5
    match_iou: float = 0.3
    max_gap_samples: int = 2  # a face missed for this many samples is forgotten


@dataclass
class FaceRecord:
    """One face in one sampled frame (pixels). person is a gallery row owner index or -1."""

    timestamp_ms: int
    frame_size: tuple[int, int]  # width, height of the upright frame the box refers to
    box: tuple[float, float, float, float]
    score: float
    points: list[tuple[float, float]]
    person: int
    distance: float
    brightness: float
    sharpness: float
    embedded: bool  # this sample computed a fresh embedding (for statistics)


@dataclass
class _Track:
    det: Detection
    person: int
    distance: float
    chip: npt.NDArray[np.float32]
    embedded_at: float  # seconds
    embedded_width: float
    last_sample: int


@dataclass
class ChunkStats:
    samples: int = 0
    faces: int = 0
    embeddings: int = 0
    sampled_ms: list[int] = field(default_factory=list)


def _nms(dets: list[Detection], iou: float = 0.4) -> list[Detection]:
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        if all(d.iou(k) < iou for k in kept):
            kept.append(d)
    return kept


def _appearance(gray: Gray, shape: dlib.full_object_detection) -> npt.NDArray[np.float32]:
    """A tiny aligned face crop, zero-mean and unit-norm, for cheap same-face checks."""
    chip = np.asarray(dlib.get_face_chip(gray, shape, 32, 0.1), dtype=np.float32)
    chip -= chip.mean()
    norm = float(np.linalg.norm(chip))
    return chip / norm if norm > 1e-6 else chip


def _sharpness(chip_gray: npt.NDArray[np.uint8]) -> float:
    """0-100 from the variance of the Laplacian of a 64 px aligned crop."""
    c = chip_gray.astype(np.float32)
    lap = 4 * c[1:-1, 1:-1] - c[:-2, 1:-1] - c[2:, 1:-1] - c[1:-1, :-2] - c[1:-1, 2:]
    return float(100.0 * (1.0 - math.exp(-float(lap.var()) / 300.0)))


class FrameAnalyzer:
    """Stateful over consecutive samples of one chunk; one instance per worker and chunk."""

    def __init__(
        self,
        models: FaceModels,
        matrix: npt.NDArray[np.float64],
        owners: list[int],
        threshold: float,
        sample_fps: float,
        config: TrackerConfig | None = None,
    ) -> None:
        self.models = models
        self.matrix = matrix
        self.owners = owners
        self.threshold = threshold
        self.sample_fps = sample_fps
        self.config = config or TrackerConfig()
        self.tracks: list[_Track] = []
        self.stats = ChunkStats()
        self._last_scan_s = -math.inf

    # -------------------------------------------------------------- detection

    def _detect(self, gray: Gray, t: float, sample_index: int) -> list[Detection]:
        cfg = self.config
        h, w = gray.shape
        if cfg.small_scan_s > 0 and t - self._last_scan_s >= cfg.small_scan_s - 1e-6:
            # The upsampled pyramid includes every scale of the plain one: one pass suffices.
            self._last_scan_s = t
            return _nms(self.models.detect(gray, 1))
        dets = self.models.detect(gray, 0)
        for track in self.tracks:
            if track.last_sample < sample_index - cfg.max_gap_samples:
                continue
            d = track.det
            if any(x.iou(d) >= cfg.match_iou for x in dets):
                continue
            # A face seen a moment ago that the plain pass missed (too small, noisy, soft):
            # search around where it was, upsampled. Small faces move further relative to
            # their size, so their search area is wider.
            m = d.width if d.width < cfg.small_face_px else d.width / 2
            x0, y0 = max(0, int(d.left - m)), max(0, int(d.top - m))
            x1, y1 = min(w, int(d.right + m)), min(h, int(d.bottom + m))
            if x1 - x0 < 16 or y1 - y0 < 16:
                continue
            roi = np.ascontiguousarray(gray[y0:y1, x0:x1])
            dets += self.models.detect(roi, 1, offset=(x0, y0))
        return _nms(dets)

    # -------------------------------------------------------------- identity

    def _identify(self, embedding: npt.NDArray[np.float64]) -> tuple[int, float]:
        if not len(self.owners):
            return -1, math.inf
        distances = np.linalg.norm(self.matrix - embedding, axis=1)
        best = int(np.argmin(distances))
        distance = float(distances[best])
        return (self.owners[best] if distance < self.threshold else -1), distance

    def _reverify_after(self, track: _Track) -> float:
        cfg = self.config
        clear = (
            track.distance <= cfg.clear_match_distance
            or track.distance >= cfg.clear_unknown_distance
        )
        return cfg.reverify_clear_s if clear else cfg.reverify_s

    def process(self, sample: SampledFrame) -> list[FaceRecord]:
        cfg = self.config
        t = sample.timestamp_ms / 1000.0
        gray = sample.gray()
        dets = self._detect(gray, t, sample.index)
        live = [tr for tr in self.tracks if tr.last_sample >= sample.index - cfg.max_gap_samples]
        # Greedy association by overlap, best pairs first.
        pairs = sorted(
            ((d.iou(tr.det), i, j) for i, d in enumerate(dets) for j, tr in enumerate(live)),
            reverse=True,
        )
        assigned: dict[int, _Track] = {}
        used: set[int] = set()
        for iou, i, j in pairs:
            if iou < cfg.match_iou:
                break
            if i in assigned or j in used:
                continue
            assigned[i] = live[j]
            used.add(j)

        records = []
        next_tracks = [tr for j, tr in enumerate(live) if j not in used]
        for i, det in enumerate(dets):
            shape = self.models.landmarks(gray, det)
            chip = _appearance(gray, shape)
            track = assigned.get(i)
            embed = (
                track is None
                or float(np.dot(chip.ravel(), track.chip.ravel())) < cfg.min_appearance_ncc
                or det.width > cfg.regrow_ratio * track.embedded_width
                or t - track.embedded_at >= self._reverify_after(track) - 1e-6
            )
            if embed and not self.owners:  # empty gallery: nobody to name, skip the ResNet
                track = _Track(det, -1, math.inf, chip, t, det.width, sample.index)
            elif embed:
                embedding = self.models.embed(sample.rgb(), shape)
                person, distance = self._identify(embedding)
                self.stats.embeddings += 1
                track = _Track(det, person, distance, chip, t, det.width, sample.index)
            else:
                assert track is not None
                track.det = det
                track.last_sample = sample.index
            next_tracks.append(track)
            records.append(self._record(sample, gray, det, shape, track, embedded=embed))
        self.tracks = next_tracks
        self.stats.samples += 1
        self.stats.faces += len(records)
        self.stats.sampled_ms.append(sample.timestamp_ms)
        return records

    def _record(
        self,
        sample: SampledFrame,
        gray: Gray,
        det: Detection,
        shape: dlib.full_object_detection,
        track: _Track,
        *,
        embedded: bool,
    ) -> FaceRecord:
        return measure_face(
            gray, det, shape, sample.timestamp_ms, track.person, track.distance, embedded=embedded
        )


def measure_face(
    gray: Gray,
    det: Detection,
    shape: dlib.full_object_detection,
    timestamp_ms: int,
    person: int,
    distance: float,
    *,
    embedded: bool,
) -> FaceRecord:
    """Everything reported about one face that is measured in its own frame."""
    h, w = gray.shape
    x0, y0 = max(0, int(det.left)), max(0, int(det.top))
    x1, y1 = min(w, math.ceil(det.right)), min(h, math.ceil(det.bottom))
    region = gray[y0:y1, x0:x1]
    brightness = float(region.mean()) * 100.0 / 255.0 if region.size else 0.0
    chip64 = np.asarray(dlib.get_face_chip(gray, shape, 64, 0.0))
    return FaceRecord(
        timestamp_ms=timestamp_ms,
        frame_size=(w, h),
        box=(det.left, det.top, det.right, det.bottom),
        score=det.score,
        points=[(float(x), float(y)) for x, y in shape_points(shape)],
        person=person,
        distance=distance,
        brightness=brightness,
        sharpness=_sharpness(chip64),
        embedded=embedded,
    )
