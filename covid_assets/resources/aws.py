"""The AWS resources: thin, typed wrappers around DynamoDB, S3, Glue and SNS.

Every client is built from the standard boto3 chain (credentials, region, ``AWS_ENDPOINT_URL``),
so the same code talks to the local emulator or to real AWS.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError
from dagster_aws.utils import ResourceWithBoto3Configuration
from pydantic import Field

DYNAMODB_BATCH_SIZE = 25  # BatchWriteItem's hard limit (moto accepts more; AWS does not)
S3_DELETE_BATCH_SIZE = 1000  # DeleteObjects' hard limit


@functools.cache
def boto3_session(profile_name: str | None) -> boto3.session.Session:
    """One session per profile for the whole process, so that each service's model is loaded
    once however many clients are made. Credentials it resolves refresh themselves."""
    return boto3.session.Session(profile_name=profile_name)


class AwsClientResource(ResourceWithBoto3Configuration):
    """Base of the AWS resources: boto3 clients with dagster-aws's settings and botocore's
    standard retry mode (which retries throttling and 5xx with backoff).

    Resources with the same settings share one client per service, in the process's session:
    a run holds several copies of the bucket (the resource itself, and inside the quarantine
    and the served export), and a client of their own each would only be built again."""

    def client(self, service: str) -> Any:
        """The client for ``service`` with these settings, created on first use. The endpoint
        is read then (``AWS_ENDPOINT_URL`` when ``endpoint_url`` is not set), and is part of
        what a shared client must match."""
        session = boto3_session(self.profile_name)
        settings = (
            service,
            self.region_name,
            self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
            self.use_ssl,
            self.verify,
            self.aws_access_key_id,
            self.aws_secret_access_key,
            self.aws_session_token,
            self.max_attempts,
        )
        clients = session.__dict__.setdefault("_covid_assets_clients", {})
        if settings not in clients:
            clients[settings] = session.client(
                service,
                region_name=self.region_name,
                endpoint_url=self.endpoint_url,
                use_ssl=self.use_ssl,
                verify=self.verify,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
                aws_session_token=self.aws_session_token,
                config=Config(retries={"max_attempts": self.max_attempts, "mode": "standard"}),
            )
        return clients[settings]


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
        description="BatchWriteItem calls in flight at once in a large write "
        "(COVID_DYNAMODB_WRITERS); 1 writes one batch after another.",
    )

    def ensure_table(self) -> bool:
        """Create the table (on-demand) if it does not exist; True when it was created."""
        dynamodb = self.client("dynamodb")
        try:
            dynamodb.describe_table(TableName=self.table_name)
            return False
        except dynamodb.exceptions.ResourceNotFoundException:
            pass
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

    def ensure_level_index(self) -> bool:
        """Create the table, or add the level index to a table made before it existed; True
        when either was made. A new index is built in the background: this waits until it is
        active, since a load reads through it at once."""
        dynamodb = self.client("dynamodb")
        try:
            table = dynamodb.describe_table(TableName=self.table_name)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            return self.ensure_table()
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

    def query_level(self, level: str, date: str | None = None) -> list[dict[str, Any]]:
        """Every item of a level, or of a level on one day, through the level index (a
        paginated Query, 1 MB a page; eventually consistent, like every index read)."""
        condition = "#level = :level"
        names = {"#level": "level"}
        values: dict[str, Any] = {":level": {"S": level}}
        if date is not None:
            condition += " AND #date = :date"
            names["#date"] = "date"
            values[":date"] = {"S": date}
        return self._query(condition, names, values, IndexName=LEVEL_INDEX)

    def get_items(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """The items of these (region, date) keys that exist, read with strongly consistent
        BatchGetItem calls (100 keys a call), resending UnprocessedKeys with backoff."""
        dynamodb = self.client("dynamodb")
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), DYNAMODB_BATCH_GET_SIZE):
            pending = {
                self.table_name: {
                    "Keys": [
                        {"region": {"S": region}, "date": {"S": date}}
                        for region, date in keys[start : start + DYNAMODB_BATCH_GET_SIZE]
                    ],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(self.max_batch_rounds):
                if attempt:
                    time.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
                response = dynamodb.batch_get_item(RequestItems=pending)
                found += map(_from_dynamodb, response["Responses"].get(self.table_name, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
            else:
                raise RuntimeError(
                    f"DynamoDB left keys unread in table {self.table_name} after "
                    f"{self.max_batch_rounds} attempts."
                )
        return found

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

    def items_problems(self, expected: Sequence[dict[str, Any]]) -> list[str]:
        """``item_problem`` of several items at once: one BatchGetItem (up to 100 items)."""
        wanted = [item for item in expected if item]
        if not wanted:
            return []
        try:
            found = self.get_items([(item["region"], item["date"]) for item in wanted])
        except ClientError as error:
            return [self._missing_table_problem(error)]
        stored = {(item["region"], item["date"]): item for item in found}
        problems = [
            self._stored_problem(item, stored.get((item["region"], item["date"])))
            for item in wanted
        ]
        return [problem for problem in problems if problem]

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
        if self.max_parallel_writers <= 1 or len(batches) <= 1:
            return sum(map(write_batch, batches))
        with ThreadPoolExecutor(self.max_parallel_writers) as writers:
            try:
                return sum(writers.map(write_batch, batches))
            except BaseException:
                writers.shutdown(cancel_futures=True)
                raise

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


GLUE_BATCH_GET_PARTITIONS = 1000  # BatchGetPartition's hard limit
GLUE_BATCH_WRITE_PARTITIONS = 100  # BatchCreatePartition's and BatchUpdatePartition's


class GluePartitionError(RuntimeError):
    """Glue refused to create or update some partitions."""


def _raise_partition_errors(errors: list[dict[str, Any]], action: str) -> None:
    if errors:
        first = errors[0]
        raise GluePartitionError(
            f"Glue could not {action} {len(errors)} partition(s), the first "
            f"{first.get('PartitionValues') or first.get('PartitionValueList')}: "
            f"{first.get('ErrorDetail', {}).get('ErrorMessage', first)}"
        )


class GlueCatalogResource(AwsClientResource):
    """The Glue Data Catalog entry through which Athena reads the export, and its partitions
    when it has some."""

    database: str = Field(description="Glue database (COVID_GLUE_DATABASE).")
    table_name: str = Field(description="Glue table (COVID_GLUE_TABLE).")

    def ensure_database(self) -> None:
        glue = self.client("glue")
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": self.database})

    def get_table(self) -> dict[str, Any] | None:
        glue = self.client("glue")
        try:
            return glue.get_table(DatabaseName=self.database, Name=self.table_name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            return None

    def put_table(self, table_input: dict[str, Any]) -> None:
        """Create the table or replace its definition: one call, so readers switch atomically.
        The database is created only when it turns out to be missing."""
        glue = self.client("glue")
        try:
            glue.update_table(DatabaseName=self.database, TableInput=table_input)
        except glue.exceptions.EntityNotFoundException:
            self.ensure_database()
            glue.create_table(DatabaseName=self.database, TableInput=table_input)

    def get_partitions(self, values: Sequence[Sequence[str]]) -> dict[tuple[str, ...], Any]:
        """The partitions with these values that exist (BatchGetPartition, 1,000 a call),
        keyed by their values."""
        glue = self.client("glue")
        found: dict[tuple[str, ...], Any] = {}
        for start in range(0, len(values), GLUE_BATCH_GET_PARTITIONS):
            pending = [
                {"Values": list(v)} for v in values[start : start + GLUE_BATCH_GET_PARTITIONS]
            ]
            while pending:
                response = glue.batch_get_partition(
                    DatabaseName=self.database, TableName=self.table_name, PartitionsToGet=pending
                )
                for partition in response.get("Partitions", []):
                    found[tuple(partition["Values"])] = partition
                pending = response.get("UnprocessedKeys", [])
        return found

    def create_partitions(self, partitions: Sequence[dict[str, Any]]) -> None:
        glue = self.client("glue")
        for start in range(0, len(partitions), GLUE_BATCH_WRITE_PARTITIONS):
            response = glue.batch_create_partition(
                DatabaseName=self.database,
                TableName=self.table_name,
                PartitionInputList=list(partitions[start : start + GLUE_BATCH_WRITE_PARTITIONS]),
            )
            _raise_partition_errors(response.get("Errors", []), "create")

    def update_partitions(self, partitions: Sequence[dict[str, Any]]) -> None:
        """Point each partition at its new files: one partition switches atomically, the way
        the table's location does."""
        glue = self.client("glue")
        for start in range(0, len(partitions), GLUE_BATCH_WRITE_PARTITIONS):
            entries = [
                {"PartitionValueList": partition["Values"], "PartitionInput": partition}
                for partition in partitions[start : start + GLUE_BATCH_WRITE_PARTITIONS]
            ]
            response = glue.batch_update_partition(
                DatabaseName=self.database, TableName=self.table_name, Entries=entries
            )
            _raise_partition_errors(response.get("Errors", []), "update")


