"""Per-chunk face analysis: detect every sample, embed only when needed, keep names on tracks.

Every sampled frame is searched for faces (CenterFace on a frame scaled down to
`detect_width`), so a face is never lost because of where it was a moment ago. What is saved is
the embedding (about 85 ms of CPU per face, the dominant cost): a detection linked to a face of
the previous sample, and whose aligned appearance still correlates with the crop that was last
embedded, keeps that face's identity. Linked means overlapping the face's last box, or where
its velocity puts it (IoU >= `match_iou`); a face left over after that links to the nearest
leftover track within `max_step` face widths per sample (the first sample of a whip, a fast
exit). A face is embedded again when:
  * it is new (not linked to a face of the previous sample), or the track broke (see below);
  * its appearance changed (a cut to another person at the same place, a turn of the head,
    a flash, blur);
  * it grew much larger than when it was embedded (small faces give weaker embeddings), unless
    it already matched clearly;
  * time passed since its last embedding: `reverify_clear_s` after a clear-cut answer,
    `reverify_s` after a plain match, `unsure_reverify_s` after an unsure one (a kept name, or
    an unknown face near someone).

Matching by the track mean: a face is matched against the gallery by the mean of its track's
embeddings of the last `track_mean_s` seconds, not by the latest alone. Compression, noise and
a small size scatter single embeddings of one face by 0.1 or more, in random directions; their
mean is steadier and nearer to the person (on the hard suite's 270p MPEG-4 video single
embeddings of Obama lay at 0.60-0.73 from his photo, and whether a seeded enrolment landed
them under 0.6 decided recall between 0.85 and 0.97; the mean decides it at 0.99 whatever the
seed). The mean averages only embeddings of one face: it starts over on a track break (below),
and at an embedding that is not the same face as the mean (the threshold or more from it),
clearly not the anchor person (beyond `keep_distance`), or nearest to another person than the
mean is. It never names a face the gallery threshold would not: the mean must be under it.

Keeping the name through a track (the rule engine/README.md documents):
  A face is *anchored* to a person when one of its embeddings was at most `anchor_distance`
  from that person. While the track stays continuous, a later embedding that is past the
  matching threshold but at most `keep_distance` from the *anchor* person keeps the name, for
  up to `keep_s` seconds after the last sample named by a match (an embedding under the
  threshold, or a sample carried from one because its crop had not changed). The rule also runs
  backwards: when a track matches its anchor person, its earlier marginal samples within
  `keep_s` of a sample named by a match get the name too (a soft or small start, before the
  face was recognisable). Either way nobody else may be nearer. Continuous
  means: linked sample to sample (above), no gap of more than
  `max_gap_samples` samples, size changing by less than `jump_ratio` per sample, and the aligned
  crop still correlating with the previous sample's (>= `cut_ncc`); a break ends the anchor.
  A distance beyond `keep_distance` ends the anchor at once. A track that was never anchored
  stays unknown whatever its distances.

Across chunks (`stitch`): chunks of a video are analysed apart, each from a clean state. Each
keeps, for the tracks born in its first samples, what their identity was decided from (every
sample's record and the raw embedding if one was computed), and hands back its tracks' state at
its end. The parent links the tracks that meet at a boundary by the same test as within a chunk
(overlap or predicted overlap, or the nearest within `max_step`; no gap beyond
`max_gap_samples`, no jump in size, no cut) and replays the identity rules above over the later
track from the earlier one's state: the track mean, the name kept forwards and named back. Only
the embeddings one pass would have taken count (a worker re-embeds a new, unsure face every
`unsure_reverify_s`; one pass would not re-embed a named one for seconds). An unlinked track
keeps what its chunk decided.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import dlib
import numpy as np
import numpy.typing as npt

from cameo_engine.models import DETECT_THRESHOLD, Detection, FaceModels, Gray, Point, shape_points
from cameo_engine.video import SampledFrame


@dataclass(frozen=True)
class TrackerConfig:
    detect_width: int = 320  # CenterFace input width; frames are scaled down to it, never up
    # ... but never by more than this: a 64 px face in 720p would be 16 px at 320 wide.
    min_detect_scale: float = 0.5
    detect_threshold: float = DETECT_THRESHOLD
    # Re-embedding intervals (seconds) by how clear the last answer was. Between them, a face
    # whose aligned crop changes (a cut, a turn, a flash) is embedded at once anyway.
    reverify_s: float = 2.0  # within keep_s, so a plain match that fades can keep its name
    reverify_clear_s: float = 8.0
    unsure_reverify_s: float = 0.4
    clear_match_distance: float = 0.45
    clear_unknown_distance: float = 0.75
    min_appearance_ncc: float = 0.8  # below: embed again
    regrow_ratio: float = 1.5
    match_iou: float = 0.3
    # A leftover face links to a track this many widths away per sample: a whip or a fast exit
    # moves a face by 1-1.5 widths per sample at 5 samples/s; the appearance check guards it.
    max_step: float = 2.0
    max_gap_samples: int = 2  # a face missed for more samples than this is forgotten
    # Track continuity (name keeping ends on a break).
    cut_ncc: float = 0.5
    jump_ratio: float = 1.4
    # Name keeping. keep_distance <= the gallery threshold turns it off.
    anchor_distance: float = 0.55
    keep_distance: float = 0.7
    keep_s: float = 3.0
    # A track is matched by the mean of its embeddings of the last `track_mean_s` seconds (0:
    # the latest alone): compression and noise scatter single embeddings of a small face.
    track_mean_s: float = 3.0


@dataclass
class FaceRecord:
    """One face in one sampled frame (pixels). person is a gallery row owner index or -1."""

    timestamp_ms: int
    frame_size: tuple[int, int]  # width, height of the upright frame the box refers to
    box: tuple[float, float, float, float]
    score: float
    points: list[tuple[float, float]]  # dlib's 5 points
    mouth: tuple[Point, Point] | None  # CenterFace's mouth corners (viewer's left, right)
    person: int
    distance: float
    brightness: float
    sharpness: float
    embedded: bool  # this sample computed a fresh embedding (for statistics)
    kept: bool = False  # named by the track rule, not by this sample's own distance


@dataclass
class _Track:
    det: Detection
    chip: npt.NDArray[np.float32]  # appearance at the last embedding
    last_chip: npt.NDArray[np.float32]  # appearance in the last sample
    person: int
    distance: float
    embedded_at: float  # seconds
    embedded_width: float
    last_sample: int
    kept: bool = False
    anchor: int = -1  # person this track is anchored to, -1 if none
    matched_at: float = -math.inf  # last embedding under the threshold for the anchor
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre, px per sample
    by_person: dict[int, float] = field(default_factory=dict)  # the embedding in effect
    # Samples a later match may still name back (_name_back): (t, record, by_person).
    history: list[tuple[float, FaceRecord, dict[int, float]]] = field(default_factory=list)
    named_at: float = -math.inf  # last sample named by a match (not by the rule)
    # The track's recent embeddings (t, embedding), averaged for its identity.
    embeddings: list[tuple[float, npt.NDArray[np.float64]]] = field(default_factory=list)
    # Tracks born at a chunk's start only (see `stitch`): the sample the track began with, and
    # per sample (t, record, the raw embedding if one was computed, why) to replay its identity.
    born: tuple[int, Detection, npt.NDArray[np.float32]] | None = None
    log: list[tuple[float, FaceRecord, npt.NDArray[np.float64] | None, str]] | None = None

    def predicted(self, index: int) -> Detection:
        """The last box moved on at the track's velocity to sample `index`."""
        n = index - self.last_sample
        dx, dy = self.velocity[0] * n, self.velocity[1] * n
        d = self.det
        return Detection(d.left + dx, d.top + dy, d.right + dx, d.bottom + dy, d.score)


