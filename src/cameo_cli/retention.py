"""`cameo retention apply --days N`: the stack's ResultsRetentionDays on results already written.

The results function stamps a job's expiry when it writes the job (results.results_expiry), so
results written before ResultsRetentionDays was set carry none and would be kept for ever, and
results written under an earlier value keep that one, while the archive's lifecycle rule applies
the new value to every raw page at once. This command closes both gaps: each video's current,
finished job gets `expires_at` (its items) and `results_expire_at` (its video item) set to the
job's finish time plus N days, or removed for N = 0, the same clock as the pages'.

It reads every video item with one paginated Scan (filtered to video items, a few attributes
projected): an operator's backfill, run once after a change, not a request path. Each job's
items come from a Query of its own partition. Every write is conditional on the video's job
still being that job, so it never stamps a job that started meanwhile, nor recreates an item
that was deleted since.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cameo_cli.query import ProfileOpt, RegionOpt, TableOpt, Target, _expected_errors

if TYPE_CHECKING:
    from cameo_core.adapters.table import ResultsTable

DAY_S = 86_400

app = typer.Typer(
    help="Apply ResultsRetentionDays to results written before it was set or changed.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="retention")


def expiry(completed_at: str, days: int) -> int | None:
    """Epoch seconds at which a job finished at `completed_at` (ISO-8601) expires; None for 0."""
    if days == 0:
        return None
    finished = datetime.fromisoformat(completed_at.replace("Z", "+00:00"))
    return int(finished.timestamp()) + days * DAY_S


@dataclass
class Report:
    videos: int = 0  # current finished jobs stamped
    items: int = 0  # their appearances and summaries
    past: int = 0  # of those videos, already past the new expiry (TTL deletes them soon)
    unfinished: int = 0  # videos with no finished job: stamped by the results function later


class Stamper:
    """The table calls of the backfill, on the results table's client."""

    def __init__(self, client: Any, table: ResultsTable) -> None:
        self._client = client
        self._table = table

    def finished_videos(self) -> Iterator[dict[str, Any]]:
        from cameo_core.adapters.table import deserialize, serialize
        from cameo_core.keys import VIDEO_SK

        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table.name,
            FilterExpression="sk = :video",
            ProjectionExpression="pk, sk, video, #status, job_id, completed_at",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=serialize({":video": VIDEO_SK}),
        )
        for page in pages:
            for raw in page.get("Items", []):
                yield deserialize(raw)

    def _set(
        self,
        key: dict[str, str],
        name: str,
        value: int | None,
        condition: str,
        values: dict[str, Any],
    ) -> bool:
        """SET (or, for None, REMOVE) one attribute under `condition`; False if it failed."""
        from botocore.exceptions import ClientError

        from cameo_core.adapters.table import serialize

        names = {"#attr": name}
        if "#status" in condition:
            names["#status"] = "status"
        kwargs: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": serialize(key),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
        }
        if value is None:
            kwargs["UpdateExpression"] = "REMOVE #attr"
        else:
            kwargs["UpdateExpression"] = "SET #attr = :value"
            values = {**values, ":value": value}
        kwargs["ExpressionAttributeValues"] = serialize(values)
        try:
            self._client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def stamp(self, item: dict[str, Any], expires_at: int | None) -> int | None:
        """Stamp the job's items, then its video item; the number of items, or None if the video
        moved on to another job meanwhile."""
        from cameo_core.keys import VideoRef
        from cameo_core.results import EXPIRES_AT, RESULTS_EXPIRE_AT

        job = item["job_id"]
        stamped = 0
        for key in self._table.result_keys(VideoRef.parse(item["video"])):
            if key.get("job_id") != job:
                continue  # an unfinished re-run's items: stamped when that job finishes
            if self._set(
                {"pk": key["pk"], "sk": key["sk"]},
                EXPIRES_AT,
                expires_at,
                "attribute_exists(pk) AND job_id = :job",
                {":job": job},
            ):
                stamped += 1
        still_current = self._set(
            {"pk": item["pk"], "sk": item["sk"]},
            RESULTS_EXPIRE_AT,
            expires_at,
            "job_id = :job AND #status = :done",
            {":job": job, ":done": "SUCCEEDED"},
        )
        return stamped if still_current else None


def apply_retention(stamper: Stamper, days: int, *, now: float, dry_run: bool) -> Report:
    report = Report()
    for item in stamper.finished_videos():
        if item.get("status") != "SUCCEEDED" or not item.get("job_id"):
            report.unfinished += 1
            continue
        expires_at = expiry(str(item["completed_at"]), days)
        if dry_run:
            stamped: int | None = 0
        else:
            stamped = stamper.stamp(item, expires_at)
            if stamped is None:
                report.unfinished += 1
                continue
        report.videos += 1
        report.items += stamped or 0
        if expires_at is not None and expires_at <= now:
            report.past += 1
    return report


@app.command("apply")
def apply(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            min=0,
            help="The stack's ResultsRetentionDays now (0: results are kept until erased).",
        ),
    ],
    table: TableOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be stamped; write nothing.")
    ] = False,
) -> None:
    """Stamp every finished job's results with DAYS from its finish time (docs/aws.md)."""
    import time

    target = Target(table, profile, region)
    with _expected_errors(target):
        results = target.results_table()
        report = apply_retention(
            Stamper(target.dynamodb, results), days, now=time.time(), dry_run=dry_run
        )
    rule = f"expire {days} days after their job finished" if days else "kept until erased"
    verb = "would stamp" if dry_run else "stamped"
    items = "" if dry_run else f" ({report.items} appearance and summary items)"
    typer.echo(f"{verb} {report.videos} finished videos{items}: {rule}")
    if report.past:
        typer.echo(f"{report.past} of them are already past it: DynamoDB TTL deletes them soon")
    if report.unfinished:
        typer.echo(
            f"{report.unfinished} videos have no finished job now: the results function stamps"
            " each when its job finishes"
        )
