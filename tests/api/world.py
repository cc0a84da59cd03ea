"""The API tests' videos, written by cameo_core's own write path: backlog.enqueue (which sets the
ByRecency keys), the SUBMITTED transition, then results.process_completion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.backlog import Upload, enqueue
from cameo_core.config import StartConfig, Tuning
from cameo_core.keys import VideoRef
from cameo_core.results import API, Completion, process_completion
from tests.support import fakes

BEZOS, SWIFT, EVANS = "1SK7cR8M", "3Ir0du6", "2RN5fZ3"
DURATION_MS = 65_000
FAILURE_REASON = "Unsupported codec: the video could not be decoded"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def page(celebrities: list[dict[str, Any]]) -> dict[str, Any]:
    metadata = {"Codec": "h264", "DurationMillis": DURATION_MS, "Format": "QuickTime / MOV"}
    return {"JobStatus": "SUCCEEDED", "VideoMetadata": metadata, "Celebrities": celebrities}


# With the default 2000 ms gap and 80% floor: Bezos 1000-2000 (3 detections, best 99.5),
# Swift 3000-4000 (3, best 99.75; the 50% one at 5 s is dropped), Bezos 10000-10500 (2, best 93).
PAGES_RED_CARPET = [
    page(
        [
            fakes.detection(1000, BEZOS, "Jeff Bezos", 99.5),
            fakes.detection(1500, BEZOS, "Jeff Bezos", 98.0),
            fakes.detection(2000, BEZOS, "Jeff Bezos", 97.25),
            fakes.detection(3000, SWIFT, "Taylor Swift", 96.0, "Female"),
            fakes.detection(3500, SWIFT, "Taylor Swift", 99.75, "Female"),
            fakes.detection(4000, SWIFT, "Taylor Swift", 95.0, "Female"),
            fakes.detection(5000, SWIFT, "Taylor Swift", 50.0, "Female"),
            fakes.detection(10000, BEZOS, "Jeff Bezos", 91.0),
            fakes.detection(10500, BEZOS, "Jeff Bezos", 93.0),
        ]
    )
]
# Bezos 60000-61000 and Evans 60500-62000 overlap.
PAGES_NEWS = [
    page(
        [
            fakes.detection(60000, BEZOS, "Jeff Bezos"),
            fakes.detection(60500, EVANS, "Chris Evans"),
            fakes.detection(61000, BEZOS, "Jeff Bezos"),
            fakes.detection(62000, EVANS, "Chris Evans"),
        ]
    )
]


@dataclass
class World:
    table: ResultsTable
    archive: RawArchive
    bucket: str

    def video(self, key: str) -> VideoRef:
        return VideoRef(self.bucket, key)

    def upload(self, key: str, minutes: int, size: int = 1234, version_id: str = "v1") -> VideoRef:
        config = StartConfig(self.table.name, "arn:topic", "arn:role", Tuning())
        upload = Upload(
            self.bucket, key, size, etag="e", version_id=version_id, sequencer=f"{minutes:04X}"
        )
        enqueue(upload, config, self.table, None, now=T0 + timedelta(minutes=minutes))
        return self.video(key)

    def finish(
        self,
        video: VideoRef,
        job_id: str,
        pages: list[dict[str, Any]],
        status: str = "SUCCEEDED",
        reason: str | None = None,
    ) -> None:
        self.submit(video, job_id)
        jobs = fakes.ArchivedJobs({job_id: pages}, {job_id: reason} if reason else {})
        completion = Completion(job_id=job_id, status=status, api=API, video=video)
        outcome = process_completion(completion, jobs, self.table, self.archive, Tuning())  # type: ignore[arg-type]
        assert outcome.status == status

    def submit(self, video: VideoRef, job_id: str) -> None:
        fields = {"status": "SUBMITTED", "job_id": job_id, "gsi3pk": None, "gsi3sk": None}
        assert self.table.update_video(video, fields, expect={"status": "QUEUED"})


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        assert self.headers["content-type"].startswith("application/json"), self.headers
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


RED_CARPET_KEY = "clips/red carpet é.mp4"


def seed(
    world: World, red_carpet_size: int = 1234, red_carpet_version: str = "v1"
) -> dict[str, VideoRef]:
    """Five videos, uploaded a minute apart (oldest first): two finished, one failed, one
    rejected for its size, one still queued. The browser test gives the red carpet a real
    object's size and version, so the page can play it."""
    videos = {
        "red_carpet": world.upload(RED_CARPET_KEY, 0, red_carpet_size, red_carpet_version),
        "news": world.upload("news.mov", 1),
        "broken": world.upload("broken.avi", 2),
        "huge": world.upload("huge.mp4", 3, size=11 * 1024**3),
        "queued": world.upload("queued.mp4", 4),
    }
    world.finish(videos["red_carpet"], "job-red", PAGES_RED_CARPET)
    world.finish(videos["news"], "job-news", PAGES_NEWS)
    world.finish(videos["broken"], "job-broken", [], status="FAILED", reason=FAILURE_REASON)
    return videos
