"""Ingest benchmark: replay N celebrity detections through the real results handler.

functions/process_results/app.py's lambda_handler gets an SNS completion event. Rekognition is a
fake client serving pre-serialized pages of 1000 from memory (json.loads per call, like
botocore's parse); the archive is a moto server; results go to DynamoDB Local, the real engine.
In the same run, a naive writer (one put_item per detection) sets the baseline.

    .venv/bin/python benchmarks/ingest.py [--detections 200000] [--endpoint URL]

Prints figures, ratios and PASS/FAIL per goal; exits non-zero only if something crashes.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import io
import json
import logging
import math
import os
import random
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.client
from moto.server import ThreadedMotoServer

from cameo_stack import dynamodb_local, procs
from cameo_stack import template as cfn

if TYPE_CHECKING:
    from cameo_core.adapters.table import ResultsTable
    from cameo_core.keys import VideoRef

# cameo_core is imported inside the functions, after main() has set the environment the
# template gives the function: Powertools reads POWERTOOLS_* when the layer is imported, as in
# Lambda, where the environment exists before any import.

ROOT = Path(__file__).resolve().parents[1]

PAGE_SIZE = 1000
SAMPLE_MS = 200  # Rekognition Video reports a face every few frames while it is on screen
VIDEO_MS = 6 * 3600 * 1000
MB = 1024 * 1024

GOAL_RATE = 20_000  # detections/s
GOAL_WRITE_FACTOR = 1.05  # BatchWriteItem calls <= 1.05 x ceil(items / 25)
GOAL_RSS_MB = 50
GOAL_FEWER_WRITES = 10
GOAL_FASTER = 5


# -- workload ------------------------------------------------------------------------------------


def _celebrity(i: int) -> dict[str, Any]:
    cid = f"{random.Random(i).getrandbits(40):010x}"
    return {
        "Id": cid,
        "Name": f"Celebrity {i:02d}",
        "Urls": [f"www.wikidata.org/wiki/Q{100000 + i}", f"www.imdb.com/name/nm{i:07d}"],
        "KnownGender": {"Type": "Female" if i % 2 else "Male"},
    }


def _face(rng: random.Random, confidence: float) -> dict[str, Any]:
    box = {
        "Width": round(rng.uniform(0.05, 0.3), 6),
        "Height": round(rng.uniform(0.08, 0.4), 6),
        "Left": round(rng.uniform(0, 0.7), 6),
        "Top": round(rng.uniform(0, 0.6), 6),
    }
    return {
        "BoundingBox": box,
        "Confidence": round(min(100.0, confidence + rng.uniform(0, 1)), 4),
        "Landmarks": [
            {"Type": t, "X": round(rng.random(), 6), "Y": round(rng.random(), 6)}
            for t in ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")
        ],
        "Pose": {
            "Roll": round(rng.uniform(-20, 20), 3),
            "Yaw": round(rng.uniform(-45, 45), 3),
            "Pitch": round(rng.uniform(-20, 20), 3),
        },
        "Quality": {
            "Brightness": round(rng.uniform(30, 90), 3),
            "Sharpness": round(rng.uniform(20, 95), 3),
        },
    }


def detections(total: int, celebrities: int, seed: int) -> list[tuple[int, int, float]]:
    """(timestamp, celebrity index, confidence) in time order.

    Each celebrity gets a share of the detections (a few stars, a long tail) spread over scenes
    of 3 s to 3 min across the 6 hours. Within a scene a detection comes every ~200 ms, a few go
    missing (gaps under the merge threshold) and a look away now and then splits the scene
    (gaps over it). About 5% of detections fall under the 80% confidence floor.
    """
    rng = random.Random(seed)
    weights = [1 / (i + 1) ** 0.8 for i in range(celebrities)]
    scale = total / sum(weights)
    quotas = [max(1, int(w * scale)) for w in weights]
    quotas[0] += total - sum(quotas)
    out: list[tuple[int, int, float]] = []
    for index, quota in enumerate(quotas):
        left = quota
        while left > 0:
            scene = min(left, max(15, int(rng.lognormvariate(4.5, 0.9))))  # detections
            t = rng.randrange(0, VIDEO_MS - scene * SAMPLE_MS * 2)
            for _ in range(scene):
                if rng.random() < 0.03:
                    t += rng.randrange(2_500, 8_000)  # looked away: a new appearance
                elif rng.random() < 0.15:
                    t += rng.randrange(400, 1_800)  # missed frames: same appearance
                else:
                    t += SAMPLE_MS + rng.randrange(-40, 41)
                low = rng.random() < 0.05
                confidence = rng.uniform(50, 79.9) if low else rng.uniform(82, 99.99)
                out.append((t, index, round(confidence, 3)))
            left -= scene
    out.sort()
    return out


def pages(total: int, celebrities: int, seed: int, job_id: str) -> list[bytes]:
    """GetCelebrityRecognition responses (SortBy=TIMESTAMP), serialized once, up front."""
    rng = random.Random(seed + 1)
    people = [_celebrity(i) for i in range(celebrities)]
    stream = detections(total, celebrities, seed)
    metadata = {
        "Codec": "h264",
        "DurationMillis": VIDEO_MS,
        "Format": "QuickTime / MOV",
        "FrameRate": 25.0,
        "FrameHeight": 1080,
        "FrameWidth": 1920,
        "ColorRange": "LIMITED",
    }
    count = math.ceil(len(stream) / PAGE_SIZE)
    out = []
    for p in range(count):
        items = []
        for timestamp, index, confidence in stream[p * PAGE_SIZE : (p + 1) * PAGE_SIZE]:
            face = _face(rng, confidence)
            items.append(
                {
                    "Timestamp": timestamp,
                    "Celebrity": {
                        **people[index],
                        "Confidence": confidence,
                        "BoundingBox": face["BoundingBox"],
                        "Face": face,
                    },
                }
            )
        page: dict[str, Any] = {
            "JobStatus": "SUCCEEDED",
            "VideoMetadata": metadata,
            "Celebrities": items,
            "JobId": job_id,
        }
        if p + 1 < count:
            page["NextToken"] = f"{job_id}-page-{p + 2}"
        out.append(json.dumps(page).encode())
    return out


class FakeRekognition:
    """Serves the pages from memory, parsing each like a client would; times itself."""

    def __init__(self, pages: list[bytes]) -> None:
        self._pages = pages
        self.calls = 0
        self.seconds = 0.0

    def get_celebrity_recognition(self, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        assert kwargs["MaxResults"] == PAGE_SIZE and kwargs["SortBy"] == "TIMESTAMP"
        token = kwargs.get("NextToken")
        index = int(token.rsplit("-", 1)[1]) - 1 if token else 0
        self.calls += 1
        page: dict[str, Any] = json.loads(self._pages[index])
        self.seconds += time.perf_counter() - started
        return page


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class CallCounter:
    """Counts AWS API calls by (service, operation) for every client in the process."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    _original: Any = None

    def __enter__(self) -> CallCounter:
        self._original = original = botocore.client.BaseClient._make_api_call
        calls = self.calls

        def counted(client: Any, operation: str, params: Any) -> Any:
            calls[(client.meta.service_model.service_name, operation)] += 1
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        botocore.client.BaseClient._make_api_call = self._original  # type: ignore[method-assign]

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self.calls[key]


