"""Nothing face-derived survives an erase, whenever it happens.

The erase runs at write #k of the start, results or reprocess path, for every k: a hook on the
worker's own boto3 clients counts their writes (DynamoDB and S3) and runs the erase, on other
clients, just before write #k is sent. In "pause" mode the worker then goes on; in "crash"
mode write #k fails as if the invocation died there, and the platform's retry runs the worker
again. Afterwards no appearance, summary (nor its index entries) or archived page of the video
may remain. DynamoDB Local holds the table, a moto server the archive; Rekognition is a real
botocore client whose calls are answered by a before-call hook from prepared pages.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from cameo_core.adapters.archive import RawArchive, video_prefix
from cameo_core.adapters.rekognition import API, CelebrityJobs
from cameo_core.adapters.table import ResultsTable
from cameo_core.backlog import Backlog, Upload, drain, enqueue
from cameo_core.config import StartConfig, Tuning
from cameo_core.erase import Removal, erase_video
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef, sequencer_order
from cameo_core.results import Completion, process_completion, reprocess
from tests.integration.fixtures_local import REGION, S3Server
from tests.integration.rekognition_local import CELEBRITIES, FakeRekognition

pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

BUCKET = "cameo-videos-example"
WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "PutObject", "DeleteObjects"}
)


class Crash(Exception):
    """The invocation dies at this write."""


@dataclass
class Interleaver:
    """Counts the writes of the clients it is registered on; runs `erase` before write #at."""

    at: int | None
    erase: Callable[[], None]
    crash: bool = False
    count: int = 0
    fired: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, model: Any, **_: Any) -> None:
        if model.name not in WRITES:
            return
        with self._lock:
            self.count += 1
            hit = self.count == self.at
        if hit:
            self.fired = True
            self.erase()
            if self.crash:
                raise Crash(f"died at write {self.at} ({model.name})")

    def hook(self, client: Any) -> Any:
        client.meta.events.register(f"before-call.{client.meta.service_model.service_name}", self)
        return client


@dataclass
class World:
    ddb: Any
    table_name: str
    archive_bucket: str
    s3_server: S3Server

    @property
    def table(self) -> ResultsTable:
        return ResultsTable(self.ddb, self.table_name)

    @property
    def archive(self) -> RawArchive:
        return RawArchive(self.s3_server.client(), self.archive_bucket)

    def worker(self, interleaver: Interleaver) -> tuple[ResultsTable, RawArchive]:
        """The worker's own clients, counted by `interleaver`."""
        ddb = boto3.client("dynamodb", endpoint_url=self.ddb.meta.endpoint_url, region_name=REGION)
        return (
            ResultsTable(interleaver.hook(ddb), self.table_name),
            RawArchive(interleaver.hook(self.s3_server.client()), self.archive_bucket),
        )

    def erase(self, video: VideoRef) -> Callable[[], None]:
        removal = Removal(video, "ObjectRemoved:DeleteMarkerCreated", sequencer="FF")
        return lambda: erase_video(removal, self.table, self.archive)

    def assert_nothing_left(self, video: VideoRef, context: str) -> None:
        table = self.table
        assert list(table.appearances(video)) == [], context
        assert list(table.summaries(video)) == [], context
        for celebrity in CELEBRITIES:
            indexed = [i for i in table.videos_for_celebrity(celebrity) if i["video"] == video.uri]
            assert indexed == [], context
        listing = self.s3_server.client().list_objects_v2(
            Bucket=self.archive_bucket, Prefix=video_prefix(video)
        )
        assert listing.get("Contents", []) == [], context
        tombstone = table.get_video(video)
        assert tombstone is not None and tombstone["status"] == "ERASED", context


@pytest.fixture
def world(ddb: Any, table_name: str, archive: RawArchive, s3_server: S3Server) -> World:
    return World(ddb, table_name, archive.bucket, s3_server)


def submitted(world: World, video: VideoRef, job_id: str) -> None:
    world.table.record_upload(
        video, {"status": "SUBMITTED", "job_id": job_id, "sequencer_order": sequencer_order("0A")}
    )


def completion(video: VideoRef, job_id: str) -> Completion:
    return Completion(job_id=job_id, status="SUCCEEDED", api=API, video=video)


FAILURES = (Crash, RetryableError, LookupError)


def once(run: Callable[[], Any]) -> None:
    """One invocation; one that died or refused (it was erased under it) just ends."""
    with contextlib.suppress(*FAILURES):
        run()


def until_it_returns(run: Callable[[], Any], attempts: int = 3) -> None:
    """The platform's retries: an invocation that raised is run again."""
    for attempt in range(attempts):
        try:
            run()
            return
        except (Crash, RetryableError):
            if attempt == attempts - 1:
                raise


