"""cameo_core's table adapter against DynamoDB Local: batches, condition expressions and GSIs as
the real engine evaluates them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cameo_core.adapters.table import ResultsTable
from cameo_core.config import Tuning
from cameo_core.errors import RetryableError
from cameo_core.keys import VideoRef, sequencer_order
from cameo_core.results import finish_success, write_results
from tests.support.fakes import detection

pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

VIDEO = VideoRef("cameo-videos-example", "holiday clips/Café night.mp4")
OTHER = VideoRef("cameo-videos-example", "2026/other.MOV")
TUNING = Tuning(min_confidence=80.0, merge_gap_ms=2000)


def upload(sequencer: str, job_id: str | None = None, status: str = "SUBMITTED") -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": status,
        "sequencer": sequencer,
        "sequencer_order": sequencer_order(sequencer),
        "size": 1234,
    }
    if job_id:
        fields["job_id"] = job_id
    return fields


def pages_of(*pages: list[dict[str, Any]]) -> Any:
    return lambda: iter([{"Celebrities": page} for page in pages])


@pytest.fixture
def batch_sizes(ddb: Any) -> Iterator[list[int]]:
    """The number of requests in every BatchWriteItem call the client makes."""
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(sum(len(requests) for requests in params["RequestItems"].values()))

    ddb.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", record)
    yield sizes
    ddb.meta.events.unregister("before-parameter-build.dynamodb.BatchWriteItem", record)


# -- BatchWriter -------------------------------------------------------------------------------


def test_batch_writer_writes_60_items_in_requests_of_at_most_25(
    table: ResultsTable, batch_sizes: list[int]
) -> None:
    with table.writer() as writer:
        for i in range(60):
            writer.put({"pk": VIDEO.pk, "sk": f"APPEARANCE#{i:012d}#c", "type": "appearance"})

    assert batch_sizes == [25, 25, 10]
    assert writer.requests == 3
    assert writer.items_written == 60
    assert len(list(table.appearances(VIDEO))) == 60


def test_batch_writer_collapses_repeated_keys_so_dynamodb_local_accepts_the_batch(
    table: ResultsTable, batch_sizes: list[int]
) -> None:
    # Given an item that a later batch deletes
    with table.writer() as writer:
        writer.put({"pk": VIDEO.pk, "sk": "APPEARANCE#b", "job_id": "old"})

    # When one batch names keys a and b twice each (DynamoDB Local refuses such a batch)
    with table.writer() as writer:
        writer.put({"pk": VIDEO.pk, "sk": "APPEARANCE#a", "job_id": "first"})
        writer.put({"pk": VIDEO.pk, "sk": "APPEARANCE#b", "job_id": "new"})
        writer.delete(VIDEO.pk, "APPEARANCE#b")
        writer.put({"pk": VIDEO.pk, "sk": "APPEARANCE#a", "job_id": "second"})
        writer.put({"pk": VIDEO.pk, "sk": "APPEARANCE#c", "job_id": "second"})

    # Then the last request per key wins, in one accepted batch of three
    assert batch_sizes == [1, 3]
    stored = {item["sk"]: item["job_id"] for item in table.appearances(VIDEO)}
    assert stored == {"APPEARANCE#a": "second", "APPEARANCE#c": "second"}


# -- record_upload and finish_job: condition expressions ---------------------------------------


def test_newer_upload_wins_and_a_late_older_event_is_ignored(table: ResultsTable) -> None:
    assert table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F7", "job-1"))
    # A longer sequencer is a later one: padding makes string order numeric order.
    assert table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F70A", "job-2"))

    assert not table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F7", "job-1"))

    current = table.get_video(VIDEO)
    assert current is not None
    assert (current["job_id"], current["sequencer"]) == ("job-2", "0062E1A2B3C4D5E6F70A")


def test_duplicate_delivery_leaves_a_succeeded_video_alone(table: ResultsTable) -> None:
    assert table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F7", "job-1"))
    assert table.finish_job(VIDEO, "job-1", {"status": "SUCCEEDED", "appearance_count": 3})

    assert not table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F7", "job-1"))

    current = table.get_video(VIDEO)
    assert current is not None
    assert (current["status"], current["appearance_count"]) == ("SUCCEEDED", 3)


@pytest.mark.parametrize("status", ["QUEUED", "SUBMITTED", "SUCCEEDED", "FAILED"])
def test_an_event_with_the_recorded_sequencer_never_replaces_the_item(
    table: ResultsTable, status: str
) -> None:
    # A redelivery, even carrying another job (Rekognition forgot the token), is a duplicate.
    assert table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F7", "job-1", status=status))
    assert not table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F7", "job-2"))
    assert not table.record_upload(VIDEO, upload("0062E1A2B3C4D5E6F7", status="QUEUED"))
    current = table.get_video(VIDEO)
    assert current is not None
    assert (current["job_id"], current["status"]) == ("job-1", status)


def test_finish_job_applies_only_to_the_current_job(table: ResultsTable) -> None:
    table.record_upload(VIDEO, upload("0A", "job-1"))
    table.record_upload(VIDEO, upload("0B", "job-2", status="SUBMITTED") | {"reason": "stale"})

    assert not table.finish_job(VIDEO, "job-1", {"status": "FAILED", "reason": "late"})
    current = table.get_video(VIDEO)
    assert current is not None
    assert (current["status"], current["reason"]) == ("SUBMITTED", "stale")

    assert table.finish_job(VIDEO, "job-2", {"status": "SUCCEEDED", "reason": None})
    current = table.get_video(VIDEO)
    assert current is not None
    assert current["status"] == "SUCCEEDED"
    assert "reason" not in current  # None removes the attribute


def test_finish_job_on_a_video_without_an_item_is_refused(table: ResultsTable) -> None:
    assert not table.finish_job(VIDEO, "job-1", {"status": "SUCCEEDED"})
    assert table.get_video(VIDEO) is None  # the condition kept UpdateItem from creating it


# -- results, re-runs and GSIs -------------------------------------------------------------------


def test_rerun_removes_the_previous_jobs_stale_appearances(table: ResultsTable) -> None:
    # Given job-1's results: Ann at 0 s and 10 s, Bob at 5 s
    table.record_upload(VIDEO, upload("0A", "job-1"))
    first = write_results(
        VIDEO,
        "job-1",
        pages_of(
            [detection(0, "ann", "Ann Lee"), detection(5_000, "bob", "Bob Ray")],
            [detection(10_000, "ann", "Ann Lee")],
        ),
        table,
        TUNING,
    )
    assert finish_success(VIDEO, "job-1", first, table)
    assert [a["start_ms"] for a in table.appearances(VIDEO)] == [0, 5_000, 10_000]

    # When the video is re-uploaded and job-2 finds only Ann, at 1 s
    table.record_upload(VIDEO, upload("0B", "job-2"))
    second = write_results(
        VIDEO, "job-2", pages_of([detection(1_000, "ann", "Ann Lee")]), table, TUNING
    )
    assert finish_success(VIDEO, "job-2", second, table)

    # Then only job-2's items remain, and Bob no longer points at this video
    appearances = list(table.appearances(VIDEO))
    assert [(a["start_ms"], a["job_id"]) for a in appearances] == [(1_000, "job-2")]
    assert [s["celebrity_id"] for s in table.summaries(VIDEO)] == ["ann"]
    assert list(table.videos_for_celebrity("bob")) == []
    current = table.get_video(VIDEO)
    assert current is not None
    assert (current["status"], current["appearance_count"]) == ("SUCCEEDED", 1)


def test_an_older_job_finishing_late_writes_nothing_final(table: ResultsTable) -> None:
    table.record_upload(VIDEO, upload("0B", "job-2"))
    late = write_results(VIDEO, "job-1", pages_of([detection(0, "ann", "Ann Lee")]), table, TUNING)

    assert not finish_success(VIDEO, "job-1", late, table)
    current = table.get_video(VIDEO)
    assert current is not None
    assert (current["status"], current["job_id"]) == ("SUBMITTED", "job-2")


def test_gsis_find_a_celebritys_videos_by_id_and_by_any_spelling_of_the_name(
    table: ResultsTable,
) -> None:
    for video, job in ((VIDEO, "job-v"), (OTHER, "job-o")):
        table.record_upload(video, upload("0A", job))
        result = write_results(
            video,
            job,
            pages_of([detection(0, "ann", "Ann  Lee"), detection(500, "bob", "Bob Ray")]),
            table,
            TUNING,
        )
        finish_success(video, job, result, table)

    by_id = sorted(item["video"] for item in table.videos_for_celebrity("ann"))
    by_name = sorted(item["video"] for item in table.videos_for_name(" ANN lee "))

    assert by_id == sorted([VIDEO.uri, OTHER.uri])
    assert by_name == by_id
    assert all(i["type"] == "summary" for i in table.videos_for_celebrity("bob"))
    assert list(table.videos_for_name("Nobody")) == []


# -- UnprocessedItems ----------------------------------------------------------------------------


class Unprocessing:
    """DynamoDB Local (like moto) never answers with UnprocessedItems. This wrapper around its
    client writes only part of each batch and hands the rest back as unprocessed, as DynamoDB
    does under throttling: `held[n]` requests of call n (the last value repeats)."""

    def __init__(self, client: Any, held: list[int]) -> None:
        self._client = client
        self._held = held
        self.calls: list[int] = []  # requests in each BatchWriteItem call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        ((name, requests),) = RequestItems.items()
        held = min(self._held[min(len(self.calls), len(self._held) - 1)], len(requests))
        self.calls.append(len(requests))
        sent, unprocessed = requests[: len(requests) - held], requests[len(requests) - held :]
        if sent:
            self._client.batch_write_item(RequestItems={name: sent}, **kwargs)
        return {"UnprocessedItems": {name: unprocessed} if unprocessed else {}}


def appearance(i: int) -> dict[str, Any]:
    return {"pk": VIDEO.pk, "sk": f"APPEARANCE#{i:012d}#c", "type": "appearance", "job_id": "j"}


def test_unprocessed_items_are_retried_with_backoff_until_every_item_is_written(
    ddb: Any, table_name: str
) -> None:
    # Given a table that leaves 10, then 5, then 0, then 3, then nothing unprocessed
    client = Unprocessing(ddb, [10, 5, 0, 3, 0])
    sleeps: list[float] = []
    writer = ResultsTable(client, table_name).writer(base_delay_s=0.1, sleep=sleeps.append)

    with writer:
        for i in range(60):
            writer.put(appearance(i))

    # Then only the unprocessed requests were sent again, after a growing, jittered pause
    assert client.calls == [25, 10, 5, 25, 3, 10]
    assert len(sleeps) == 3
    assert 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2 and 0 <= sleeps[2] <= 0.1
    # And the count is exact: 60 written, 60 stored, none twice
    assert writer.items_written == 60
    stored = [item["sk"] for item in ResultsTable(ddb, table_name).appearances(VIDEO)]
    assert stored == sorted({appearance(i)["sk"] for i in range(60)})


def test_unprocessed_items_that_outlast_the_retries_are_raised_not_dropped(
    ddb: Any, table_name: str
) -> None:
    client = Unprocessing(ddb, [1])  # one request of every call comes back
    sleeps: list[float] = []
    writer = ResultsTable(client, table_name).writer(max_attempts=3, sleep=sleeps.append)

    with pytest.raises(RetryableError, match="1 items still unprocessed"):
        for i in range(25):
            writer.put(appearance(i))  # the 25th fills the batch, which is sent

    assert client.calls == [25, 1, 1]
    assert len(sleeps) == 2  # no pause after the last attempt: the error goes straight up
    assert writer.items_written == 24
    assert len(list(ResultsTable(ddb, table_name).appearances(VIDEO))) == 24


def test_unprocessed_items_on_a_background_writer_fail_the_whole_write(
    ddb: Any, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_results batches on background threads; an exhausted batch must not be lost
    there: the results write raises (and the platform retries the completion)."""
    monkeypatch.setattr("cameo_core.adapters.table.time.sleep", lambda _s: None)
    table = ResultsTable(Unprocessing(ddb, [2]), table_name)
    table.record_upload(VIDEO, upload("0A", "job-1"))
    detections = [detection(t * 5_000, f"c{t % 7}", f"Celeb {t % 7}") for t in range(40)]

    with pytest.raises(RetryableError, match="unprocessed"):
        write_results(VIDEO, "job-1", pages_of(detections), table, TUNING)

    current = table.get_video(VIDEO)
    assert current is not None and current["status"] == "SUBMITTED"
