"""Recognition on real photos in synthesized videos with known ground truth."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from cameo_engine import recognition, synth
from cameo_engine.gallery import Gallery
from cameo_engine.recognition import (
    InvalidImageError,
    VideoDecodeError,
    analyze_video,
    celebrity_confidence,
    face_confidence,
    recognize_image,
)

pytestmark = pytest.mark.engine

SAMPLE_FPS = 5.0
INTERVAL_MS = 1000 / SAMPLE_FPS
STANDARD = [
    "enter_leave_mp4_25",
    "scale_two_faces_mov_2997",
    "cut_avi_25",
    "vfr_mp4",
    "dim_blurred_noisy_mp4_25",
]


@pytest.fixture(scope="module")
def analyses(standard_videos, gallery):
    return {
        v.spec.name: (v, analyze_video(v.path, gallery, sample_fps=SAMPLE_FPS))
        for v in standard_videos
    }


def _score(video, analysis, known):
    return synth.score(video.truth, analysis.detections, analysis.sampled_ms, known, 640, 360)


@pytest.mark.parametrize("name", STANDARD)
def test_identity_precision_and_recall_per_sampled_frame(analyses, known_people, name) -> None:
    video, analysis = analyses[name]
    score = _score(video, analysis, known_people)
    assert score.precision >= 0.99
    assert score.recall >= 0.95
    assert score.unknown_named == 0


@pytest.mark.parametrize("name", STANDARD)
def test_first_and_last_seen_within_one_sampling_interval(analyses, known_people, name) -> None:
    video, analysis = analyses[name]
    score = _score(video, analysis, known_people)
    assert score.first_seen, "every video shows at least one known person"
    for person, (truth_ms, seen_ms) in {**score.first_seen}.items():
        assert seen_ms is not None and abs(seen_ms - truth_ms) <= INTERVAL_MS, person
    for person, (truth_ms, seen_ms) in score.last_seen.items():
        assert seen_ms is not None and abs(seen_ms - truth_ms) <= INTERVAL_MS, person


def test_a_cut_to_another_person_at_the_same_place_is_not_carried_over(analyses) -> None:
    # Collins until 3.0 s, then Obama exactly where she was: tracking must not keep her name
    _, analysis = analyses["cut_avi_25"]
    names_after = {d["Celebrity"]["Name"] for d in analysis.detections if d["Timestamp"] >= 3000}
    names_before = {d["Celebrity"]["Name"] for d in analysis.detections if d["Timestamp"] < 3000}
    assert names_before == {synth.COLLINS}
    assert names_after == {synth.OBAMA}


def test_tracking_embeds_far_fewer_faces_than_it_reports(analyses) -> None:
    _, analysis = analyses["scale_two_faces_mov_2997"]
    assert analysis.stats["faces"] >= 40
    assert analysis.stats["embeddings"] <= analysis.stats["faces"] / 4


def test_detections_have_the_rekognition_shape(analyses, gallery) -> None:
    _, analysis = analyses["enter_leave_mp4_25"]
    assert analysis.detections
    timestamps = [d["Timestamp"] for d in analysis.detections]
    assert timestamps == sorted(timestamps)
    obama = next(p for p in gallery.people if p.name == synth.OBAMA)
    for item in analysis.detections:
        assert set(item) == {"Timestamp", "Celebrity"}
        celeb = item["Celebrity"]
        # no body BoundingBox: the engine cannot measure one
        assert set(celeb) == {"Urls", "Name", "Id", "Confidence", "KnownGender", "Face"}
        assert 90 <= celeb["Confidence"] <= 100
        face = celeb["Face"]
        assert set(face) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}
        box = face["BoundingBox"]
        assert box["Width"] < 0.35 and 0.2 < box["Height"] < 0.6  # ~100-130 px faces
        # A face cut by the frame edge has a narrower box, and its eye points may lie beyond it
        inside = 0.01 < box["Left"] < 0.99 - box["Width"]
        assert box["Width"] > 0.1 or not inside
        # ratios of the frame; a face entering at the edge may stick out of it
        assert -box["Width"] < box["Left"] < 1 and 0 <= box["Top"] <= 1 - box["Height"]
        marks = {m["Type"]: (m["X"], m["Y"]) for m in face["Landmarks"]}
        assert {"eyeLeft", "eyeRight", "nose"} <= set(marks)
        assert marks["eyeLeft"][0] < marks["nose"][0] < marks["eyeRight"][0]
        assert marks["nose"][1] > marks["eyeLeft"][1]
        assert not inside or (
            box["Left"] < marks["eyeLeft"][0] and marks["eyeRight"][0] < box["Left"] + box["Width"]
        )
        assert marks["mouthLeft"][0] < marks["mouthRight"][0]
        assert marks["mouthLeft"][1] > marks["nose"][1]
        assert set(face["Pose"]) == {"Roll", "Yaw", "Pitch"}
        assert abs(face["Pose"]["Roll"]) < 15  # upright photos
        assert set(face["Quality"]) == {"Brightness", "Sharpness"}
        assert all(0 <= v <= 100 for v in face["Quality"].values())
        assert face["Confidence"] > 50  # the detector threshold
    first = next(
        d["Celebrity"] for d in analysis.detections if d["Celebrity"]["Name"] == synth.OBAMA
    )
    assert first["Id"] == obama.id
    assert first["Urls"] == obama.urls
    assert first["KnownGender"] == {"Type": "Male"}


def test_video_metadata_is_reported(analyses) -> None:
    _, analysis = analyses["scale_two_faces_mov_2997"]
    assert analysis.metadata == {
        "Codec": "h264",
        "DurationMillis": analysis.metadata["DurationMillis"],
        "Format": "QuickTime / MOV",
        "FrameRate": 29.97,
        "FrameHeight": 360,
        "FrameWidth": 640,
        "ColorRange": "LIMITED",
    }
    assert 5900 <= analysis.metadata["DurationMillis"] <= 6000


def test_a_video_without_known_faces_succeeds_with_no_detections(short_video, tmp_path) -> None:
    empty = Gallery.load(tmp_path / "empty-gallery")
    analysis = analyze_video(short_video.path, empty)
    assert analysis.detections == []
    assert len(analysis.sampled_ms) == 15
    assert analysis.stats["faces"] > 0  # faces were seen, just nobody to name
    assert analysis.stats["embeddings"] == 0


def test_unknown_faces_are_seen_but_never_named(short_video, gallery) -> None:
    analysis = analyze_video(short_video.path, gallery)
    assert {d["Celebrity"]["Name"] for d in analysis.detections} == {synth.OBAMA}
    assert analysis.stats["unknown_faces"] >= 9  # Biden, on screen from 1 s


def test_progress_is_reported_in_order_up_to_done(short_video, gallery) -> None:
    seen: list[float] = []
    analyze_video(short_video.path, gallery, progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert len(seen) >= 5


def test_a_failing_progress_callback_does_not_fail_the_analysis(short_video, gallery) -> None:
    def broken(_: float) -> None:
        raise RuntimeError("progress sink down")

    assert analyze_video(short_video.path, gallery, progress=broken).detections


def test_worker_processes_give_the_same_answer_as_one(short_video, gallery, monkeypatch) -> None:
    # Short chunks so that a 3 s test video is split over 2 processes (6 chunks)
    monkeypatch.setattr(recognition, "MIN_CHUNK_S", 0.5)
    monkeypatch.setattr(recognition, "TARGET_CHUNK_S", 0.5)
    try:
        seen: list[float] = []
        parallel = analyze_video(short_video.path, gallery, processes=2, progress=seen.append)
    finally:
        recognition.shutdown_workers()
    single = analyze_video(short_video.path, gallery)
    assert parallel.stats["chunks"] == 6
    assert parallel.sampled_ms == single.sampled_ms
    pairs = [(d["Timestamp"], d["Celebrity"]["Name"]) for d in parallel.detections]
    assert pairs == [(d["Timestamp"], d["Celebrity"]["Name"]) for d in single.detections]
    assert seen[-1] == 1.0


def test_a_bad_video_raises_a_decode_error_for_the_job_status(tmp_path, gallery) -> None:
    path = tmp_path / "empty.mov"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="empty"):
        analyze_video(path, gallery)


# ------------------------------------------------------------------ RecognizeCelebrities


def _jpeg(path: Path, max_side: int = 800) -> bytes:
    image = Image.open(path).convert("RGB")
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def test_recognize_image_names_a_known_face(gallery, photo_dir) -> None:
    response = recognize_image(_jpeg(photo_dir / "obama3.jpg"), gallery)
    assert response["UnrecognizedFaces"] == []
    [celeb] = response["CelebrityFaces"]
    assert celeb["Name"] == synth.OBAMA
    assert celeb["KnownGender"] == {"Type": "Male"}
    assert celeb["MatchConfidence"] >= 90
    assert set(celeb["Face"]) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}


def test_recognize_image_leaves_an_unknown_face_unrecognized(gallery, photo_dir) -> None:
    response = recognize_image(_jpeg(photo_dir / "biden.jpg"), gallery)
    assert response["CelebrityFaces"] == []
    [face] = response["UnrecognizedFaces"]
    assert 0 < face["BoundingBox"]["Width"] < 1


@pytest.mark.parametrize("data", [b"", b"GIF89a not really", b"\xff\xd8\xff broken jpeg"])
def test_recognize_image_rejects_bytes_that_are_not_an_image(gallery, data) -> None:
    with pytest.raises(InvalidImageError):
        recognize_image(data, gallery)


def test_recognize_image_rejects_formats_rekognition_does_not_take(gallery) -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32)).save(out, "GIF")
    with pytest.raises(InvalidImageError, match="use JPEG or PNG"):
        recognize_image(out.getvalue(), gallery)


# ------------------------------------------------------------------ calibration


def test_match_confidence_falls_with_distance_and_is_90_at_the_default_threshold() -> None:
    values = [celebrity_confidence(d / 100) for d in range(0, 120, 5)]
    assert values == sorted(values, reverse=True)
    assert celebrity_confidence(0.6) == pytest.approx(90, abs=0.5)
    assert celebrity_confidence(0.72) == pytest.approx(50, abs=0.01)
    assert celebrity_confidence(0.4) > 99


def test_face_confidence_is_the_detector_score_in_percent() -> None:
    # CenterFace's score is a sigmoid output, already a 0-1 confidence
    assert face_confidence(0.5) == 50.0
    assert face_confidence(0.987654) == 98.765
    assert face_confidence(1.2) == 100.0 and face_confidence(-0.1) == 0.0


def test_a_phone_video_stored_sideways_is_analysed_upright(photo_dir, gallery, tmp_path) -> None:
    # Frames stored turned 90 degrees with a display rotation, as phones record portrait video
    from fractions import Fraction

    sprite = synth.Sprite.from_photo("obama3", photo_dir.parent)
    scene = synth.Scene(640, 360, seed=12, actors=[
        synth.Actor(sprite, [synth.Key(0, 200, 180, 120), synth.Key(2, 420, 170, 110)]),
    ])  # fmt: skip
    spec = synth.VideoSpec("phone", ".mov", Fraction(25), 2.0, rotation=90)
    truth = synth.write_video(tmp_path / "phone.mov", scene, spec)
    analysis = analyze_video(tmp_path / "phone.mov", gallery)
    # HOG finds upright faces only: without turning the frames back, nothing would be found
    score = _score(synth.SynthVideo(tmp_path / "phone.mov", spec, truth, set()), analysis,
                   {synth.OBAMA})  # fmt: skip
    assert score.known_faces == 10
    assert score.recall == 1.0 and score.precision == 1.0  # boxes are ratios of the upright frame