Scenario = Callable[["World", VideoRef, "Interleaver"], Callable[[], None]]


def count_writes(world: World, scenario: Scenario) -> int:
    """How many writes the scenario makes when nothing interrupts it."""
    video = VideoRef(BUCKET, f"dry-run-{uuid.uuid4().hex[:6]}.mp4")
    interleaver = Interleaver(at=None, erase=lambda: None)
    scenario(world, video, interleaver)
    assert interleaver.count >= 3  # the hook sees the writes
    return interleaver.count


def run_every_k(world: World, scenario: Scenario, crash: bool) -> int:
    """The scenario with the erase at write k, for every k; it returns its platform retry."""
    total = count_writes(world, scenario)
    for k in range(1, total + 2):  # total + 1: the erase comes after every write
        video = VideoRef(BUCKET, f"k{k:02d}-{'crash' if crash else 'pause'}/Café — {k}.mp4")
        interleaver = Interleaver(at=k, erase=world.erase(video), crash=crash)
        retry = scenario(world, video, interleaver)
        if not interleaver.fired:
            world.erase(video)()
        context = f"erase at write {k} of {total} (crash={crash})"
        # Even without a retry: a dying worker cleans up after itself.
        world.assert_nothing_left(video, context)
        # And the retries (or a redelivery) write nothing back.
        until_it_returns(retry)
        world.assert_nothing_left(video, context + ", after the retry")
    return total


# -- the scenarios -------------------------------------------------------------------------------


def results_scenario(world: World, video: VideoRef, interleaver: Interleaver) -> Callable[[], None]:
    submitted(world, video, "job-1")
    table, archive = world.worker(interleaver)
    jobs = CelebrityJobs(FakeRekognition().client())

    def run() -> None:
        process_completion(completion(video, "job-1"), jobs, table, archive, Tuning())

    once(run)
    return run


def reprocess_scenario(
    world: World, video: VideoRef, interleaver: Interleaver
) -> Callable[[], None]:
    # A finished job, written without interruption...
    submitted(world, video, "job-1")
    jobs = CelebrityJobs(FakeRekognition().client())
    outcome = process_completion(
        completion(video, "job-1"), jobs, world.table, world.archive, Tuning()
    )
    assert outcome.status == "SUCCEEDED"
    # ...is reprocessed with a gap that merges appearances (new keys, old ones removed).
    table, archive = world.worker(interleaver)

    def run() -> None:
        with contextlib.suppress(LookupError):  # erased: the operator is told so
            reprocess(video, table, archive, Tuning(merge_gap_ms=25_000))

    once(run)
    return run


def pipeline_scenario(
    world: World, video: VideoRef, interleaver: Interleaver
) -> Callable[[], None]:
    """Upload -> backlog -> Start -> completion -> results."""
    table, archive = world.worker(interleaver)
    rekognition = FakeRekognition()
    jobs = CelebrityJobs(rekognition.client())
    config = StartConfig(
        table_name=world.table_name,
        sns_topic_arn="arn:aws:sns:us-east-1:123456789012:AmazonRekognition-test",
        rekognition_role_arn="arn:aws:iam::123456789012:role/publish",
        tuning=Tuning(),
    )
    backlog = Backlog(config=config, table=table, jobs=jobs)
    upload = Upload(BUCKET, video.key, size=1_000, etag="e", version_id="v1", sequencer="0A")

    def on_upload() -> None:
        enqueue(upload, config, table, None)
        drain(backlog, hint=[video])

    until_it_returns(on_upload)  # the S3 event is retried until it is handled

    def completions() -> None:
        # Rekognition reports every job it started (an erase cannot stop a running job).
        for job_id in rekognition.started:
            process_completion(completion(video, job_id), jobs, table, archive, Tuning())

    once(completions)
    return completions


@pytest.mark.parametrize("crash", [False, True], ids=["pause", "crash"])
def test_an_erase_at_any_write_of_the_results_path_leaves_nothing(
    world: World, crash: bool
) -> None:
    assert run_every_k(world, results_scenario, crash) >= 6  # 3 pages, 2 batches, finish


@pytest.mark.parametrize("crash", [False, True], ids=["pause", "crash"])
def test_an_erase_at_any_write_of_a_reprocess_leaves_nothing(world: World, crash: bool) -> None:
    assert run_every_k(world, reprocess_scenario, crash) >= 3


@pytest.mark.parametrize("crash", [False, True], ids=["pause", "crash"])
def test_an_erase_at_any_write_from_upload_to_results_leaves_nothing(
    world: World, crash: bool
) -> None:
    assert run_every_k(world, pipeline_scenario, crash) >= 10