@dataclass
class ChunkStats:
    samples: int = 0
    faces: int = 0
    embeddings: int = 0
    kept: int = 0  # faces named by the track rule
    # Why faces were embedded: new, appearance, regrow, time.
    reasons: dict[str, int] = field(default_factory=dict)
    cpu_s: float = 0.0  # CPU time of the chunk in its process
    sampled_ms: list[int] = field(default_factory=list)


def _appearance(gray: Gray, shape: dlib.full_object_detection) -> npt.NDArray[np.float32]:
    """A tiny aligned face crop, zero-mean and unit-norm, for cheap same-face checks."""
    chip = np.asarray(dlib.get_face_chip(gray, shape, 32, 0.1), dtype=np.float32)
    chip -= chip.mean()
    norm = float(np.linalg.norm(chip))
    return chip / norm if norm > 1e-6 else chip


def _centre(d: Detection) -> tuple[float, float]:
    return (d.left + d.right) / 2, (d.top + d.bottom) / 2


def _ncc(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    return float(np.dot(a.ravel(), b.ravel()))


def _sharpness(chip_gray: npt.NDArray[np.uint8]) -> float:
    """0-100 from the variance of the Laplacian of a 64 px aligned crop."""
    c = chip_gray.astype(np.float32)
    lap = 4 * c[1:-1, 1:-1] - c[:-2, 1:-1] - c[2:, 1:-1] - c[1:-1, :-2] - c[1:-1, 2:]
    return float(100.0 * (1.0 - math.exp(-float(lap.var()) / 300.0)))


@dataclass(frozen=True)
class Match:
    """One embedding against the gallery."""

    person: int  # nearest person under the threshold, or -1
    distance: float  # to the nearest enrolled photo
    by_person: dict[int, float]  # nearest distance to each person


def _nearest(match: Match) -> int:
    return min(match.by_person, key=match.by_person.__getitem__, default=-1)


def keep_name(track: _Track, match: Match, t: float, threshold: float, cfg: TrackerConfig) -> bool:
    """The name-keeping rule for a continuous track (see the module docstring)."""
    if track.anchor < 0 or match.person >= 0:
        return False
    if t - track.matched_at > cfg.keep_s + 1e-6:
        return False
    distance = match.by_person.get(track.anchor, math.inf)
    if not threshold <= distance <= cfg.keep_distance:
        return False
    # Nobody else may be as near: the name kept must still be the face's best candidate.
    return all(d > distance for p, d in match.by_person.items() if p != track.anchor)


def _associate(
    dets: Sequence[Detection], live: Sequence[_Track], index: int, cfg: TrackerConfig
) -> dict[int, _Track]:
    """Which live track each detection of sample `index` continues (by detection index)."""
    # Greedy association by overlap, best pairs first. A moving face is compared where its
    # track's velocity puts it too: a fast pan or a whip moves a face by more than its
    # width in a sample, and a new track each sample would cost an embedding each.
    predicted = [tr.predicted(index) for tr in live]
    pairs = sorted(
        (
            (max(d.iou(tr.det), d.iou(predicted[j])), i, j)
            for i, d in enumerate(dets)
            for j, tr in enumerate(live)
        ),
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
    # Then faces that moved farther than their width since the last sample (the first
    # sample of a fast move, before the track has a velocity): the nearest leftover track
    # of about the same size, within `max_step` widths per sample. Continuity (size,
    # appearance) is checked by the caller as for any link.
    near = sorted(
        (
            math.dist(_centre(d), _centre(tr.det))
            / max(1, index - tr.last_sample)
            / max(d.width, tr.det.width, 1.0),
            i,
            j,
        )
        for i, d in enumerate(dets)
        if i not in assigned
        for j, tr in enumerate(live)
        if j not in used
    )
    for step, i, j in near:
        if step > cfg.max_step:
            break
        if i in assigned or j in used:
            continue
        assigned[i] = live[j]
        used.add(j)
    return assigned


def _continuous(
    track: _Track, det: Detection, chip: npt.NDArray[np.float32], cfg: TrackerConfig
) -> bool:
    """No jump in size and no cut between the track's last sample and this face."""
    ratio = det.width / track.det.width if track.det.width > 0 else math.inf
    return (
        1 / cfg.jump_ratio < ratio < cfg.jump_ratio and _ncc(chip, track.last_chip) >= cfg.cut_ncc
    )


class Identities:
    """The identity rules of a track (matching, track mean, name keeping), with no frames: the
    worker's FrameAnalyzer runs them sample by sample, `stitch` replays them across chunks."""

    def __init__(
        self,
        matrix: npt.NDArray[np.float64],
        owners: list[int],
        threshold: float,
        config: TrackerConfig | None = None,
    ) -> None:
        self.matrix = matrix
        self.owners = np.asarray(owners, dtype=np.int64)
        self.threshold = threshold
        self.config = config or TrackerConfig()
        self.stats = ChunkStats()

    def _match(self, embedding: npt.NDArray[np.float64]) -> Match:
        if not len(self.owners):
            return Match(-1, math.inf, {})
        distances = np.linalg.norm(self.matrix - embedding, axis=1)
        by_person: dict[int, float] = {}
        for owner, d in zip(self.owners.tolist(), distances.tolist(), strict=True):
            by_person[owner] = min(d, by_person.get(owner, math.inf))
        best = min(by_person, key=by_person.__getitem__)
        distance = by_person[best]
        return Match(best if distance < self.threshold else -1, distance, by_person)

    def _identify(self, track: _Track, embedding: npt.NDArray[np.float64] | None, t: float) -> None:
        """A sample of the track: matched by the track mean if it was embedded, else carried."""
        if embedding is not None:
            match = self._match(self._track_embedding(track, embedding, t))
            self._update(track, match, t)
        elif track.anchor >= 0 and track.person == track.anchor and not track.kept:
            # Unchanged since the embedding that matched: still that match.
            track.matched_at = t

    def _remember(self, track: _Track, record: FaceRecord, t: float) -> None:
        """Keep the sample where a later match may still name it back (_name_back)."""
        cfg = self.config
        self.stats.kept += track.kept
        if track.by_person:
            if track.person >= 0 and not track.kept:
                track.named_at = t
            if t - track.named_at > cfg.keep_s + 1e-6:
                # No chain of matches reaches further back than keep_s from here.
                track.history = [h for h in track.history if t - h[0] <= cfg.keep_s + 1e-6]
            track.history.append((t, record, track.by_person))

    def _track_embedding(
        self, track: _Track, embedding: npt.NDArray[np.float64], t: float
    ) -> npt.NDArray[np.float64]:
        """What the track is matched by: the mean of its embeddings of the last `track_mean_s`
        seconds, this one included. An embedding that is not the same face as that mean (at
        the threshold or more from it), or that is clearly not the anchor person (beyond
        `keep_distance`), starts the mean over: averaging must not carry a name past them."""
        cfg = self.config
        recent = [(at, e) for at, e in track.embeddings if t - at <= cfg.track_mean_s - 1e-6]
        if recent:
            before_mean = np.mean([e for _, e in recent], axis=0)
            latest, before = self._match(embedding), self._match(before_mean)
            if (
                np.linalg.norm(embedding - before_mean) >= self.threshold
                or latest.by_person.get(track.anchor, 0.0) > cfg.keep_distance
                or _nearest(latest) != _nearest(before)
            ):
                recent = []
        track.embeddings = [*recent, (t, embedding)]
        mean: npt.NDArray[np.float64] = np.mean([e for _, e in track.embeddings], axis=0)
        return mean

    def _update(self, track: _Track, match: Match, t: float) -> None:
        cfg = self.config
        track.by_person = match.by_person
        if match.person >= 0:
            track.person, track.distance, track.kept = match.person, match.distance, False
            if match.distance <= cfg.anchor_distance:
                track.anchor = match.person
            if track.anchor == match.person:
                track.matched_at = t
                self._name_back(track, match.person, t)
            else:
                track.anchor = -1  # matched someone else than the anchor: start over
            return
        if keep_name(track, match, t, self.threshold, cfg):
            # The name stays; the distance reported is the one measured now.
            track.person = track.anchor
            track.distance = match.by_person[track.anchor]
            track.kept = True
            return
        if match.by_person.get(track.anchor, math.inf) > cfg.keep_distance:
            track.anchor = -1
        track.person, track.distance, track.kept = -1, match.distance, False

    def _name_back(self, track: _Track, person: int, t: float) -> None:
        """The name-keeping rule backwards in time, on a track anchored to `person` that just
        matched them: earlier samples whose embeddings were marginal for that person (within
        keep_distance, nobody nearer) get the name, up to keep_s before a sample named by a match,
        as the rule forwards keeps it up to keep_s after one. The walk stops at the first sample
        that fails the rule or is named otherwise."""
        cfg = self.config
        last_match = t
        for at, rec, by_person in reversed(track.history):
            if last_match - at > cfg.keep_s + 1e-6:
                break
            if rec.person == person:
                if not rec.kept:
                    last_match = at
                continue
            distance = by_person.get(person, math.inf)
            if rec.person >= 0 or not self.threshold <= distance <= cfg.keep_distance:
                break
            if any(d <= distance for p, d in by_person.items() if p != person):
                break
            rec.person, rec.distance, rec.kept = person, distance, True
            self.stats.kept += 1
        # Everything before this match is settled: a later walk would stop where this one did.
        track.history.clear()

    def _reverify_after(self, track: _Track) -> float:
        cfg = self.config
        if track.kept:
            return cfg.unsure_reverify_s
        if track.person >= 0:
            return (
                cfg.reverify_clear_s
                if track.distance <= cfg.clear_match_distance
                else cfg.reverify_s
            )
        if track.distance >= cfg.clear_unknown_distance:
            return cfg.reverify_s
        return cfg.unsure_reverify_s

    def _reason(
        self, track: _Track, det: Detection, chip: npt.NDArray[np.float32], t: float
    ) -> str:
        """Why a face continuing `track` is embedded again ("" if it is not)."""
        cfg = self.config
        if _ncc(chip, track.chip) < cfg.min_appearance_ncc:
            return "appearance"
        if det.width > cfg.regrow_ratio * track.embedded_width and not (
            track.person >= 0 and track.distance <= cfg.clear_match_distance
        ):
            return "regrow"  # a bigger face embeds better: worth it unless already clear
        if t - track.embedded_at >= self._reverify_after(track) - 1e-6:
            return "time"
        return ""

    def carry(self, before: _Track, track: _Track) -> None:
        """Replay the identity of `track` (born at a chunk's start, with its log) as the
        continuation of `before` (the same face at the end of the previous chunk)."""
        assert track.log is not None
        track.person, track.distance, track.kept = before.person, before.distance, before.kept
        track.anchor, track.matched_at, track.named_at = (
            before.anchor,
            before.matched_at,
            before.named_at,
        )
        track.by_person = before.by_person
        track.history = list(before.history)
        track.embeddings = list(before.embeddings)
        assert track.born is not None
        track.embedded_at, track.embedded_width = before.embedded_at, before.embedded_width
        for i, (t, record, embedding, reason) in enumerate(track.log):
            # Embeddings the worker took that one pass would not have taken are left out: an
            # unsure new face is embedded every sample or two, a named one every few seconds.
            # (One that one pass would have taken and the worker did not cannot be made here.)
            if i == 0:  # the worker saw a new face; one pass would have seen `before` go on
                reason = self._reason(before, track.born[1], track.born[2], t)
            elif reason == "time" and t - track.embedded_at < self._reverify_after(track) - 1e-6:
                reason = ""
            if not reason:
                embedding = None
            elif embedding is not None:
                track.embedded_at = t
                track.embedded_width = record.box[2] - record.box[0]
            self._identify(track, embedding, t)
            record.person, record.distance, record.kept = track.person, track.distance, track.kept
            self._remember(track, record, t)


class FrameAnalyzer(Identities):
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
        super().__init__(matrix, owners, threshold, config)
        self.models = models
        self.sample_fps = sample_fps
        self.tracks: list[_Track] = []
        self.born: list[_Track] = []  # tracks born in the chunk's first samples (stitch)
        self.first_index = self.last_index = -1

    def boundary(self) -> ChunkTracks:
        """What `stitch` needs of this chunk once it has ended."""
        return ChunkTracks(self.first_index, self.last_index, self.born, self.tracks)

    def process(self, sample: SampledFrame) -> list[FaceRecord]:
        cfg = self.config
        t = sample.timestamp_ms / 1000.0
        width = max(cfg.detect_width, round(sample.width * cfg.min_detect_scale))
        small, scale = sample.small_rgb(width)
        dets = self.models.detect(small, scale=scale, threshold=cfg.detect_threshold)
        gray = sample.gray()
        live = [
            tr for tr in self.tracks if tr.last_sample >= sample.index - cfg.max_gap_samples - 1
        ]
        assigned = _associate(dets, live, sample.index, cfg)
        used = {id(tr) for tr in assigned.values()}

        records = []
        next_tracks = [tr for tr in live if id(tr) not in used]
        for i, det in enumerate(dets):
            shape = self.models.landmarks(gray, det)
            chip = _appearance(gray, shape)
            track = assigned.get(i)
            if track is not None and not _continuous(track, det, chip, cfg):
                track = None  # a cut or a jump: a new face as far as names go
            reason = "new" if track is None else self._reason(track, det, chip, t)
            embed = bool(reason)
            if track is None:
                track = _Track(det, chip, chip, -1, math.inf, t, det.width, sample.index)
                if self.stats.samples <= cfg.max_gap_samples:
                    # It may continue a face of the previous chunk: keep what stitch replays.
                    track.born, track.log = (sample.index, det, chip), []
                    self.born.append(track)
            else:
                steps = max(1, sample.index - track.last_sample)
                (cx0, cy0), (cx1, cy1) = _centre(track.det), _centre(det)
                track.velocity = ((cx1 - cx0) / steps, (cy1 - cy0) / steps)
            if embed:
                self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
            # Empty gallery: nobody to name, skip the ResNet.
            embedding = (
                self.models.embed(sample.rgb(), shape) if embed and len(self.owners) else None
            )
            if embedding is not None:
                self.stats.embeddings += 1
            self._identify(track, embedding, t)
            if embed:
                track.chip, track.embedded_at, track.embedded_width = chip, t, det.width
            track.det, track.last_chip, track.last_sample = det, chip, sample.index
            next_tracks.append(track)
            record = measure_face(
                gray, det, shape, sample.timestamp_ms, track.person, track.distance,
                embedded=embed, kept=track.kept,
            )  # fmt: skip
            records.append(record)
            self._remember(track, record, t)
            if track.log is not None:
                track.log.append((t, record, embedding, reason))
        self.tracks = next_tracks
        if self.first_index < 0:
            self.first_index = sample.index
        self.last_index = sample.index
        self.stats.samples += 1
        self.stats.faces += len(records)
        self.stats.sampled_ms.append(sample.timestamp_ms)
        return records


def measure_face(
    gray: Gray,
    det: Detection,
    shape: dlib.full_object_detection,
    timestamp_ms: int,
    person: int,
    distance: float,
    *,
    embedded: bool,
    kept: bool = False,
) -> FaceRecord:
    """Everything reported about one face that is measured in its own frame."""
    h, w = gray.shape
    x0, y0 = max(0, int(det.left)), max(0, int(det.top))
    x1, y1 = min(w, math.ceil(det.right)), min(h, math.ceil(det.bottom))
    region = gray[y0:y1, x0:x1]
    brightness = float(region.mean()) * 100.0 / 255.0 if region.size else 0.0
    chip64 = np.asarray(dlib.get_face_chip(gray, shape, 64, 0.0))
    mouth = (det.points[3], det.points[4]) if len(det.points) == 5 else None
    return FaceRecord(
        timestamp_ms=timestamp_ms,
        frame_size=(w, h),
        box=(det.left, det.top, det.right, det.bottom),
        score=det.score,
        points=[(float(x), float(y)) for x, y in shape_points(shape)],
        mouth=mouth,
        person=person,
        distance=distance,
        brightness=brightness,
        sharpness=_sharpness(chip64),
        embedded=embedded,
        kept=kept,
    )


@dataclass
class ChunkTracks:
    """A chunk's tracks as `stitch` needs them: no frames, a few KB per face on screen."""

    first_index: int  # the chunk's first and last sample (-1: it had none)
    last_index: int
    born: list[_Track]  # born in its first max_gap_samples + 1 samples, with their logs
    end: list[_Track]  # its tracks when it ended


def stitch(
    chunks: Sequence[ChunkTracks],
    matrix: npt.NDArray[np.float64],
    owners: list[int],
    threshold: float,
    config: TrackerConfig | None = None,
) -> int:
    """Carry identities across the boundaries of consecutive chunks (in video order); returns
    how many tracks were linked. A track born at a chunk's start that continues a track of the
    previous chunk's end (linked, no gap, jump or cut: the tracker's own test) has its identity
    replayed from that track's state, and its records (shared with the chunk's records) updated.
    A replayed track that lasts to its own chunk's end carries the replayed state on."""
    ident = Identities(matrix, owners, threshold, config)
    cfg = ident.config
    linked = 0
    for before, after in itertools.pairwise(c for c in chunks if c.first_index >= 0):
        ends = [
            tr for tr in before.end if before.last_index - tr.last_sample <= cfg.max_gap_samples
        ]
        born = sorted(after.born, key=lambda tr: tr.born[0] if tr.born else 0)
        for index, group in itertools.groupby(born, key=lambda tr: tr.born[0] if tr.born else 0):
            tracks = list(group)
            live = [tr for tr in ends if index - tr.last_sample <= cfg.max_gap_samples + 1]
            dets = [tr.born[1] for tr in tracks if tr.born]
            for i, prev in _associate(dets, live, index, cfg).items():
                track = tracks[i]
                assert track.born is not None
                if not _continuous(prev, track.born[1], track.born[2], cfg):
                    continue  # a cut or a jump: a new face as far as names go
                ends.remove(prev)
                ident.carry(prev, track)
                linked += 1
    return linked
