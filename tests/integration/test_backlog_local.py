"""The backlog on DynamoDB Local: concurrent drains (threads) never hold more than
MaxConcurrentJobs slots, and every upload gets exactly one Start."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cameo_core.adapters.table import ResultsTable
from cameo_core.backlog import Backlog, Upload, drain, enqueue, release
from cameo_core.config import BacklogSettings, StartConfig, Tuning

pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

SLOTS = 3
UPLOADS = 30


class CountingJobs:
    """A Rekognition stand-in that counts Starts per token and jobs running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.starts: dict[str, int] = {}
        self.running: set[str] = set()
        self.peak = 0

    def start(self, request) -> str:
        with self.lock:
            token = request.client_request_token
            self.starts[token] = self.starts.get(token, 0) + 1
            self.running.add(token)
            self.peak = max(self.peak, len(self.running))
        return f"job-{token[:12]}"

    def finish_all(self) -> list[str]:
        with self.lock:
            done, self.running = sorted(self.running), set()
        return [f"job-{t[:12]}" for t in done]


def test_concurrent_drains_never_exceed_the_slots_and_start_each_upload_once(
    table: ResultsTable,
) -> None:
    jobs = CountingJobs()
    config = StartConfig(
        table.name, "arn:topic", "arn:role", Tuning(), BacklogSettings(max_concurrent_jobs=SLOTS)
    )
    backlog = Backlog(config=config, table=table, jobs=jobs)  # type: ignore[arg-type]
    for n in range(UPLOADS):
        upload = Upload("bucket", f"v/{n:03d}.mp4", 100, "e", sequencer=f"{n + 1:04X}")
        assert enqueue(upload, config, table, None).status == "QUEUED"

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(UPLOADS):
            # Several drains race for the same free slots, as completions and uploads would.
            list(pool.map(lambda _: drain(backlog), range(8)))
            held = [s for s in table.slots() if s.get("holder")]
            assert len(held) <= SLOTS
            finished = jobs.finish_all()
            for job_id in finished:
                release(table, job_id)
            if not finished and table.backlog_count("QUEUED") == 0:
                break

    assert jobs.peak <= SLOTS
    assert len(jobs.starts) == UPLOADS
    assert set(jobs.starts.values()) == {1}
