"""GET /videos on DynamoDB Local (the real engine: moto is lenient about GSI keys, Limit and
filters): the ByRecency index pages newest first, a status filter stops mid-page and resumes
from its cursor, and no video is skipped or repeated."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cameo_core import read
from cameo_core.adapters.recency import RecencyIndex
from cameo_core.adapters.table import ResultsTable
from cameo_core.api.ids import decode_cursor
from cameo_core.api.routes import ApiDeps, build_app
from cameo_stack.http_api import api_event
from tests.api.world import World
from tests.support.fakes import FakeContext

pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

KEYS = [f"v{i}.mp4" for i in range(7)]  # uploaded a minute apart, v0 first


@pytest.fixture
def local_world(ddb: Any, table: ResultsTable) -> World:
    world = World(table, None, "cameo-videos-local")  # type: ignore[arg-type]
    for minute, key in enumerate(KEYS):
        video = world.upload(key, minute)
        if minute % 2:  # v1, v3, v5 are running; the others still queued
            world.submit(video, f"job-{minute}")
    return world


def keys(page: read.VideoPage) -> list[str]:
    return [v.status.key for v in page.videos]


def test_pages_are_newest_first_and_cover_every_video_once(ddb: Any, local_world: World) -> None:
    index = RecencyIndex(ddb, local_world.table.name)
    seen: list[str] = []
    start = None
    for _ in range(10):
        page = read.recent_videos(index, limit=3, start_key=start)
        seen += keys(page)
        if page.next_key is None:
            break
        start = page.next_key
    assert seen == list(reversed(KEYS))


def test_a_status_filter_stops_mid_page_and_resumes_from_the_cursor(
    ddb: Any, local_world: World
) -> None:
    index = RecencyIndex(ddb, local_world.table.name)
    first = read.recent_videos(index, limit=2, status="QUEUED")
    assert keys(first) == ["v6.mp4", "v4.mp4"]
    assert first.next_key is not None
    second = read.recent_videos(index, limit=2, status="QUEUED", start_key=first.next_key)
    assert keys(second) == ["v2.mp4", "v0.mp4"]
    running = read.recent_videos(index, limit=10, status="SUBMITTED")
    assert keys(running) == ["v5.mp4", "v3.mp4", "v1.mp4"]
    assert running.next_key is None


def test_the_api_cursor_round_trips_through_dynamodb_local(ddb: Any, local_world: World) -> None:
    table = local_world.table
    app = build_app(
        lambda: ApiDeps(table, RecencyIndex(ddb, table.name), s3=None, media_urls=False)
    )

    def get(target: str) -> dict[str, Any]:
        reply = app.resolve(api_event("GET", target, {"host": "local"}), FakeContext())
        assert reply["statusCode"] == 200, reply["body"]
        return dict(json.loads(reply["body"]))

    listed, token = [], None
    while True:
        page = get("/videos?status=QUEUED&limit=3" + (f"&next_token={token}" if token else ""))
        listed += [v["key"] for v in page["videos"]]
        token = page["next_token"]
        if token is None:
            break
        assert decode_cursor(token)["gsi4pk"] == "VIDEOS"
    assert listed == ["v6.mp4", "v4.mp4", "v2.mp4", "v0.mp4"]
