"""Opaque, URL-safe ids and cursors, validated before anything reaches DynamoDB.

A video id is the unpadded base64url of its "s3://bucket/key" URI: reversible (no lookup table),
safe in a path segment whatever the key holds (spaces, unicode, slashes), and checked on the way
in, so a mangled id is a 400, never a query. A cursor is the unpadded base64url of the JSON of
ByRecency's LastEvaluatedKey; it carries no secret, so it is checked for exactly the key shape
that index produces.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cameo_core.adapters.recency import RECENCY_KEY_FIELDS, RECENCY_PK
from cameo_core.api.errors import BadRequest
from cameo_core.keys import VIDEO_SK, VideoRef

# A bucket name is at most 255 characters (older us-east-1 names; 63 today) and a key at most
# 1024 bytes: with "s3://" and the slash, 1285 bytes. DynamoDB allows 2048 bytes in a partition
# key, so no id that passes these checks can make a query fail.
MAX_URI_BYTES = 1285
MAX_VIDEO_ID_LENGTH = 4 * (MAX_URI_BYTES + 2) // 3
VIDEO_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
CELEBRITY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_CURSOR_LENGTH = 4096
_BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_UPLOADED_SK = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00#[0-9a-f]{20}$")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not re.fullmatch(VIDEO_ID_PATTERN, text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # One spelling per value: stray low bits in the last character would be a second id.
    if _b64encode(data) != text:
        raise ValueError("not the canonical encoding")
    return data


def video_id(video: VideoRef) -> str:
    return _b64encode(video.uri.encode("utf-8"))


def parse_uri(uri: str) -> VideoRef:
    """A caller's "s3://bucket/key", or BadRequest."""
    if len(uri.encode("utf-8", "surrogatepass")) > MAX_URI_BYTES:
        raise BadRequest(f"a video URI is at most {MAX_URI_BYTES} bytes")
    try:
        video = VideoRef.parse(uri)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not _BUCKET.fullmatch(video.bucket):
        raise BadRequest(f"{video.bucket!r} is not an S3 bucket name")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in video.key):  # not encodable as UTF-8
        raise BadRequest("the key is not valid Unicode text")
    return video


def parse_video_id(value: str) -> VideoRef:
    if len(value) > MAX_VIDEO_ID_LENGTH:
        raise BadRequest("video_id is too long to be a video id")
    try:
        uri = _b64decode(value).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(
            f"{value[:80]!r} is not a video id (base64url of s3://bucket/key)"
        ) from None
    return parse_uri(uri)


def encode_cursor(key: dict[str, Any]) -> str:
    shape = {name: str(key[name]) for name in RECENCY_KEY_FIELDS}
    return _b64encode(json.dumps(shape, separators=(",", ":")).encode("utf-8"))


def decode_cursor(token: str) -> dict[str, str]:
    """Back to an ExclusiveStartKey, or BadRequest for anything ByRecency could not have made."""
    invalid = BadRequest("next_token is not a cursor this API returned")
    if len(token) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        key = json.loads(_b64decode(token).decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(key, dict) or set(key) != set(RECENCY_KEY_FIELDS):
        raise invalid
    if not all(isinstance(v, str) for v in key.values()):
        raise invalid
    if key["sk"] != VIDEO_SK or key["gsi4pk"] != RECENCY_PK:
        raise invalid
    if not key["pk"].startswith("VIDEO#") or not _UPLOADED_SK.fullmatch(key["gsi4sk"]):
        raise invalid
    parse_uri(key["pk"][len("VIDEO#") :])  # the same checks as an id: a valid partition key
    return {name: key[name] for name in RECENCY_KEY_FIELDS}
