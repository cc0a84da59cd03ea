"""Issue 9's quality gates, on the hard-footage suite (cameo_engine.hardsuite).

Three videos (.mov 29.97 fps 720p, .mp4 25 fps 360p, .avi MPEG-4 Part 2 24 fps 270p at
150 kb/s), every failure class of the issue in each, exact truth per frame. The engine runs at
its default settings; per video, per sampled frame:
  identity precision >= 0.99, recall >= 0.95, no unknown face named,
  first and last seen of each known person within one sampling interval (200 ms).
Precision, unknown faces and recall are also gated with 2 processes (`cameo engine serve`'s
default on 2 cores), where each video is cut into 2 chunks analysed apart and stitched: the
faces named must be those one process names.
The suite is built once and cached under .cache/hard-suite/<hash of its parameters>/, so only
the first session pays for rendering (about 2 minutes on 2 cores).

The last tests check the suite itself: the truth, the scoring rules and the coverage, so that a
pass means what it says.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cameo_engine import hardsuite, synth

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
INTERVAL_MS = 200.0  # one sampling interval at the default 5 samples per second
VIDEOS = [s.name for s in hardsuite.scripts()]
# Gates the engine misses are listed here as (gate, video): reason, and reported as xfail at the
# issue's thresholds, never loosened; non-strict, so a fix shows up as XPASS.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _gated(gate: str) -> list[object]:
    return [
        pytest.param(v, marks=pytest.mark.xfail(reason=KNOWN_GAPS[(gate, v)], strict=False))
        if (gate, v) in KNOWN_GAPS
        else v
        for v in VIDEOS
    ]


@pytest.fixture(scope="session")
def suite() -> hardsuite.Suite:
    return hardsuite.build(CACHE)


@pytest.fixture(scope="session")
def engine_run(suite: hardsuite.Suite) -> hardsuite.Run:
    return hardsuite.run_engine(suite)


def _explain(s: hardsuite.VideoScore) -> str:
    """Per-class recall and precision, for the assertion message."""
    parts = [
        f"{c} {t.found}/{t.counted} p={t.precision:.3f}"
        for c, t in s.classes.items()
        if t.counted or t.wrong
    ]
    return "; ".join(parts)


# ------------------------------------------------------------------------ the gates


@pytest.mark.parametrize("video", VIDEOS)
def test_identity_precision_is_at_least_099_per_sampled_frame(engine_run, video) -> None:
    s = engine_run.scores[video]
    assert s.total.precision >= 0.99, _explain(s)


@pytest.mark.parametrize("video", _gated("recall"))
def test_recall_is_at_least_095_per_sampled_frame(engine_run, video) -> None:
    s = engine_run.scores[video]
    assert s.total.recall >= 0.95, _explain(s)


@pytest.mark.parametrize("video", VIDEOS)
def test_no_unknown_face_is_named(engine_run, video) -> None:
    s = engine_run.scores[video]
    assert s.total.unknown_named == 0, _explain(s)


@pytest.fixture(scope="session")
def engine_run_2_processes(suite: hardsuite.Suite) -> hardsuite.Run:
    """`cameo engine serve`'s default on 2 cores: each video cut into 2 chunks."""
    return hardsuite.run_engine(suite, processes=2)


@pytest.mark.parametrize("video", VIDEOS)
def test_two_processes_name_nobody_wrongly(engine_run_2_processes, video) -> None:
    s = engine_run_2_processes.scores[video]
    assert s.total.precision >= 0.99 and s.total.unknown_named == 0, _explain(s)


@pytest.mark.parametrize("video", _gated("recall, 2 processes"))
def test_recall_is_at_least_095_with_two_processes(engine_run_2_processes, video) -> None:
    s = engine_run_2_processes.scores[video]
    assert s.total.recall >= 0.95, _explain(s)


@pytest.mark.parametrize("video", VIDEOS)
def test_two_processes_name_the_faces_one_process_names(
    engine_run, engine_run_2_processes, video
) -> None:
    # Identities are carried across the chunk boundary (tracking.stitch); what may still differ
    # is when the faces at the boundary were embedded, so a sample or two
    one, two = set(engine_run.named[video]), set(engine_run_2_processes.named[video])
    assert len(one ^ two) <= 2, (
        f"only with 1: {sorted(one - two)}, only with 2: {sorted(two - one)}"
    )


@pytest.mark.parametrize("video", _gated("edges"))
def test_first_and_last_seen_within_one_sampling_interval(engine_run, video) -> None:
    errors = engine_run.scores[video].edge_errors_ms()
    assert set(errors) == set(hardsuite.KNOWN)
    late = {p: e for p, e in errors.items() if max(e) > INTERVAL_MS}
    assert not late, f"first/last error ms: {late}"


