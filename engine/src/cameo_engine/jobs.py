"""Asynchronous video jobs: S3 in, recognition, SQLite out, SNS completion message.

Each failure is decided here, once: a problem with the *video* (missing, empty, corrupt,
undecodable) ends the job FAILED with a StatusMessage; anything unexpected also ends it
FAILED (with the exception logged), so a worker never dies. A clean shutdown interrupts
running jobs and leaves them IN_PROGRESS; the next engine on the same state dir resumes
them. A job that keeps dying with the process is failed after ``max_attempts`` starts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cameo_engine.faults import FaultInjector
from cameo_engine.store import FAILED, IN_PROGRESS, Job, Store

log = logging.getLogger("cameo_engine.jobs")


# -- what the jobs need from the recognition core (real one imported lazily) -----------


class PersonLike(Protocol):
    id: str
    name: str
    urls: list[str]
    known_gender: Any


class GalleryLike(Protocol):
    @property
    def people(self) -> Any: ...

    def get(self, person_id: str) -> Any: ...


class AnalysisLike(Protocol):
    metadata: dict[str, Any]
    detections: list[dict[str, Any]]


class Backend(Protocol):
    """The recognition core as the server sees it; tests inject a fake."""

    #: exceptions meaning "this media cannot be decoded" (reported to the caller, not logged)
    media_errors: tuple[type[BaseException], ...]

    def load_gallery(self, root: Path) -> GalleryLike: ...

    def analyze_video(
        self,
        path: Path,
        gallery: GalleryLike,
        *,
        sample_fps: float,
        processes: int,
        progress: Callable[..., None],
    ) -> AnalysisLike: ...

    def recognize_image(self, data: bytes, gallery: GalleryLike) -> dict[str, Any]: ...


class CoreBackend:
    """The real dlib/PyAV core. Imported on first use so the CLI and server start fast."""

    def __init__(self) -> None:
        from cameo_engine.recognition import VideoDecodeError

        self.media_errors: tuple[type[BaseException], ...] = (VideoDecodeError,)

    def load_gallery(self, root: Path) -> GalleryLike:
        from cameo_engine.gallery import Gallery

        return Gallery.load(root)

    def analyze_video(
        self,
        path: Path,
        gallery: Any,  # the core's Gallery, which load_gallery returned
        *,
        sample_fps: float,
        processes: int,
        progress: Callable[..., None],
    ) -> AnalysisLike:
        from cameo_engine.recognition import analyze_video

        return analyze_video(
            path, gallery, sample_fps=sample_fps, processes=processes, progress=progress
        )

    def recognize_image(self, data: bytes, gallery: Any) -> dict[str, Any]:
        from cameo_engine.recognition import recognize_image

        return recognize_image(data, gallery)


@dataclass(frozen=True)
class _FixedPerson:
    id: str
    name: str
    urls: list[str]
    known_gender: Any


@dataclass(frozen=True)
class _FixedAnalysis:
    metadata: dict[str, Any]
    detections: list[dict[str, Any]]


class _FixedGallery:
    def __init__(self, people: list[_FixedPerson]) -> None:
        self._people = {p.id: p for p in people}

    @property
    def people(self) -> list[_FixedPerson]:
        return list(self._people.values())

    def get(self, person_id: str) -> _FixedPerson | None:
        return self._people.get(person_id)


class FixedLengthBackend:
    """A stand-in core for load tests and benchmarks: decodes nothing, every job lasts
    exactly ``seconds`` and finds the same celebrity at the same two timestamps.

    The object is still downloaded (a missing or empty one fails as usual); only the
    recognition is replaced, so a job's cost is a known constant and N jobs on W workers
    have an ideal duration to compare against.
    """

    PERSON = _FixedPerson("0fixed0", "Fixed Length", ["www.example.org/fixed"], "Female")

    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a fixed job length cannot be negative")
        self.seconds = seconds
        self.media_errors: tuple[type[BaseException], ...] = ()

    def load_gallery(self, root: Path) -> GalleryLike:
        return _FixedGallery([self.PERSON])

    def analyze_video(
        self,
        path: Path,
        gallery: Any,
        *,
        sample_fps: float,
        processes: int,
        progress: Callable[..., None],
    ) -> AnalysisLike:
        # Sleep in small steps through the progress callback, which is where a shutdown
        # interrupts a job; monotonic deadline, so the length does not drift with the steps.
        deadline = time.monotonic() + self.seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
            progress(1.0 - max(deadline - time.monotonic(), 0.0) / self.seconds)
        progress(1.0)
        length_ms = int(self.seconds * 1000)
        metadata = {
            "Codec": "h264",
            "DurationMillis": length_ms,
            "Format": "QuickTime / MOV",
            "FrameRate": 25.0,
            "FrameHeight": 360,
            "FrameWidth": 640,
            "ColorRange": "LIMITED",
        }
        return _FixedAnalysis(metadata, [self._detection(0), self._detection(length_ms // 2)])

    def _detection(self, timestamp_ms: int) -> dict[str, Any]:
        person = self.PERSON
        return {
            "Timestamp": timestamp_ms,
            "Celebrity": {
                "Urls": person.urls,
                "Name": person.name,
                "Id": person.id,
                "Confidence": 99.0,
                "BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.1},
                "Face": {
                    "BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.1},
                    "Confidence": 99.9,
                },
                "KnownGender": {"Type": person.known_gender},
            },
        }

    def recognize_image(self, data: bytes, gallery: Any) -> dict[str, Any]:
        return {"CelebrityFaces": [], "UnrecognizedFaces": []}


def _tree_signature(root: Path) -> tuple[float, ...]:
    """Cheap change detector for the gallery folder (add/remove person or photo)."""
    if not root.is_dir():
        return ()
    stamps = [root.stat().st_mtime]
    for child in sorted(root.iterdir()):
        # Dot folders hold the gallery's own embedding cache, which loading rewrites.
        if child.is_dir() and not child.name.startswith("."):
            stamps.append(child.stat().st_mtime)
            stamps.extend(f.stat().st_mtime for f in sorted(child.iterdir()) if f.is_file())
    return tuple(stamps)


class GalleryProvider:
    """Loads the gallery once and reloads it when `cameo engine gallery` changes the folder."""

    def __init__(self, backend: Backend, root: Path) -> None:
        self._backend = backend
        self._root = root
        self._lock = threading.Lock()
        self._signature: tuple[float, ...] | None = None
        self._gallery: GalleryLike | None = None

    def get(self) -> GalleryLike:
        with self._lock:
            if self._gallery is None or _tree_signature(self._root) != self._signature:
                log.info("loading gallery from %s", self._root)
                self._gallery = self._backend.load_gallery(self._root)
                # Taken after loading: loading may create the folder or its cache.
                self._signature = _tree_signature(self._root)
            return self._gallery


# -- completion messages ---------------------------------------------------------------


def completion_message(job: Job) -> dict[str, Any]:
    """Exactly the message Rekognition Video publishes to the job's SNS topic."""
    message: dict[str, Any] = {
        "JobId": job.job_id,
        "Status": job.status,
        "API": "StartCelebrityRecognition",
    }
    if job.job_tag is not None:
        message["JobTag"] = job.job_tag
    message["Timestamp"] = job.completed_ms
    message["Video"] = {"S3ObjectName": job.name, "S3Bucket": job.bucket}
    return message