def _status_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM, so the peak is this phase's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Run:
    seconds: float
    outcome: dict[str, Any]
    calls: Counter[tuple[str, str]]
    rss_before_mb: float
    rss_after_mb: float
    rss_peak_mb: float
    rekognition_seconds: float


# -- the two writers -----------------------------------------------------------------------------


def sns_event(video: VideoRef, job_id: str) -> dict[str, Any]:
    from cameo_core.keys import job_tag

    template = json.loads((ROOT / "events" / "sns_succeeded.json").read_text())
    record = template["Records"][0]
    message = {
        "JobId": job_id,
        "Status": "SUCCEEDED",
        "API": "StartCelebrityRecognition",
        "JobTag": job_tag(video),
        "Timestamp": int(time.time() * 1000),
        "Video": {"S3ObjectName": video.key, "S3Bucket": video.bucket},
    }
    record["Sns"]["Message"] = json.dumps(message)
    record["Sns"]["MessageId"] = str(uuid.uuid4())
    return {"Records": [record]}


@dataclass
class Context:
    function_name: str = "cameo-bench-process-results"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cameo-bench"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/cameo-bench"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def run_handler(
    app: Any,
    table: ResultsTable,
    fake: FakeRekognition,
    video: VideoRef,
    job_id: str,
    *,
    trace_python_heap: bool = False,
) -> tuple[Run, int]:
    from cameo_core.keys import sequencer_order

    table.record_upload(
        video, {"status": "SUBMITTED", "job_id": job_id, "sequencer_order": sequencer_order("0A")}
    )
    event = sns_event(video, job_id)
    fake.calls, fake.seconds = 0, 0.0
    gc.collect()
    rss_before = _status_kb("VmRSS")
    reset_peak_rss()
    heap_peak = 0
    if trace_python_heap:
        tracemalloc.start()
    sink = io.StringIO()  # Powertools logs and EMF metrics go to stdout; keep the table readable
    with CallCounter() as counter, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        response = app.lambda_handler(event, Context())
        seconds = time.perf_counter() - started
    if trace_python_heap:
        heap_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    run = Run(
        seconds,
        response["completions"][0],
        counter.calls,
        rss_before / 1024,
        _status_kb("VmRSS") / 1024,
        _status_kb("VmHWM") / 1024,
        fake.seconds,
    )
    return run, heap_peak


