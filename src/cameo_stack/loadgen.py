"""Load on the offline stack, for the backlog's e2e tests and benchmarks/backlog_drain.py.

Uploads are tiny MP4 files (a header that says how long the video is, no frames): with the
engine's fixed-length jobs (``StackOptions(engine_fixed_job_seconds=...)``) nothing is decoded,
so a job's cost is a known constant and a run has an ideal duration to compare against.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from cameo_stack.stack import Stack


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def tiny_mp4(seconds: float, timescale: int = 1000) -> bytes:
    """An MP4 of a ftyp and a moov holding one version-0 mvhd: ``seconds`` long, no media."""
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = _box(
        b"mvhd",
        bytes(4)  # version 0, flags
        + struct.pack(">IIII", 0, 0, timescale, round(seconds * timescale))
        + struct.pack(">IH", 0x10000, 0x100)  # rate 1.0, volume 1.0
        + bytes(10)
        + identity
        + bytes(24)
        + struct.pack(">I", 2),  # next track id
    )
    return _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41") + _box(b"moov", mvhd)


def upload_many(
    stack: Stack, keys: Iterable[str], data: bytes, *, threads: int = 8
) -> dict[str, float]:
    """Put every key at once (a burst); returns key -> epoch seconds just before its PUT."""
    s3 = stack.client("s3")
    bucket = stack.state.video_bucket

    def put(key: str) -> tuple[str, float]:
        started = time.time()
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        return key, started

    with ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(put, list(keys)))


def epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO-8601 time as the table and the engine write them."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def peak_concurrency(jobs: Iterable[dict[str, Any]]) -> int:
    """Most engine jobs in progress at once, from their CreatedAt / CompletedAt."""
    edges: list[tuple[float, int]] = []
    for job in jobs:
        edges.append((epoch(job["CreatedAt"]), 1))
        if job.get("CompletedAt"):
            edges.append((epoch(job["CompletedAt"]), -1))
    running = peak = 0
    for _, delta in sorted(edges):  # at equal times a finish (-1) sorts before a start
        running += delta
        peak = max(peak, running)
    return peak


def failure_queue_depths(stack: Stack) -> dict[str, int]:
    """Messages (visible or in flight) in every failure queue: the template's and the router's.

    A template queue that no function polls (no SQS event source) is where failures wait for
    a person: OnFailure destinations, DLQs, SNS redrive queues.
    """
    sqs = stack.client("sqs")
    model = stack.state.model()
    polled = {trigger.queue for fn in model.functions.values() for trigger in fn.sqs}
    queues = {
        logical: stack.state.queues[logical] for logical in model.queues if logical not in polled
    }
    queues["router-dlq"] = stack.state.fallback_dlq
    depths = {}
    for name, url in queues.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[name] = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
    return depths
