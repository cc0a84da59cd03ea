"""Celebrity recognition on videos and images, in Rekognition's response shapes.

`analyze_video` splits a long video into time chunks and runs them on a pool of worker
processes, each with its own dlib models (dlib objects are not thread-safe, and one process per
core is what actually scales). See engine/README.md for how every confidence is calibrated.
"""

from __future__ import annotations

import atexit
import io
import itertools
import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cameo_engine.gallery import Gallery, Person
from cameo_engine.models import Detection, FaceModels, local_models
from cameo_engine.tracking import (
    ChunkStats,
    ChunkTracks,
    FaceRecord,
    FrameAnalyzer,
    TrackerConfig,
    measure_face,
    stitch,
)
from cameo_engine.video import VideoDecodeError, VideoInfo, probe, sample_frames

__all__ = [
    "InvalidImageError",
    "VideoAnalysis",
    "VideoDecodeError",
    "analyze_video",
    "celebrity_confidence",
    "face_confidence",
    "recognize_image",
    "shutdown_workers",
]

log = logging.getLogger(__name__)

# Calibration constants (engine/README.md explains where they come from).
MATCH_MIDPOINT = 0.72  # embedding distance at which a match is a coin toss
MATCH_SCALE = 0.055  # logistic width: distance 0.6 -> 90, 0.5 -> 98.2, 0.4 -> 99.7
# Anthropometric ratios to the distance between the eye centres, for the 5-point pose estimate.
NOSE_DEPTH = 0.5
NOSE_DROP = 0.76  # frontal eye-line-to-nose-base drop, measured on the frontal test photos
MIN_CHUNK_S = 5.0
TARGET_CHUNK_S = 30.0


class InvalidImageError(VideoDecodeError):
    """RecognizeCelebrities got bytes that are not a decodable JPEG or PNG image.

    A VideoDecodeError subclass so that callers mapping undecodable media to a client error
    (the server's InvalidImageFormatException) cover images without another except clause.
    """


def _logistic(x: float) -> float:
    if x < -50:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def celebrity_confidence(distance: float) -> float:
    """Celebrity.Confidence (0-100) for an embedding distance."""
    return round(100.0 * _logistic((MATCH_MIDPOINT - distance) / MATCH_SCALE), 3)


def face_confidence(score: float) -> float:
    """Face.Confidence (0-100) for a CenterFace score (its heatmap peak, a sigmoid output)."""
    return round(100.0 * min(1.0, max(0.0, score)), 3)


@dataclass
class VideoAnalysis:
    metadata: dict[str, Any]  # Rekognition VideoMetadata
    detections: list[dict[str, Any]]  # CelebrityRecognition items, sorted by Timestamp
    sampled_ms: list[int] = field(default_factory=list)  # every analysed frame's Timestamp
    stats: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ Rekognition shapes


def _face_dict(rec: FaceRecord) -> dict[str, Any]:
    """Rekognition's Face fields; coordinates are ratios of the upright frame."""
    width, height = rec.frame_size
    left, top, right, bottom = rec.box
    p = rec.points
    # dlib's 5 points: 0-1 image-right eye (outer, inner), 2-3 image-left eye (outer, inner),
    # 4 base of the nose. Rekognition names landmarks from the viewer's side.
    left_eye = ((p[2][0] + p[3][0]) / 2, (p[2][1] + p[3][1]) / 2)
    right_eye = ((p[0][0] + p[1][0]) / 2, (p[0][1] + p[1][1]) / 2)
    marks = [
        ("eyeLeft", left_eye),
        ("eyeRight", right_eye),
        ("nose", p[4]),
        ("leftEyeLeft", p[2]),
        ("leftEyeRight", p[3]),
        ("rightEyeLeft", p[1]),
        ("rightEyeRight", p[0]),
    ]
    if rec.mouth is not None:  # CenterFace's mouth corners
        marks += [("mouthLeft", rec.mouth[0]), ("mouthRight", rec.mouth[1])]
    return {
        "BoundingBox": {
            "Width": round((right - left) / width, 6),
            "Height": round((bottom - top) / height, 6),
            "Left": round(left / width, 6),
            "Top": round(top / height, 6),
        },
        "Confidence": face_confidence(rec.score),
        "Landmarks": [
            {"Type": name, "X": round(x / width, 6), "Y": round(y / height, 6)}
            for name, (x, y) in marks
        ],
        "Pose": _pose(left_eye, right_eye, p[4]),
        "Quality": {
            "Brightness": round(rec.brightness, 3),
            "Sharpness": round(rec.sharpness, 3),
        },
    }


