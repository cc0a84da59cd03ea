"""The offline stack runs the real pipeline: S3 upload -> handlers -> engine -> SNS -> table."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cameo_stack.stack import Stack
from tests.e2e.helpers import (
    ENGINE_JOB_LIMIT,
    SAMPLE_FPS,
    Media,
    appearances,
    engine_jobs,
    router_counters,
    summaries,
    wait_router_idle,
    wait_until,
)

pytestmark = pytest.mark.e2e

MERGE_GAP_MS = 2000  # template default (MergeGapMs)
SAMPLE_INTERVAL_MS = 1000 / SAMPLE_FPS


def test_ground_truth_video_yields_the_true_appearances(stack: Stack, media: Media) -> None:
    # Given a clip with Obama and Collins (enrolled) and Biden (not enrolled)
    clip = media.clips["truth"]
    # When a user drops it into the bucket
    uri = stack.upload(clip.path, "truth/ground truth.mp4")
    video = stack.wait(uri, timeout=120)
    # Then the table holds exactly the enrolled people, within one sample + the merge gap
    assert video["status"] == "SUCCEEDED", video.get("reason")
    found = appearances(stack.video_items(uri))
    names = {a["name"] for a in found}
    assert names == media.enrolled, f"expected {media.enrolled}, found {names}"
    assert not names & media.unknown, "an unknown face was given a name"
    tolerance = SAMPLE_INTERVAL_MS + MERGE_GAP_MS
    for person in media.enrolled:
        first_truth, last_truth = clip.truth[person]
        mine = [a for a in found if a["name"] == person]
        first_seen = min(float(a["start_ms"]) for a in mine)
        last_seen = max(float(a["end_ms"]) for a in mine)
        assert abs(first_seen - first_truth) <= tolerance, (person, first_seen, first_truth)
        assert abs(last_seen - last_truth) <= tolerance, (person, last_seen, last_truth)


def test_burst_of_20_uploads_against_a_job_limit_of_2_all_succeed(
    stack: Stack, media: Media
) -> None:
    clip = media.clips["obama"]
    keys = [f"burst/clip-{i:02d}.mp4" for i in range(20)]
    jobs_before = {j["JobId"] for j in engine_jobs(stack)}
    # When 20 videos land at once while the engine accepts only 2 concurrent jobs
    with ThreadPoolExecutor(8) as pool:
        uris = list(pool.map(lambda key: stack.upload(clip.path, key), keys))
    results = [stack.wait(uri, timeout=240) for uri in uris]
    # Then every one of them ends SUCCEEDED, each with its own job
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 20, [
        (r["video"], r["status"], r.get("reason")) for r in results
    ]
    assert len({r["job_id"] for r in results}) == 20
    # And the engine never ran more than its limit at once: the rest was retried or queued
    burst = [j for j in engine_jobs(stack) if j["JobId"] not in jobs_before]
    assert len(burst) == 20
    events = sorted(
        [(j["CreatedAt"], 1) for j in burst] + [(j["CompletedAt"], -1) for j in burst],
        key=lambda e: (e[0], e[1]),
    )
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= ENGINE_JOB_LIMIT


def _s3_event_for(stack: Stack, video: dict[str, object]) -> dict[str, object]:
    """The S3 notification a real upload of this object produces (as moto_service sends it)."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": stack.state.region,
                "eventTime": "2026-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:CAMEO-LOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "DUPLICATE", "x-amz-id-2": "DUP"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "duplicate",
                    "bucket": {"name": video["bucket"], "arn": f"arn:aws:s3:::{video['bucket']}"},
                    "object": {
                        "key": quote_plus(str(video["key"]), safe="/"),
                        "size": int(video["size"]),  # type: ignore[call-overload]
                        "eTag": video["etag"],
                        "versionId": video["version_id"],
                        "sequencer": video["sequencer"],
                    },
                },
            }
        ]
    }


