"""The API's response documents (pydantic): the OpenAPI schemas come from these classes.

Times are integer milliseconds, confidences floats 0-100, shares fractions 0-1. Every key is
always present; null means unknown (or not yet known).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# What GET /videos?status= accepts: the states a listed video can be in (SKIPPED objects, not
# being videos, are not listed).
ListedStatus = Literal[
    "QUEUED", "STARTING", "SUBMITTED", "SUCCEEDED", "FAILED", "REJECTED", "ERASED"
]


class ErrorDetail(BaseModel):
    code: Literal["BadRequest", "NotFound", "NotReady"]
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]


class VideoSummary(BaseModel):
    video_id: str = Field(description="Opaque: unpadded base64url of the s3:// URI")
    uri: str
    bucket: str
    key: str
    status: str | None
    reason: str | None
    duration_ms: int | None
    uploaded_at: str | None
    updated_at: str | None
    celebrity_count: int | None
    appearance_count: int | None


class VideoDetail(VideoSummary):
    job_id: str | None
    queue_position: int | None = Field(description="While QUEUED: uploads ahead (0 = next)")
    waited_seconds: float | None = Field(description="While QUEUED: time spent waiting")
    estimated_cost_usd: float | None


class VideoList(BaseModel):
    videos: list[VideoSummary]
    next_token: str | None = Field(description="Pass back as next_token; null on the last page")


class Box(BaseModel):
    """The best detection's face box, as fractions of the frame (Rekognition's BoundingBox)."""

    left: float
    top: float
    width: float
    height: float


class Appearance(BaseModel):
    celebrity_id: str
    name: str
    start_ms: int
    end_ms: int
    duration_ms: int
    detections: int
    confidence: float | None = Field(description="The best detection's confidence")
    mean_confidence: float | None
    urls: list[str]
    box: Box | None


class Timeline(BaseModel):
    video_id: str
    duration_ms: int | None
    appearances: list[Appearance]


class OnScreen(BaseModel):
    video_id: str
    at_ms: int
    on_screen: list[Appearance]


class CastMember(BaseModel):
    celebrity_id: str
    name: str
    screen_time_ms: int
    share_of_runtime: float | None
    first_seen_ms: int | None
    last_seen_ms: int | None
    appearances: int
    best_confidence: float | None
    urls: list[str]


class Cast(BaseModel):
    video_id: str
    duration_ms: int | None
    cast: list[CastMember]


class CelebrityVideo(BaseModel):
    video_id: str
    uri: str
    screen_time_ms: int
    share_of_runtime: float | None
    duration_ms: int | None
    appearances: int
    first_seen_ms: int | None
    last_seen_ms: int | None
    best_confidence: float | None


class CelebrityVideos(BaseModel):
    celebrity_id: str
    name: str
    total_screen_time_ms: int
    videos: list[CelebrityVideo]


class CelebrityMatch(BaseModel):
    celebrity_id: str
    name: str
    videos: int
    total_screen_time_ms: int


class CelebrityList(BaseModel):
    celebrities: list[CelebrityMatch]


class Media(BaseModel):
    url: str = Field(description="Presigned GET of the analysed version of the video object")
    expires_in: int
