"""The name-keeping rule and the track mean: recall gained on marginal distances, no unknown
face named.

The detector and the embedding are replaced by scripted stand-ins, so each test states exactly
which distances a face has in which sample; the tracking code, the appearance checks (real dlib
face chips of a real photo) and the rule are the engine's own.
"""

from __future__ import annotations

import itertools
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image

from cameo_engine import synth
from cameo_engine.models import Detection
from cameo_engine.tracking import FaceRecord, FrameAnalyzer, TrackerConfig, stitch

pytestmark = pytest.mark.engine

THRESHOLD = 0.6
FPS = 5.0
# Re-embed every sample, so that every scripted distance is seen; the name-keeping tests match
# each sample by its own embedding (track_mean_s 0), the track-mean tests turn the mean on.
EVERY_SAMPLE = {
    "reverify_s": 0.0,
    "reverify_clear_s": 0.0,
    "unsure_reverify_s": 0.0,
    "track_mean_s": 0.0,
}
TRACK_MEAN = {"track_mean_s": TrackerConfig().track_mean_s}
# Gallery: person 0 at the origin and person 1 at 0.9 from it, one enrolled embedding each.
APART = 0.9
MATRIX = np.zeros((2, 128))
MATRIX[1, 0] = APART
OWNERS = [0, 1]


def _embedding(d0: float, d1: float | None = None) -> np.ndarray:
    """An embedding at distance d0 from person 0, and d1 (default: farther) from person 1."""
    if d1 is None:
        d1 = math.sqrt(APART**2 + d0**2)
    x = (d0**2 - d1**2 + APART**2) / (2 * APART)
    v = np.zeros(128)
    v[0], v[1] = x, math.sqrt(d0**2 - x**2)
    return v


@dataclass
class Step:
    """One sample: the face's box and its distances (None: the detector misses it).

    `noise` moves the embedding that far along an axis orthogonal to the gallery, to one side
    in even samples and to the other in odd ones: the sample's own distance to person 0 is then
    hypot(distance, noise), and the mean of two consecutive samples is back at `distances`.
    """

    distances: tuple[float, ...] | None
    box: tuple[float, float, float, float] = (200.0, 100.0, 320.0, 250.0)
    photo: str = "obama3"  # whose face the pixels show (a cut changes it)
    noise: float = 0.0


@pytest.fixture(scope="module")
def faces(photo_dir: Path) -> dict[str, np.ndarray]:
    """Grey face crops of real photos, 150 px, to paste into the scripted frames."""
    out = {}
    for key in ("obama3", "biden", "collins"):
        src = synth.PHOTOS[key]
        img = Image.open(photo_dir / src.file).convert("L")
        left, top, right, bottom = src.face
        out[key] = np.asarray(img.crop((left, top, right, bottom)).resize((120, 150)))
    return out


@dataclass
class _Frame:
    index: int
    timestamp_ms: int
    image: np.ndarray

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def gray(self) -> np.ndarray:
        return self.image

    def rgb(self) -> np.ndarray:
        return np.repeat(self.image[:, :, None], 3, axis=2)

    def small_rgb(self, width: int) -> tuple[np.ndarray, float]:
        return self.rgb(), 1.0


@dataclass
class _Models:
    """Detector and embedding scripted by the test; dlib's shape predictor is not needed."""

    steps: list[Step]
    now: int = 0
    calls: list[int] = field(default_factory=list)

    def detect(self, rgb: np.ndarray, *, scale: float = 1.0, threshold: float = 0.5):
        step = self.steps[self.now]
        if step.distances is None:
            return []
        return [Detection(*step.box, 0.99)]

    def landmarks(self, image: np.ndarray, det: Detection):
        # Eyes and nose placed as on a frontal face in this box.
        w, h = det.width, det.height
        x, y = det.left, det.top
        pts = [(0.82, 0.38), (0.62, 0.38), (0.18, 0.38), (0.38, 0.38), (0.5, 0.62)]
        rect = dlib.rectangle(round(x), round(y), round(det.right), round(det.bottom))
        return dlib.full_object_detection(
            rect, [dlib.point(round(x + a * w), round(y + b * h)) for a, b in pts]
        )

    def embed(self, rgb: np.ndarray, shape) -> np.ndarray:
        self.calls.append(self.now)
        step = self.steps[self.now]
        assert step.distances is not None
        v = _embedding(*step.distances)
        v[2] = step.noise if self.now % 2 == 0 else -step.noise
        return v


