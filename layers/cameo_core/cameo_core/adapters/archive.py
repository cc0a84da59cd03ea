"""Raw-results archive: gzip JSON pages in S3, so results can be re-normalized for free after
Rekognition forgets the job (~7 days), and so a retried results invocation resumes paging where
the last one stopped (the archived pages are the checkpoint)."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef, video_digest

_PAGE_NAME = re.compile(r"page-(\d{5})\.json\.gz$")


def video_prefix(video: VideoRef) -> str:
    # The digest keeps odd keys (unicode, spaces, very long) out of archive paths.
    return f"raw/{video_digest(video)}/"


def decode(body: bytes) -> dict[str, Any]:
    page: dict[str, Any] = json.loads(gzip.decompress(body))
    return page


# S3 allows 2 KB of user metadata in all; an escaped 1,024-byte key can be six times longer.
_METADATA_VALUE_MAX = 1024


def _shown(video: VideoRef) -> str:
    """The URI for people listing the archive (ASCII, as S3 metadata must be), cut to fit."""
    shown = video.uri.encode("ascii", "backslashreplace").decode()
    if len(shown) <= _METADATA_VALUE_MAX:
        return shown
    return shown[: _METADATA_VALUE_MAX - 3] + "..."


def page_key(video: VideoRef, job_id: str, index: int) -> str:
    return f"{video_prefix(video)}{job_id}/page-{index:05d}.json.gz"


class RawArchive:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put_page(self, video: VideoRef, job_id: str, index: int, page: dict[str, Any]) -> None:
        # Level 6: a third of level 9's CPU for a few percent more bytes.
        body = gzip.compress(
            json.dumps(page, separators=(",", ":")).encode(), compresslevel=6, mtime=0
        )
        self._s3.put_object(
            Bucket=self.bucket,
            Key=page_key(video, job_id, index),
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
            Metadata={"video": _shown(video)},
        )

    def _keys(self, prefix: str) -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for listing in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in listing.get("Contents", []):
                yield str(obj["Key"])

    def pages(self, video: VideoRef, job_id: str) -> Iterator[dict[str, Any]]:
        for key in sorted(self._keys(f"{video_prefix(video)}{job_id}/")):
            yield decode(self.get_raw(key))

    def checkpoint(self, video: VideoRef, job_id: str) -> list[str]:
        """Keys of pages 1..k of the job, the longest run without a gap (one listing; later
        pages past a gap are ignored, the resumed paging overwrites them)."""
        keys: list[str] = []
        for key in sorted(self._keys(f"{video_prefix(video)}{job_id}/")):
            match = _PAGE_NAME.search(key)
            if not match or int(match.group(1)) != len(keys) + 1:
                break
            keys.append(key)
        return keys

    def get_raw(self, key: str) -> bytes:
        """One archived page, still compressed (decode() it where it is used)."""
        try:
            return bytes(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"archived page {key} not readable: {exc}") from exc

    def erase(self, video: VideoRef) -> int:
        return self._delete_prefix(video_prefix(video))

    def erase_job(self, video: VideoRef, job_id: str) -> int:
        return self._delete_prefix(f"{video_prefix(video)}{job_id}/")

    def _delete_prefix(self, prefix: str) -> int:
        keys = list(self._keys(prefix))
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            response = self._s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
            )
            # DeleteObjects answers 200 even when keys fail; erasure must not pass silently.
            if errors := response.get("Errors"):
                raise RetryableError(f"{len(errors)} archived pages not deleted: {errors[0]}")
        return len(keys)
