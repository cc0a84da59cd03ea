"""Small stand-ins shared by the test suites: a Lambda context, Rekognition detections and a
celebrity-jobs source of prepared pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cameo_core.adapters.rekognition import JobStatus


@dataclass
class FakeContext:
    """What Powertools reads from a Lambda context."""

    function_name: str = "cameo-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cameo-test"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/cameo-test"
    log_stream_name: str = "2026/11/20/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def detection(
    ts: int, cid: str, name: str, confidence: float = 99.0, gender: str = "Male"
) -> dict[str, Any]:
    """One CelebrityRecognition item, shaped as GetCelebrityRecognition returns it."""
    return {
        "Timestamp": ts,
        "Celebrity": {
            "Id": cid,
            "Name": name,
            "Urls": [f"www.wikidata.org/wiki/{cid}"],
            "Confidence": confidence,
            "KnownGender": {"Type": gender},
            "Face": {
                "BoundingBox": {"Width": 0.2, "Height": 0.3, "Left": 0.4, "Top": 0.1},
                "Confidence": 99.9,
            },
        },
    }


@dataclass
class ArchivedJobs:
    """Stands in for CelebrityJobs (moto has no celebrity APIs): serves prepared pages."""

    pages_by_job: dict[str, list[dict[str, Any]]]
    status_messages: dict[str, str] = field(default_factory=dict)

    def pages(self, job_id: str, *, start_token: str | None = None) -> Iterable[dict[str, Any]]:
        pages = self.pages_by_job[job_id]
        start = 0
        if start_token:  # resuming: the page after the one whose NextToken it is
            start = next(i + 1 for i, p in enumerate(pages) if p.get("NextToken") == start_token)
        yield from pages[start:]

    def status_message(self, job_id: str) -> str | None:
        return self.status_messages.get(job_id)

    def job_status(self, job_id: str) -> JobStatus:
        message = self.status_messages.get(job_id)
        return JobStatus("FAILED", message) if message else JobStatus("SUCCEEDED")
