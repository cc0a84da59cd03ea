"""Video ids and cursors: reversible for every URI, one spelling per value, and anything else
refused as BadRequest (never an exception DynamoDB would raise)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cameo_core.adapters.recency import recency_fields
from cameo_core.api.errors import BadRequest
from cameo_core.api.ids import (
    MAX_VIDEO_ID_LENGTH,
    decode_cursor,
    encode_cursor,
    parse_uri,
    parse_video_id,
    video_id,
)
from cameo_core.keys import VIDEO_SK, VideoRef

buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True)
# Any text S3 accepts as a key (UTF-8, up to 1024 bytes), slashes and spaces included.
keys = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=200).filter(
    lambda k: len(k.encode()) <= 1024
)


@given(buckets, keys)
def test_a_video_id_is_url_safe_and_decodes_to_the_same_video(bucket: str, key: str) -> None:
    video = VideoRef(bucket, key)
    encoded = video_id(video)
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(encoded) <= MAX_VIDEO_ID_LENGTH
    assert parse_video_id(encoded) == video


@given(st.text(max_size=60))
def test_any_other_text_is_a_bad_request_or_a_valid_video(text: str) -> None:
    try:
        video = parse_video_id(text)
    except BadRequest:
        return
    assert video_id(video) == text  # whatever is accepted is the one spelling of a video


def test_non_canonical_spellings_are_refused() -> None:
    encoded = video_id(VideoRef("b", "k1"))  # "s3://b/k1": 9 bytes, so 12 chars, no spare bits
    shorter = video_id(VideoRef("b", "k"))  # 8 bytes: the last char has 2 unused bits
    last = shorter[-1]
    twin = shorter[:-1] + chr(ord(last) + 1)  # same bytes, different unused bits
    assert parse_video_id(encoded).key == "k1"
    with pytest.raises(BadRequest):
        parse_video_id(twin)
    with pytest.raises(BadRequest):
        parse_video_id(shorter + "==")


@pytest.mark.parametrize(
    "uri", ["http://b/k", "s3://", "s3://bucket", "s3://bucket/", "s3://b!d/k", "s3://b/\ud800"]
)
def test_uris_that_name_no_s3_object_are_refused(uri: str) -> None:
    with pytest.raises(BadRequest):
        parse_uri(uri)


@given(buckets, keys, st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds")))
def test_a_cursor_round_trips_the_index_key(bucket: str, key: str, moment: str) -> None:
    video = VideoRef(bucket, key)
    index_key = {"pk": video.pk, "sk": VIDEO_SK, **recency_fields(video, moment + "+00:00")}
    assert decode_cursor(encode_cursor(index_key)) == index_key


@pytest.mark.parametrize(
    "changed",
    [
        {"sk": "APPEARANCE#000000001000#x"},
        {"gsi4pk": "BACKLOG"},
        {"gsi4sk": "yesterday"},
        {"pk": "CELEBRITY#x"},
        {"extra": "field"},
    ],
)
def test_cursors_for_anything_but_a_byrecency_key_are_refused(changed: dict[str, str]) -> None:
    video = VideoRef("bucket", "key.mp4")
    index_key = {
        "pk": video.pk,
        "sk": VIDEO_SK,
        **recency_fields(video, "2026-11-01T12:00:00.000+00:00"),
    }
    token = encode_cursor(index_key)
    assert decode_cursor(token) == index_key
    tampered = {**index_key, **changed}
    forged = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    with pytest.raises(BadRequest):
        decode_cursor(forged)
