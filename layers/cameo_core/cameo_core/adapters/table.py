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
from cameo_core.keys import APPEARANCE_PREFIX, CELEBRITY_PREFIX, VIDEO_SK, VideoRef, name_key

BATCH_SIZE = 25  # DynamoDB's BatchWriteItem limit
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
            if requests:
                # Full jitter: spreads retries of many writers competing for the same partition.
                self._sleep(random.uniform(0, self._base_delay_s * 2**attempt))
        if requests:
            raise RetryableError(f"{len(requests)} items still unprocessed after retries")

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.flush()


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

        The newer upload wins (greater S3 sequencer), and a redelivery of an event that already
        started job J never resets J's progress.
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
        names = {"#seq": "sequencer_order"}
        values: dict[str, Any] = {":seq": item["sequencer_order"]}
        # Same sequencer and same job is a duplicate delivery: leave the item (it may already
        # be SUCCEEDED). Same sequencer but a new job only happens once Rekognition's token
        # memory has lapsed; the new job is then the one that will report, so it wins.
        condition = "attribute_not_exists(pk) OR attribute_not_exists(#seq) OR #seq < :seq"
        if item.get("job_id"):
            condition += " OR (#seq = :seq AND (attribute_not_exists(#job) OR #job <> :job))"
            names["#job"] = "job_id"
            values[":job"] = item["job_id"]
        return _conditional(
            self._client.put_item,
            TableName=self.name,
            Item=serialize(item),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        )

    def finish_job(self, video: VideoRef, job_id: str, fields: Mapping[str, Any]) -> bool:
        """Set a final status for `job_id`, only if it is still the video's current job.

        Fields set to None are removed (e.g. an earlier failure's reason).
        """
        updates = {k: to_dynamo(v) for k, v in fields.items() if v is not None}
        removals = [k for k, v in fields.items() if v is None]
        names = {f"#f{i}": k for i, k in enumerate([*updates, *removals])}
        values = {f":v{i}": v for i, v in enumerate(updates.values())}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(updates)))
        if removals:
            first = len(updates)
            expression += " REMOVE " + ", ".join(
                f"#f{i}" for i in range(first, first + len(removals))
            )
        names["#job"] = "job_id"
        values[":job"] = job_id
        return _conditional(
            self._client.update_item,
            TableName=self.name,
            Key=serialize({"pk": video.pk, "sk": VIDEO_SK}),
            UpdateExpression=expression,
            ConditionExpression="#job = :job",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
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
                " detection_count"
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