def _pose(
    left_eye: tuple[float, float], right_eye: tuple[float, float], nose: tuple[float, float]
) -> dict[str, float]:
    """Roll exact from the eye line; yaw and pitch approximate (about +-15 degrees)."""
    ex, ey = right_eye[0] - left_eye[0], right_eye[1] - left_eye[1]
    iod = math.hypot(ex, ey) or 1.0
    roll = math.atan2(ey, ex)
    mx, my = (left_eye[0] + right_eye[0]) / 2, (left_eye[1] + right_eye[1]) / 2
    # Nose offset from the eye midpoint, in the face's own (de-rolled) axes, per eye distance.
    nx, ny = nose[0] - mx, nose[1] - my
    c, s = math.cos(-roll), math.sin(-roll)
    dx = (nx * c - ny * s) / iod
    dy = (nx * s + ny * c) / iod
    yaw = math.degrees(math.atan2(dx, NOSE_DEPTH))
    pitch = math.degrees(math.atan2(NOSE_DROP - dy, NOSE_DEPTH))
    return {
        "Roll": round(math.degrees(roll), 3),
        "Yaw": round(max(-90.0, min(90.0, yaw)), 3),
        "Pitch": round(max(-90.0, min(90.0, pitch)), 3),
    }


def _celebrity_fields(person: Person) -> dict[str, Any]:
    out: dict[str, Any] = {"Urls": list(person.urls), "Name": person.name, "Id": person.id}
    if person.known_gender is not None:
        out["KnownGender"] = {"Type": person.known_gender}
    return out


# ------------------------------------------------------------------ workers


@dataclass(frozen=True)
class _Job:
    path: str
    start_s: float
    end_s: float
    sample_fps: float
    matrix: npt.NDArray[np.float64]
    owners: list[int]
    threshold: float
    tracker: TrackerConfig
    threads: int


_worker_models: FaceModels | None = None


def _init_worker() -> None:
    global _worker_models
    _worker_models = FaceModels()


# A chunk's faces, statistics and boundary tracks; pickled back from the worker as one object,
# so the records in the tracks' logs and histories are the very records of the list.
_ChunkResult = tuple[list[FaceRecord], ChunkStats, ChunkTracks]


def _run_chunk(job: _Job, on_sample: Callable[[int], None] | None = None) -> _ChunkResult:
    cpu = time.process_time()
    models = _worker_models or local_models()
    analyzer = FrameAnalyzer(
        models, job.matrix, job.owners, job.threshold, job.sample_fps, job.tracker
    )
    records: list[FaceRecord] = []
    for sample in sample_frames(
        Path(job.path), job.sample_fps, start_s=job.start_s, end_s=job.end_s, threads=job.threads
    ):
        records.extend(analyzer.process(sample))
        if on_sample is not None:
            on_sample(sample.timestamp_ms)
    analyzer.stats.cpu_s = time.process_time() - cpu
    return records, analyzer.stats, analyzer.boundary()


