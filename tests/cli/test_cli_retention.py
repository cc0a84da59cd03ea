"""ResultsRetentionDays: a job's appearances and summaries carry one expires_at (DynamoDB TTL),
fixed when the job is first written; a rewrite keeps it; readers treat the job as gone once it
passes, also after TTL has deleted some of the items."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from cameo_core import results
from cameo_core.adapters.table import deserialize
from cameo_core.config import Tuning
from cameo_core.errors import ConfigError
from cameo_core.keys import VIDEO_SK
from tests.cli.scenario import PAGES_A, PAGES_B, VIDEO_A, VIDEO_B, VIDEO_C, World, json_out

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


@pytest.mark.parametrize(("raw", "days"), [("", 0), ("0", 0), ("30", 30)])
def test_the_retention_comes_from_the_environment(raw: str, days: int) -> None:
    assert Tuning.from_env({"RESULTS_RETENTION_DAYS": raw}).retention_days == days


def test_a_negative_retention_is_refused() -> None:
    with pytest.raises(ConfigError, match="RESULTS_RETENTION_DAYS"):
        Tuning.from_env({"RESULTS_RETENTION_DAYS": "-1"})


# -- `cameo retention apply`: results written before ResultsRetentionDays was set or changed --


def _finished_at(record: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(record["completed_at"]).timestamp())


def test_apply_stamps_results_written_before_the_retention_from_their_finish_time(
    cli, world: World
) -> None:
    world.complete(VIDEO_A, "job-a", PAGES_A)  # written with no retention: no expiry at all
    world.complete(VIDEO_B, "job-b", PAGES_B, tuning=Tuning(retention_days=90))  # an older N
    world.submit(VIDEO_C, "job-c")  # running: its job is stamped when it finishes

    result = cli("retention", "apply", "--days", "30")

    assert result.exit_code == 0, result.output
    assert "stamped 2 finished videos" in result.output
    assert "1 videos have no finished job now" in result.output
    for video in (VIDEO_A, VIDEO_B):
        record, found = items_of(world, video)
        expected = _finished_at(record) + 30 * DAY_S
        assert int(record[results.RESULTS_EXPIRE_AT]) == expected
        assert found and {int(i[results.EXPIRES_AT]) for i in found} == {expected}
    record_c, _ = items_of(world, VIDEO_C)
    assert results.RESULTS_EXPIRE_AT not in record_c

    # A reprocess keeps the applied expiry (it never extends retention).
    results.reprocess(VIDEO_A, world.table, world.archive, Tuning())
    record, found = items_of(world, VIDEO_A)
    assert {int(i[results.EXPIRES_AT]) for i in found} == {int(record[results.RESULTS_EXPIRE_AT])}

    # Back to 0: nothing expires any more, items and video items alike.
    assert cli("retention", "apply", "--days", "0").exit_code == 0
    for video in (VIDEO_A, VIDEO_B):
        record, found = items_of(world, video)
        assert not any(results.EXPIRES_AT in i for i in found)
        assert results.RESULTS_EXPIRE_AT not in record


def test_apply_leaves_other_jobs_items_and_dry_run_writes_nothing(cli, world: World) -> None:
    world.complete(VIDEO_A, "job-a", PAGES_A)
    # A crashed attempt's leftovers under another job id: not the current job's, not stamped.
    world.write_job_items(VIDEO_A, "job-stale", PAGES_B)

    dry = cli("retention", "apply", "--days", "1", "--dry-run")
    assert dry.exit_code == 0 and "would stamp 1 finished videos" in dry.output
    record, found = items_of(world, VIDEO_A)
    assert not any(results.EXPIRES_AT in i for i in [record, *found])

    assert cli("retention", "apply", "--days", "1").exit_code == 0
    record, found = items_of(world, VIDEO_A)
    stamped = {i["job_id"] for i in found if results.EXPIRES_AT in i}
    assert stamped == {"job-a"}
    assert any(i["job_id"] == "job-stale" for i in found)


def test_apply_refuses_a_negative_retention_and_reports_aws_errors(cli, world: World) -> None:
    assert cli("retention", "apply", "--days", "-1").exit_code == 2
    result = cli("retention", "apply", "--days", "1", "--table", "no-such-table")
    assert result.exit_code == 1
    assert "no-such-table" in result.output and "Traceback" not in result.output