def test_duplicate_deliveries_start_one_job_and_write_no_duplicates(
    stack: Stack, media: Media
) -> None:
    uri = stack.upload(media.clips["obama"].path, "dup/once.mp4")
    video = stack.wait(uri, timeout=120)
    assert video["status"] == "SUCCEEDED"
    items_before = stack.video_items(uri)
    jobs_before = [j for j in engine_jobs(stack) if j["Video"]["S3ObjectName"] == "dup/once.mp4"]
    start = router_counters(stack, "StartRecognitionFunction")["invocations"]
    process = router_counters(stack, "ProcessResultsFunction")["invocations"]

    # When the same S3 event arrives 3 more times and the same completion twice more
    event = _s3_event_for(stack, video)
    for _ in range(3):
        stack.invoke_async("StartRecognitionFunction", event)
    completion = {
        "JobId": video["job_id"],
        "Status": "SUCCEEDED",
        "API": "StartCelebrityRecognition",
        "JobTag": video.get("job_tag"),
        "Timestamp": int(time.time() * 1000),
        "Video": {"S3ObjectName": video["key"], "S3Bucket": video["bucket"]},
    }
    topic = next(iter(stack.state.topics.values()))
    for _ in range(2):
        stack.client("sns").publish(TopicArn=topic, Message=json.dumps(completion))
    wait_router_idle(stack, "StartRecognitionFunction", start + 3)
    wait_router_idle(stack, "ProcessResultsFunction", process + 2)

    # Then there is still one job, and the same items
    jobs_after = [j for j in engine_jobs(stack) if j["Video"]["S3ObjectName"] == "dup/once.mp4"]
    assert (
        [j["JobId"] for j in jobs_after] == [j["JobId"] for j in jobs_before] == [video["job_id"]]
    )
    after = stack.video_item(uri)
    assert after is not None and after["status"] == "SUCCEEDED"
    assert after["job_id"] == video["job_id"]
    items_after = stack.video_items(uri)
    assert sorted(i["sk"] for i in items_after) == sorted(i["sk"] for i in items_before)
    assert len(appearances(items_after)) == int(after["appearance_count"])
    assert router_counters(stack, "ProcessResultsFunction")["dead_lettered"] == 0


def test_bad_objects_end_in_an_explained_state_and_the_stack_survives(
    stack: Stack, media: Media
) -> None:
    uploads = {
        "bad/notes.txt": (b"not a video at all", "SKIPPED"),
        "bad/empty.mp4": (b"", "REJECTED"),
        "bad/corrupt.mp4": (b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, "FAILED"),
    }
    uris = {key: stack.put_bytes(key, data) for key, (data, _) in uploads.items()}
    unicode_uri = stack.upload(media.clips["obama"].path, "bad/my clips/Café Ünïcode 日本.mp4")
    for key, (_, expected) in uploads.items():
        video = stack.wait(uris[key], timeout=120)
        assert video["status"] == expected, (key, video)
        assert video.get("reason"), f"{key} ended {expected} without a reason"
    video = stack.wait(unicode_uri, timeout=120)
    assert video["status"] == "SUCCEEDED", video.get("reason")
    assert video["key"] == "bad/my clips/Café Ünïcode 日本.mp4"
    assert {a["name"] for a in appearances(stack.video_items(unicode_uri))} == {"Barack Obama"}
    status = stack.status()
    assert all(s["healthy"] for s in status.values()), status


def test_overwrite_replaces_results_and_delete_erases_them(stack: Stack, media: Media) -> None:
    key = "lifecycle/clip.mp4"
    uri = stack.upload(media.clips["obama"].path, key)
    first = stack.wait(uri, timeout=120)
    assert first["status"] == "SUCCEEDED"
    assert {a["name"] for a in appearances(stack.video_items(uri))} == {"Barack Obama"}

    # When the object is overwritten with another video
    stack.upload(media.clips["collins"].path, key)

    def replaced() -> dict[str, object] | None:
        item = stack.video_item(uri)
        done = item and item.get("job_id") != first["job_id"] and item["status"] == "SUCCEEDED"
        return item if done else None

    second = wait_until(replaced, 120, "the overwrite to be analysed")
    items = stack.video_items(uri)
    # Then only the new video's results remain
    assert {a["name"] for a in appearances(items)} == {"Eileen Collins"}
    assert {s["name"] for s in summaries(items)} == {"Eileen Collins"}
    assert {a["job_id"] for a in appearances(items)} == {second["job_id"]}

    # When it is deleted, its face-derived results are erased
    stack.delete(key)
    wait_until(
        lambda: not appearances(stack.video_items(uri)) and not summaries(stack.video_items(uri)),
        60,
        "the results to be erased",
    )
    from cameo_core.adapters.archive import video_prefix
    from cameo_core.keys import VideoRef

    prefix = video_prefix(VideoRef(stack.state.video_bucket, key))
    archive = stack.state.buckets["ArchiveBucket"]
    listed = stack.client("s3").list_objects_v2(Bucket=archive, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0, "raw result pages of a deleted video remain"
