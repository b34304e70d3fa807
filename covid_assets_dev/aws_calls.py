"""See every AWS API call a block of code makes, by any boto3 client, without patching boto3.

The hook goes on every new botocore session (``botocore.register_initializer``) rather than on one
client: dagster-aws builds a session per S3 client, and the pipeline's other resources share one
session per process, which the recorder replaces with a fresh (hooked) one for the block. The
least-privilege test and the benchmark both record calls this way.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore
import botocore.session

from covid_assets.resources.aws_client import boto3_session

CallHandler = Callable[[Any, dict[str, Any]], None]


@contextmanager
def on_every_aws_call(handle: CallHandler) -> Iterator[None]:
    """Call ``handle(operation_model, params)`` before each AWS API call made inside the block
    by a client created inside it (once per call: botocore's own retries are not repeated)."""

    def before_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        handle(model, params)

    def hook_session(session: botocore.session.Session) -> None:
        session.register("before-parameter-build", before_call)

    botocore.register_initializer(hook_session)
    boto3_session.cache_clear()
    try:
        yield
    finally:
        botocore.unregister_initializer(hook_session)
        boto3_session.cache_clear()


@dataclass(frozen=True)
class AwsCall:
    service: str  # the signing name: dynamodb, s3, glue, sns, ...
    operation: str
    params: dict[str, Any]


@contextmanager
def recorded_calls() -> Iterator[list[AwsCall]]:
    """Every AWS API call made inside the block, in order."""
    calls: list[AwsCall] = []

    def record(model: Any, params: dict[str, Any]) -> None:
        calls.append(AwsCall(model.service_model.signing_name, model.name, params))

    with on_every_aws_call(record):
        yield calls


def calls_by_operation(calls: list[AwsCall]) -> Counter[tuple[str, str]]:
    return Counter((call.service, call.operation) for call in calls)


@dataclass
class CallCounts:
    """Counts of AWS calls, for a run too large to keep each call's parameters (a backfill's
    BatchWriteItem calls hold every item): calls by (service, operation), the DynamoDB items
    written and keys read in batches, and the reads that grow with a level rather than with
    what changed: Queries of the level index (a whole level, or a level on one day) and Scans."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    items_written: int = 0
    keys_read: int = 0
    level_queries: Counter[str] = field(default_factory=Counter)

    def count(self, model: Any, params: dict[str, Any]) -> None:
        self.calls[(model.service_model.signing_name, model.name)] += 1
        requests = params.get("RequestItems", {}).values()
        if model.name == "BatchWriteItem":
            self.items_written += sum(len(writes) for writes in requests)
        elif model.name == "BatchGetItem":
            self.keys_read += sum(len(request["Keys"]) for request in requests)
        elif model.name == "Scan":
            self.level_queries["Scan"] += 1
        # A load's probe of whether a level has any item counts one item: not a level's read.
        elif model.name == "Query" and params.get("IndexName") and params.get("Limit") != 1:
            values = params["ExpressionAttributeValues"]
            one_day = " on one day" if ":date" in values else ""
            self.level_queries[f"{values[':level']['S']} level{one_day}"] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": {
                f"{service}:{operation}": n for (service, operation), n in self.calls.items()
            },
            "items_written": self.items_written,
            "keys_read": self.keys_read,
            "level_queries": dict(self.level_queries),
        }
