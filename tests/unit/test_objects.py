"""The S3 side of the duration probe (moto): ranged reads of the version the event named, a
bounded number of them, failures as "unknown" with S3's reason."""

from __future__ import annotations

import struct

import pytest

from cameo_core import media
from cameo_core.adapters.objects import StoredObject, VideoObjects, probe_minutes

BUCKET = "cameo-videos-example"


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mp4(seconds: int, mdat_bytes: int = 0) -> bytes:
    """ftyp, a large mdat, then moov (the layout most encoders write)."""
    mvhd = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, seconds * 1000))
    return box(b"ftyp", b"isom\0\0\0\0") + box(b"mdat", bytes(mdat_bytes)) + box(b"moov", mvhd)


class CountingS3:
    """moto's client, remembering each GetObject's Range and VersionId."""

    def __init__(self, s3):
        self._s3 = s3
        self.gets: list[dict] = []

    def get_object(self, **kwargs):
        self.gets.append(kwargs)
        return self._s3.get_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._s3, name)


@pytest.fixture
def s3(aws):
    aws["s3"].put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return CountingS3(aws["s3"])


def put(s3, key: str, body: bytes) -> StoredObject:
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return StoredObject(BUCKET, key, len(body), version_id=response["VersionId"])


def test_probe_reads_the_named_version_in_two_ranged_gets(s3):
    first = put(s3, "clips/talk.mp4", mp4(754, mdat_bytes=3 * 1024 * 1024))
    put(s3, "clips/talk.mp4", mp4(10))  # overwritten since the event

    objects = VideoObjects(s3)
    assert probe_minutes(objects, first) == pytest.approx(754 / 60)

    assert len(s3.gets) == objects.requests == 2
    assert all(get["VersionId"] == first.version_id for get in s3.gets)
    spans = [tuple(map(int, get["Range"][6:].split("-"))) for get in s3.gets]
    assert sum(end - start + 1 for start, end in spans) <= 2 * media.BLOCK
    assert spans[0][0] == 0 and spans[1][0] == 16 + 8 + 3 * 1024 * 1024  # straight to moov


def test_missing_object_is_unknown_with_s3s_reason(s3):
    gone = StoredObject(BUCKET, "clips/gone.mov", 5000)
    result = VideoObjects(s3).probe(gone)
    assert result.seconds is None and "NoSuchKey" in (result.reason or "")


def test_listing_gives_sizes_and_unquoted_etags_and_head_the_version(s3):
    stored = put(s3, "a/one.avi", b"RIFF....")
    put(s3, "a/two.txt", b"hello")
    put(s3, "b/other.mp4", b"x")

    objects = VideoObjects(s3)
    listed = list(objects.list(BUCKET, "a/"))

    assert [(o.key, o.size, o.extension) for o in listed] == [
        ("a/one.avi", 8, ".avi"),
        ("a/two.txt", 5, ".txt"),
    ]
    assert listed[0].etag and '"' not in listed[0].etag
    assert objects.head(listed[0]).version_id == stored.version_id
