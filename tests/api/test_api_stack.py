"""The offline stack runs the API: `Stack.up` starts the "api" service (ApiFunction behind
cameo_stack.http_api), status reports it healthy with its URL, `env` exports CAMEO_API_URL, an
upload shows up in GET /videos, and the presigned media URL is served by moto.

Rekognition points at a closed port: nothing here needs the engine, so the stack starts fast.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cameo_core.api.ids import video_id
from cameo_core.keys import VideoRef
from cameo_stack import procs
from cameo_stack.paths import StatePaths
from cameo_stack.stack import Stack, StackOptions, service_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    paths = StatePaths(tmp_path_factory.mktemp("api-stack"))
    closed = f"http://127.0.0.1:{procs.free_port()}"
    stack = Stack.up(StackOptions(rekognition_endpoint=closed, schedule_seconds=0), paths)
    try:
        yield stack
    finally:
        stack.down()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_the_api_service_is_up_and_exported(stack: Stack) -> None:
    api = stack.state.services["api"]
    status = service_status(stack.state.paths, stack.state)["api"]
    assert status["healthy"] is True
    assert status["url"] == api["url"] == f"http://127.0.0.1:{api['port']}"
    assert stack.env()["CAMEO_API_URL"] == api["url"]
    assert get_json(api["url"] + "/health") == {"status": "ok"}


def test_an_upload_is_listed_and_its_media_url_plays(stack: Stack, tmp_path: Path) -> None:
    base = stack.state.services["api"]["url"]
    uri = stack.put_bytes("clips/a b é.mp4", b"not really a video")
    expected = video_id(VideoRef.parse(uri))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = get_json(base + "/videos")["videos"]
        if any(v["video_id"] == expected for v in listed):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"{uri} never appeared in GET /videos")
    detail = get_json(f"{base}/videos/{expected}")
    assert detail["uri"] == uri
    media = get_json(f"{base}/videos/{expected}/media")
    assert media["url"].startswith(stack.state.endpoints["s3"])  # moto, not AWS
    with urllib.request.urlopen(media["url"], timeout=10) as response:
        assert response.read() == b"not really a video"


def test_the_stack_serves_the_timeline_page(stack: Stack) -> None:
    base = stack.state.services["api"]["url"]
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        page = response.read().decode()
    # The page's own files, all under /ui/ (web/), nothing from elsewhere.
    assert 'src="ui/app.js"' in page and 'href="ui/app.css"' in page
    for asset in ("app.js", "app.css", "config.js"):
        with urllib.request.urlopen(f"{base}/ui/{asset}", timeout=10) as response:
            assert response.status == 200 and response.read()
