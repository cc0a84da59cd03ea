"""ResultsRetentionDays: a job's appearances and summaries carry one expires_at (DynamoDB TTL),
fixed when the job is first written; a rewrite keeps it; readers treat the job as gone once it
passes, also after TTL has deleted some of the items."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cameo_core import results
from cameo_core.adapters.table import deserialize
from cameo_core.config import Tuning
from cameo_core.errors import ConfigError
from cameo_core.keys import VIDEO_SK
from tests.cli.scenario import PAGES_A, VIDEO_A, World, json_out

DAY_S = 86_400


def items_of(world: World, video: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the video item, its appearance and summary items)."""
    pages = world.table._client.get_paginator("query").paginate(
        TableName=world.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": video.pk}},
        ConsistentRead=True,
    )
    everything = [deserialize(item) for page in pages for item in page["Items"]]
    (record,) = [i for i in everything if i["sk"] == VIDEO_SK]
    return record, [i for i in everything if i["sk"] != VIDEO_SK]


def test_with_a_retention_the_jobs_items_expire_together(world: World) -> None:
    before = time.time()
    world.complete(VIDEO_A, "job-a", PAGES_A, tuning=Tuning(retention_days=30))

    record, found = items_of(world, VIDEO_A)
    assert len(found) == 3 + 2  # appearances + summaries
    expiry = int(record[results.RESULTS_EXPIRE_AT])
    assert before + 30 * DAY_S - 1 <= expiry <= time.time() + 30 * DAY_S
    assert {int(i[results.EXPIRES_AT]) for i in found} == {expiry}
    # The record of the upload is not face-derived and stays (not a TTL attribute on it).
    assert results.EXPIRES_AT not in record


def test_without_a_retention_nothing_expires(world: World) -> None:
    world.complete(VIDEO_A, "job-a", PAGES_A)

    record, found = items_of(world, VIDEO_A)
    assert found
    assert not any(results.EXPIRES_AT in item for item in [record, *found])
    assert results.RESULTS_EXPIRE_AT not in record


def test_a_rewrite_keeps_the_jobs_expiry(cli, world: World) -> None:
    world.complete(VIDEO_A, "job-a", PAGES_A, tuning=Tuning(retention_days=30))
    record, _ = items_of(world, VIDEO_A)
    expiry = int(record[results.RESULTS_EXPIRE_AT])

    # cameo reprocess (no retention of its own) rebuilds with a wider gap: fewer appearances,
    # the same expiry, so rebuilding can never extend (or drop) the retention.
    result = cli("reprocess", VIDEO_A.uri, "--archive-bucket", world.archive_bucket,
                 "--merge-gap-ms", "10000", "--json")  # fmt: skip
    assert json_out(result)["appearances"] == 2
    record, found = items_of(world, VIDEO_A)
    assert int(record[results.RESULTS_EXPIRE_AT]) == expiry
    assert {int(i[results.EXPIRES_AT]) for i in found} == {expiry}

    # Nor can a longer retention given to the rebuild.
    results.reprocess(VIDEO_A, world.table, world.archive, Tuning(retention_days=90))
    record, found = items_of(world, VIDEO_A)
    assert {int(i[results.EXPIRES_AT]) for i in found} == {expiry}


def test_a_job_past_its_recorded_expiry_is_gone_even_once_ttl_deleted_items(
    cli, world: World
) -> None:
    world.complete(VIDEO_A, "job-a", PAGES_A, tuning=Tuning(retention_days=1))
    # A day later: TTL has deleted some of the items (lazily, one by one), not yet all.
    past = int(time.time()) - 60
    world.table.update_video(VIDEO_A, {results.RESULTS_EXPIRE_AT: past}, expect={})
    _, found = items_of(world, VIDEO_A)
    with world.table.writer() as writer:
        for item in found[:2]:
            writer.delete(item["pk"], item["sk"])

    document = json_out(cli("video", VIDEO_A.uri, "--json"))

    assert document["ready"] is False
    assert document["appearances"] == []
    # Not "incomplete or being rewritten; try cameo reprocess": the results are gone for good.
    assert "past their retention" in document["note"]


@pytest.mark.parametrize(("raw", "days"), [("", 0.0), ("0", 0.0), ("30", 30.0)])
def test_the_retention_comes_from_the_environment(raw: str, days: float) -> None:
    assert Tuning.from_env({"RESULTS_RETENTION_DAYS": raw}).retention_days == days


def test_a_negative_retention_is_refused() -> None:
    with pytest.raises(ConfigError, match="RESULTS_RETENTION_DAYS"):
        Tuning.from_env({"RESULTS_RETENTION_DAYS": "-1"})
