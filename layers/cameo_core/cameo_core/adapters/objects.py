"""Small adapter around the video objects in S3: ranged reads for the duration probe, and the
listing `cameo estimate` / `cameo backfill` walk."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from cameo_core import media
from cameo_core.errors import CameoError
from cameo_core.media import HeaderUnreadable, Probe, Read


class ObjectGone(CameoError):
    """The object was deleted after it was listed."""


class ObjectRef(Protocol):
    """What the probe needs of an upload (start.Upload and StoredObject both have it)."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def version_id(self) -> str | None: ...


@dataclass(frozen=True)
class StoredObject:
    """An object as a listing (plus HeadObject for the version) describes it."""

    bucket: str
    key: str
    size: int
    etag: str | None = None
    version_id: str | None = None
    last_modified: str | None = None

    @property
    def extension(self) -> str:
        return posixpath.splitext(self.key)[1].lower()


class VideoObjects:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.requests = 0  # ranged GETs made, for tests and benchmarks

    def reader(self, bucket: str, key: str, version_id: str | None = None) -> Read:
        """read(offset, length) over one object version. Its failures are HeaderUnreadable,
        which the probe records as "duration unknown" (botocore has already retried)."""

        def read(offset: int, length: int) -> bytes:
            if length <= 0:
                return b""
            kwargs: dict[str, Any] = {
                "Bucket": bucket,
                "Key": key,
                "Range": f"bytes={offset}-{offset + length - 1}",
            }
            if version_id:
                # The version the event named, not whatever was uploaded since.
                kwargs["VersionId"] = version_id
            self.requests += 1
            try:
                response = self._s3.get_object(**kwargs)
                return bytes(response["Body"].read())
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                raise HeaderUnreadable(f"S3 GetObject {code}: {exc}") from exc
            except BotoCoreError as exc:
                raise HeaderUnreadable(f"S3 GetObject: {exc}") from exc

        return read

    def probe(self, obj: ObjectRef) -> Probe:
        """The duration from the container header: a few 64 KiB ranged GETs, never more than
        media.MAX_READS, never the whole object."""
        read = self.reader(obj.bucket, obj.key, obj.version_id)
        return media.probe(read, obj.size, posixpath.splitext(obj.key)[1])

    def list(self, bucket: str, prefix: str) -> Iterator[StoredObject]:
        """Every object under the prefix, in key order (ListObjectsV2 pages of 1,000)."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for listing in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in listing.get("Contents", []):
                yield StoredObject(
                    bucket=bucket,
                    key=str(obj["Key"]),
                    size=int(obj.get("Size", 0)),
                    etag=_etag(obj.get("ETag")),
                    last_modified=obj["LastModified"].isoformat()
                    if obj.get("LastModified")
                    else None,
                )

    def head(self, obj: StoredObject) -> StoredObject:
        """The object with its current version id (a listing does not give it). Other errors
        than "not found" (access denied, no such bucket) are raised as they are."""
        try:
            response = self._s3.head_object(Bucket=obj.bucket, Key=obj.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise ObjectGone(f"s3://{obj.bucket}/{obj.key} was deleted meanwhile") from exc
            raise
        return StoredObject(
            bucket=obj.bucket,
            key=obj.key,
            size=int(response.get("ContentLength", obj.size)),
            etag=_etag(response.get("ETag")) or obj.etag,
            # "null" is S3's name for "written before versioning was enabled".
            version_id=response.get("VersionId") if response.get("VersionId") != "null" else None,
            last_modified=obj.last_modified,
        )


def probe_minutes(objects: VideoObjects, upload: ObjectRef) -> float | None:
    """The design's building block for the start path: minutes, or None when unknown."""
    return objects.probe(upload).minutes


def _etag(raw: str | None) -> str | None:
    # S3 quotes ETags in listings and heads, not in event records; compare them unquoted.
    return raw.strip('"') if raw else None
