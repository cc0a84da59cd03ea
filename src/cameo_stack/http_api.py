"""The offline stack's HTTP API: what API Gateway (HTTP API, payload 2.0) does for ApiFunction.

Run as ``python -m cameo_stack.http_api --state-dir .stack --port P`` (``cameo stack up``
does). Each request becomes the API Gateway v2 event the deployed route (``GET /{proxy+}``)
would send, and is invoked on ApiFunction from template.yaml in warm worker processes
(cameo_stack.lambda_runtime: the template's environment and Timeout), so the handler that runs
here is the deployed one, not a copy behind a web framework. The Lambda result maps back to
status, headers and body as API Gateway maps it.

The same loopback server serves the timeline page's static files: ``GET /`` is
``web/index.html`` and ``GET /ui/<path>`` is ``web/<path>`` (on AWS the page is a static-assets
bucket). Only GET reaches the function, as only ``GET /{proxy+}`` is routed when deployed.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import mimetypes
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("cameo_stack.http_api")

API_FUNCTION = "ApiFunction"
ROUTE_KEY = "GET /{proxy+}"  # template.yaml's HttpApiRoute
UI_PREFIX = "/ui/"
# API Gateway's own answers, byte for byte the shapes a deployed caller sees.
NOT_FOUND = (404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
INTERNAL_ERROR = (
    500,
    {"content-type": "application/json"},
    b'{"message":"Internal Server Error"}',
)
Reply = tuple[int, dict[str, str], bytes]
# Invokes the function with an event: (ok, result or error).
Invoker = Callable[[dict[str, Any]], tuple[bool, Any]]


def api_event(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes = b"",
    *,
    source_ip: str = "127.0.0.1",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload-2.0 event API Gateway sends for `method target` (target: path?query).

    Like API Gateway: header names lower-cased and repeated values joined with commas, query
    values percent-decoded and repeated ones joined with commas, rawPath and rawQueryString as
    received, cookies split out of the Cookie header.
    """
    moment = now or datetime.now(UTC)
    parts = urlsplit(target)
    path = parts.path or "/"
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": ROUTE_KEY,
        "rawPath": path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": lowered.get("host", "localhost").split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": ROUTE_KEY,
            "stage": "$default",
            "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(moment.timestamp() * 1000),
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = True
    return event


def api_reply(ok: bool, result: Any) -> Reply:
    """A Lambda result -> (status, headers, body), as API Gateway's payload 2.0 maps it.

    A result without a statusCode is taken as a JSON body with 200; a failed invocation is
    API Gateway's bare 500.
    """
    if not ok:
        return INTERNAL_ERROR
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[str(name).lower()] = ",".join(str(v) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    headers.setdefault("content-type", "application/json")
    return int(result["statusCode"]), headers, body


def static_file(web_dir: Path | None, path: str) -> Reply | None:
    """`GET /` and `GET /ui/...` from `web_dir`; None when the path is the API's."""
    if path == "/":
        relative = "index.html"
    elif path.startswith(UI_PREFIX):
        relative = path[len(UI_PREFIX) :] or "index.html"
    else:
        return None
    if web_dir is None:
        return NOT_FOUND
    root = web_dir.resolve()
    candidate = (root / relative).resolve()
    # No way out of web/ (../, symlinks); a folder is not a file.
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return NOT_FOUND
    kind = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    return 200, {"content-type": kind, "cache-control": "no-cache"}, candidate.read_bytes()


class Gateway:
    """One request in, one reply out: static files, else the function (GET only)."""

    def __init__(self, invoke: Invoker, web_dir: Path | None = None) -> None:
        self.invoke = invoke
        self.web_dir = web_dir

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        path = urlsplit(target).path or "/"
        if method == "GET":
            page = static_file(self.web_dir, path)
            if page is not None:
                return page
        if method != "GET":
            return NOT_FOUND  # the deployed API routes GET only
        ok, result = self.invoke(api_event(method, target, headers, body))
        return api_reply(ok, result)


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            started = time.monotonic()
            status, headers, payload = gateway.handle(
                self.command, self.path, dict(self.headers.items()), body
            )
            self.send_response(status)
            for name, value in headers.items():
                if name not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            # The path only: query strings hold object keys (personal data).
            log.info(
                "%s %s %d %.0fms",
                self.command,
                urlsplit(self.path).path,
                status,
                (time.monotonic() - started) * 1000,
            )

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return  # logged above, without query strings

    return Handler


def serve(gateway: Gateway, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Start serving in a daemon thread; `.shutdown()` stops it."""
    server = ThreadingHTTPServer((host, port), _handler_class(gateway))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="http-api").start()
    return server


def main(argv: list[str] | None = None) -> None:
    from cameo_stack.lambda_runtime import FunctionPool, function_environment
    from cameo_stack.paths import StatePaths
    from cameo_stack.state import StackState

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--web-dir", type=Path, default=None, help="the page's static files")
    parser.add_argument("--concurrency", type=int, default=4, help="warm function workers")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    state = StackState.load(StatePaths(args.state_dir.resolve()))
    model = state.model()
    if API_FUNCTION not in model.functions:
        # A template without the API (the tests' probe stacks) still gets the page's files and a
        # health answer, so the stack's services stay the same whatever template it runs.
        log.warning("%s is not in the template: serving the page's files only", API_FUNCTION)
        _serve_until_stopped(serve(Gateway(_no_api, args.web_dir), args.port), None)
        return
    fn = model.function(API_FUNCTION)
    pool = FunctionPool(
        fn,
        function_environment(fn, state.function_env()),
        args.concurrency,
        state.paths.logs / "functions" / f"{fn.logical_id}.log",
    )

    def invoke(event: dict[str, Any]) -> tuple[bool, Any]:
        with pool.slots:  # at most `concurrency` at once; the rest wait, as a throttle would
            result = pool.invoke(event)
        if not result.ok:
            log.error("%s failed: %s", fn.logical_id, result.error_summary)
        return result.ok, result.result

    server = serve(Gateway(invoke, args.web_dir), args.port)
    log.info("HTTP API on http://127.0.0.1:%d (web: %s)", args.port, args.web_dir)
    _serve_until_stopped(server, pool)


def _no_api(event: dict[str, Any]) -> tuple[bool, Any]:
    healthy = event.get("rawPath") == "/health"
    body = {"status": "ok"} if healthy else {"error": {"code": "NotFound", "message": "no API"}}
    response = {"statusCode": 200 if healthy else 404, "body": json.dumps(body)}
    return True, {**response, "headers": {"content-type": "application/json"}}


def _serve_until_stopped(server: ThreadingHTTPServer, pool: Any) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.shutdown()
        if pool is not None:
            pool.shutdown()


if __name__ == "__main__":
    main()
