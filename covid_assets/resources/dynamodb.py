"""The DynamoDB table of the daily records, every level's and the serving lock's."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from dagster import InitResourceContext
from pydantic import Field, PrivateAttr

from covid_assets.resources.aws_client import AwsClientResource, in_parallel

DYNAMODB_BATCH_SIZE = 25  # BatchWriteItem's hard limit (moto accepts more; AWS does not)
DYNAMODB_BATCH_GET_SIZE = 100  # BatchGetItem's hard limit
# The index of the levels below the nation: every item of a level (and of a level on one day) is
# one Query. National items carry no ``level``, so they stay out of it (a sparse index).
LEVEL_INDEX = "level-date-index"
LEVEL_INDEX_DEFINITION = {
    "IndexName": LEVEL_INDEX,
    "KeySchema": [
        {"AttributeName": "level", "KeyType": "HASH"},
        {"AttributeName": "date", "KeyType": "RANGE"},
    ],
    # Everything: a load diffs whole items, and a reader of one day wants the figures.
    "Projection": {"ProjectionType": "ALL"},
}
KEY_ATTRIBUTES = [
    {"AttributeName": "region", "AttributeType": "S"},
    {"AttributeName": "date", "AttributeType": "S"},
]
LEVEL_ATTRIBUTE = {"AttributeName": "level", "AttributeType": "S"}


class DynamoDBResource(AwsClientResource):
    """The table of daily records: partition key ``region``, sort key ``date`` (ISO string),
    and the index ``level-date-index`` (partition key ``level``, sort key ``date``)."""

    table_name: str = Field(description="DynamoDB table name (COVID_DYNAMODB_TABLE).")
    max_batch_rounds: int = Field(
        default=8, description="Rounds of resending UnprocessedItems before failing the run."
    )
    max_parallel_writers: int = Field(
        default=4,
        description="BatchWriteItem calls in flight at once in a large write, and BatchGetItem "
        "calls in a large read (COVID_DYNAMODB_WRITERS); 1 sends one batch after another.",
    )
    # Whether this run has looked at the table already (None: not in a run; every call looks).
    _checked: bool | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._checked = False

    def ensure_table(self) -> bool:
        """Create the table (on-demand, with the level index) if it does not exist, or add the
        index to a table made before it existed; True when either was made. A new index is
        built in the background: this waits until it is active, since a load reads through it
        at once. Within a run, the table is looked at once (one DescribeTable)."""
        if self._checked:
            return False
        if self._checked is not None:
            self._checked = True
        dynamodb = self.client("dynamodb")
        try:
            table = dynamodb.describe_table(TableName=self.table_name)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            dynamodb.create_table(
                TableName=self.table_name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[*KEY_ATTRIBUTES, LEVEL_ATTRIBUTE],
                KeySchema=[
                    {"AttributeName": "region", "KeyType": "HASH"},
                    {"AttributeName": "date", "KeyType": "RANGE"},
                ],
                GlobalSecondaryIndexes=[LEVEL_INDEX_DEFINITION],
            )
            dynamodb.get_waiter("table_exists").wait(TableName=self.table_name)
            return True
        indexes = table.get("GlobalSecondaryIndexes", [])
        if any(index["IndexName"] == LEVEL_INDEX for index in indexes):
            return False
        dynamodb.update_table(
            TableName=self.table_name,
            AttributeDefinitions=[*KEY_ATTRIBUTES, LEVEL_ATTRIBUTE],
            GlobalSecondaryIndexUpdates=[{"Create": LEVEL_INDEX_DEFINITION}],
        )
        while not self._level_index_is_active():
            time.sleep(1.0)
        return True

    def _level_index_is_active(self) -> bool:
        table = self.client("dynamodb").describe_table(TableName=self.table_name)["Table"]
        return any(
            index["IndexName"] == LEVEL_INDEX and index.get("IndexStatus", "ACTIVE") == "ACTIVE"
            for index in table.get("GlobalSecondaryIndexes", [])
        )

    def get_items(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """The items of these (region, date) keys that exist, read with strongly consistent
        BatchGetItem calls (100 keys a call), up to ``max_parallel_writers`` at once, each
        resending its UnprocessedKeys with backoff."""
        batches = [
            keys[start : start + DYNAMODB_BATCH_GET_SIZE]
            for start in range(0, len(keys), DYNAMODB_BATCH_GET_SIZE)
        ]
        read_batch = functools.partial(self._read_batch, self.client("dynamodb"))
        found = in_parallel(read_batch, batches, self.max_parallel_writers)
        return [item for items in found for item in items]

    def _read_batch(self, dynamodb: Any, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """The items of up to 100 keys that exist, UnprocessedKeys resent until none is left."""
        pending = {
            self.table_name: {
                "Keys": [{"region": {"S": region}, "date": {"S": date}} for region, date in keys],
                "ConsistentRead": True,
            }
        }
        found: list[dict[str, Any]] = []
        for attempt in range(self.max_batch_rounds):
            if attempt:
                time.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
            response = dynamodb.batch_get_item(RequestItems=pending)
            found += map(_from_dynamodb, response["Responses"].get(self.table_name, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                return found
        raise RuntimeError(
            f"DynamoDB left keys unread in table {self.table_name} after "
            f"{self.max_batch_rounds} attempts."
        )

    def holds_level(self, level: str) -> bool:
        """Whether the table holds any item of this level: one Query of the level index that
        counts one item at most (no item is returned). The index is eventually consistent: an
        item written a moment ago may not be counted yet."""
        response = self.client("dynamodb").query(
            TableName=self.table_name,
            IndexName=LEVEL_INDEX,
            KeyConditionExpression="#level = :level",
            ExpressionAttributeNames={"#level": "level"},
            ExpressionAttributeValues={":level": {"S": level}},
            Select="COUNT",
            Limit=1,
        )
        return response["Count"] > 0

    def query_region(
        self, region: str, dates: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The items of one region, every one or those from ``dates[0]`` to ``dates[1]`` (ISO,
        inclusive), read with a paginated Query (1 MB a page), as plain dicts."""
        condition = "#region = :region"
        names = {"#region": "region"}
        values: dict[str, Any] = {":region": {"S": region}}
        if dates is not None:
            condition += " AND #date BETWEEN :first AND :last"
            names["#date"] = "date"
            values.update({":first": {"S": dates[0]}, ":last": {"S": dates[1]}})
        return self._query(condition, names, values)

    def _query(
        self, condition: str, names: dict[str, str], values: dict[str, Any], **index: str
    ) -> list[dict[str, Any]]:
        """Every item a key condition selects, in the table or in ``IndexName``, read with a
        paginated Query (1 MB a page), as plain dicts."""
        pages = (
            self.client("dynamodb")
            .get_paginator("query")
            .paginate(
                TableName=self.table_name,
                KeyConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **index,
            )
        )
        return [_from_dynamodb(item) for page in pages for item in page["Items"]]

    def get_item(self, region: str, date: str) -> dict[str, Any] | None:
        """One item by its key, or None when the table has no such item. A missing table raises
        DynamoDB's ResourceNotFoundException."""
        response = self.client("dynamodb").get_item(
            TableName=self.table_name,
            Key={"region": {"S": region}, "date": {"S": date}},
            ConsistentRead=True,
        )
        return _from_dynamodb(response["Item"]) if "Item" in response else None

    def item_problem(self, expected: dict[str, Any]) -> str | None:
        """Why the table does not hold this item with its values (one GetItem), or None when
        it does; an empty ``expected`` is not looked for."""
        if not expected:
            return None
        try:
            stored = self.get_item(expected["region"], expected["date"])
        except ClientError as error:
            return self._missing_table_problem(error)
        return self._stored_problem(expected, stored)

    def items_problems(self, expected: Sequence[dict[str, Any]]) -> list[str | None]:
        """``item_problem`` of each of several items, in their order, at once: one
        BatchGetItem (up to 100 items)."""
        wanted = [item for item in expected if item]
        if not wanted:
            return [None] * len(expected)
        try:
            found = self.get_items([(item["region"], item["date"]) for item in wanted])
        except ClientError as error:
            return [self._missing_table_problem(error) if item else None for item in expected]
        stored = {(item["region"], item["date"]): item for item in found}
        return [
            self._stored_problem(item, stored.get((item["region"], item["date"]))) if item else None
            for item in expected
        ]

    def _missing_table_problem(self, error: ClientError) -> str:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return f"DynamoDB table {self.table_name} does not exist"
        raise error

    def _stored_problem(
        self, expected: dict[str, Any], stored: dict[str, Any] | None
    ) -> str | None:
        where = f"{expected['region']} {expected['date']}"
        if stored is None:
            return f"DynamoDB table {self.table_name} has no item for {where}"
        if any(stored.get(name) != value for name, value in expected.items()):
            return f"DynamoDB item {where} differs from the last load"
        return None

    def put_items(self, items: Sequence[dict[str, Any]]) -> int:
        """Write items with BatchWriteItem, 25 a call, up to ``max_parallel_writers`` calls at
        once, each batch resending its UnprocessedItems with exponential backoff; returns the
        number of calls made. A batch that fails stops the batches not yet started."""
        batches = [
            items[start : start + DYNAMODB_BATCH_SIZE]
            for start in range(0, len(items), DYNAMODB_BATCH_SIZE)
        ]
        # Made here, once: a boto3 session is not thread-safe, its clients are.
        write_batch = functools.partial(self._write_batch, self.client("dynamodb"))
        return sum(in_parallel(write_batch, batches, self.max_parallel_writers))

    def _write_batch(self, dynamodb: Any, batch: Sequence[dict[str, Any]]) -> int:
        """One batch of up to 25 items, its UnprocessedItems resent until none is left; returns
        the calls it took."""
        pending = {
            self.table_name: [{"PutRequest": {"Item": _to_dynamodb(item)}} for item in batch]
        }
        for attempt in range(self.max_batch_rounds):
            if attempt:
                time.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
            pending = dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]
            if not pending:
                return attempt + 1
        left = len(pending.get(self.table_name, []))
        raise RuntimeError(
            f"DynamoDB left {left} item(s) unprocessed in table {self.table_name} after "
            f"{self.max_batch_rounds} attempts; the next run writes them."
        )


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _from_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
