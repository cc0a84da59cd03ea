"""The backlog on the offline stack: a burst, a lost notification, an early completion.

Its own stack: the engine's fixed-length jobs (nothing decoded), an engine limit of 3 and
MaxConcurrentJobs=3, the sweep every second and ReconcileAfterMinutes=0.05 (3 s), and Lambda's
async retries OFF, so nothing passes by retry luck: a failed invocation is dead-lettered. Its
environments are pre-warmed and the burst follows a warm-up of 4 uploads: the 5 s recording
bound is about the design, and a cold 2-core emulation spends its first seconds loading code.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from cameo_stack.loadgen import epoch, failure_queue_depths, peak_concurrency, tiny_mp4, upload_many
from cameo_stack.paths import StatePaths
from cameo_stack.stack import Stack, StackOptions
from tests.e2e.helpers import engine_jobs, router_counters, wait_until

pytestmark = pytest.mark.e2e

LIMIT = 3
# Real jobs last minutes; 1 s keeps the test short without letting job turnover (each job's
# completion, results and next start run on the same 2 cores) crowd out the uploads' records.
JOB_SECONDS = 1.0
BURST = 200


@pytest.fixture(scope="module")
def backlog_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack.up(
        StackOptions(
            engine_max_concurrent_jobs=LIMIT,
            engine_workers=LIMIT,
            engine_fixed_job_seconds=JOB_SECONDS,
            parameters={"MaxConcurrentJobs": str(LIMIT), "ReconcileAfterMinutes": "0.05"},
            schedule_seconds=1,
            lambda_retries=0,
            # Environments initialized before events arrive: on AWS a burst's cold starts run
            # side by side on their own hosts; here they would hold 2 shared cores for seconds
            # in front of the first uploads.
            prewarm=True,
        ),
        StatePaths(tmp_path_factory.mktemp("backlog-stack")),
    )
    try:
        yield stack
    finally:
        stack.down()


def _engine(stack: Stack, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{stack.state.endpoints['rekognition']}{path}", data=data, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _final(stack: Stack, uris: list[str]) -> list[dict[str, Any]] | None:
    items = [stack.video_item(uri) for uri in uris]
    if all(i is not None and i["status"] in ("SUCCEEDED", "FAILED") for i in items):
        return items  # type: ignore[return-value]
    return None


def test_burst_of_200_against_a_limit_of_3_all_succeed_without_retries(
    backlog_stack: Stack,
) -> None:
    stack = backlog_stack
    # Given a stack that has already handled a few uploads at once, as a deployed one has:
    # the first requests load code (DynamoDB Local's JIT, moto's lazy imports, each worker's
    # SDK clients), work that AWS spreads over the burst's own hosts
    warm = upload_many(stack, [f"warmup/{i}.mp4" for i in range(4)], tiny_mp4(JOB_SECONDS))
    warm_uris = [stack.uri(k) for k in warm]
    wait_until(lambda: _final(stack, warm_uris), 60, "the warm-up uploads")
    keys = [f"burst/{i:03d}.mp4" for i in range(BURST)]
    # When 200 videos land at once
    uploaded = upload_many(stack, keys, tiny_mp4(JOB_SECONDS))
    uris = [stack.uri(k) for k in keys]
    items = wait_until(lambda: _final(stack, uris), 240, "the burst to drain")

    # Then all SUCCEEDED
    assert [i["status"] for i in items] == ["SUCCEEDED"] * BURST, [
        (i["video"], i["status"], i.get("reason")) for i in items if i["status"] != "SUCCEEDED"
    ]
    waits = {k: epoch(str(i["queued_at"])) - uploaded[k] for k, i in zip(keys, items, strict=True)}
    # Exactly one engine job per upload, never more than the limit at once
    jobs = [j for j in engine_jobs(stack) if j["Video"]["S3ObjectName"].startswith("burst/")]
    assert sorted(j["Video"]["S3ObjectName"] for j in jobs) == keys
    assert {i["job_id"] for i in items} == {j["JobId"] for j in jobs}
    assert peak_concurrency(jobs) <= LIMIT
    # And nothing failed anywhere: with retries off, any error would be dead-lettered
    assert set(failure_queue_depths(stack).values()) == {0}, failure_queue_depths(stack)
    for fn in ("StartRecognitionFunction", "ProcessResultsFunction"):
        assert router_counters(stack, fn)["dead_lettered"] == 0, router_counters(stack, fn)
    # And every upload was recorded (QUEUED) before its job was started: record before you pay
    created = {j["Video"]["S3ObjectName"]: epoch(j["CreatedAt"]) for j in jobs}
    late = [k for k, i in zip(keys, items, strict=True) if epoch(str(i["queued_at"])) > created[k]]
    assert late == [], late
    # How soon after its PUT each upload was recorded is a speed figure, so its 5 s goal is
    # gated in benchmarks/backlog_drain.py (--uploads 200 --limit 3 --job-seconds 1 is this
    # burst), not here: on 2 shared cores the same code measured 3.9-4.4 s alone and 5.8 s
    # beside other work. Printed for the log.
    slowest = sorted(waits.items(), key=lambda kv: -kv[1])[:5]
    print(f"slowest recordings after upload (s): {[(k, round(w, 2)) for k, w in slowest]}")


# Per upload and per job, so they differ between two uploads of the same bytes.
VARYING = {
    "pk", "video", "key", "job_id", "job_tag", "client_request_token", "version_id", "sequencer",
    "sequencer_order", "etag", "reconciled_at", "gsi1sk", "gsi2sk", "gsi4sk", "token",
}  # fmt: skip


def _normalized(stack: Stack, uri: str) -> list[dict[str, Any]]:
    out = []
    for item in stack.video_items(uri):
        kept = {
            k: v
            for k, v in item.items()
            if k not in VARYING and not k.endswith("_at") and not k.endswith("_ms_at")
        }
        out.append(json.loads(json.dumps(kept, default=str).replace(uri, "URI")))
    return sorted(out, key=lambda i: json.dumps(i, sort_keys=True))


def test_a_lost_notification_is_completed_by_the_sweep_with_identical_items(
    backlog_stack: Stack,
) -> None:
    stack = backlog_stack
    # Given the engine publishes nothing for the next job under lost/
    armed = _engine(
        stack,
        "/admin/faults",
        {"operation": "PublishCompletion", "error": "Drop", "count": 1, "prefix": "lost/"},
    )
    assert armed["Faults"], armed
    data = tiny_mp4(JOB_SECONDS)
    normal = stack.put_bytes("normal/a.mp4", data)
    lost = stack.put_bytes("lost/a.mp4", data)
    # Then the sweep reconciles it (ReconcileAfterMinutes = 3 s) and it completes
    normal_item, lost_item = wait_until(lambda: _final(stack, [normal, lost]), 90, "both done")
    assert _engine(stack, "/admin/faults")["Faults"] == [], "the completion was not dropped"
    assert (normal_item["status"], lost_item["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert lost_item.get("reconciled_at") and not normal_item.get("reconciled_at")
    assert _normalized(stack, lost) == _normalized(stack, normal)


def test_a_completion_before_the_job_is_recorded_is_not_lost(backlog_stack: Stack) -> None:
    stack = backlog_stack
    # Given Start answers 2 s late: the 1 s job finishes and is announced before the start
    # function has its JobId (the video is still STARTING when the completion arrives)
    _engine(
        stack,
        "/admin/faults",
        {"operation": "StartCelebrityRecognition", "error": "Delay", "count": 1, "seconds": 2},
    )
    uri = stack.put_bytes("early/a.mp4", tiny_mp4(JOB_SECONDS))
    (item,) = wait_until(lambda: _final(stack, [uri]), 90, "the early completion to land")
    assert item["status"] == "SUCCEEDED", item.get("reason")
    jobs = [j for j in engine_jobs(stack) if j["Video"]["S3ObjectName"] == "early/a.mp4"]
    assert [j["JobId"] for j in jobs] == [item["job_id"]]
    # The job finished before its Start call returned: the completion really came early
    assert epoch(jobs[0]["CompletedAt"]) < epoch(str(item["submitted_at"]))
    assert int(item["appearance_count"]) == 1
