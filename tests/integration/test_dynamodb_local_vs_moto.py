"""Why the integration tests run on DynamoDB Local: it enforces BatchWriteItem's limits as AWS
does, where moto (5.2.x) lets some of the same requests through. Each test sends one request to
both engines and asserts what each does.

What moto 5.2 already gets right (two puts of one key, a flat string attribute over 400 KB) is
asserted too, so a moto upgrade that changes either side shows up here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

# Fixtures (ddb, table_name, ...) live in fixtures_local, next to conftest.py's DynamoDB Local.
pytest_plugins = ["tests.integration.fixtures_local"]
pytestmark = pytest.mark.integration

# DynamoDB's item size counts attribute names and values (UTF-8), plus 1 byte per list element
# and 3 bytes per map. moto 5.2 counts names and values only, against its own 405,000 bytes.
# So a 390,000-byte string next to a list of 8,000 empty maps is 390,000 + 3 + 8,000 * (1 + 3)
# = 422,003 bytes for AWS (over the 400 KB = 409,600 limit) and about 390,000 for moto.
MAX_ITEM_BYTES = 400 * 1024
TEXT_BYTES = 390_000
EMPTY_MAPS = 8_000


def put(pk: str, sk: str, **attrs: Any) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": sk}, **attrs}}}


def delete(pk: str, sk: str) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}


def validation_message(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return str(caught.value.response["Error"]["Message"])


@pytest.fixture
def moto_ddb(create_template_table: Callable[[Any, str], None], table_name: str) -> Iterator[Any]:
    """moto's DynamoDB with the same table (same name, same template schema)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_template_table(client, table_name)
        yield client


def test_batch_of_26_items_is_rejected_by_dynamodb_local_but_accepted_by_moto(
    ddb: Any, moto_ddb: Any, table_name: str
) -> None:
    requests = [put("VIDEO#s3://b/v.mp4", f"APPEARANCE#{i:012d}#c") for i in range(26)]

    message = validation_message(lambda: ddb.batch_write_item(RequestItems={table_name: requests}))
    assert "Too many items" in message
    assert ddb.scan(TableName=table_name, Select="COUNT")["Count"] == 0  # all or nothing

    response = moto_ddb.batch_write_item(RequestItems={table_name: requests})
    assert response["UnprocessedItems"] == {}
    assert moto_ddb.scan(TableName=table_name, Select="COUNT")["Count"] == 26


def test_put_and_delete_of_one_key_in_a_batch_is_rejected_by_dynamodb_local_but_not_moto(
    ddb: Any, moto_ddb: Any, table_name: str
) -> None:
    # A re-run writes an appearance and deletes a stale one: if both name the same key in one
    # batch, AWS refuses the whole batch. BatchWriter collapses them for this reason.
    requests = [
        put("VIDEO#s3://b/v.mp4", "APPEARANCE#1"),
        delete("VIDEO#s3://b/v.mp4", "APPEARANCE#1"),
    ]

    message = validation_message(lambda: ddb.batch_write_item(RequestItems={table_name: requests}))
    assert "duplicates" in message

    response = moto_ddb.batch_write_item(RequestItems={table_name: requests})
    assert response["UnprocessedItems"] == {}


def test_two_puts_of_one_key_in_a_batch_are_rejected_by_both(
    ddb: Any, moto_ddb: Any, table_name: str
) -> None:
    requests = [put("VIDEO#s3://b/v.mp4", "APPEARANCE#1")] * 2

    assert "duplicates" in validation_message(
        lambda: ddb.batch_write_item(RequestItems={table_name: requests})
    )
    assert "duplicates" in validation_message(
        lambda: moto_ddb.batch_write_item(RequestItems={table_name: requests})
    )


def test_item_over_400_kb_is_rejected_by_dynamodb_local_but_accepted_by_moto(
    ddb: Any, moto_ddb: Any, table_name: str
) -> None:
    attrs = {"text": {"S": "x" * TEXT_BYTES}, "maps": {"L": [{"M": {}}] * EMPTY_MAPS}}
    assert TEXT_BYTES + 3 + EMPTY_MAPS * 4 > MAX_ITEM_BYTES
    requests = [put("VIDEO#s3://b/v.mp4", "APPEARANCE#1", **attrs)]

    message = validation_message(lambda: ddb.batch_write_item(RequestItems={table_name: requests}))
    assert "Item size has exceeded" in message

    response = moto_ddb.batch_write_item(RequestItems={table_name: requests})
    assert response["UnprocessedItems"] == {}
    stored = moto_ddb.get_item(
        TableName=table_name, Key={"pk": {"S": "VIDEO#s3://b/v.mp4"}, "sk": {"S": "APPEARANCE#1"}}
    )
    assert len(stored["Item"]["maps"]["L"]) == EMPTY_MAPS


def test_dynamodb_local_applies_the_400_kb_limit_to_names_and_values_to_the_byte(
    ddb: Any, table_name: str
) -> None:
    # pk + "a", sk + "b" and the attribute name "blob" take 10 bytes; the string gets the rest.
    fits = MAX_ITEM_BYTES - len("pkaskbblob")

    ddb.batch_write_item(RequestItems={table_name: [put("a", "b", blob={"S": "x" * fits})]})

    message = validation_message(
        lambda: ddb.batch_write_item(
            RequestItems={table_name: [put("a", "b", blob={"S": "x" * (fits + 1)})]}
        )
    )
    assert "Item size has exceeded" in message