def _image(step: Step, faces: dict[str, np.ndarray]) -> np.ndarray:
    image = np.full((360, 640), 100, dtype=np.uint8)
    left, top = int(step.box[0]), int(step.box[1])
    crop = np.asarray(
        Image.fromarray(faces[step.photo]).resize(
            (int(step.box[2] - step.box[0]), int(step.box[3] - step.box[1]))
        )
    )
    image[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return image


def _run(
    steps: list[Step],
    faces: dict[str, np.ndarray],
    *,
    cuts: tuple[int, ...] = (),
    stitched: bool = True,
    **config: float,
) -> list[int | None]:
    """The person named in each sample (None: no face reported).

    `cuts` splits the samples into chunks analysed apart, as analyze_video's workers do (each
    chunk's records and boundary tracks pickled together), then stitched as in its parent.
    """
    cfg = TrackerConfig(**{**EVERY_SAMPLE, **config})
    models = _Models(steps)
    per_step: list[list[FaceRecord]] = []
    chunks = []
    for a, b in itertools.pairwise([0, *cuts, len(steps)]):
        analyzer = FrameAnalyzer(models, MATRIX, OWNERS, THRESHOLD, FPS, cfg)  # type: ignore[arg-type]
        chunk = []
        for i in range(a, b):
            models.now = i
            frame = _Frame(i, round(i * 1000 / FPS), _image(steps[i], faces))
            chunk.append(analyzer.process(frame))  # type: ignore[arg-type]
        # Records are read at the end, as _run_chunk does: a later match can name earlier samples.
        chunk, boundary = pickle.loads(pickle.dumps((chunk, analyzer.boundary())))
        per_step.extend(chunk)
        chunks.append(boundary)
    if stitched:
        stitch(chunks, MATRIX, OWNERS, THRESHOLD, cfg)
    return [records[0].person if records else None for records in per_step]


def test_a_confidently_named_face_keeps_its_name_through_marginal_distances(faces) -> None:
    # Given a face named at 0.45, then a dim stretch at 0.61-0.69, then clear again
    steps = [Step((d,)) for d in (0.45, 0.61, 0.66, 0.69, 0.64, 0.5)]
    # Then the name holds through the stretch
    assert _run(steps, faces) == [0, 0, 0, 0, 0, 0]
    # And without the rule (keep_distance at the threshold) those samples are lost
    assert _run(steps, faces, keep_distance=THRESHOLD) == [0, -1, -1, -1, -1, 0]


def test_a_face_that_never_matched_stays_unknown(faces) -> None:
    # An unknown face hovering just past the threshold is never named
    steps = [Step((d,)) for d in (0.63, 0.61, 0.65, 0.62, 0.68)]
    assert _run(steps, faces) == [-1] * 5


def test_a_match_just_under_the_threshold_does_not_anchor_a_name(faces) -> None:
    # 0.58 names the face in that sample, but it is not confident enough to carry the name
    steps = [Step((d,)) for d in (0.58, 0.63, 0.62)]
    assert _run(steps, faces) == [0, -1, -1]


def test_a_distance_clearly_beyond_the_threshold_ends_the_name(faces) -> None:
    steps = [Step((d,)) for d in (0.4, 0.74, 0.64, 0.62)]
    assert _run(steps, faces) == [0, -1, -1, -1]


def test_a_cut_to_another_face_at_the_same_place_ends_the_name(faces) -> None:
    # Same box, other pixels: the aligned crops no longer correlate, the track breaks
    steps = [Step((0.4,)), Step((0.4,)), Step((0.65,), photo="biden"), Step((0.63,), photo="biden")]
    assert _run(steps, faces) == [0, 0, -1, -1]


def test_a_jump_in_size_ends_the_name(faces) -> None:
    big = (170.0, 60.0, 350.0, 285.0)  # 1.5x wider, still overlapping the old box
    steps = [Step((0.4,)), Step((0.65,), box=big), Step((0.63,), box=big)]
    assert _run(steps, faces) == [0, -1, -1]


def test_a_face_moving_more_than_its_width_per_sample_keeps_its_track(faces) -> None:
    # Given a whip: the face moves 110 px a sample (its box is 120 px wide, so consecutive
    # boxes barely overlap) through marginal distances
    steps = [Step((d,), box=(40.0 + 110 * i, 100.0, 160.0 + 110 * i, 250.0))
             for i, d in enumerate((0.4, 0.64, 0.66, 0.65))]  # fmt: skip
    # Then it is one track, and the name holds
    assert _run(steps, faces) == [0, 0, 0, 0]


def test_a_face_appearing_far_from_a_lost_one_is_a_new_face(faces) -> None:
    # The same pixels 2.5 widths away in the next sample: not a move, another face
    steps = [Step((0.4,)), Step((0.64,), box=(510.0, 100.0, 630.0, 250.0))]
    assert _run(steps, faces) == [0, -1]


def test_a_face_lost_for_several_samples_does_not_keep_its_name(faces) -> None:
    steps = [Step((0.4,)), Step(None), Step(None), Step(None), Step((0.63,))]
    assert _run(steps, faces) == [0, None, None, None, -1]


def test_the_name_is_kept_only_for_a_few_seconds_after_the_last_match(faces) -> None:
    # keep_s = 3 s at 5 samples/s: samples 1..15 are within 3 s of the match at sample 0
    steps = [Step((0.4,))] + [Step((0.65,)) for _ in range(20)]
    names = _run(steps, faces)
    assert names[:16] == [0] * 16
    assert names[16:] == [-1] * 5


def test_marginal_samples_just_before_a_confident_match_get_the_name(faces) -> None:
    # Given a face that is marginal (a soft, small start) and then matches confidently
    steps = [Step((d,)) for d in (0.66, 0.64, 0.62, 0.45, 0.5)]
    # Then the rule applies backwards too: the same continuous track, so the same person
    assert _run(steps, faces) == [0, 0, 0, 0, 0]
    # And without the rule those samples are lost
    assert _run(steps, faces, keep_distance=THRESHOLD) == [-1, -1, -1, 0, 0]


def test_naming_back_carries_through_plain_matches_up_to_the_anchor(faces) -> None:
    # Marginal, then plain matches (named, too weak to anchor), then a confident match 4 s on
    steps = [Step((d,)) for d in (0.64, 0.66)] + [Step((0.58,)) for _ in range(18)]
    steps.append(Step((0.45,)))
    # Then the marginal start is within 3 s of a match on a track that turned out anchored
    assert _run(steps, faces)[:2] == [0, 0]
    # And a track that never anchors does not name its marginal samples
    assert _run(steps[:-1], faces)[:2] == [-1, -1]


def test_naming_back_stops_at_a_cut_a_far_distance_and_after_a_few_seconds(faces) -> None:
    # Another face before a cut at the same place stays unknown
    cut = [Step((0.65,), photo="biden"), Step((0.64,), photo="biden"), Step((0.4,))]
    assert _run(cut, faces) == [-1, -1, 0]
    # A distance beyond keep_distance ends the walk back
    far = [Step((d,)) for d in (0.64, 0.74, 0.65, 0.4)]
    assert _run(far, faces) == [-1, -1, 0, 0]
    # 3 s at 5 samples/s: the anchor at sample 20 (4.0 s) names back to sample 5 (1.0 s)
    names = _run([Step((0.65,)) for _ in range(20)] + [Step((0.4,))], faces)
    assert names == [-1] * 5 + [0] * 16


def test_a_face_unchanged_since_its_match_keeps_it_fresh(faces) -> None:
    # Given a clear match, then 8 s of the same pixels (no embedding needed), then a stretch
    # of marginal distances at the periodic re-embedding
    steps = [Step((0.3,)) for _ in range(40)] + [Step((0.65,)) for _ in range(3)]
    # Then the name is still kept: the face looked like its match until a moment ago
    assert _run(steps, faces, reverify_s=2.0, reverify_clear_s=8.0, unsure_reverify_s=0.4)[40:] == [
        0,
        0,
        0,
    ]


def test_a_kept_name_never_overrides_a_nearer_person(faces) -> None:
    # Anchored to person 0, then nearer person 1 than person 0 (both past the threshold)
    steps = [Step((0.4,)), Step((0.68, 0.64)), Step((0.66, 0.69))]
    assert _run(steps, faces) == [0, -1, 0]


def test_between_embeddings_a_track_keeps_what_it_was_last_told(faces) -> None:
    # With the default intervals a clear match is not re-embedded every sample
    steps = [Step((0.3,)) for _ in range(10)]
    models_calls = _Models(steps)
    analyzer = FrameAnalyzer(models_calls, MATRIX, OWNERS, THRESHOLD, FPS)  # type: ignore[arg-type]
    for i, step in enumerate(steps):
        models_calls.now = i
        image = np.full((360, 640), 100, dtype=np.uint8)
        crop = np.asarray(Image.fromarray(faces[step.photo]).resize((120, 150)))
        image[100:250, 200:320] = crop
        assert analyzer.process(_Frame(i, i * 200, image))[0].person == 0  # type: ignore[arg-type]
    assert models_calls.calls == [0]


# ------------------------------------------------------------------------ the track mean


def test_a_face_scattered_by_compression_is_named_by_its_track_mean(faces) -> None:
    # Given a face 0.54 from person 0, whose single embeddings compression scatters to 0.61
    # (0.56 from each other: the same face)
    steps = [Step((0.54,), noise=0.28) for _ in range(6)]
    # Then the mean of the track's embeddings names it, from the second sample on; the first
    # is named back, as the same continuous track
    assert _run(steps, faces, **TRACK_MEAN) == [0] * 6
    # And matched sample by sample, it never matches and stays unknown
    assert _run(steps, faces) == [-1] * 6


def test_averaging_does_not_name_an_unknown_face(faces) -> None:
    # An unknown face whose embeddings scatter around 0.66 from person 0 (0.72 each)
    steps = [Step((0.66,), noise=0.3) for _ in range(12)]
    assert _run(steps, faces, **TRACK_MEAN) == [-1] * 12
    assert _run(steps, faces) == [-1] * 12


def test_the_track_mean_starts_over_at_an_embedding_clearly_not_the_person(faces) -> None:
    # Named at 0.3 for a second, then embeddings at 0.8 with no cut in the pixels: averaged
    # with the earlier ones they would still be under the threshold
    steps = [Step((0.3,)) for _ in range(5)] + [Step((0.8,)) for _ in range(3)]
    assert _run(steps, faces, **TRACK_MEAN) == [0] * 5 + [-1] * 3


@pytest.mark.parametrize(
    "steps, names",
    [
        # never matched
        ([Step((d,)) for d in (0.63, 0.61, 0.65, 0.62, 0.68)], [-1] * 5),
        # a cut to another face at the same place
        ([Step((0.4,)), Step((0.4,)), Step((0.65,), photo="biden"), Step((0.63,), photo="biden")],
         [0, 0, -1, -1]),
        # a cut to a face far from the track's mean
        ([Step((0.3,))] * 3 + [Step((0.75,), photo="biden")] * 2, [0, 0, 0, -1, -1]),
        # a jump in size
        ([Step((0.4,)), Step((0.65,), box=(170.0, 60.0, 350.0, 285.0))], [0, -1]),
        # lost for several samples
        ([Step((0.4,)), Step(None), Step(None), Step(None), Step((0.63,))],
         [0, None, None, None, -1]),
        # a nearer person: the mean may not name against the latest embedding's ranking
        ([Step((0.4,)), Step((0.68, 0.64)), Step((0.66, 0.69))], [0, -1, 0]),
    ],
)  # fmt: skip
def test_the_track_mean_keeps_every_rule_that_keeps_a_name_off_a_face(
    faces, steps: list[Step], names: list[int | None]
) -> None:
    assert _run(steps, faces, **TRACK_MEAN) == names


# ------------------------------------------------------------------------ across chunk boundaries


def test_a_named_face_crossing_a_chunk_boundary_keeps_its_name(faces) -> None:
    # Given a face named confidently, then marginal from the first sample of the next chunk on
    steps = [Step((d,)) for d in (0.45, 0.5, 0.61, 0.66, 0.69, 0.64)]
    # Then the name holds across the boundary, as in one chunk
    assert _run(steps, faces, cuts=(2,)) == [0] * 6 == _run(steps, faces)
    # And the second chunk alone, with no history, would lose those samples
    assert _run(steps, faces, cuts=(2,), stitched=False) == [0, 0, -1, -1, -1, -1]


def test_marginal_samples_before_a_boundary_are_named_back_by_a_match_after_it(faces) -> None:
    steps = [Step((d,)) for d in (0.66, 0.64, 0.45, 0.5)]
    assert _run(steps, faces, cuts=(2,)) == [0] * 4
    assert _run(steps, faces, cuts=(2,), stitched=False) == [-1, -1, 0, 0]


def test_a_name_is_carried_across_several_boundaries(faces) -> None:
    steps = [Step((d,)) for d in (0.4, 0.62, 0.64, 0.63, 0.65)]
    assert _run(steps, faces, cuts=(1, 2, 4)) == [0] * 5
    assert _run(steps, faces, cuts=(1, 2, 4), stitched=False) == [0, -1, -1, -1, -1]


def test_the_track_mean_is_carried_across_a_boundary(faces) -> None:
    # Given a face whose single embeddings are 0.61 from person 0, their mean 0.54
    steps = [Step((0.54,), noise=0.28) for _ in range(6)]
    # Then the mean goes on across the boundary, as in one chunk
    assert _run(steps, faces, cuts=(5,), **TRACK_MEAN) == [0] * 6
    # And the next chunk's sample alone is unknown
    assert _run(steps, faces, cuts=(5,), stitched=False, **TRACK_MEAN) == [0] * 5 + [-1]


@pytest.mark.parametrize("cuts", [(1,), (2,), (3,), (1, 3)])
def test_an_unknown_face_crossing_a_boundary_is_never_named(faces, cuts) -> None:
    steps = [Step((d,)) for d in (0.63, 0.61, 0.65, 0.62, 0.68)]
    assert _run(steps, faces, cuts=cuts) == [-1] * 5
    scattered = [Step((0.66,), noise=0.3) for _ in range(8)]
    assert _run(scattered, faces, cuts=cuts, **TRACK_MEAN) == [-1] * 8


@pytest.mark.parametrize(
    "steps, names",
    [
        # a cut to another face at the same place, exactly at the boundary
        ([Step((0.4,)), Step((0.4,)), Step((0.65,), photo="biden"), Step((0.63,), photo="biden")],
         [0, 0, -1, -1]),
        # a jump in size at the boundary
        ([Step((0.4,)), Step((0.4,)), Step((0.65,), box=(170.0, 60.0, 350.0, 285.0))],
         [0, 0, -1]),
        # a face far from where the last one was
        ([Step((0.4,)), Step((0.4,)), Step((0.64,), box=(510.0, 100.0, 630.0, 250.0))],
         [0, 0, -1]),
        # a distance clearly beyond the threshold at the boundary
        ([Step((0.4,)), Step((0.4,)), Step((0.74,)), Step((0.64,))], [0, 0, -1, -1]),
        # lost for several samples around the boundary
        ([Step((0.4,)), Step((0.4,)), Step(None), Step(None), Step(None), Step((0.63,))],
         [0, 0, None, None, None, -1]),
        # a cut before a confident match after the boundary: nothing named back
        ([Step((0.65,), photo="biden"), Step((0.64,), photo="biden"), Step((0.4,))],
         [-1, -1, 0]),
    ],
)  # fmt: skip
def test_a_cut_a_jump_a_far_distance_or_a_gap_at_the_boundary_carries_no_name(
    faces, steps: list[Step], names: list[int | None]
) -> None:
    for config in ({}, TRACK_MEAN):
        assert _run(steps, faces, cuts=(2,), **config) == names == _run(steps, faces, **config)


@pytest.mark.parametrize(
    "steps",
    [
        [Step((d,)) for d in (0.45, 0.61, 0.66, 0.69, 0.64, 0.5)],
        [Step((d,)) for d in (0.66, 0.64, 0.62, 0.45, 0.5)],
        [Step((0.4,)), Step((0.68, 0.64)), Step((0.66, 0.69)), Step((0.67, 0.62))],
        [Step((0.4,))] + [Step((0.65,)) for _ in range(18)],
        [Step((0.3,)) for _ in range(5)] + [Step((0.8,)) for _ in range(3)],
        [Step((0.3,))] * 3 + [Step((0.75,), photo="biden")] * 2,
    ],
)
def test_chunks_stitched_name_every_sample_as_one_chunk_does(faces, steps) -> None:
    # Wherever the boundary falls, with or without the track mean
    for config in ({}, TRACK_MEAN):
        whole = _run(steps, faces, **config)
        for cut in range(1, len(steps)):
            assert _run(steps, faces, cuts=(cut,), **config) == whole, cut


def test_across_a_boundary_only_the_embeddings_one_pass_would_take_count(faces) -> None:
    # Given a clear match, then the same pixels for 4 s whose embeddings would be marginal:
    # one pass does not embed an unchanged, clearly named face again within 8 s, while the next
    # chunk's worker, seeing a new unsure face, embeds it every 0.4 s
    steps = [Step((0.3,)) for _ in range(5)] + [Step((0.65,)) for _ in range(20)]
    intervals = {"reverify_s": 2.0, "reverify_clear_s": 8.0, "unsure_reverify_s": 0.4}
    whole = _run(steps, faces, **intervals)
    assert whole == [0] * 25
    # Then the stitched chunks name it as one pass does (by those embeddings alone the name
    # would have lapsed 3 s after the boundary)
    assert _run(steps, faces, cuts=(5,), **intervals) == whole