def test_the_gallery_photo_with_a_poster_enrolls_its_person(engine_run) -> None:
    """Joe Biden's only photo shows a second face: it must still enroll him (the dominant
    face), and no photo of the suite's gallery may be refused."""
    assert engine_run.gallery_warnings == []


# ------------------------------------------------------------------------ the existing suite


@pytest.fixture(scope="module")
def standard_scores(standard_videos, gallery, known_people):
    from cameo_engine.recognition import analyze_video

    out = {}
    for video in standard_videos:
        result = analyze_video(video.path, gallery)
        out[video.spec.name] = synth.score(
            video.truth, result.detections, result.sampled_ms, known_people, 640, 360
        )
    return out


def test_the_existing_suite_keeps_its_figures(standard_scores) -> None:
    """Before issue 9 the standard suite scored precision 1.0 and recall 1.0 on every video,
    with first and last seen within one sampling interval: that must not regress."""
    for name, s in standard_scores.items():
        assert (s.precision, s.recall, s.unknown_named) == (1.0, 1.0, 0), name
        assert s.worst_edge_error_ms() <= INTERVAL_MS, name


# ------------------------------------------------------------------------ the suite itself


def test_every_video_covers_every_failure_class(suite) -> None:
    # Given the truth of every sampled frame at 5 samples/s (every 200 ms)
    for video in suite.videos:
        counted = dict.fromkeys(hardsuite.CLASSES, 0)
        for frame in video.truth[:: max(1, round(float(video.script.fps) / 5))]:
            for face in frame.faces:
                if face.person in hardsuite.KNOWN and face.counts:
                    for c in face.classes:
                        counted[c] += 1
        expected = set(hardsuite.CLASSES) - (
            {"compressed"} if video.script.suffix != ".avi" else set()
        )
        thin = {c: n for c, n in counted.items() if c in expected and n < 4}
        assert not thin, f"{video.name}: too few counted faces for {thin}"


def test_the_three_containers_are_the_issues(suite) -> None:
    import av

    want = {
        ".mov": (1280, 720, 30000 / 1001, "h264"),
        ".mp4": (640, 360, 25.0, "h264"),
        ".avi": (480, 270, 24.0, "mpeg4"),
    }
    for video in suite.videos:
        with av.open(str(video.path)) as c:
            s = c.streams.video[0]
            w, h, fps, codec = want[video.script.suffix]
            assert (s.codec_context.width, s.codec_context.height) == (w, h)
            assert abs(float(s.average_rate) - fps) < 0.01
            assert s.codec_context.name == codec
            if video.script.suffix == ".avi":
                kbps = video.path.stat().st_size * 8 / 1000 / video.script.duration
                assert kbps < 200, f"{kbps:.0f} kb/s"


def test_a_gallery_photo_has_a_second_face_and_a_dominant_one(suite) -> None:
    import dlib

    photo = suite.gallery / synth.BIDEN / "biden_with_poster.jpg"
    img = Image.open(photo).convert("RGB")
    scale = 1200 / max(img.size)
    rgb = np.asarray(img.resize((round(img.width * scale), round(img.height * scale))))
    rects = sorted(dlib.get_frontal_face_detector()(rgb, 0), key=lambda r: -r.area())
    assert len(rects) == 2
    assert rects[0].width() >= 1.8 * rects[1].width()  # his face is clearly the dominant one


def test_the_unknown_face_is_on_screen_next_to_known_ones(suite) -> None:
    for video in suite.videos:
        together = [
            f
            for f in video.truth
            if any(x.person == hardsuite.UNKNOWN and x.counts for x in f.faces)
            and any(x.person in hardsuite.KNOWN and x.counts for x in f.faces)
        ]
        assert len(together) / float(video.script.fps) >= 3.0, video.name


def test_video_faces_are_not_the_gallery_pixels(suite) -> None:
    """Obama's video faces come from photos the gallery does not hold; Biden's only photo is
    always mirrored and colour-graded in the videos."""
    gallery_files = {p.name for p in suite.gallery.rglob("*.jpg")}
    for video in suite.videos:
        for p in video.script.performers:
            if p.person == synth.OBAMA:
                assert synth.PHOTOS[p.photo].file not in gallery_files
            if p.person == synth.BIDEN:
                assert p.mirror and p.tint != (1.0, 1.0, 1.0)