class S3BucketResource(AwsClientResource):
    """The pipeline's bucket. Its client comes from the process's one boto3 session, like the
    other services' clients (dagster-aws's S3Resource would build a new session and resource
    model for each client, loading the service models again)."""

    bucket: str = Field(description="Bucket name (COVID_S3_BUCKET).")
    export_prefix: str = Field(description="Key prefix of the Athena export (COVID_S3_PREFIX).")

    @property
    def export_root(self) -> str:
        """The export prefix as a folder: no leading slash, one trailing slash."""
        return self.export_prefix.strip("/") + "/"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes, content_type: str) -> str:
        """Write the object; returns its ETag (for a single-part object, the body's MD5)."""
        response = self.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
        )
        return response["ETag"]

    def etag(self, key: str) -> str | None:
        """The object's ETag, or None when there is no such object (one HeadObject)."""
        s3 = self.client("s3")
        try:
            return s3.head_object(Bucket=self.bucket, Key=key)["ETag"]
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def get(self, key: str) -> bytes:
        return self.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def list_keys(self, prefix: str, start_after: str = "") -> Iterator[str]:
        """The keys under ``prefix`` in order, those after ``start_after`` only when given."""
        after = {"StartAfter": start_after} if start_after else {}
        pages = (
            self.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix, **after)
        )
        for page in pages:
            yield from (entry["Key"] for entry in page.get("Contents", []))

    def delete(self, keys: Sequence[str]) -> None:
        client = self.client("s3")
        for start in range(0, len(keys), S3_DELETE_BATCH_SIZE):
            batch = keys[start : start + S3_DELETE_BATCH_SIZE]
            response = client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if response.get("Errors"):
                raise ClientError({"Error": response["Errors"][0]}, "DeleteObjects")


class SNSResource(AwsClientResource):
    """The topic that receives validation alerts, run-failure alerts and load notices."""

    topic_arn: str = Field(description="SNS topic ARN (COVID_SNS_TOPIC_ARN).")

    def publish(self, subject: str, message: str) -> str:
        """Publish to the topic; returns the message id. SNS subjects stop at 100 characters."""
        response = self.client("sns").publish(
            TopicArn=self.topic_arn, Subject=subject[:100], Message=message
        )
        return response["MessageId"]
