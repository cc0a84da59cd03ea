"""The offline stack's HTTP API server (cameo_stack.http_api) over real loopback HTTP: requests
become API Gateway v2 events for the deployed handler, results become responses, and the page's
static files are served from web/ without a way out of it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cameo_core.api.ids import video_id
from cameo_core.keys import VideoRef
from cameo_stack import procs
from cameo_stack.http_api import Gateway, api_event, api_reply, serve
from tests.api.world import BEZOS


@pytest.fixture
def web(tmp_path: Path) -> Path:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<!doctype html><title>cameo</title>")
    (tmp_path / "web" / "app.js").write_text("console.log('cameo')")
    (tmp_path / "secret.txt").write_text("outside web/")
    return tmp_path / "web"


@pytest.fixture
def base_url(gateway: Gateway, web: Path) -> Iterator[str]:
    gateway.web_dir = web
    port = procs.free_port()
    server = serve(gateway, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def test_api_requests_reach_the_handler_over_http(
    base_url: str, videos: dict[str, VideoRef]
) -> None:
    status, headers, body = fetch(f"{base_url}/videos/{video_id(videos['red_carpet'])}/cast")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["cast"][0]["celebrity_id"] == BEZOS
    status, _, body = fetch(f"{base_url}/videos?limit=500")
    assert status == 400
    assert json.loads(body)["error"]["code"] == "BadRequest"


def test_the_page_is_served_from_web(base_url: str) -> None:
    status, headers, body = fetch(f"{base_url}/")
    assert (status, body) == (200, b"<!doctype html><title>cameo</title>")
    assert headers["content-type"] == "text/html; charset=utf-8"
    status, headers, _ = fetch(f"{base_url}/ui/app.js")
    assert status == 200
    assert headers["content-type"].startswith(("text/javascript", "application/javascript"))


@pytest.mark.parametrize("path", ["/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/nope.css"])
def test_nothing_outside_web_or_missing_is_served(base_url: str, path: str) -> None:
    status, _, body = fetch(base_url + path)
    assert status == 404
    assert b"outside" not in body


def test_only_get_is_routed_as_on_api_gateway(base_url: str) -> None:
    status, _, body = fetch(f"{base_url}/health", method="POST")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_the_event_has_api_gateways_v2_shape() -> None:
    event = api_event(
        "GET",
        "/videos/abc?limit=2&status=QUEUED&status=FAILED&uri=s3%3A%2F%2Fb%2Fk%20x",
        {"Host": "127.0.0.1:8080", "X-Thing": "a", "x-thing": "b", "Cookie": "a=1; b=2"},
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /{proxy+}"
    assert event["rawPath"] == "/videos/abc"
    assert event["rawQueryString"].startswith("limit=2&status=QUEUED")
    assert event["queryStringParameters"] == {
        "limit": "2",
        "status": "QUEUED,FAILED",
        "uri": "s3://b/k x",
    }
    assert event["headers"] == {"host": "127.0.0.1:8080", "x-thing": "a,b"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["stage"] == "$default"
    assert event["pathParameters"] == {"proxy": "videos/abc"}
    assert "body" not in event


@pytest.mark.parametrize(
    ("ok", "result", "expected"),
    [
        (False, {"errorType": "Boom"}, (500, b'{"message":"Internal Server Error"}')),
        (True, {"hello": "world"}, (200, b'{"hello": "world"}')),  # no statusCode: a JSON body
        (True, {"statusCode": 201, "body": "aGk=", "isBase64Encoded": True}, (201, b"hi")),
    ],
)
def test_lambda_results_map_back_as_api_gateway_maps_them(
    ok: bool, result: Any, expected: tuple[int, bytes]
) -> None:
    status, _, body = api_reply(ok, result)
    assert (status, body) == expected
