"""Property-based: schemathesis generates requests from the committed docs/openapi.json and
sends them to the deployed handler in-process (through the local gateway's API Gateway v2 event
mapping, behind a small WSGI adapter). No request may get a 5xx, and every response must match
what the document says (status code, content type, body schema); requests the document calls
invalid must be refused with a 4xx.

The examples in the document (routes.EXAMPLE_*) are seeded, so the examples phase reaches the
200 paths as well as the 400/404 ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from cameo_core.api.routes import EXAMPLE_VIDEO
from cameo_stack.http_api import Gateway
from tests.api.world import PAGES_RED_CARPET, World

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
schema = schemathesis.openapi.from_path(DOCUMENT)


def wsgi(gateway: Gateway) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # API Gateway gets the URL as sent; WSGI has already percent-decoded PATH_INFO.
        path = environ.get("RAW_URI", "").split("?")[0] or quote(
            environ["PATH_INFO"].encode("latin-1")
        )
        query = environ.get("QUERY_STRING", "")
        target = f"{path}?{query}" if query else path
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status, reply_headers, payload = gateway.handle(
            environ["REQUEST_METHOD"], target, headers, body
        )
        start_response(f"{status} {HTTPStatus(status).phrase}", list(reply_headers.items()))
        return [payload]

    return app


@pytest.fixture
def example_world(world: World) -> World:
    fuzzed = World(world.table, world.archive, EXAMPLE_VIDEO.bucket)
    video = fuzzed.upload(EXAMPLE_VIDEO.key, 0)
    fuzzed.finish(video, "job-example", PAGES_RED_CARPET)
    return fuzzed


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    # One seeded table per operation; the API only reads, so examples cannot disturb it.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_document_and_never_answers_5xx(
    case: Any, gateway: Gateway, example_world: World
) -> None:
    # positive_data_acceptance expects 2xx for any schema-valid input, but a well-formed id of
    # a video that does not exist is rightly 404 (and one that decodes to no s3:// URI, 400).
    # unsupported_method expects 405 for TRACE & co; API Gateway answers an unrouted method
    # with 404 {"message": "Not Found"}, and the local gateway does the same.
    case.call_and_validate(
        app=wsgi(gateway), excluded_checks=[positive_data_acceptance, unsupported_method]
    )