def run_naive(
    ddb: Any, table_name: str, page_bytes: list[bytes], limit: int, video: VideoRef
) -> tuple[float, int, int]:
    """One put_item per detection, as a first version without batching or merging would."""
    from cameo_core.adapters.table import serialize

    fake = FakeRekognition(page_bytes)
    written = 0
    token = None
    with CallCounter() as counter:
        started = time.perf_counter()
        while written < limit:
            kwargs: dict[str, Any] = {
                "JobId": "naive",
                "MaxResults": PAGE_SIZE,
                "SortBy": "TIMESTAMP",
            }
            if token:
                kwargs["NextToken"] = token
            page = fake.get_celebrity_recognition(**kwargs)
            for item in page["Celebrities"][: limit - written]:
                celebrity = item["Celebrity"]
                ddb.put_item(
                    TableName=table_name,
                    Item=serialize(
                        {
                            "pk": video.pk,
                            "sk": f"DETECTION#{item['Timestamp']:012d}#{celebrity['Id']}",
                            "type": "detection",
                            "celebrity_id": celebrity["Id"],
                            "name": celebrity["Name"],
                            "timestamp": item["Timestamp"],
                            "confidence": celebrity["Confidence"],
                            "bounding_box": celebrity.get("BoundingBox"),
                        }
                    ),
                )
                written += 1
            token = page.get("NextToken")
            if not token:
                break
        seconds = time.perf_counter() - started
    return seconds, written, counter[("dynamodb", "PutItem")]


