"""moto server (S3, SNS, SQS) with S3 event notifications as real S3 sends them.

Run as ``python -m cameo_stack.moto_service -H 127.0.0.1 -p PORT``. moto 5.x delivers bucket
notifications to SQS in-process, but its records differ from S3's in ways the handlers notice:

* no ``versionId`` and no ``sequencer`` on the object (the start function keys its Rekognition
  ClientRequestToken on them, and the videos bucket is versioned);
* no ``userIdentity``/``requestParameters``/``responseElements``;
* a DELETE without VersionId in a versioned bucket creates a delete marker but sends *nothing*
  (S3 sends ``ObjectRemoved:DeleteMarkerCreated``); deleting one version sends nothing until the
  last version is gone (S3 sends ``ObjectRemoved:Delete`` each time);
* removal records carry size/eTag, which S3's do not; keys have '/' escaped, which S3's do not.

The patches below fix exactly these points and nothing else; they check moto's internals at
start-up and refuse to run if those moved (moto is pinned to 5.x in pyproject's ``stack`` extra).
"""

from __future__ import annotations

import itertools
import sys
import threading
import uuid
from contextlib import contextmanager
from typing import Any

_sequencer = itertools.count(1)
_sequencer_lock = threading.Lock()
_muted = threading.local()


def next_sequencer() -> str:
    """Monotonic, fixed-width upper-case hex like S3's (compares correctly as a string)."""
    with _sequencer_lock:
        return f"{next(_sequencer):018X}"


@contextmanager
def _mute() -> Any:
    _muted.on = True
    try:
        yield
    finally:
        _muted.on = False


def patch_moto() -> None:
    from moto.s3 import models, notifications

    for name in ("_get_s3_event", "send_event", "S3NotificationEvent"):
        if not hasattr(notifications, name):
            raise RuntimeError(f"moto changed: moto.s3.notifications.{name} is gone")
    if not hasattr(models.S3Backend, "delete_object") or not hasattr(models, "FakeDeleteMarker"):
        raise RuntimeError("moto changed: S3Backend.delete_object / FakeDeleteMarker are gone")

    events = notifications.S3NotificationEvent
    original_get_event = notifications._get_s3_event
    original_send_event = notifications.send_event
    original_delete = models.S3Backend.delete_object

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        if isinstance(key, _Removed):
            body = {"Records": [_removal_record(event_name, bucket, key, notification_id)]}
        else:
            body = original_get_event(event_name, bucket, key, notification_id)
            obj = body["Records"][0]["s3"]["object"]
            obj["key"] = _encode_key(key.name)
            if bucket.is_versioned:
                obj["versionId"] = key.version_id
            obj["sequencer"] = next_sequencer()
        for record in body["Records"]:
            _complete(record)
        return body

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if getattr(_muted, "on", False):
            return
        original_send_event(account_id, event_name, bucket, key)

    def delete_object(
        self: Any,
        bucket_name: str,
        key_name: str,
        version_id: str | None = None,
        bypass: bool = False,
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        if not bucket.is_versioned:
            return original_delete(self, bucket_name, key_name, version_id, bypass)
        with _mute():
            success, meta = original_delete(self, bucket_name, key_name, version_id, bypass)
        if success:
            if version_id is None:
                event = events.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT
                removed = _Removed(key_name, meta.get("version-id"))
            else:
                event = events.OBJECT_REMOVED_DELETE_EVENT
                removed = _Removed(key_name, version_id)
            notifications.send_event(self.account_id, event, bucket, removed)
        return success, meta

    notifications._get_s3_event = get_s3_event
    notifications.send_event = send_event
    models.notifications.send_event = send_event  # models calls it through the module
    models.S3Backend.delete_object = delete_object


class _Removed:
    """What S3 says about a removed object: its key and the version (or marker) concerned."""

    def __init__(self, name: str, version_id: str | None) -> None:
        self.name = name
        self.version_id = version_id


def _encode_key(name: str) -> str:
    """S3 form-encodes keys in notifications (space -> '+', UTF-8 %-escapes) but keeps '/'."""
    from urllib.parse import quote_plus

    return quote_plus(name, safe="/")


def _removal_record(event_name: str, bucket: Any, key: _Removed, notification_id: str) -> Any:
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    obj: dict[str, Any] = {"key": _encode_key(key.name)}
    if key.version_id is not None:
        obj["versionId"] = key.version_id
    obj["sequencer"] = next_sequencer()
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": bucket.region_name,
        "eventTime": iso_8601_datetime_with_milliseconds(),
        "eventName": event_name[3:],
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": notification_id,
            "bucket": {"name": bucket.name, "arn": bucket.arn},
            "object": obj,
        },
    }


def _complete(record: dict[str, Any]) -> None:
    """The envelope fields S3 always sends and moto leaves out."""
    request_id = uuid.uuid4().hex[:16].upper()
    record.setdefault("userIdentity", {"principalId": "AWS:CAMEO-LOCAL"})
    record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    record.setdefault(
        "responseElements",
        {"x-amz-request-id": request_id, "x-amz-id-2": uuid.uuid4().hex},
    )
    bucket = record["s3"]["bucket"]
    bucket.setdefault("ownerIdentity", {"principalId": "LOCALOWNER"})
    if record["eventName"].startswith("ObjectRemoved"):
        record["s3"]["object"].pop("size", None)
        record["s3"]["object"].pop("eTag", None)


def main(argv: list[str] | None = None) -> None:
    patch_moto()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
