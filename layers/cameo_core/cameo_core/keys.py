"""Deterministic names: table keys, Rekognition JobTag and ClientRequestToken.

Everything here is a pure function of the upload, so a duplicate delivery produces the same
token (one Rekognition job) and the same item keys (overwrites, never duplicates).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

VIDEO_SK = "VIDEO"
APPEARANCE_PREFIX = "APPEARANCE#"
CELEBRITY_PREFIX = "CELEBRITY#"

_JOB_TAG_UNSAFE = re.compile(r"[^a-zA-Z0-9_.\-:+=/]")
_JOB_TAG_MAX = 1024
# S3 sequencers are hex strings of varying length; left-padding makes DynamoDB's string order
# equal to numeric order, so "newer upload wins" can be a condition expression.
_SEQUENCER_WIDTH = 32


@dataclass(frozen=True, order=True)
class VideoRef:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def pk(self) -> str:
        return f"VIDEO#{self.uri}"

    @classmethod
    def parse(cls, uri: str) -> VideoRef:
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            raise ValueError(f"expected s3://BUCKET/KEY, got {uri!r}")
        bucket, key = uri[5:].split("/", 1)
        if not bucket or not key:
            raise ValueError(f"expected s3://BUCKET/KEY, got {uri!r}")
        return cls(bucket, key)


def appearance_sk(start_ms: int, celebrity_id: str) -> str:
    # Zero-padded start so a Query returns appearances in time order.
    return f"{APPEARANCE_PREFIX}{start_ms:012d}#{celebrity_id}"


def celebrity_sk(celebrity_id: str) -> str:
    return f"{CELEBRITY_PREFIX}{celebrity_id}"


def name_key(name: str) -> str:
    return f"NAME#{' '.join(name.split()).casefold()}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def video_digest(video: VideoRef) -> str:
    return _digest(video.bucket, video.key)[:20]


def video_index_key(video: VideoRef) -> str:
    """The video in a GSI sort key (ByCelebrity, ByName): `VIDEO#<sha-256 of bucket+key>`.

    The URI itself can reach 1,099 bytes (a 63-character bucket and a 1,024-byte key), past
    DynamoDB's 1,024-byte limit on a sort key, so the index holds a digest and the item keeps
    the URI in its `video` attribute. (The table's pk keeps the URI: a partition key may
    hold 2,048 bytes.)"""
    return f"VIDEO#{_digest(video.bucket, video.key)}"


def job_tag(video: VideoRef) -> str:
    """`cameo:<digest of bucket+key>:<readable tail of the key>`.

    The digest leads back to the video whatever characters the key holds; the tail is only for
    people reading the Rekognition console.
    """
    head = f"cameo:{video_digest(video)}:"
    tail = _JOB_TAG_UNSAFE.sub("_", video.key)[-(_JOB_TAG_MAX - len(head)) :]
    return head + tail


def job_tag_matches(tag: str | None, video: VideoRef) -> bool:
    return tag is None or tag.startswith(f"cameo:{video_digest(video)}:")


def client_request_token(video: VideoRef, revision: str) -> str:
    """1-64 chars of [a-zA-Z0-9-_]. `revision` is version id, else ETag + sequencer."""
    return _digest(video.bucket, video.key, revision)[:64]


def sequencer_order(sequencer: str | None) -> str:
    return (sequencer or "").upper().rjust(_SEQUENCER_WIDTH, "0")


def sequencer_after(sequencer: str | None) -> str:
    """A sequencer that orders just after `sequencer` and before any later S3 event's: for a
    record that must follow the tombstone written for the same event (an erase, then the
    re-queue of the version that the delete made current again)."""
    return sequencer_order(sequencer) + "1"


# -- the backlog ---------------------------------------------------------------------------------
# A sparse GSI (ByBacklog): only videos waiting for or holding a Rekognition job carry gsi3pk, so
# the index is the queue itself. The sort key orders by state, then by the time the video entered
# it, which makes "oldest QUEUED", "position in the queue" and "SUBMITTED before T" key ranges.
BACKLOG_PK = "BACKLOG"
BACKLOG_INDEX = "ByBacklog"
SLOT_PREFIX = "SLOT#"
WAITING_STATES = ("QUEUED", "STARTING", "SUBMITTED")


def backlog_sk(status: str, since: str, video: VideoRef) -> str:
    """`<STATUS>#<ISO-8601 UTC ms>#<video digest>`; every `since` is UTC, so text order is
    time order."""
    return f"{status}#{since}#{video_digest(video)}"


def backlog_since(sk: str) -> str:
    return sk.split("#", 2)[1]


def slot_sk(index: int) -> str:
    return f"{SLOT_PREFIX}{index:03d}"


def slot_index(sk: str) -> int:
    return int(sk[len(SLOT_PREFIX) :])
