"""The offline stack under failure: a results handler killed mid-paging, services restarted."""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cameo_stack import procs
from cameo_stack.paths import StatePaths
from cameo_stack.stack import Stack, StackOptions
from tests.e2e.helpers import (
    RETRY_DELAYS,
    SAMPLE_FPS,
    Media,
    appearances,
    engine_jobs,
    router_counters,
    summaries,
    wait_until,
)

pytestmark = pytest.mark.e2e

PAGE_SIZE = 10


class PagingCrashProxy(ThreadingHTTPServer):
    """A Rekognition endpoint in front of the engine: serves small pages, and (when armed) kills
    the results handler's process as it asks for page 2. Used as the stack's external endpoint."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.target = ""
        self.router_pid = 0
        self.armed = False
        self.kills = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def kill_results_handler(self) -> None:
        """SIGKILL the ProcessResults worker process (a child of the router): a crash."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if (
                ppid == self.router_pid
                and "lambda_worker" in cmdline
                and "process_results" in (cmdline)
            ):
                os.kill(int(entry.name), signal.SIGKILL)
                self.kills += 1


class _ProxyHandler(BaseHTTPRequestHandler):
    server: PagingCrashProxy

    def do_GET(self) -> None:  # /health, /admin/...: straight through
        with urllib.request.urlopen(self.server.target + self.path, timeout=10) as r:
            self._reply(r.status, dict(r.headers), r.read())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        operation = self.headers.get("X-Amz-Target", "")
        if operation.endswith(".GetCelebrityRecognition"):
            params = json.loads(body or b"{}")
            params["MaxResults"] = PAGE_SIZE  # small pages: many of them
            if params.get("NextToken"):
                with self.server.lock:
                    crash = self.server.armed
                    self.server.armed = False
                if crash:
                    self.server.kill_results_handler()
            body = json.dumps(params).encode()
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
        }
        request = urllib.request.Request(
            self.server.target + "/", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                self._reply(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as err:
            self._reply(err.code, dict(err.headers), err.read())

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in (
                "content-length",
                "transfer-encoding",
                "connection",
                "date",
                "server",
            ):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def crash_stack(
    media: Media, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, PagingCrashProxy]]:
    """A second stack whose Rekognition endpoint is the proxy, in front of an in-process engine."""
    from cameo_engine.api import EngineConfig, start_engine

    os.environ["CAMEO_ROUTER_RETRY_DELAYS"] = RETRY_DELAYS
    proxy = PagingCrashProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    paths = StatePaths(tmp_path_factory.mktemp("crash-stack"))
    stack = Stack.up(StackOptions(rekognition_endpoint=proxy.url), paths)
    engine = start_engine(EngineConfig(
        gallery_dir=media.gallery, state_dir=tmp_path_factory.mktemp("crash-engine"),
        s3_endpoint=stack.state.endpoints["s3"], sns_endpoint=stack.state.endpoints["sns"],
        region=stack.state.region, sample_fps=SAMPLE_FPS,
    ))  # fmt: skip
    proxy.target = engine.endpoint_url
    record = procs.read_record(paths.pid("router"))
    assert record is not None
    proxy.router_pid = record.pid
    try:
        yield stack, proxy
    finally:
        stack.down()
        engine.stop()
        proxy.shutdown()


def _results(stack: Stack, uri: str) -> list[tuple[Any, ...]]:
    return [
        (a["celebrity_id"], int(a["start_ms"]), int(a["end_ms"]), int(a["detections"]))
        for a in appearances(stack.video_items(uri))
    ]


def test_results_handler_killed_mid_paging_is_retried_without_loss_or_duplicates(
    crash_stack: tuple[Stack, PagingCrashProxy], media: Media
) -> None:
    stack, proxy = crash_stack
    clip = media.clips["long"]
    # Given the same video processed once without trouble
    clean_uri = stack.upload(clip.path, "crash/clean.mp4")
    clean = stack.wait(clean_uri, timeout=180)
    assert clean["status"] == "SUCCEEDED", clean.get("reason")
    assert int(clean["detection_count"]) > 2 * PAGE_SIZE, "needs several pages to be meaningful"

    # When the results handler is killed as it asks for page 2 of the second copy
    proxy.armed = True
    uri = stack.upload(clip.path, "crash/crashed.mp4")

    def settled() -> dict[str, Any] | None:
        # Final, or given up on by the router (dead-lettered): no need to sit out a timeout.
        item = stack.video_item(uri)
        if item and item["status"] in ("SUCCEEDED", "FAILED"):
            return item
        if router_counters(stack, "ProcessResultsFunction")["dead_lettered"]:
            return item or {"status": "missing"}
        return None

    video = wait_until(settled, 180, "the crashed job to be retried to the end")

    # Then the retry completed it, with exactly the clean run's results
    assert proxy.kills == 1, "the results handler was not killed mid-paging"
    counters = router_counters(stack, "ProcessResultsFunction")
    assert counters["errors"] >= 1 and counters["dead_lettered"] == 0, counters
    assert video["status"] == "SUCCEEDED", video.get("reason")
    assert _results(stack, uri) == _results(stack, clean_uri)
    assert int(video["detection_count"]) == int(clean["detection_count"])
    assert len(appearances(stack.video_items(uri))) == int(video["appearance_count"])
    assert len(summaries(stack.video_items(uri))) == int(video["celebrity_count"])


def _wait_in_progress(stack: Stack, key: str) -> None:
    def running() -> bool:
        return any(
            j["Video"]["S3ObjectName"] == key and j["JobStatus"] == "IN_PROGRESS"
            for j in engine_jobs(stack)
        )

    wait_until(running, 120, f"the engine to be working on {key}")


def test_restarting_engine_router_and_database_mid_job_still_completes(
    stack: Stack, media: Media
) -> None:
    key = "restart/partial.mp4"
    uri = stack.upload(media.clips["long"].path, key)
    _wait_in_progress(stack, key)
    # When every service holding job state restarts (moto stands in for S3/SNS/SQS, which
    # do not restart in AWS)
    restarted = stack.restart(("dynamodb", "engine", "router"))
    assert restarted == ["dynamodb", "engine", "router"]
    # Then the engine resumes the job and the pipeline finishes it
    video = stack.wait(uri, timeout=180)
    assert video["status"] == "SUCCEEDED", video.get("reason")
    assert {a["name"] for a in appearances(stack.video_items(uri))} == media.enrolled


def test_restarting_the_whole_stack_mid_job_ends_clearly(stack: Stack, media: Media) -> None:
    key = "restart/everything.mp4"
    uri = stack.upload(media.clips["long"].path, key)
    _wait_in_progress(stack, key)
    # When everything restarts, moto included (its objects and messages live in memory)
    stack.restart()
    # Then the job does not hang: it completes, or ends FAILED with a reason
    video = stack.wait(uri, timeout=180)
    assert video["status"] in ("SUCCEEDED", "FAILED")
    if video["status"] == "FAILED":
        assert video.get("reason"), "FAILED without saying why"
    assert all(s["healthy"] for s in stack.status().values())


def test_a_completion_lost_with_moto_is_replayed_once_without_duplicates(
    stack: Stack, media: Media
) -> None:
    # Given a finished video whose completion message is then "lost": its item is back to
    # SUBMITTED, as when moto's in-memory SNS/SQS dropped the message in a restart
    uri = stack.upload(media.clips["obama"].path, "replay/lost.mp4")
    done = stack.wait(uri, timeout=120)
    assert done["status"] == "SUCCEEDED", done.get("reason")
    before = sorted(i["sk"] for i in stack.video_items(uri))
    table = stack.client("dynamodb")
    table.update_item(
        TableName=stack.state.table,
        Key={"pk": {"S": f"VIDEO#{uri}"}, "sk": {"S": "VIDEO"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "SUBMITTED"}},
    )

    # When the stack replays what the engine finished but the table never recorded
    replayed = stack.replay_lost_completions()

    # Then that video (and only unrecorded ones) completes again, with the same items
    assert uri in replayed
    video = stack.wait(uri, timeout=120)
    assert video["status"] == "SUCCEEDED"
    assert sorted(i["sk"] for i in stack.video_items(uri)) == before
    assert uri not in stack.replay_lost_completions()