_pools: dict[int, ProcessPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(processes: int) -> ProcessPoolExecutor:
    with _pools_lock:
        pool = _pools.get(processes)
        if pool is None:
            # spawn: the caller may be a threaded server; forking it would copy held locks.
            pool = ProcessPoolExecutor(
                max_workers=processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
            )
            _pools[processes] = pool
        return pool


def shutdown_workers() -> None:
    """Stop the worker processes (they are kept between calls to avoid reloading models)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        _pools.clear()


atexit.register(shutdown_workers)


def _chunks(info: VideoInfo, processes: int, sample_fps: float) -> list[tuple[float, float]]:
    if processes <= 1 or not info.duration_ms:
        return [(0.0, math.inf)]
    duration = info.duration_ms / 1000.0
    if duration < 2 * MIN_CHUNK_S:
        return [(0.0, math.inf)]
    # Every chunk costs a seek and re-embedding the faces on screen, so chunks are long; their
    # number is a multiple of the process count so that no process idles at the end.
    rounds = max(1, round(duration / (processes * TARGET_CHUNK_S)))
    count = processes * rounds
    step = 1.0 / sample_fps
    bounds = [round(duration * i / count / step) * step for i in range(count)]
    return [*itertools.pairwise(bounds), (bounds[-1], math.inf)]


def analyze_video(
    path: Path,
    gallery: Gallery,
    *,
    sample_fps: float = 5.0,
    processes: int = 1,
    progress: Callable[[float], None] | None = None,
    tracker: TrackerConfig | None = None,
) -> VideoAnalysis:
    """Recognise gallery people in a video file.

    Raises VideoDecodeError (with a user-facing message) when the file is not a usable video.
    `progress` is called from the calling thread with the fraction done, 0..1.
    """
    if not sample_fps > 0:
        raise ValueError("sample_fps must be positive")
    path = Path(path)
    info = probe(path)
    matrix, owner_people = gallery.index()
    people = list({p.id: p for p in owner_people}.values())
    index_of = {p.id: i for i, p in enumerate(people)}
    owners = [index_of[p.id] for p in owner_people]
    chunks = _chunks(info, processes, sample_fps)
    jobs = [
        _Job(
            str(path),
            a,
            b,
            sample_fps,
            matrix,
            owners,
            gallery.threshold,
            tracker or TrackerConfig(),
            threads=1 if len(chunks) > 1 else max(1, processes),
        )
        for a, b in chunks
    ]
    duration_s = (info.duration_ms or 0) / 1000.0
    reporter = _Progress(progress)
    results: list[_ChunkResult] = []
    if len(jobs) == 1:
        on_sample = (lambda ms: reporter(ms / 1000.0 / duration_s)) if duration_s else None
        results.append(_run_chunk(jobs[0], on_sample))
    else:
        pool = _pool(processes)
        futures: dict[Future[_ChunkResult], float] = {}
        try:
            for job in jobs:
                span = min(job.end_s, duration_s) - job.start_s
                futures[pool.submit(_run_chunk, job)] = span / duration_s
            done, pending = 0.0, set(futures)
            while pending:
                finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in finished:
                    results.append(future.result())
                    done += futures[future]
                reporter(done)
        except BrokenProcessPool as exc:
            with _pools_lock:
                _pools.pop(processes, None)
            raise RuntimeError("a recognition worker process died") from exc
        finally:
            for future in futures:
                future.cancel()
    reporter(1.0, force=True)

    results.sort(key=_first_ms)
    # Faces that cross a chunk boundary keep their identity as with one process (tracking.py).
    linked = stitch([b for _, _, b in results], matrix, owners, gallery.threshold, jobs[0].tracker)
    records = sorted((r for recs, _, _ in results for r in recs), key=lambda r: r.timestamp_ms)
    detections: list[dict[str, Any]] = []
    for rec in records:
        if rec.person < 0:
            continue  # unknown faces are never named, and CelebrityRecognition lists only names
        person = people[rec.person]
        detections.append(
            {
                "Timestamp": rec.timestamp_ms,
                "Celebrity": {
                    **_celebrity_fields(person),
                    "Confidence": celebrity_confidence(rec.distance),
                    "Face": _face_dict(rec),
                },
            }
        )
    detections.sort(key=lambda d: (d["Timestamp"], d["Celebrity"]["Id"]))
    stats = {
        "samples": sum(s.samples for _, s, _ in results),
        "faces": sum(s.faces for _, s, _ in results),
        "embeddings": sum(s.embeddings for _, s, _ in results),
        "chunks": len(jobs),
        "tracks_linked": linked,  # across chunk boundaries
        "unknown_faces": sum(1 for r in records if r.person < 0),
        "kept": sum(1 for r in records if r.kept),  # named by the track rule (tracking.py)
        "embedded_because": {
            reason: sum(s.reasons.get(reason, 0) for _, s, _ in results)
            for reason in ("new", "appearance", "regrow", "time")
        },
        # CPU seconds of each chunk in its worker, in video order (the benchmark's critical path)
        "chunk_cpu_s": [round(s.cpu_s, 3) for _, s, _ in results],
    }
    sampled = sorted(ms for _, s, _ in results for ms in s.sampled_ms)
    return VideoAnalysis(info.metadata(), detections, sampled, stats)


def _first_ms(result: _ChunkResult) -> int:
    return result[1].sampled_ms[0] if result[1].sampled_ms else 0


class _Progress:
    """Throttles the callback to whole-percent steps, plus a heartbeat at least every second.

    The heartbeat lets a caller stop a long job from its callback (by raising) even while the
    worker processes are busy with long chunks. Ordinary exceptions from the callback are logged
    and ignored: a failing progress sink must not fail the job.
    """

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self.callback = callback
        self.last = -1.0
        self.last_call = 0.0

    def __call__(self, fraction: float, *, force: bool = False) -> None:
        if self.callback is None:
            return
        fraction = max(0.0, min(1.0, fraction))
        now = time.monotonic()
        if force or fraction - self.last >= 0.01 or now - self.last_call >= 1.0:
            self.last, self.last_call = max(self.last, fraction), now
            try:
                self.callback(self.last)
            except Exception:
                log.exception("progress callback failed")


# ------------------------------------------------------------------ images

_IMAGE_MAX_SIDE = 1920
IMAGE_DETECT_SIDE = 960
MAX_IMAGE_FACES = 64


def detect_image(models: FaceModels, rgb: npt.NDArray[np.uint8]) -> list[Detection]:
    """Faces in a still image, detected at up to IMAGE_DETECT_SIDE px on the longest side."""
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = min(1.0, IMAGE_DETECT_SIDE / max(h, w))
    if scale < 1.0:
        small = np.asarray(
            Image.fromarray(rgb).resize((round(w * scale), round(h * scale)), Image.Resampling.BOX)
        )
        return models.detect(small, scale=scale)
    return models.detect(rgb)


def recognize_image(data: bytes, gallery: Gallery) -> dict[str, Any]:
    """RecognizeCelebrities: {"CelebrityFaces": [...], "UnrecognizedFaces": [...]}."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in ("JPEG", "PNG"):
                raise InvalidImageError(f"unsupported image format {img.format}; use JPEG or PNG")
            img.load()
            image = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidImageError("the image bytes are not a valid JPEG or PNG image") from exc
    scale = min(1.0, _IMAGE_MAX_SIDE / max(image.size))
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)))
    rgb = np.asarray(image)
    gray = np.asarray(image.convert("L"))
    models = local_models()
    # One still image: the detector sees it at up to IMAGE_DETECT_SIDE, faces from about 10 px.
    dets = sorted(detect_image(models, rgb), key=lambda d: -d.width * d.height)
    celebrities: list[dict[str, Any]] = []
    unrecognized: list[dict[str, Any]] = []
    for det in dets[:MAX_IMAGE_FACES]:
        shape = models.landmarks(gray, det)
        match = gallery.match(models.embed(rgb, shape))
        rec = measure_face(gray, det, shape, 0, -1, math.inf, embedded=True)
        face = _face_dict(rec)
        if match is None:
            unrecognized.append(face)
        else:
            person, distance = match
            celebrities.append(
                {
                    **_celebrity_fields(person),
                    "Face": face,
                    "MatchConfidence": celebrity_confidence(distance),
                }
            )
    return {"CelebrityFaces": celebrities, "UnrecognizedFaces": unrecognized}
