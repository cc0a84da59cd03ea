"""Typed config fails fast; deterministic names stay within Rekognition's patterns."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cameo_core.config import BacklogSettings, ResultsConfig, StartConfig, Tuning
from cameo_core.errors import ConfigError
from cameo_core.keys import (
    VideoRef,
    backlog_since,
    backlog_sk,
    client_request_token,
    job_tag,
    job_tag_matches,
    sequencer_order,
    slot_index,
    slot_sk,
)

JOB_TAG = re.compile(r"^[a-zA-Z0-9_.\-:+=/]{1,1024}$")
TOKEN = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")
START_ENV = {"TABLE_NAME": "t", "SNS_TOPIC_ARN": "arn:sns", "REKOGNITION_ROLE_ARN": "arn:role"}


@pytest.mark.parametrize("missing", sorted(START_ENV))
def test_missing_resource_names_fail_at_cold_start(missing):
    env = {k: v for k, v in START_ENV.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        StartConfig.from_env(env)


def test_tuning_defaults_and_overrides():
    assert Tuning.from_env({}) == Tuning(80.0, 2000, 10 * 1024**3)
    tuned = ResultsConfig.from_env(
        {"TABLE_NAME": "t", "ARCHIVE_BUCKET": "a", "MIN_CONFIDENCE": "90", "MERGE_GAP_MS": "500"}
    ).tuning
    assert (tuned.min_confidence, tuned.merge_gap_ms) == (90.0, 500)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MIN_CONFIDENCE": "high"}, "not a number"),
        ({"MIN_CONFIDENCE": "101"}, "between 0 and 100"),
        ({"MERGE_GAP_MS": "-1"}, "negative"),
    ],
)
def test_malformed_tuning_is_refused(env, message):
    with pytest.raises(ConfigError, match=message):
        Tuning.from_env(env)


keys = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=1024)


@given(keys, st.text(max_size=80))
def test_job_tag_and_token_fit_rekognitions_patterns_for_any_key(key, revision):
    video = VideoRef("cameo-videos", key)
    tag = job_tag(video)
    assert JOB_TAG.match(tag) and job_tag_matches(tag, video)
    assert not job_tag_matches(tag, VideoRef("cameo-videos", key + "x"))
    assert TOKEN.match(client_request_token(video, revision))


def test_sequencers_order_numerically_after_padding():
    assert sequencer_order("0062A1B2C3D4E5F6FF") > sequencer_order("0062A1B2C3D4E5F601")
    assert sequencer_order("10") > sequencer_order("F")  # longer hex is larger
    assert sequencer_order(None) < sequencer_order("1")


def test_video_uri_round_trips_and_rejects_non_s3():
    video = VideoRef.parse("s3://b/holiday clips/Café.mp4")
    assert (video.bucket, video.key) == ("b", "holiday clips/Café.mp4")
    assert video.uri == "s3://b/holiday clips/Café.mp4"  # as stored: not URL-encoded
    for bad in ("b/key.mp4", "s3://bucket-only", "s3:///key.mp4"):
        with pytest.raises(ValueError, match="s3://BUCKET/KEY"):
            VideoRef.parse(bad)


buckets = st.from_regex(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", fullmatch=True)


@given(buckets, keys)
def test_any_bucket_and_key_survive_the_uri(bucket, key):
    # Keys may hold "/", "s3://", spaces or any Unicode: only the first "/" splits the URI.
    video = VideoRef(bucket, key)
    assert video.uri == f"s3://{bucket}/{key}"
    assert VideoRef.parse(video.uri) == video


def test_backlog_settings_default_to_the_template_and_are_read_from_the_environment():
    assert StartConfig.from_env(START_ENV).backlog == BacklogSettings(20, 30.0, 360.0, 0.10)
    tuned = StartConfig.from_env(
        {
            **START_ENV,
            "MAX_CONCURRENT_JOBS": "3",
            "RECONCILE_AFTER_MINUTES": "0.05",
            "MAX_VIDEO_MINUTES": "90",
            "PRICE_PER_MINUTE": "0",
        }
    ).backlog
    assert tuned == BacklogSettings(3, 0.05, 90.0, 0.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_CONCURRENT_JOBS", "2.5"),
        ("MAX_CONCURRENT_JOBS", "0"),
        ("MAX_CONCURRENT_JOBS", "twenty"),
        ("RECONCILE_AFTER_MINUTES", "0"),
        ("RECONCILE_AFTER_MINUTES", "nan"),
        ("MAX_VIDEO_MINUTES", "-1"),
        ("PRICE_PER_MINUTE", "-0.1"),
        ("PRICE_PER_MINUTE", "inf"),
    ],
)
def test_malformed_backlog_settings_fail_at_cold_start(name, value):
    with pytest.raises(ConfigError, match=name):
        StartConfig.from_env({**START_ENV, name: value})


def test_backlog_sort_keys_order_by_state_then_time_and_slots_round_trip():
    video = VideoRef("b", "k.mp4")
    early = backlog_sk("QUEUED", "2026-11-20T10:00:00.000+00:00", video)
    late = backlog_sk("QUEUED", "2026-11-20T10:00:00.001+00:00", video)
    assert early < late < backlog_sk("STARTING", "2026-01-01T00:00:00.000+00:00", video)
    assert backlog_since(late) == "2026-11-20T10:00:00.001+00:00"
    assert all(slot_index(slot_sk(i)) == i for i in (0, 7, 999))
    assert sorted(slot_sk(i) for i in (10, 2, 100)) == [slot_sk(2), slot_sk(10), slot_sk(100)]
