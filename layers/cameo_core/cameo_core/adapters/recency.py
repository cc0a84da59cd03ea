"""The ByRecency index: every recorded video, newest upload first (the API's `GET /videos`).

Sparse like ByBacklog: only video items carry gsi4pk, set once when the upload is recorded
(backlog.enqueue), so the index holds videos and nothing else (no appearances, no slots). The
sort key "<uploaded_at ISO-8601 UTC>#<video digest>" orders by upload time; the digest keeps two
uploads in the same millisecond apart. A re-upload of the same key replaces the item and so
moves the video to the top.
"""

from __future__ import annotations

from typing import Any

from cameo_core.adapters.table import Item, deserialize, serialize
from cameo_core.keys import VideoRef, video_digest

RECENCY_INDEX = "ByRecency"
RECENCY_PK = "VIDEOS"
# The attributes of a key in this index (what a LastEvaluatedKey holds).
RECENCY_KEY_FIELDS = ("pk", "sk", "gsi4pk", "gsi4sk")


def recency_fields(video: VideoRef, uploaded_at: str) -> dict[str, str]:
    return {"gsi4pk": RECENCY_PK, "gsi4sk": f"{uploaded_at}#{video_digest(video)}"}


def uploaded_at(item: Item) -> str | None:
    sk = item.get("gsi4sk")
    return str(sk).rsplit("#", 1)[0] if sk else None


class RecencyIndex:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.name = table_name

    def page(
        self, *, limit: int, start_key: Item | None = None, status: str | None = None
    ) -> tuple[list[Item], Item | None]:
        """One Query page, newest first: (items, LastEvaluatedKey or None).

        With `status`, DynamoDB filters after reading `limit` items, so a page can hold fewer
        matches than `limit` and still have a next key.
        """
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": RECENCY_INDEX,
            "KeyConditionExpression": "gsi4pk = :pk",
            "ScanIndexForward": False,
            "Limit": limit,
        }
        values: dict[str, Any] = {":pk": RECENCY_PK}
        if status is not None:
            kwargs["FilterExpression"] = "#status = :status"
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
            values[":status"] = status
        kwargs["ExpressionAttributeValues"] = serialize(values)
        if start_key is not None:
            kwargs["ExclusiveStartKey"] = serialize(start_key)
        response = self._client.query(**kwargs)
        items = [deserialize(raw) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, deserialize(last) if last else None
