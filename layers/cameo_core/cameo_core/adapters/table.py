"""Small adapter around the results table (single-table design; keys in keys.py)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from cameo_core.background import Background
from cameo_core.errors import RetryableError
from cameo_core.keys import (
    APPEARANCE_PREFIX,
    BACKLOG_INDEX,
    BACKLOG_PK,
    CELEBRITY_PREFIX,
    SLOT_PREFIX,
    VIDEO_SK,
    VideoRef,
    name_key,
    slot_sk,
)

BATCH_SIZE = 25  # DynamoDB's BatchWriteItem limit
# Above every character cameo's sort keys use (they are ASCII), as the top of a key range.
_TOP = "\uffff"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]


def to_dynamo(value: Any) -> Any:
    """Python -> DynamoDB-safe values: floats become Decimals (3 decimals), Nones are dropped."""
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    if isinstance(value, Mapping):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """Decimals back to int/float so callers (and JSON output) see plain numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in to_dynamo(item).items()}


def deserialize(raw: Mapping[str, Any]) -> Item:
    return {k: from_dynamo(_deserializer.deserialize(v)) for k, v in raw.items()}


class BatchWriter:
    """BatchWriteItem in batches of 25, retrying UnprocessedItems with exponential backoff.

    Puts and deletes to the same key inside one pending batch collapse to the last one, because
    DynamoDB rejects a batch that names a key twice.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        background: Background | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._max_attempts = max_attempts
        self._base_delay_s = base_delay_s
        self._sleep = sleep
        self._background = background
        self._lock = threading.Lock()
        self.requests = 0
        self.items_written = 0

    def put(self, item: Mapping[str, Any]) -> None:
        self._add((item["pk"], item["sk"]), {"PutRequest": {"Item": serialize(item)}})

    def delete(self, pk: str, sk: str) -> None:
        self._add((pk, sk), {"DeleteRequest": {"Key": serialize({"pk": pk, "sk": sk})}})

    def _add(self, key: tuple[str, str], request: dict[str, Any]) -> None:
        self._pending[key] = request
        if len(self._pending) >= BATCH_SIZE:
            self._dispatch()

    def _dispatch(self) -> None:
        requests = list(self._pending.values())
        self._pending.clear()
        if not requests:
            return
        if self._background:
            self._background.submit(self._send, requests)
        else:
            self._send(requests)

    def flush(self) -> None:
        """Send what is pending and wait until every batch so far is written."""
        self._dispatch()
        if self._background:
            self._background.drain()

    def _send(self, requests: list[dict[str, Any]]) -> None:
        for attempt in range(self._max_attempts):
            if not requests:
                return
            response = self._client.batch_write_item(RequestItems={self._table: requests})
            unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
            with self._lock:
                self.requests += 1
                self.items_written += len(requests) - len(unprocessed)
            requests = unprocessed
            if requests and attempt + 1 < self._max_attempts:
                # Full jitter: spreads retries of many writers competing for the same partition.
                self._sleep(random.uniform(0, self._base_delay_s * 2**attempt))
        if requests:
            # Raised, never dropped: the caller's retry rewrites them (keys are deterministic).
            raise RetryableError(f"{len(requests)} items still unprocessed after retries")

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.flush()


def _just_below(key: str) -> str:
    """The greatest ASCII-based key below `key`, so BETWEEN can stand for "<" (a key condition
    allows one comparison on the sort key)."""
    return key[:-1] + chr(ord(key[-1]) - 1) + _TOP


def _update_expression(
    fields: Mapping[str, Any], names: dict[str, str], values: dict[str, Any]
) -> str:
    """SET for the fields with a value, REMOVE for those set to None; fills names and values."""
    sets, removes = [], []
    for i, (name, value) in enumerate(fields.items()):
        names[f"#u{i}"] = name
        if value is None:
            removes.append(f"#u{i}")
        else:
            values[f":u{i}"] = to_dynamo(value)
            sets.append(f"#u{i} = :u{i}")
    expression = "SET " + ", ".join(sets) if sets else ""
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    return expression.strip()


def _equal(expect: Mapping[str, Any], names: dict[str, str], values: dict[str, Any]) -> str:
    """`a = :a AND ...`; an expected None means the attribute must be absent."""
    terms = []
    for i, (name, value) in enumerate(expect.items()):
        names[f"#e{i}"] = name
        if value is None:
            terms.append(f"attribute_not_exists(#e{i})")
        else:
            values[f":e{i}"] = to_dynamo(value)
            terms.append(f"#e{i} = :e{i}")
    return " AND ".join(terms)


def _conditional(call: Callable[..., Any], **kwargs: Any) -> bool:
    """A conditional write: False when its condition did not hold, errors raised as they are."""
    try:
        call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


class ResultsTable:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.name = table_name

    def writer(self, **kwargs: Any) -> BatchWriter:
        return BatchWriter(self._client, self.name, **kwargs)

    # -- the video item -------------------------------------------------------------------

    def get_video(self, video: VideoRef) -> Item | None:
        response = self._client.get_item(
            TableName=self.name,
            Key=serialize({"pk": video.pk, "sk": VIDEO_SK}),
            ConsistentRead=True,
        )
        raw = response.get("Item")
        return deserialize(raw) if raw else None

    def record_upload(self, video: VideoRef, fields: Mapping[str, Any]) -> bool:
        """Write the video item for a new upload event; False if it is stale or a duplicate.

        Only a newer upload wins (a strictly greater S3 sequencer). An event with the recorded
        sequencer is a redelivery, whatever the item holds: it never replaces the item, so it
        can never lead to a second Start (which, once Rekognition has forgotten the token,
        would pay for a second job and hide the finished one's results).
        """
        item = {
            "pk": video.pk,
            "sk": VIDEO_SK,
            "type": "video",
            "video": video.uri,
            "bucket": video.bucket,
            "key": video.key,
            **fields,
        }
        return _conditional(
            self._client.put_item,
            TableName=self.name,
            Item=serialize(item),
            ConditionExpression=(
                "attribute_not_exists(pk) OR attribute_not_exists(#seq) OR #seq < :seq"
            ),
            ExpressionAttributeNames={"#seq": "sequencer_order"},
            ExpressionAttributeValues=serialize({":seq": item["sequencer_order"]}),
        )

    def finish_job(self, video: VideoRef, job_id: str, fields: Mapping[str, Any]) -> bool:
        """Set a final status for `job_id`, only if it is still the video's current job.

        Fields set to None are removed (e.g. an earlier failure's reason). A finished video
        leaves the backlog index.
        """
        done = {**fields, "gsi3pk": None, "gsi3sk": None}
        return self.update_video(video, done, expect={"job_id": job_id}) is not None

    def update_video(
        self, video: VideoRef, fields: Mapping[str, Any], *, expect: Mapping[str, Any]
    ) -> Item | None:
        """A state transition: set `fields` (None removes) only while every `expect` attribute
        has its value (None: is absent). The item afterwards, or None if the condition failed."""
        return self._update({"pk": video.pk, "sk": VIDEO_SK}, fields, expect, require_item=True)

    def _update(
        self,
        key: Mapping[str, str],
        fields: Mapping[str, Any],
        expect: Mapping[str, Any],
        *,
        require_item: bool,
        extra_condition: str | None = None,
        extra_values: Mapping[str, Any] | None = None,
    ) -> Item | None:
        names: dict[str, str] = {}
        values: dict[str, Any] = dict(extra_values or {})
        expression = _update_expression(fields, names, values)
        terms = ["attribute_exists(pk)"] if require_item else []
        if expect:
            terms.append(_equal(expect, names, values))
        if extra_condition:
            terms.append(f"({extra_condition})")
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": serialize(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if terms:
            kwargs["ConditionExpression"] = " AND ".join(terms)
        if values:
            kwargs["ExpressionAttributeValues"] = serialize(values)
        try:
            response = self._client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return deserialize(response.get("Attributes", {}))

    # -- the backlog (see keys.py: ByBacklog and the slot items) ------------------------------

    def backlog(
        self, status: str, *, before: str | None = None, limit: int | None = None
    ) -> Iterator[Item]:
        """Keys of the videos in `status`, oldest first; `before` (an ISO-8601 time) keeps
        those that entered it earlier. Eventually consistent, like any GSI read: every
        transition that follows is conditional, so a stale entry costs one failed write."""
        high = f"{status}#{before}" if before is not None else f"{status}#{_TOP}"
        kwargs: dict[str, Any] = {}
        if limit is not None:
            kwargs["PaginationConfig"] = {"MaxItems": limit, "PageSize": max(limit, 1)}
        return self._query(
            IndexName=BACKLOG_INDEX,
            KeyConditionExpression="gsi3pk = :pk AND gsi3sk BETWEEN :low AND :high",
            ExpressionAttributeValues=serialize(
                {":pk": BACKLOG_PK, ":low": f"{status}#", ":high": high}
            ),
            **kwargs,
        )

    def backlog_count(self, status: str, *, ahead_of: str | None = None) -> int:
        """How many videos are in `status`; with `ahead_of` (a backlog sort key), only those
        that sort before it: a video's position in the queue. Counts keys, returns none."""
        high = _just_below(ahead_of) if ahead_of is not None else f"{status}#{_TOP}"
        paginator = self._client.get_paginator("query")
        count = 0
        for page in paginator.paginate(
            TableName=self.name,
            IndexName=BACKLOG_INDEX,
            KeyConditionExpression="gsi3pk = :pk AND gsi3sk BETWEEN :low AND :high",
            ExpressionAttributeValues=serialize(
                {":pk": BACKLOG_PK, ":low": f"{status}#", ":high": high}
            ),
            Select="COUNT",
        ):
            count += int(page.get("Count", 0))
        return count

    def slots(self) -> list[Item]:
        """Every slot item (at most MaxConcurrentJobs of them, one small consistent read)."""
        return list(
            self._query(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues=serialize({":pk": BACKLOG_PK, ":prefix": SLOT_PREFIX}),
                ConsistentRead=True,
            )
        )

    def acquire_slot(
        self, index: int, *, holder: str, lease_id: str, now: int, lease_until: int
    ) -> bool:
        """Take slot `index` if nobody holds it, or if a starter's lease ran out (it crashed
        between taking the slot and recording its job). Times are epoch seconds."""
        return (
            self._update(
                {"pk": BACKLOG_PK, "sk": slot_sk(index)},
                {
                    "holder": holder,
                    "lease_id": lease_id,
                    "acquired_at": now,
                    "lease_until": lease_until,
                    "job_id": None,
                },
                {},
                require_item=False,
                extra_condition="attribute_not_exists(holder) OR lease_until < :now",
                extra_values={":now": now},
            )
            is not None
        )

    def hold_slot_for_job(self, index: int, lease_id: str, job_id: str) -> bool:
        """The job is running: the slot is held until its completion (no lease any more)."""
        return (
            self._update(
                {"pk": BACKLOG_PK, "sk": slot_sk(index)},
                {"job_id": job_id, "lease_until": None},
                {"lease_id": lease_id},
                require_item=True,
            )
            is not None
        )

    def release_slot(
        self, index: int, *, lease_id: str | None = None, job_id: str | None = None
    ) -> bool:
        """Free slot `index` if it is still held under this lease (or for this job)."""
        expect = {"lease_id": lease_id} if lease_id is not None else {"job_id": job_id}
        if None in expect.values():
            raise ValueError("release_slot needs a lease_id or a job_id")
        return (
            self._update(
                {"pk": BACKLOG_PK, "sk": slot_sk(index)},
                {
                    "holder": None,
                    "lease_id": None,
                    "lease_until": None,
                    "job_id": None,
                    "acquired_at": None,
                },
                expect,
                require_item=True,
            )
            is not None
        )

    # -- reading ----------------------------------------------------------------------------

    def _query(self, **kwargs: Any) -> Iterator[Item]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(TableName=self.name, **kwargs):
            for raw in page.get("Items", []):
                yield deserialize(raw)

    def _video_items(self, video: VideoRef, prefix: str, **kwargs: Any) -> Iterator[Item]:
        return self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=serialize({":pk": video.pk, ":prefix": prefix}),
            ConsistentRead=True,
            **kwargs,
        )

    def appearances(self, video: VideoRef) -> Iterator[Item]:
        """In start order (the sort key carries the zero-padded start)."""
        return self._video_items(video, APPEARANCE_PREFIX)

    def summaries(self, video: VideoRef) -> Iterator[Item]:
        return self._video_items(video, CELEBRITY_PREFIX)

    def videos_for_celebrity(self, celebrity_id: str) -> Iterator[Item]:
        return self._query(
            IndexName="ByCelebrity",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues=serialize({":pk": f"{CELEBRITY_PREFIX}{celebrity_id}"}),
        )

    def videos_for_name(self, name: str) -> Iterator[Item]:
        return self._query(
            IndexName="ByName",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues=serialize({":pk": name_key(name)}),
        )

    # -- cleaning up ------------------------------------------------------------------------

    def result_keys(self, video: VideoRef) -> Iterator[Item]:
        """Keys and job ids of every appearance and summary item of the video."""
        for prefix in (APPEARANCE_PREFIX, CELEBRITY_PREFIX):
            yield from self._video_items(
                video,
                prefix,
                ProjectionExpression="pk, sk, job_id",
            )

    def delete_results(
        self, video: VideoRef, *, keep: Callable[[Item], bool] = lambda _item: False
    ) -> int:
        """Delete the video's appearance and summary items, except those `keep` accepts
        (it sees each item's pk, sk and job_id)."""
        deleted = 0
        with self.writer() as writer:
            for item in self.result_keys(video):
                if not keep(item):
                    writer.delete(item["pk"], item["sk"])
                    deleted += 1
        return deleted

    def erase_video(self, video: VideoRef, erased_at: str, sequencer_order: str) -> bool:
        """Leave a tombstone with no face-derived data, so `status` can say what happened.

        Only if no newer upload of the key was recorded (S3 events arrive in any order); the
        tombstone keeps the delete's sequencer, so a late create event of the deleted object
        cannot bring it back. False when a newer upload owns the key.
        """
        return _conditional(
            self._client.update_item,
            TableName=self.name,
            Key=serialize({"pk": video.pk, "sk": VIDEO_SK}),
            UpdateExpression=(
                "SET #status = :status, erased_at = :at, reason = :reason,"
                " sequencer_order = :seq, #type = :type, video = :video"
                " REMOVE job_id, video_metadata, appearance_count, celebrity_count,"
                " detection_count, gsi3pk, gsi3sk"
            ),
            ConditionExpression=(
                "attribute_not_exists(sequencer_order) OR sequencer_order <= :seq"
            ),
            ExpressionAttributeNames={"#status": "status", "#type": "type"},
            ExpressionAttributeValues=serialize(
                {
                    ":status": "ERASED",
                    ":at": erased_at,
                    ":reason": "object deleted from bucket",
                    ":seq": sequencer_order,
                    ":type": "video",
                    ":video": video.uri,
                }
            ),
        )