def _perfect(video: hardsuite.HardVideo, sampled: list[int]) -> list[dict]:
    """Detections that name every known face, exactly on its truth box."""
    w, h = video.script.width, video.script.height
    by_ms = {round(f.t_ms): f for f in video.truth}
    out = []
    for ms in sampled:
        for face in by_ms[ms].faces:
            if face.person in hardsuite.KNOWN:
                x0, y0, x1, y1 = hardsuite._clip(face.box, w, h)
                if x1 > x0 and y1 > y0:
                    box = {"Left": x0 / w, "Top": y0 / h, "Width": (x1 - x0) / w,
                           "Height": (y1 - y0) / h}  # fmt: skip
                    celeb = {"Name": face.person, "Face": {"BoundingBox": box}}
                    out.append({"Timestamp": ms, "Celebrity": celeb})
    return out


def _sampled(video: hardsuite.HardVideo) -> list[int]:
    step = max(1, round(float(video.script.fps) / 5))
    return [round(f.t_ms) for f in video.truth[::step]]


def test_scoring_perfect_answers_meets_every_gate(suite) -> None:
    for video in suite.videos:
        sampled = _sampled(video)
        s = hardsuite.score(video, _perfect(video, sampled), sampled)
        assert s.total.recall == 1.0 and s.total.precision == 1.0, video.name
        assert s.total.unknown_named == 0
        # truth edges fall between samples at most one interval before the next sample
        assert s.worst_edge_ms() <= INTERVAL_MS
        assert hardsuite.gates_met(s, INTERVAL_MS) == []


def test_a_face_less_than_half_visible_counts_neither_way(suite) -> None:
    video = next(v for v in suite.videos if v.script.suffix == ".mp4")
    sampled = _sampled(video)
    by_ms = {round(f.t_ms): f for f in video.truth}
    partial = [
        ms for ms in sampled
        if any(x.person in hardsuite.KNOWN and 0 < x.visible < 0.5 for x in by_ms[ms].faces)
    ]  # fmt: skip
    assert partial, "the suite has faces cut to less than half by the frame edge"
    perfect = _perfect(video, sampled)
    named_partial = hardsuite.score(video, perfect, sampled)
    not_named = [
        d for d in perfect
        if not any(x.person == d["Celebrity"]["Name"] and x.visible < 0.5
                   for x in by_ms[d["Timestamp"]].faces)
    ]  # fmt: skip
    skipped_partial = hardsuite.score(video, not_named, sampled)
    # Naming them is no hit, missing them is no miss: the figures are the same.
    assert named_partial.total.counted == skipped_partial.total.counted
    assert named_partial.total.recall == skipped_partial.total.recall == 1.0
    assert named_partial.total.precision == skipped_partial.total.precision == 1.0


def test_a_wrong_name_is_a_false_positive_and_naming_the_unknown_is_counted(suite) -> None:
    video = suite.videos[1]
    sampled = _sampled(video)
    by_ms = {round(f.t_ms): f for f in video.truth}
    w, h = video.script.width, video.script.height
    ms = next(ms for ms in sampled if any(x.person == hardsuite.UNKNOWN for x in by_ms[ms].faces))
    collins = next(x for x in by_ms[ms].faces if x.person == hardsuite.UNKNOWN)
    x0, y0, x1, y1 = collins.box
    box = {"Left": x0 / w, "Top": y0 / h, "Width": (x1 - x0) / w, "Height": (y1 - y0) / h}
    wrong = {"Timestamp": ms, "Celebrity": {"Name": synth.BIDEN, "Face": {"BoundingBox": box}}}
    s = hardsuite.score(video, [*_perfect(video, sampled), wrong], sampled)
    assert s.total.unknown_named == 1
    assert s.total.precision < 1.0
    assert hardsuite.gates_met(s, INTERVAL_MS)


def test_truth_boxes_follow_the_pixels(suite) -> None:
    """HOG (upsampled, on the clean render) finds each plain, fully visible face where the
    truth says it is."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    photos = synth.fetch_photos(CACHE)
    script = hardsuite.scripts()[1]
    renderer = hardsuite.Renderer(script, photos.parent)
    for t in (3.3, 3.7):
        image, faces = renderer.frame(t)
        rects = detector(np.asarray(image), 1)
        for face in faces:
            assert face.visible == pytest.approx(1.0)
            best = max(
                (synth._iou(face.box, (r.left(), r.top(), r.right() + 1, r.bottom() + 1))
                 for r in rects),
                default=0.0,
            )  # fmt: skip
            assert best >= 0.6, (t, face.person, best)
    assert not math.isnan(hardsuite.at(script.gain, 5.0))
