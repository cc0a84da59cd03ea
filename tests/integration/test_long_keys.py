"""S3 keys of up to 1,024 bytes, in any Unicode, work end to end on DynamoDB Local: start,
results, queries and erase. DynamoDB caps a sort key at 1,024 bytes and a partition key at 2,048
(index keys included), so no key may hold the whole S3 URI in a sort key."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cameo_core.adapters.archive import RawArchive, video_prefix
from cameo_core.adapters.rekognition import API, CelebrityJobs
from cameo_core.adapters.table import ResultsTable
from cameo_core.backlog import Backlog, Upload, drain, enqueue
from cameo_core.config import StartConfig, Tuning
from cameo_core.erase import Removal, erase_video
from cameo_core.keys import VideoRef
from cameo_core.results import Completion, process_completion
from cameo_stack import template as cfn
from tests.integration.rekognition_local import CELEBRITIES, FakeRekognition

pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

S3_KEY_MAX = 1024  # bytes of UTF-8
SORT_KEY_MAX = 1024
PARTITION_KEY_MAX = 2048
USER_METADATA_MAX = 2048  # S3: all user-defined metadata names and values, in UTF-8 bytes
BUCKET = "cameo-videos-example"
LONGEST_BUCKET = "b" * 63


def long_key(size: int = S3_KEY_MAX) -> str:
    """Exactly `size` bytes of UTF-8, with characters of every width (1, 2, 3 and 4 bytes)."""
    key = "vidéos/日本語の動画/🎬 "
    while len((key + "é日🎬a.mp4").encode()) <= size:
        key += "é日🎬a"
    key += "a" * (size - len((key + ".mp4").encode()))
    key += ".mp4"
    assert len(key.encode()) == size
    return key


def test_no_key_of_any_item_or_index_outgrows_dynamodbs_limits(
    stack_model: cfn.StackModel,
) -> None:
    """Every table and GSI key of every item cameo writes, for the longest bucket and key."""
    from cameo_core.keys import backlog_sk
    from cameo_core.normalize import Appearance, Celebrity, CelebritySummary
    from cameo_core.results import appearance_item, summary_item

    video = VideoRef(LONGEST_BUCKET, long_key())
    celebrity = Celebrity(id="1a2B3c", name="Ann Lee", urls=(), known_gender=None)
    appearance = Appearance(celebrity, 0, 1_000, 2, 99.0, 99.0, None)
    summary = CelebritySummary(celebrity, 1_000, 0, 1_000, 1, 99.0)
    items = [
        appearance_item(video, "j" * 64, appearance),
        summary_item(video, "j" * 64, summary),
        {"pk": video.pk, "sk": "VIDEO", "gsi3pk": "BACKLOG"}
        | {"gsi3sk": backlog_sk("SUBMITTED", "2026-12-02T18:00:00.000+00:00", video)},
    ]
    table = stack_model.table
    schemas = [table.key_schema] + [i["KeySchema"] for i in table.global_secondary_indexes]
    checked = 0
    for item in items:
        for schema in schemas:
            for key in schema:
                value = item.get(key["AttributeName"])
                if value is None:
                    continue  # not in this (sparse) index
                limit = PARTITION_KEY_MAX if key["KeyType"] == "HASH" else SORT_KEY_MAX
                size = len(str(value).encode())
                assert size <= limit, f"{key['AttributeName']} of {item['sk']}: {size} bytes"
                checked += 1
    assert checked >= 8  # pk/sk of each item, and both keys of the three GSIs


def test_a_1024_byte_unicode_key_works_from_upload_to_erase(
    table: ResultsTable, archive: RawArchive, table_name: str
) -> None:
    video = VideoRef(BUCKET, long_key())
    rekognition = FakeRekognition()
    jobs = CelebrityJobs(rekognition.client())
    config = StartConfig(
        table_name=table_name,
        sns_topic_arn="arn:aws:sns:us-east-1:123456789012:AmazonRekognition-test",
        rekognition_role_arn="arn:aws:iam::123456789012:role/publish",
        tuning=Tuning(),
    )

    # Start: queued, then started through the backlog
    upload = Upload(BUCKET, video.key, size=1_000, etag="e", version_id="v1", sequencer="0A")
    assert enqueue(upload, config, table, None).recorded
    [started] = drain(Backlog(config=config, table=table, jobs=jobs), hint=[video])
    assert started.status == "SUBMITTED"
    recorded = table.get_video(video)
    assert recorded is not None and recorded["key"] == video.key
    # Rekognition's own limits: JobTag 1-1,024 characters, ClientRequestToken 1-64
    assert re.fullmatch(r"[a-zA-Z0-9_.\-:+=/]{1,1024}", recorded["job_tag"])
    assert re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", recorded["client_request_token"])

    # Results: every page archived, every item written
    outcome = process_completion(
        Completion(str(started.job_id), "SUCCEEDED", API, video, recorded["job_tag"]),
        jobs,
        table,
        archive,
        Tuning(),
    )
    assert (outcome.status, outcome.appearances, outcome.celebrities) == ("SUCCEEDED", 36, 4)

    # Queries: by video, by celebrity id and by name (the GSIs)
    assert len(list(table.appearances(video))) == 36
    assert sorted(s["celebrity_id"] for s in table.summaries(video)) == CELEBRITIES
    [by_id] = table.videos_for_celebrity("ann")
    [by_name] = table.videos_for_name("ANN")
    assert by_id["video"] == by_name["video"] == video.uri

    # Archive: S3 caps user metadata at 2 KB, whatever the key
    s3: Any = archive._s3
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=archive.bucket)["Contents"]]
    assert len(keys) == 3 and all(k.startswith(video_prefix(video)) for k in keys)
    for key in keys:
        metadata = s3.head_object(Bucket=archive.bucket, Key=key)["Metadata"]
        assert sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items()) <= (
            USER_METADATA_MAX
        )

    # Erase: everything goes
    erased = erase_video(Removal(video, "ObjectRemoved:Delete", sequencer="FF"), table, archive)
    assert (erased.items_deleted, erased.pages_deleted) == (40, 3)
    assert list(table.appearances(video)) == list(table.summaries(video)) == []
    assert list(table.videos_for_celebrity("ann")) == []
    tombstone = table.get_video(video)
    assert tombstone is not None and tombstone["status"] == "ERASED"