# -- main ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def dynamodb(endpoint: str | None) -> Iterator[str]:
    if endpoint:
        yield endpoint
    else:
        with dynamodb_local.running() as started:
            yield started


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    port = procs.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def load_handler(function: cfn.Function) -> Any:
    """Import the handler file the way Lambda does (its CodeUri is the module's directory)."""
    spec = importlib.util.spec_from_file_location("app", function.module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detections", type=int, default=200_000)
    parser.add_argument("--celebrities", type=int, default=50)
    parser.add_argument(
        "--naive-detections",
        type=int,
        default=5_000,
        help="subset the naive writer replays; its time is extrapolated",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--endpoint", help="a running DynamoDB Local (default: start one)")
    parser.add_argument(
        "--no-tracemalloc",
        action="store_true",
        help="skip the second, traced pass that measures the Python heap peak",
    )
    args = parser.parse_args(argv)

    job_id = "bench-" + "0" * 58
    print(
        f"generating {args.detections:,} detections of {args.celebrities} celebrities over 6 h ...",
        flush=True,
    )
    page_bytes = pages(args.detections, args.celebrities, args.seed, job_id)
    print(
        f"  {len(page_bytes)} pages, {sum(map(len, page_bytes)) / MB:.0f} MB of JSON held in "
        "memory before measuring",
        flush=True,
    )

    stack = cfn.load(ROOT / "template.yaml")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's access log
    with dynamodb(args.endpoint) as ddb_endpoint, s3_server() as s3_endpoint:
        table_name = f"{stack.table.name}-bench-{uuid.uuid4().hex[:8]}"
        bucket = f"cameo-bench-archive-{uuid.uuid4().hex[:8]}"
        for key, value in stack.function("process_results").environment.items():
            os.environ[key] = value
        os.environ.update(
            {
                "TABLE_NAME": table_name,
                "ARCHIVE_BUCKET": bucket,
                "AWS_ENDPOINT_URL_DYNAMODB": ddb_endpoint,
                "AWS_ENDPOINT_URL_S3": s3_endpoint,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        import cameo_core.results
        from cameo_core import clients
        from cameo_core.adapters.table import ResultsTable
        from cameo_core.keys import VideoRef

        ddb = clients.client("dynamodb")
        spec = {
            "TableName": table_name,
            "KeySchema": stack.table.key_schema,
            "AttributeDefinitions": stack.table.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": stack.table.global_secondary_indexes,
        }
        ddb.create_table(**spec)
        clients.client("s3").create_bucket(Bucket=bucket)
        table = ResultsTable(ddb, table_name)

        fake = FakeRekognition(page_bytes)
        cameo_core.results.client = lambda service: (  # type: ignore[assignment]
            fake if service == "rekognition" else clients.client(service)
        )
        app = load_handler(stack.function("process_results"))

        video = VideoRef("cameo-bench-videos", "six hours/marathon broadcast.mp4")
        print("replaying through functions/process_results/app.py ...", flush=True)
        run, _ = run_handler(app, table, fake, video, job_id)
        if run.outcome.get("status") != "SUCCEEDED":
            raise RuntimeError(f"handler did not succeed: {run.outcome}")
        stored = sum(1 for _ in table.appearances(video))
        if stored != run.outcome["appearances"]:
            raise RuntimeError(
                f"{stored} appearances in the table, handler says {run.outcome['appearances']}"
            )

        heap_peak = 0
        if not args.no_tracemalloc:
            print("second pass under tracemalloc (Python heap peak; not timed) ...", flush=True)
            traced_video = VideoRef(video.bucket, video.key + ".traced")
            # Its own job id: the idempotency record of the first pass would answer this one.
            _, heap_peak = run_handler(
                app, table, fake, traced_video, "traced-" + job_id[7:], trace_python_heap=True
            )

        naive_n = min(args.naive_detections, args.detections)
        print(
            f"naive writer: one put_item per detection, first {naive_n:,} detections ...",
            flush=True,
        )
        naive_video = VideoRef(video.bucket, video.key + ".naive")
        naive_s, naive_written, naive_puts = run_naive(
            ddb, table_name, page_bytes, naive_n, naive_video
        )

    detections_in = args.detections
    items = run.outcome["appearances"] + run.outcome["celebrities"]
    batches = run.calls[("dynamodb", "BatchWriteItem")]
    batch_budget = GOAL_WRITE_FACTOR * math.ceil(items / 25)
    rate = detections_in / run.seconds
    rate_ex_rekognition = detections_in / (run.seconds - run.rekognition_seconds)
    other_writes = sum(
        n
        for (svc, op), n in run.calls.items()
        if svc == "dynamodb" and op in ("PutItem", "UpdateItem", "DeleteItem")
    )
    our_writes = batches + other_writes
    naive_per_detection = naive_s / naive_written
    naive_total_s = naive_per_detection * detections_in  # extrapolated: cost per put is flat
    naive_writes = detections_in  # exactly one PutItem per detection
    rss_growth = run.rss_peak_mb - run.rss_before_mb

    print()
    print(f"{'figure':<48}{'value':>16}")
    print("-" * 64)
    rows = [
        ("detections replayed", f"{detections_in:,}"),
        ("result pages (1000 each)", f"{run.outcome['pages']}"),
        (
            "appearances / celebrities",
            f"{run.outcome['appearances']:,} / {run.outcome['celebrities']}",
        ),
        ("detections used (>= min confidence)", f"{run.outcome['detections']:,}"),
        ("items written (appearances + summaries)", f"{items:,}"),
        ("handler wall time", f"{run.seconds:.2f} s"),
        ("  of which fake Rekognition (json.loads)", f"{run.rekognition_seconds:.2f} s"),
        ("BatchWriteItem requests", f"{batches:,}"),
        ("  budget 1.05 x ceil(items/25)", f"{batch_budget:,.1f}"),
        ("other DynamoDB writes (video item, idempotency)", f"{other_writes}"),
        ("S3 PutObject (archived pages)", f"{run.calls[('s3', 'PutObject')]}"),
        ("RSS before / after", f"{run.rss_before_mb:.0f} / {run.rss_after_mb:.0f} MB"),
        ("RSS peak during the handler", f"{run.rss_peak_mb:.0f} MB"),
        ("peak RSS growth", f"{rss_growth:.1f} MB"),
        (
            "Python heap peak (tracemalloc, 2nd pass)",
            f"{heap_peak / MB:.1f} MB" if heap_peak else "skipped",
        ),
        (f"naive: {naive_written:,} put_item measured", f"{naive_s:.2f} s"),
        ("naive: per detection", f"{naive_per_detection * 1e3:.2f} ms"),
        (f"naive: {detections_in:,} extrapolated", f"{naive_total_s:.0f} s"),
    ]
    for name, value in rows:
        print(f"{name:<48}{value:>16}")
    if naive_puts != naive_written:
        raise RuntimeError(f"naive writer counted {naive_puts} PutItem for {naive_written}")

    goals = [
        (
            "throughput >= 20,000 detections/s",
            f"{rate:,.0f}/s ({rate_ex_rekognition:,.0f}/s without the fake)",
            rate >= GOAL_RATE,
        ),
        (
            "BatchWriteItem <= 1.05 x ceil(items/25)",
            f"{batches / math.ceil(items / 25):.3f} x",
            batches <= batch_budget,
        ),
        ("peak RSS growth <= 50 MB", f"{rss_growth:.1f} MB", rss_growth <= GOAL_RSS_MB),
        (
            "writes vs naive >= 10x fewer",
            f"{naive_writes / our_writes:,.0f}x ({naive_writes:,} vs {our_writes})",
            naive_writes / our_writes >= GOAL_FEWER_WRITES,
        ),
        (
            "time vs naive >= 5x faster",
            f"{naive_total_s / run.seconds:,.1f}x (extrapolated)",
            naive_total_s / run.seconds >= GOAL_FASTER,
        ),
    ]
    print()
    print(f"{'goal':<42}{'measured':<44}result")
    print("-" * 92)
    for name, measured, ok in goals:
        print(f"{name:<42}{measured:<44}{verdict(ok)}")
    print()
    print("overall:", verdict(all(ok for *_, ok in goals)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
