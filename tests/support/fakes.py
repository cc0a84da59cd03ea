"""Small stand-ins shared by the test suites: a Lambda context and Rekognition detections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
