"""The HTTP API: one APIGatewayHttpResolver, one small function per route, errors mapped to
status codes in one place. Validation happens at the edge (Powertools + pydantic); the OpenAPI
document (docs/openapi.json) is generated from these routes by `openapi_document()`.

Routes get their clients through `deps()`, called per request, so building the resolver needs
no configuration (the OpenAPI generator builds it without AWS).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from cameo_core import read
from cameo_core.adapters.recency import RecencyIndex
from cameo_core.adapters.table import ResultsTable
from cameo_core.api import exports, models, views
from cameo_core.api.errors import ApiError, BadRequest, Forbidden, NotReady
from cameo_core.api.ids import (
    CELEBRITY_ID_PATTERN,
    MAX_CURSOR_LENGTH,
    MAX_VIDEO_ID_LENGTH,
    VIDEO_ID_PATTERN,
    decode_cursor,
    encode_cursor,
    parse_uri,
    parse_video_id,
    video_id,
)
from cameo_core.errors import ConfigError
from cameo_core.keys import VideoRef

API_TITLE = "cameo"
API_VERSION = "1.0.0"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
# Twelve digits: the widest start a sort key holds (keys.appearance_sk); 31 years of video.
MAX_MS = 999_999_999_999
MEDIA_URL_SECONDS = 3600
MAX_NAME_LENGTH = 200
_TABLE_MENTION = re.compile(r" in (table )?'[^']*'$")
# The documented examples (docs/openapi.json); the schemathesis test seeds exactly these.
EXAMPLE_VIDEO = VideoRef("cameo-videos-example", "clips/red carpet.mp4")
EXAMPLE_CELEBRITY_ID = "1SK7cR8M"
EXAMPLE_NAME = "Jeff Bezos"


@dataclass(frozen=True)
class ApiConfig:
    table_name: str
    # MEDIA_URLS=on|off: whether GET /videos/{id}/media hands out presigned URLs of the videos.
    # The template sets "off" when ApiAuthorization is NONE, unless ApiMediaWithoutAuthorization
    # opts in: an open API must not give anyone who finds the URL every source video.
    media_urls: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiConfig:
        env = os.environ if env is None else env
        table = env.get("TABLE_NAME", "").strip()
        if not table:
            raise ConfigError("environment variable TABLE_NAME is required")
        media = env.get("MEDIA_URLS", "").strip()
        if media not in ("on", "off"):
            raise ConfigError(f"environment variable MEDIA_URLS must be on or off, got {media!r}")
        return cls(table_name=table, media_urls=media == "on")


@dataclass(frozen=True)
class ApiDeps:
    table: ResultsTable
    recency: RecencyIndex
    s3: Any  # presigns the media URL (a local computation, no call)
    media_urls: bool  # ApiConfig.media_urls: False refuses GET /videos/{id}/media (403)


def _errors(*codes: int) -> dict[int, Any]:
    body = {"content": {content_types.APPLICATION_JSON: {"model": models.ErrorBody}}}
    described = {
        400: "Bad input",
        403: "Not served by this deployment",
        404: "Unknown id",
        409: "The video has no finished results",
    }
    return {code: {"description": described[code], **body} for code in codes}


def _ok(description: str, *errors: int) -> dict[int, Any]:
    return {200: {"description": description}, **_errors(*errors)}


def _text(description: str, media_type: str) -> dict[int, Any]:
    content = {media_type: {"schema": {"type": "string"}}}
    return {200: {"description": description, "content": content}, **_errors(400, 404, 409)}


def error_response(status: int, code: str, message: str) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": {"code": code, "message": message}}),
    )


VideoId = Annotated[
    str,
    Path(
        description="Opaque video id (from GET /videos): unpadded base64url of s3://bucket/key",
        pattern=VIDEO_ID_PATTERN,
        max_length=MAX_VIDEO_ID_LENGTH,
        examples=[video_id(EXAMPLE_VIDEO)],
    ),
]
CelebrityId = Annotated[
    str,
    Path(
        description="Rekognition's celebrity id",
        pattern=CELEBRITY_ID_PATTERN,
        examples=[EXAMPLE_CELEBRITY_ID],
    ),
]
CelebrityFilter = Annotated[
    str | None, Query(description="Only this celebrity", pattern=CELEBRITY_ID_PATTERN)
]
Millis = Annotated[int | None, Query(ge=0, le=MAX_MS)]


def build_app(deps: Callable[[], ApiDeps]) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    # -- errors: decided here, once ----------------------------------------------------------

    def invalid(exc: RequestValidationError) -> Response[Any]:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        return error_response(400, "BadRequest", problems or "invalid request")

    def api_error(exc: ApiError) -> Response[Any]:
        return error_response(exc.status_code, exc.code, exc.message)

    def not_found(exc: read.NotFound) -> Response[Any]:
        # The read model names the table for the CLI's operator; an API caller needs not know it.
        return error_response(404, "NotFound", _TABLE_MENTION.sub("", str(exc)))

    def not_ready(exc: read.NotReady) -> Response[Any]:
        return error_response(409, "NotReady", str(exc))

    # Powertools' exception_handler decorator is untyped: registered by call instead.
    app.exception_handler(RequestValidationError)(invalid)
    app.exception_handler(ApiError)(api_error)
    app.exception_handler(read.NotFound)(not_found)
    app.exception_handler(read.NotReady)(not_ready)

    @app.not_found
    def no_route(_exc: Exception) -> Response[Any]:
        return error_response(404, "NotFound", "no such resource")

    # -- routes ------------------------------------------------------------------------------

    @app.get("/health", responses=_ok("The API is up"))
    def health() -> models.Health:
        return models.Health(status="ok")

    @app.get("/videos", responses=_ok("Videos, newest upload first", 400))
    def list_videos(
        status: Annotated[models.ListedStatus | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        next_token: Annotated[
            str | None, Query(description="Opaque cursor", max_length=MAX_CURSOR_LENGTH)
        ] = None,
    ) -> models.VideoList:
        start = decode_cursor(next_token) if next_token is not None else None
        page = read.recent_videos(deps().recency, limit=limit, status=status, start_key=start)
        token = encode_cursor(dict(page.next_key)) if page.next_key else None
        return views.video_list(page, token)

    @app.get("/videos/lookup", responses=_ok("The video's status record", 400, 404))
    def lookup_video(
        uri: Annotated[
            str, Query(description="s3://bucket/key", min_length=1, examples=[EXAMPLE_VIDEO.uri])
        ],
    ) -> models.VideoDetail:
        return views.video_detail(read.video_status(deps().table, parse_uri(uri)))

    @app.get("/videos/<video_id>", responses=_ok("The video's status record", 400, 404))
    def get_video(video_id: VideoId) -> models.VideoDetail:
        return views.video_detail(read.video_status(deps().table, parse_video_id(video_id)))

    def _timeline(
        video: VideoRef,
        celebrity_id: str | None,
        min_confidence: float | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
    ) -> read.Timeline:
        if from_ms is not None and to_ms is not None and from_ms > to_ms:
            raise BadRequest(f"from_ms ({from_ms}) is after to_ms ({to_ms})")
        return read.appearances(
            deps().table,
            video,
            celebrity_id=celebrity_id,
            min_confidence=min_confidence,
            from_ms=from_ms,
            to_ms=to_ms,
        )

    @app.get(
        "/videos/<video_id>/appearances",
        responses=_ok("The timeline of the finished job, by start", 400, 404, 409),
    )
    def get_appearances(
        video_id: VideoId,
        celebrity_id: CelebrityFilter = None,
        min_confidence: Annotated[
            float | None, Query(ge=0, le=100, description="Best detection at least this")
        ] = None,
        from_ms: Millis = None,
        to_ms: Millis = None,
    ) -> models.Timeline:
        video = parse_video_id(video_id)
        answer = _timeline(video, celebrity_id, min_confidence, from_ms, to_ms)
        return views.timeline(video, answer)

    @app.get("/videos/<video_id>/appearances.vtt", responses=_text("WebVTT cues", "text/vtt"))
    def get_vtt(video_id: VideoId, celebrity_id: CelebrityFilter = None) -> Response[str]:
        answer = _timeline(parse_video_id(video_id), celebrity_id)
        return Response(200, "text/vtt; charset=utf-8", exports.to_vtt(answer.appearances))

    @app.get("/videos/<video_id>/appearances.csv", responses=_text("CSV rows", "text/csv"))
    def get_csv(video_id: VideoId, celebrity_id: CelebrityFilter = None) -> Response[str]:
        answer = _timeline(parse_video_id(video_id), celebrity_id)
        return Response(200, "text/csv; charset=utf-8", exports.to_csv(answer.appearances))

    @app.get("/videos/<video_id>/at/<ms>", responses=_ok("Who is on screen then", 400, 404, 409))
    def get_at(video_id: VideoId, ms: Annotated[int, Path(ge=0, le=MAX_MS)]) -> models.OnScreen:
        video = parse_video_id(video_id)
        return views.on_screen(video, read.on_screen(deps().table, video, ms))

    @app.get("/videos/<video_id>/cast", responses=_ok("Screen time per celebrity", 400, 404, 409))
    def get_cast(video_id: VideoId) -> models.Cast:
        video = parse_video_id(video_id)
        return views.cast(video, read.cast(deps().table, video))

    @app.get(
        "/videos/<video_id>/media",
        responses=_ok("A presigned URL of the video object", 400, 403, 404, 409),
    )
    def get_media(video_id: VideoId) -> models.Media:
        video = parse_video_id(video_id)
        if not deps().media_urls:
            raise Forbidden(
                "media URLs are off: the API has no authorization (ApiAuthorization=NONE), so"
                " it does not presign videos unless ApiMediaWithoutAuthorization is true"
            )
        status = read.video_status(deps().table, video)
        if status.status in ("ERASED", "SKIPPED"):
            raise NotReady(f"{video.uri} is {status.status}: there is no video to play")
        params = {"Bucket": video.bucket, "Key": video.key}
        if status.version_id:  # the version that was analysed, not a later overwrite
            params["VersionId"] = status.version_id
        url = deps().s3.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=MEDIA_URL_SECONDS
        )
        return models.Media(url=url, expires_in=MEDIA_URL_SECONDS)

    @app.get(
        "/celebrities/<celebrity_id>/videos",
        responses=_ok("The finished videos they appear in", 400, 404),
    )
    def get_celebrity_videos(celebrity_id: CelebrityId) -> models.CelebrityVideos:
        return views.celebrity_videos(read.videos_for_celebrity(deps().table, celebrity_id))

    @app.get("/celebrities", responses=_ok("Celebrities of that name", 400, 404))
    def find_celebrities(
        name: Annotated[
            str, Query(min_length=1, max_length=MAX_NAME_LENGTH, examples=[EXAMPLE_NAME])
        ],
    ) -> models.CelebrityList:
        if not name.strip():
            raise BadRequest("name must not be blank")
        return views.celebrity_list(read.celebrities_by_name(deps().table, name))

    return app


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The OpenAPI document of `app`, as committed in docs/openapi.json.

    Powertools documents a 422 on every route with parameters; this API answers invalid input
    with 400 (its own error body) instead, so those entries are dropped rather than promised.
    """
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            description=(
                "Read-only API over cameo's results: only the current, finished job of a"
                ' video is shown. Errors are {"error": {"code", "message"}}.'
            ),
        )
    )
    for path in document.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document
