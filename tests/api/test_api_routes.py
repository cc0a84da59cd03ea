"""The read-only API, through the deployed handler and the local gateway's event mapping: what
each endpoint returns for the seeded videos, and how it refuses what it cannot answer."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cameo_core import clients
from cameo_core.api.ids import encode_cursor, video_id
from cameo_core.api.routes import ApiConfig
from cameo_core.errors import ConfigError
from cameo_core.keys import VideoRef
from cameo_stack import template as cfn
from cameo_stack.http_api import Gateway, api_event
from tests.api.world import BEZOS, DURATION_MS, EVANS, FAILURE_REASON, SWIFT, Reply, World
from tests.support.fakes import FakeContext

Get = Callable[[str], Reply]
ROOT = Path(__file__).resolve().parents[2]


def vid(video: VideoRef) -> str:
    return video_id(video)


def test_health_says_ok(get: Get) -> None:
    reply = get("/health")
    assert (reply.status, reply.json) == (200, {"status": "ok"})


def test_videos_are_listed_newest_upload_first_with_status_reason_and_counts(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    listed = get("/videos").json
    assert [v["key"] for v in listed["videos"]] == [
        "queued.mp4",
        "huge.mp4",
        "broken.avi",
        "news.mov",
        "clips/red carpet é.mp4",
    ]
    assert listed["next_token"] is None
    by_key = {v["key"]: v for v in listed["videos"]}
    red = by_key["clips/red carpet é.mp4"]
    assert red["video_id"] == vid(videos["red_carpet"])
    assert (red["status"], red["duration_ms"], red["celebrity_count"]) == (
        "SUCCEEDED",
        DURATION_MS,
        2,
    )
    assert red["appearance_count"] == 3
    assert red["uploaded_at"] == "2026-11-01T12:00:00.000+00:00"
    assert by_key["broken.avi"]["reason"] == FAILURE_REASON
    assert by_key["huge.mp4"]["status"] == "REJECTED"
    assert "limit" in by_key["huge.mp4"]["reason"]
    assert by_key["queued.mp4"]["status"] == "QUEUED"


def test_status_filter_and_limit_page_through_with_an_opaque_cursor(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    succeeded = get("/videos?status=SUCCEEDED").json["videos"]
    assert [v["key"] for v in succeeded] == ["news.mov", "clips/red carpet é.mp4"]

    seen, token, pages = [], None, 0
    while True:
        target = "/videos?limit=2" + (f"&next_token={token}" if token else "")
        page = get(target).json
        pages += 1
        assert len(page["videos"]) <= 2
        seen += [v["key"] for v in page["videos"]]
        token = page["next_token"]
        if token is None:
            break
    assert pages == 3
    assert seen == [v["key"] for v in get("/videos").json["videos"]]


@pytest.mark.parametrize(
    "target",
    [
        "/videos?limit=0",
        "/videos?limit=101",
        "/videos?limit=ten",
        "/videos?status=RUNNING",
        "/videos?next_token=not-a-cursor",
        # Well-formed base64url JSON, but not a key the index could have produced.
        "/videos?next_token="
        + encode_cursor(
            {"pk": "VIDEO#s3://b/k", "sk": "APPEARANCE#1", "gsi4pk": "VIDEOS", "gsi4sk": "x"}
        ),
    ],
)
def test_bad_list_parameters_are_400_with_the_error_body(get: Get, target: str) -> None:
    reply = get(target)
    assert reply.status == 400
    assert reply.json["error"]["code"] == "BadRequest"
    assert reply.json["error"]["message"]


def test_a_queued_video_shows_its_wait_and_place_in_the_queue(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    detail = get(f"/videos/{vid(videos['queued'])}").json
    assert detail["status"] == "QUEUED"
    assert detail["queue_position"] == 0  # nothing else waits ahead of it
    assert detail["waited_seconds"] > 0
    assert detail["job_id"] is None


def test_lookup_by_uri_returns_the_same_document_as_the_id(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    video = videos["red_carpet"]
    by_id = get(f"/videos/{vid(video)}").json
    by_uri = get("/videos/lookup?uri=" + quote(video.uri)).json
    assert by_uri == by_id
    assert by_id["job_id"] == "job-red"
    assert by_id["uri"] == "s3://cameo-videos-local/clips/red carpet é.mp4"


def test_the_timeline_is_the_finished_jobs_appearances_by_start(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    timeline = get(f"/videos/{vid(videos['red_carpet'])}/appearances").json
    assert timeline["duration_ms"] == DURATION_MS
    rows = [(a["celebrity_id"], a["start_ms"], a["end_ms"]) for a in timeline["appearances"]]
    assert rows == [(BEZOS, 1000, 2000), (SWIFT, 3000, 4000), (BEZOS, 10000, 10500)]
    first = timeline["appearances"][0]
    assert (first["name"], first["detections"], first["confidence"]) == ("Jeff Bezos", 3, 99.5)
    assert first["duration_ms"] == 1000
    assert first["box"] == {"left": 0.4, "top": 0.1, "width": 0.2, "height": 0.3}
    assert first["urls"] == [f"www.wikidata.org/wiki/{BEZOS}"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"celebrity_id={SWIFT}", [3000]),
        ("min_confidence=99", [1000, 3000]),
        ("from_ms=2500&to_ms=9000", [3000]),
        ("from_ms=2000", [1000, 3000, 10000]),  # overlapping the window counts, ends inclusive
    ],
)
def test_timeline_filters(
    get: Get, videos: dict[str, VideoRef], query: str, expected: list[int]
) -> None:
    timeline = get(f"/videos/{vid(videos['red_carpet'])}/appearances?{query}").json
    assert [a["start_ms"] for a in timeline["appearances"]] == expected


def test_who_is_on_screen_at_a_moment(get: Get, videos: dict[str, VideoRef]) -> None:
    news = vid(videos["news"])
    both = get(f"/videos/{news}/at/60750").json
    assert both["at_ms"] == 60750
    assert sorted(a["celebrity_id"] for a in both["on_screen"]) == sorted([BEZOS, EVANS])
    assert get(f"/videos/{news}/at/61500").json["on_screen"][0]["celebrity_id"] == EVANS
    assert get(f"/videos/{news}/at/0").json["on_screen"] == []


def test_cast_is_sorted_by_screen_time_with_share_of_runtime(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    cast = get(f"/videos/{vid(videos['red_carpet'])}/cast").json["cast"]
    assert [(m["celebrity_id"], m["screen_time_ms"]) for m in cast] == [
        (BEZOS, 1500),
        (SWIFT, 1000),
    ]
    bezos = cast[0]
    assert bezos["share_of_runtime"] == pytest.approx(1500 / DURATION_MS, abs=1e-4)
    assert (bezos["first_seen_ms"], bezos["last_seen_ms"], bezos["appearances"]) == (
        1000,
        10500,
        2,
    )
    assert bezos["best_confidence"] == 99.5


def test_a_celebritys_videos_come_through_the_gsi_with_screen_time(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    found = get(f"/celebrities/{BEZOS}/videos").json
    assert found["name"] == "Jeff Bezos"
    assert found["total_screen_time_ms"] == 2500
    assert [(v["video_id"], v["screen_time_ms"]) for v in found["videos"]] == [
        (vid(videos["red_carpet"]), 1500),
        (vid(videos["news"]), 1000),
    ]


def test_celebrities_are_found_by_name_whatever_the_case_and_spacing(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    found = get("/celebrities?name=" + quote("  jeff   BEZOS ")).json["celebrities"]
    assert found == [
        {"celebrity_id": BEZOS, "name": "Jeff Bezos", "videos": 2, "total_screen_time_ms": 2500}
    ]


def test_exports_are_webvtt_cues_and_csv_rows(get: Get, videos: dict[str, VideoRef]) -> None:
    red = vid(videos["red_carpet"])
    vtt = get(f"/videos/{red}/appearances.vtt")
    assert vtt.status == 200
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n")
    assert "00:00:01.000 --> 00:00:02.000\nJeff Bezos (99.5)" in vtt.text
    assert vtt.text.count(" --> ") == 3
    only_swift = get(f"/videos/{red}/appearances.vtt?celebrity_id={SWIFT}").text
    assert only_swift.count(" --> ") == 1 and "Taylor Swift (99.8)" in only_swift

    rows = get(f"/videos/{red}/appearances.csv").text.splitlines()
    assert rows[0] == "celebrity_id,name,start_ms,end_ms,duration_ms,detections,confidence"
    assert rows[1] == f"{BEZOS},Jeff Bezos,1000,2000,1000,3,99.500"
    assert len(rows) == 4


def test_media_is_a_presigned_url_of_the_analysed_version(
    get: Get, videos: dict[str, VideoRef]
) -> None:
    media = get(f"/videos/{vid(videos['red_carpet'])}/media").json
    assert media["expires_in"] == 3600
    assert "versionId=v1" in media["url"]
    assert "X-Amz-Signature=" in media["url"]  # SigV4


@pytest.mark.parametrize(
    ("authorization", "opt_in", "served"),
    [("AWS_IAM", "false", True), ("NONE", "false", False), ("NONE", "true", True)],
)
def test_an_api_without_authorization_serves_no_media_urls_unless_opted_in(
    aws: dict[str, Any],
    videos: dict[str, VideoRef],
    monkeypatch: pytest.MonkeyPatch,
    authorization: str,
    opt_in: str,
    served: bool,
) -> None:
    """The template's parameters decide ApiFunction's MEDIA_URLS; the handler obeys it."""
    model = cfn.load(
        ROOT / "template.yaml",
        parameter_overrides={
            "ApiAuthorization": authorization,
            "ApiMediaWithoutAuthorization": opt_in,
        },
    )
    for key, value in model.function("api").environment.items():
        monkeypatch.setenv(key, str(value))
    clients.client.cache_clear()
    module = importlib.reload(importlib.import_module("functions.api.app"))
    gateway = Gateway(lambda event: (True, module.lambda_handler(event, FakeContext())))
    red = vid(videos["red_carpet"])
    reply = Reply(*gateway.handle("GET", f"/videos/{red}/media", {"Host": "api.test"}, b""))
    if served:
        assert reply.status == 200 and "X-Amz-Signature=" in reply.json["url"]
    else:
        assert reply.status == 403
        assert reply.json["error"]["code"] == "Forbidden"
        assert "ApiMediaWithoutAuthorization" in reply.json["error"]["message"]
        assert "url" not in reply.json
    # Everything else stays as open (or closed) as ApiAuthorization makes it.
    cast = Reply(*gateway.handle("GET", f"/videos/{red}/cast", {"Host": "api.test"}, b""))
    assert cast.status == 200


def test_the_api_refuses_to_start_without_a_media_urls_decision() -> None:
    with pytest.raises(ConfigError, match="MEDIA_URLS"):
        ApiConfig.from_env({"TABLE_NAME": "t"})
    with pytest.raises(ConfigError, match="MEDIA_URLS"):
        ApiConfig.from_env({"TABLE_NAME": "t", "MEDIA_URLS": "yes"})
    assert ApiConfig.from_env({"TABLE_NAME": "t", "MEDIA_URLS": "off"}).media_urls is False


@pytest.mark.parametrize("suffix", ["", "/appearances", "/cast", "/at/5", "/media"])
def test_unknown_videos_are_404(get: Get, world: World, videos: object, suffix: str) -> None:
    reply = get(f"/videos/{vid(world.video('never-uploaded.mp4'))}{suffix}")
    assert reply.status == 404
    assert reply.json["error"]["code"] == "NotFound"
    assert "Table" not in reply.json["error"]["message"]  # no table names leak out


@pytest.mark.parametrize("key", ["queued", "broken"])
@pytest.mark.parametrize("suffix", ["/appearances", "/cast", "/at/5", "/appearances.vtt"])
def test_videos_without_finished_results_are_409_not_ready(
    get: Get, videos: dict[str, VideoRef], key: str, suffix: str
) -> None:
    reply = get(f"/videos/{vid(videos[key])}{suffix}")
    assert reply.status == 409
    assert reply.json["error"]["code"] == "NotReady"


@pytest.mark.parametrize(
    "target",
    [
        "/videos/not*an*id",  # outside base64url
        "/videos/" + vid(VideoRef("b", "k"))[:-1] + "/cast",  # truncated: not canonical
        "/videos/" + video_id(VideoRef("b", "k")).replace("czM6", "aHR0"),  # http://, not s3://
        "/videos/x/at/-1",
        "/videos/x/at/soon",
        "/videos/lookup?uri=https://example.org/v.mp4",
        "/videos/lookup",
        "/celebrities/has%20space/videos",
        "/celebrities?name=",
        "/celebrities?name=%20%20",
        f"/videos/{vid(VideoRef('b', 'k'))}/appearances?from_ms=10&to_ms=5",
        f"/videos/{vid(VideoRef('b', 'k'))}/appearances?min_confidence=101",
    ],
)
def test_malformed_input_is_400_never_500(get: Get, target: str) -> None:
    reply = get(target)
    assert reply.status == 400, reply.body
    assert reply.json["error"]["code"] == "BadRequest"


def test_unknown_routes_and_celebrities_are_404(get: Get, videos: object) -> None:
    assert get("/nowhere").status == 404
    assert get("/celebrities/0000000/videos").json["error"]["code"] == "NotFound"
    assert get("/celebrities?name=nobody").status == 404


def test_the_sample_api_gateway_event_gets_the_cast(
    load_event: Callable[[str], dict[str, Any]],
    handler_module: Callable[[str], Any],
    videos: dict[str, VideoRef],
) -> None:
    # events/http_api_get_cast.json is what API Gateway sends for an IAM-signed request (also
    # the file for `sam local invoke ApiFunction`); the local gateway builds the same shape.
    event = load_event("http_api_get_cast.json")
    assert event["rawPath"] == f"/videos/{vid(videos['red_carpet'])}/cast"
    reply = handler_module("api").lambda_handler(event, FakeContext())
    assert reply["statusCode"] == 200
    assert [m["celebrity_id"] for m in json.loads(reply["body"])["cast"]] == [BEZOS, SWIFT]
    local = api_event("GET", event["rawPath"], {"Host": "127.0.0.1"})
    assert set(local) == set(event)
    assert set(local["requestContext"]) == set(event["requestContext"]) - {"authorizer"}
    assert set(local["requestContext"]["http"]) == set(event["requestContext"]["http"])