class Interrupted(BaseException):
    """Raised inside a job (from its progress callback) when the engine shuts down.

    A BaseException, like asyncio.CancelledError: the core deliberately swallows ordinary
    exceptions from progress callbacks, and a cancellation must get through.
    """


class _DownloadAborted(Exception):
    pass


# -- the runner ------------------------------------------------------------------------


@dataclass
class JobSettings:
    workers: int = 1
    sample_fps: float = 5.0
    processes: int = 1  # recognition processes per job (passed to analyze_video)
    max_attempts: int = 3
    work_dir: Path = field(default_factory=lambda: Path("."))


class JobRunner:
    def __init__(
        self,
        store: Store,
        backend: Backend,
        gallery: GalleryProvider,
        *,
        s3_client: Any,
        sns_client_for: Callable[[str], Any],
        settings: JobSettings,
        faults: FaultInjector | None = None,
    ) -> None:
        self._store = store
        self._faults = faults
        self._backend = backend
        self._gallery = gallery
        self._s3 = s3_client
        self._sns_client_for = sns_client_for
        self._settings = settings
        self._stopping = threading.Event()
        self._progress: dict[str, float] = {}
        self._progress_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="cameo-job"
        )
        self._futures: dict[str, Future[None]] = {}
        settings.work_dir.mkdir(parents=True, exist_ok=True)

    # -- lifecycle ---------------------------------------------------------------------

    def recover(self) -> None:
        """After a (re)start: resend lost notifications, resume jobs left IN_PROGRESS."""
        for leftover in self._settings.work_dir.glob("*.video"):
            leftover.unlink(missing_ok=True)
        for job in self._store.unnotified():
            self._notify(job)
        for job in reversed(self._store.jobs(status=IN_PROGRESS)):
            if job.attempts >= self._settings.max_attempts:
                failed = self._store.fail(
                    job.job_id,
                    f"The engine stopped while processing this job {job.attempts} times; "
                    "giving up.",
                )
                self._notify(failed)
                continue
            log.info("resuming job %s (%s/%s)", job.job_id, job.bucket, job.name)
            self.submit(job.job_id)

    def submit(self, job_id: str) -> None:
        with self._progress_lock:
            self._progress[job_id] = 0.0
        future = self._pool.submit(self._run, job_id)
        self._futures[job_id] = future
        # Forget finished runs, so a long-lived engine does not accumulate them.
        future.add_done_callback(lambda _f: self._futures.pop(job_id, None))

    def stop(self) -> None:
        """Interrupt running jobs (they stay IN_PROGRESS for the next start) and wait."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def progress(self, job_id: str) -> float | None:
        with self._progress_lock:
            return self._progress.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until the job's current run ends (for tests and the offline stack)."""
        future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    # -- one job -----------------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        job = self._store.get(job_id)
        if job is None or job.status != IN_PROGRESS or self._stopping.is_set():
            return
        self._store.mark_started(job_id)
        video = self._settings.work_dir / f"{job_id}.video"
        try:
            finished = self._process(job, video)
        except Interrupted:
            log.info("job %s interrupted by shutdown; it resumes on the next start", job_id)
            self._store.release(job_id)
            return
        except Exception as exc:
            log.exception("job %s failed unexpectedly", job_id)
            finished = self._store.fail(job_id, f"Internal error: {type(exc).__name__}: {exc}")
        finally:
            video.unlink(missing_ok=True)
            with self._progress_lock:
                self._progress.pop(job_id, None)
        log.info("job %s %s%s", job_id, finished.status, _suffix(finished.status_message))
        self._notify(finished)

    def _process(self, job: Job, video: Path) -> Job:
        failure = self._download(job, video)
        if failure is not None:
            return self._store.fail(job.job_id, failure)
        if video.stat().st_size == 0:
            return self._store.fail(job.job_id, "The video file is empty (0 bytes).")
        gallery = self._gallery.get()
        reporter = _ProgressReporter(job.job_id, self._store, self._set_progress, self._stopping)
        try:
            analysis = self._backend.analyze_video(
                video,
                gallery,
                sample_fps=self._settings.sample_fps,
                processes=self._settings.processes,
                progress=reporter,
            )
        except self._backend.media_errors as exc:
            return self._store.fail(job.job_id, f"Unable to decode the video: {exc}")
        if self._stopping.is_set():
            raise Interrupted
        return self._store.succeed(job.job_id, analysis.metadata, analysis.detections)

    def _download(self, job: Job, video: Path) -> str | None:
        """Fetch the object; returns a StatusMessage when the video cannot be read."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"VersionId": job.version} if job.version else None

        def abort_on_shutdown(_bytes: int) -> None:
            # s3transfer relays Exceptions from callbacks (not BaseExceptions) to the caller.
            if self._stopping.is_set():
                raise _DownloadAborted

        try:
            with video.open("wb") as out:
                self._s3.download_fileobj(
                    job.bucket, job.name, out, ExtraArgs=extra, Callback=abort_on_shutdown
                )
        except _DownloadAborted:
            raise Interrupted from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            return (
                f"Unable to get object s3://{job.bucket}/{job.name} from S3 ({code}). "
                "Check object key, region and/or access permissions."
            )
        except BotoCoreError as exc:
            return f"Unable to read the video from S3: {exc}"
        return None

    def _set_progress(self, job_id: str, value: float) -> None:
        with self._progress_lock:
            self._progress[job_id] = value

    def _notify(self, job: Job) -> None:
        if job.sns_topic_arn is None:
            return
        if self._faults is not None and self._faults.drops_completion(job.name):
            # Marked notified: a restart must not publish it either (it is lost for good).
            log.warning("completion of job %s dropped by an injected fault", job.job_id)
            self._store.mark_notified(job.job_id)
            return
        from botocore.exceptions import BotoCoreError, ClientError

        message = json.dumps(completion_message(job))
        try:
            self._sns_client_for(job.sns_topic_arn).publish(
                TopicArn=job.sns_topic_arn, Message=message
            )
        except (ClientError, BotoCoreError):
            # Left unnotified: the next engine start publishes it again.
            log.exception(
                "could not publish completion of job %s to %s", job.job_id, job.sns_topic_arn
            )
            return
        self._store.mark_notified(job.job_id)


def _suffix(message: str | None) -> str:
    return f": {message}" if message else ""


class _ProgressReporter:
    """The ``progress`` callback handed to analyze_video.

    Accepts ``progress(fraction)`` or ``progress(done, total)``. Logs every 10 %,
    persists at most every 2 s, and is where a shutdown interrupts a running analysis.
    """

    def __init__(
        self,
        job_id: str,
        store: Store,
        publish: Callable[[str, float], None],
        stopping: threading.Event,
    ) -> None:
        self._job_id = job_id
        self._store = store
        self._publish = publish
        self._stopping = stopping
        self._logged_decile = 0
        self._saved_at = 0.0

    def __call__(self, done: float, total: float | None = None) -> None:
        if self._stopping.is_set():
            raise Interrupted
        fraction = done / total if total else float(done)
        fraction = min(max(fraction, 0.0), 1.0)
        self._publish(self._job_id, fraction)
        decile = int(fraction * 10)
        if decile > self._logged_decile:
            self._logged_decile = decile
            log.info("job %s: %d%%", self._job_id, decile * 10)
        now = time.monotonic()
        if now - self._saved_at >= 2.0:
            self._saved_at = now
            self._store.set_progress(self._job_id, fraction)


__all__ = [
    "FAILED",
    "Backend",
    "CoreBackend",
    "FixedLengthBackend",
    "GalleryProvider",
    "JobRunner",
    "JobSettings",
    "completion_message",
]
