"""Read answers (cameo_core.read) -> the API's documents (models.py). Pure."""

from __future__ import annotations

from collections.abc import Iterable

from cameo_core import read
from cameo_core.api import models
from cameo_core.api.ids import video_id
from cameo_core.keys import VideoRef

_BOX_KEYS = {"Left": "left", "Top": "top", "Width": "width", "Height": "height"}


def _duration_ms(status: read.VideoStatus) -> int | None:
    # From the results' metadata once finished; before that, the upload probe's estimate.
    if status.duration_ms is not None:
        return status.duration_ms
    if status.duration_minutes is not None:
        return round(status.duration_minutes * 60_000)
    return None


def _updated_at(status: read.VideoStatus) -> str | None:
    # Every timestamp is ISO-8601 UTC with the same offset, so text order is time order.
    moments = [status.queued_at, status.submitted_at, status.completed_at, status.erased_at]
    return max((m for m in moments if m), default=None)


def video_summary(status: read.VideoStatus, uploaded_at: str | None = None) -> models.VideoSummary:
    video = VideoRef(status.bucket, status.key)
    return models.VideoSummary(
        video_id=video_id(video),
        uri=video.uri,
        bucket=video.bucket,
        key=video.key,
        status=status.status,
        reason=status.reason,
        duration_ms=_duration_ms(status),
        # A QUEUED record's time is the upload's; a refused upload has only its submitted_at.
        uploaded_at=uploaded_at or status.queued_at or status.submitted_at,
        updated_at=_updated_at(status),
        celebrity_count=status.celebrity_count,
        appearance_count=status.appearance_count,
    )


def video_detail(status: read.VideoStatus) -> models.VideoDetail:
    return models.VideoDetail(
        **video_summary(status).model_dump(),
        job_id=status.job_id,
        queue_position=status.queue_position,
        waited_seconds=status.waited_s,
        estimated_cost_usd=status.estimated_cost_usd,
    )


def video_list(page: read.VideoPage, next_token: str | None) -> models.VideoList:
    return models.VideoList(
        videos=[video_summary(v.status, v.uploaded_at) for v in page.videos],
        next_token=next_token,
    )


def _box(box: object) -> models.Box | None:
    if not isinstance(box, dict) or not set(_BOX_KEYS) <= set(box):
        return None
    return models.Box(**{ours: float(box[theirs]) for theirs, ours in _BOX_KEYS.items()})


def appearance(a: read.Appearance) -> models.Appearance:
    return models.Appearance(
        celebrity_id=a.celebrity_id,
        name=a.name,
        start_ms=a.start_ms,
        end_ms=a.end_ms,
        duration_ms=a.duration_ms,
        detections=a.detections,
        confidence=a.max_confidence,
        mean_confidence=a.mean_confidence,
        urls=list(a.urls),
        box=_box(dict(a.bounding_box) if a.bounding_box else None),
    )


def _appearances(items: Iterable[read.Appearance]) -> list[models.Appearance]:
    return [appearance(a) for a in items]


def timeline(video: VideoRef, answer: read.Timeline) -> models.Timeline:
    return models.Timeline(
        video_id=video_id(video),
        duration_ms=answer.duration_ms,
        appearances=_appearances(answer.appearances),
    )


def on_screen(video: VideoRef, answer: read.OnScreen) -> models.OnScreen:
    return models.OnScreen(
        video_id=video_id(video), at_ms=answer.at_ms, on_screen=_appearances(answer.appearances)
    )


def cast(video: VideoRef, answer: read.Cast) -> models.Cast:
    return models.Cast(
        video_id=video_id(video),
        duration_ms=answer.duration_ms,
        cast=[
            models.CastMember(
                celebrity_id=m.celebrity_id,
                name=m.name,
                screen_time_ms=m.screen_time_ms,
                share_of_runtime=m.share_of_runtime,
                first_seen_ms=m.first_seen_ms,
                last_seen_ms=m.last_seen_ms,
                appearances=m.appearances,
                best_confidence=m.best_confidence,
                urls=list(m.urls),
            )
            for m in answer.members
        ],
    )


def celebrity_videos(answer: read.CelebrityVideos) -> models.CelebrityVideos:
    return models.CelebrityVideos(
        celebrity_id=answer.celebrity_id,
        name=answer.name,
        total_screen_time_ms=answer.total_screen_time_ms,
        videos=[
            models.CelebrityVideo(
                video_id=video_id(VideoRef.parse(v.video)),
                uri=v.video,
                screen_time_ms=v.screen_time_ms,
                share_of_runtime=v.share_of_runtime,
                duration_ms=v.duration_ms,
                appearances=v.appearances,
                first_seen_ms=v.first_seen_ms,
                last_seen_ms=v.last_seen_ms,
                best_confidence=v.best_confidence,
            )
            for v in answer.videos
        ],
    )


def celebrity_list(answers: Iterable[read.CelebrityVideos]) -> models.CelebrityList:
    return models.CelebrityList(
        celebrities=[
            models.CelebrityMatch(
                celebrity_id=c.celebrity_id,
                name=c.name,
                videos=len(c.videos),
                total_screen_time_ms=c.total_screen_time_ms,
            )
            for c in answers
        ]
    )
