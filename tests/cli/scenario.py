"""The CLI tests' world: five videos whose results are written by cameo_core's own code path
(record_upload -> process_completion, which also archives the raw pages)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from typer.testing import Result

from cameo_core.adapters.archive import RawArchive
from cameo_core.adapters.table import ResultsTable
from cameo_core.config import Tuning
from cameo_core.keys import VideoRef, sequencer_order
from cameo_core.normalize import Summaries, normalize
from cameo_core.results import API, Completion, appearance_item, process_completion, summary_item
from tests.support import fakes

BUCKET = "cameo-videos-local"
VIDEO_A = VideoRef(BUCKET, "clips/red carpet é.mp4")  # spaces and unicode, not URL-encoded
VIDEO_B = VideoRef(BUCKET, "news.mov")
VIDEO_C = VideoRef(BUCKET, "other evans.avi")
BROKEN = VideoRef(BUCKET, "broken.avi")
PENDING = VideoRef(BUCKET, "pending.mp4")

BEZOS, SWIFT = "1SK7cR8M", "3Ir0du6"
EVANS_1, EVANS_2 = "2RN5fZ3", "4xQ9kL1"  # two people Rekognition calls "Chris Evans"
METADATA = {
    "Codec": "h264",
    "DurationMillis": 65_000,
    "Format": "QuickTime / MOV",
    "FrameRate": 25.0,
    "FrameHeight": 360,
    "FrameWidth": 640,
}
FAILURE_REASON = "Unsupported codec: the video could not be decoded"


def detection(ts: int, cid: str, name: str, confidence: float = 99.0) -> dict[str, Any]:
    return fakes.detection(ts, cid, name, confidence, "Female" if cid == SWIFT else "Male")


def page(celebrities: list[dict[str, Any]]) -> dict[str, Any]:
    return {"JobStatus": "SUCCEEDED", "VideoMetadata": METADATA, "Celebrities": celebrities}


# With the default 2000 ms gap and 80% floor, VIDEO_A holds exactly:
#   Bezos 0:00:01.000-0:00:02.000 (3 detections), Swift 0:00:03.000-0:00:04.000 (3; the 50%
#   detection at 5 s is dropped), Bezos 0:00:10.000-0:00:10.500 (2).
PAGES_A = [
    page(
        [
            detection(1000, BEZOS, "Jeff Bezos", 99.5),
            detection(1500, BEZOS, "Jeff Bezos", 98.0),
            detection(2000, BEZOS, "Jeff Bezos", 97.25),
            detection(3000, SWIFT, "Taylor Swift", 96.0),
            detection(3500, SWIFT, "Taylor Swift", 99.75),
        ]
    ),
    page(
        [
            detection(4000, SWIFT, "Taylor Swift", 95.0),
            detection(5000, SWIFT, "Taylor Swift", 50.0),
            detection(10000, BEZOS, "Jeff Bezos", 91.0),
            detection(10500, BEZOS, "Jeff Bezos", 93.0),
        ]
    ),
]
# VIDEO_B: Bezos 0:01:00.000-0:01:01.000 and Evans #1 0:01:00.500-0:01:02.000 overlap.
PAGES_B = [
    page(
        [
            detection(60000, BEZOS, "Jeff Bezos"),
            detection(60500, EVANS_1, "Chris Evans"),
            detection(61000, BEZOS, "Jeff Bezos"),
            detection(62000, EVANS_1, "Chris Evans"),
        ]
    )
]
PAGES_C = [page([detection(0, EVANS_2, "Chris Evans"), detection(500, EVANS_2, "Chris Evans")])]


@dataclass
class World:
    table: ResultsTable
    archive: RawArchive
    table_name: str
    archive_bucket: str
    uploads: int = 0

    def submit(self, video: VideoRef, job_id: str) -> None:
        # Each submit is a new upload, so it carries a newer sequencer (only a newer one wins).
        self.uploads += 1
        sequencer = f"0A1B2C3D4E{self.uploads:02X}"
        recorded = self.table.record_upload(
            video,
            {
                "status": "SUBMITTED",
                "job_id": job_id,
                "size": 1234,
                "etag": "9b2cf535f27731c974343645a3985328",
                "sequencer": sequencer,
                "sequencer_order": sequencer_order(sequencer),
                "submitted_at": "2026-01-02T03:04:05.000+00:00",
            },
        )
        assert recorded

    def complete(
        self,
        video: VideoRef,
        job_id: str,
        pages: list[dict[str, Any]],
        status: str = "SUCCEEDED",
        reason: str | None = None,
        tuning: Tuning | None = None,
    ) -> dict[str, Any]:
        self.submit(video, job_id)
        jobs = fakes.ArchivedJobs({job_id: pages}, {job_id: reason} if reason else {})
        outcome = process_completion(
            Completion(job_id=job_id, status=status, api=API, video=video),
            jobs,  # type: ignore[arg-type]
            self.table,
            self.archive,
            tuning or Tuning(),
        )
        assert outcome.status == status
        return outcome.as_dict()

    def write_job_items(
        self,
        video: VideoRef,
        job_id: str,
        pages: list[dict[str, Any]],
        *,
        first: int | None = None,
        **overrides: Any,
    ) -> int:
        """Write the items the results function writes for `pages` under `job_id` (its own
        builders), without finishing the job: what a running or crashed attempt leaves behind.

        `first=n` keeps only the first n appearances and no summaries (they are written last),
        a job cut off mid-write. `overrides` are set on every item. Returns the items written.
        """
        tuning = Tuning()
        detections = [d for page in pages for d in page["Celebrities"]]
        found = normalize(detections, tuning.merge_gap_ms, tuning.min_confidence)
        items = [appearance_item(video, job_id, a) for a in found[:first]]
        if first is None:
            summaries = Summaries()
            for appearance in found:
                summaries.add(appearance)
            items += [summary_item(video, job_id, s) for s in summaries]
        with self.table.writer() as writer:
            for item in items:
                writer.put({**item, **overrides})
        return len(items)


@dataclass
class Spy:
    """Every boto3 client made and every API call sent, in order."""

    services: list[str] = field(default_factory=list)
    calls: list[tuple[str, str | None]] = field(default_factory=list)  # (operation, IndexName)

    def clear(self) -> None:
        self.services.clear()
        self.calls.clear()

    @property
    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]


def json_out(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
