"""The serving lock: one run at a time builds and writes what is served, however it started.

The run queue holds back only the runs it launches; a run started outside it (``dagster job
execute``, ``dagster asset materialize``, in process) is not queued. So every step first holds
this lock, one DynamoDB item under the partition key ``#serving-lock``, from the run's first
step to its end: a run's step outputs are stored per asset, and its checks compare with what it
will replace, so no other run may write in between. See docs/pipeline.md, "One run at a time".
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    ConfigurableResource,
    DagsterInstance,
    Failure,
    InitResourceContext,
)
from pydantic import Field, PrivateAttr

from covid_assets.resources.dynamodb import DynamoDBResource

LOCK_REGION = "#serving-lock"
# The table's sort key needs a value; the lock has no date.
LOCK_KEY = {"region": {"S": LOCK_REGION}, "date": {"S": "-"}}
POLL_SECONDS = 1.0
WAIT_SETTING = "COVID_SERVING_LOCK_WAIT_SECONDS"


@dataclass(frozen=True)
class LockHolder:
    """The run the lock item names, and when it took the lock (ISO 8601, UTC)."""

    run_id: str
    since: str

    def __str__(self) -> str:
        since = datetime.fromisoformat(self.since)
        return f"run {self.run_id} (since {since:%Y-%m-%d %H:%M:%S} UTC)"


def has_ended(instance: DagsterInstance, run_id: str) -> bool:
    """Whether the run can no longer release a lock: it has finished, or this instance does
    not know it."""
    run = instance.get_run_by_id(run_id)
    return run is None or run.is_finished


class ServingLockResource(ConfigurableResource):
    """The lock every step of a run holds until the run's steps are done (see the module)."""

    dynamodb: DynamoDBResource = Field(
        description="The table of the daily records, which holds the lock item."
    )
    wait_seconds: int = Field(
        description="How long a step waits for the lock while another run under way holds it, "
        f"before failing ({WAIT_SETTING})."
    )
    _held_by: str | None = PrivateAttr(default=None)

    def hold(self, context: AssetExecutionContext) -> None:
        """Take the lock for this step's run, unless the run holds it already. While another
        run under way holds it, wait up to ``wait_seconds``, then fail saying which run."""
        run_id = context.run.run_id
        if self._held_by == run_id:
            return
        deadline = time.monotonic() + self.wait_seconds
        holder = self.claim(run_id)
        announced = None
        while holder is not None:
            if has_ended(context.instance, holder.run_id):
                stale, holder = holder, self.claim(run_id, stale=holder)
                if holder is None:
                    context.log.warning("Took over the serving lock of %s, which has ended", stale)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(
                    f"What is served is being written by {holder}; waited {self.wait_seconds} s "
                    f"({WAIT_SETTING}). Run again once that run has ended.",
                    metadata={"lock_holder_run_id": holder.run_id},
                    allow_retries=False,
                )
            if holder != announced:
                context.log.info(
                    "What is served is being written by %s; waiting up to %d s (%s)",
                    holder,
                    self.wait_seconds,
                    WAIT_SETTING,
                )
                announced = holder
            time.sleep(min(POLL_SECONDS, remaining))
            holder = self.claim(run_id)
        self._held_by = run_id
        context.log.info("This run holds the serving lock")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Release the lock once the run's steps are done, if the run took it."""
        if self._held_by is None:
            return
        owner, self._held_by = self._held_by, None
        dynamodb = self.dynamodb.client("dynamodb")
        try:
            dynamodb.delete_item(
                TableName=self.dynamodb.table_name,
                Key=LOCK_KEY,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            context.log.warning(
                "The serving lock no longer named this run: another run took it over"
            )

    def claim(self, run_id: str, stale: LockHolder | None = None) -> LockHolder | None:
        """Write the lock item naming this run if there is none, if it names this run already
        (a step in a process of its own), or if it still names ``stale``. Returns None when
        written, else the holder that kept it. A missing table is created first, as the load
        would."""
        condition = "attribute_not_exists(#region) OR #owner = :me"
        values = {":me": {"S": run_id}}
        if stale is not None:
            condition += " OR #owner = :stale"
            values[":stale"] = {"S": stale.run_id}
        dynamodb = self.dynamodb.client("dynamodb")
        request = {
            "TableName": self.dynamodb.table_name,
            "Item": {
                **LOCK_KEY,
                "owner": {"S": run_id},
                "since": {"S": datetime.now(UTC).isoformat(timespec="seconds")},
            },
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#region": "region", "#owner": "owner"},
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            dynamodb.put_item(**request)
        except dynamodb.exceptions.ResourceNotFoundException:
            self.dynamodb.ensure_table()
            return self.claim(run_id, stale)
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            item = error.response["Item"]
            return LockHolder(item["owner"]["S"], item["since"]["S"])
        return None
