"""The serving lock: one run at a time builds and writes what is served, however it started.

The run queue holds back only the runs it launches; a run started outside it (``dagster job
execute``, ``dagster asset materialize``, in process) is not queued. So every step first holds
this lock, one DynamoDB item under the partition key ``#serving-lock``, from the run's first
step to its end: a run's step outputs are stored per asset, and its checks compare with what it
will replace, so no other run may write in between. See docs/pipeline.md, "One run at a time".

The lock is a lease, as in AWS's DynamoDB Lock Client: while its run lives, a thread of the
run's process renews it (a new lease token and the time of renewal) every third of the lease
period. A run killed with ``kill -9`` (an out-of-memory kill, a lost ECS task) stops renewing,
and once its lock has not been renewed for a lease period the next run takes it over, and marks
the dead run failed in Dagster (which would otherwise show it STARTED for ever).
"""

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError
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
LEASE_SETTING = "COVID_SERVING_LOCK_LEASE_SECONDS"
# The holder renews three times a lease period: a live holder's renewal is never more than a
# third of the lease old, which leaves two thirds for a slow call or clocks that differ.
RENEWALS_PER_LEASE = 3


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LockHolder:
    """The run the lock item names, when it took the lock and last renewed it (ISO 8601, UTC),
    and its lease token, which every renewal replaces (None on an item written before leases:
    it is never renewed)."""

    run_id: str
    since: str
    renewed: str
    lease: str | None

    @classmethod
    def from_item(cls, item: dict) -> "LockHolder":
        since = item["since"]["S"]
        renewed = item.get("renewed", {"S": since})["S"]
        return cls(item["owner"]["S"], since, renewed, item.get("lease", {}).get("S"))

    def __str__(self) -> str:
        since = datetime.fromisoformat(self.since)
        return f"run {self.run_id} (since {since:%Y-%m-%d %H:%M:%S} UTC)"

    def unrenewed_seconds(self) -> float:
        """How long ago the holder last renewed its lease, by this machine's clock."""
        return (datetime.now(UTC) - datetime.fromisoformat(self.renewed)).total_seconds()


class Heartbeat(threading.Thread):
    """Renews the run's lease until stopped, or until a renewal finds that the lock no longer
    names the run (another run took it over: ``lost_to`` says which)."""

    def __init__(self, lock: "ServingLockResource", run_id: str) -> None:
        super().__init__(name=f"serving-lock-heartbeat-{run_id}", daemon=True)
        self.lock, self.run_id = lock, run_id
        self.stopped = threading.Event()
        self.lost_to: str | None = None

    def run(self) -> None:
        period = self.lock.lease_seconds / RENEWALS_PER_LEASE
        while not self.stopped.wait(period):
            try:
                self.lost_to = self.lock.renew(self.run_id, uuid.uuid4().hex)
            except (BotoCoreError, ClientError):
                # A failed call (the network, throttling) is tried again next period: the lease
                # lapses only after RENEWALS_PER_LEASE of them fail.
                continue
            if self.lost_to is not None:
                return

    def stop(self) -> None:
        self.stopped.set()
        self.join()


class ServingLockResource(ConfigurableResource):
    """The lock every step of a run holds until the run's steps are done (see the module)."""

    dynamodb: DynamoDBResource = Field(
        description="The table of the daily records, which holds the lock item."
    )
    wait_seconds: int = Field(
        description="How long a step waits for the lock while another run under way holds it, "
        f"before failing ({WAIT_SETTING}). Longer than the lease, so that a dead run's lock is "
        "taken over within it."
    )
    lease_seconds: int = Field(
        default=60,
        description="How long a lock may go unrenewed before another run takes it over and "
        f"marks its run failed ({LEASE_SETTING}).",
    )
    _heartbeat: Heartbeat | None = PrivateAttr(default=None)

    def hold(self, context: AssetExecutionContext) -> None:
        """Take the lock for this step's run, unless the run holds it already. While another
        run under way holds it, wait up to ``wait_seconds``, then fail saying which run. A lock
        whose run has ended, or whose lease has lapsed, is taken over."""
        run_id = context.run.run_id
        if self._heartbeat is not None and self._heartbeat.run_id == run_id:
            if self._heartbeat.lost_to is not None:
                raise Failure(
                    f"This run lost the serving lock to {self._heartbeat.lost_to}, which found "
                    f"it not renewed for {self.lease_seconds} s ({LEASE_SETTING}) or this run "
                    "ended. Nothing more of it is written; run again.",
                    allow_retries=False,
                )
            return
        deadline = time.monotonic() + self.wait_seconds
        lease = uuid.uuid4().hex
        holder = self.claim(run_id, lease)
        announced = None  # the run last said to hold the lock
        while holder is not None:
            run = context.instance.get_run_by_id(holder.run_id)
            ended = run is not None and run.is_finished
            lapsed = self.lapsed(holder)
            if ended or lapsed:
                stale, holder = holder, self.claim(run_id, lease, stale=holder)
                if holder is None:
                    context.log.warning(
                        "Took over the serving lock of %s, %s", stale, lapsed or "which has ended"
                    )
                    if not ended:
                        self.mark_failed(context.instance, stale, by=f"run {run_id}")
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(
                    f"What is served is being written by {holder}; waited {self.wait_seconds} s "
                    f"({WAIT_SETTING}). Run again once that run has ended.",
                    metadata={"lock_holder_run_id": holder.run_id},
                    allow_retries=False,
                )
            if holder.run_id != announced:
                context.log.info(
                    "What is served is being written by %s; waiting up to %d s (%s)",
                    holder,
                    self.wait_seconds,
                    WAIT_SETTING,
                )
                announced = holder.run_id
            time.sleep(min(POLL_SECONDS, remaining))
            holder = self.claim(run_id, lease)
        self._heartbeat = Heartbeat(self, run_id)
        self._heartbeat.start()
        context.log.info("This run holds the serving lock")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Stop renewing and release the lock once the run's steps are done, if the run took
        it and still holds it."""
        if self._heartbeat is None:
            return
        heartbeat, self._heartbeat = self._heartbeat, None
        heartbeat.stop()
        if heartbeat.lost_to is not None:
            context.log.warning(
                "The serving lock no longer named this run: %s took it over", heartbeat.lost_to
            )
            return
        dynamodb = self.dynamodb.client("dynamodb")
        try:
            dynamodb.delete_item(
                TableName=self.dynamodb.table_name,
                Key=LOCK_KEY,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": heartbeat.run_id}},
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            context.log.warning(
                "The serving lock no longer named this run: another run took it over"
            )

    def claim(self, run_id: str, lease: str, stale: LockHolder | None = None) -> LockHolder | None:
        """Write the lock item naming this run and ``lease`` if there is none, if it names this
        run already (a step in a process of its own, or the run resumed by a new worker), or if
        it still holds ``stale``'s lease: of two runs taking over the same stale lock, only the
        first gets it. Returns None when written, else the holder that kept it. A missing table
        is created first, as the load would."""
        condition = "attribute_not_exists(#region) OR #owner = :me"
        names = {"#region": "region", "#owner": "owner"}
        values = {":me": {"S": run_id}}
        if stale is not None:
            names["#lease"] = "lease"
        if stale is not None and stale.lease is None:
            condition += " OR (#owner = :stale AND attribute_not_exists(#lease))"
            values[":stale"] = {"S": stale.run_id}
        elif stale is not None:
            condition += " OR #lease = :stale"
            values[":stale"] = {"S": stale.lease}
        dynamodb = self.dynamodb.client("dynamodb")
        renewed = now()
        request = {
            "TableName": self.dynamodb.table_name,
            "Item": {
                **LOCK_KEY,
                "owner": {"S": run_id},
                "since": {"S": renewed},
                "renewed": {"S": renewed},
                "lease": {"S": lease},
            },
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            dynamodb.put_item(**request)
        except dynamodb.exceptions.ResourceNotFoundException:
            self.dynamodb.ensure_table()
            return self.claim(run_id, lease, stale)
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            return LockHolder.from_item(error.response["Item"])
        return None

    def renew(self, run_id: str, lease: str) -> str | None:
        """Renew the run's lease with a new token, if the lock still names the run (a run id
        is never reused, so no other process holds it under this name). Returns None when
        renewed, else who took it over."""
        dynamodb = self.dynamodb.client("dynamodb")
        try:
            dynamodb.update_item(
                TableName=self.dynamodb.table_name,
                Key=LOCK_KEY,
                UpdateExpression="SET #lease = :lease, #renewed = :renewed",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={
                    "#owner": "owner",
                    "#lease": "lease",
                    "#renewed": "renewed",
                },
                ExpressionAttributeValues={
                    ":me": {"S": run_id},
                    ":lease": {"S": lease},
                    ":renewed": {"S": now()},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            item = error.response.get("Item")
            return str(LockHolder.from_item(item)) if item else "a run that has released it"
        return None

    def holder(self) -> LockHolder | None:
        """The lock item's holder, or None when nobody holds it (or there is no table yet)."""
        dynamodb = self.dynamodb.client("dynamodb")
        try:
            response = dynamodb.get_item(
                TableName=self.dynamodb.table_name, Key=LOCK_KEY, ConsistentRead=True
            )
        except dynamodb.exceptions.ResourceNotFoundException:
            return None
        return LockHolder.from_item(response["Item"]) if "Item" in response else None

    def lapsed(self, holder: LockHolder) -> str:
        """Why ``holder``'s lease has lapsed, or the empty string while it has not."""
        unrenewed = holder.unrenewed_seconds()
        if unrenewed <= self.lease_seconds:
            return ""
        return (
            f"whose lease lapsed: not renewed for {unrenewed:.0f} s, more than "
            f"{self.lease_seconds} s ({LEASE_SETTING})"
        )

    def mark_failed(self, instance: DagsterInstance, holder: LockHolder, by: str) -> bool:
        """Mark the run of a lapsed lease failed, with the reason, if Dagster still has it
        under way: nothing else would (a run of the CLI or of the default run launcher has no
        worker health check). Returns whether it did."""
        run = instance.get_run_by_id(holder.run_id)
        if run is None or run.is_finished:
            return False
        instance.report_run_failed(
            run,
            f"Marked failed by {by}: this run's serving lock, {self.lapsed(holder)}. Its process "
            "is gone (killed, out of memory, or its task lost); the next run writes what it left "
            "unwritten.",
        )
        return True

    def end_dead_run(self, instance: DagsterInstance, by: str) -> LockHolder | None:
        """If the lock's lease has lapsed while Dagster still has its run under way, mark that
        run failed and return its holder. For a tick, which starts no run while one is under
        way: a dead run would hold every tick back for ever."""
        holder = self.holder()
        if holder is None or not self.lapsed(holder):
            return None
        return holder if self.mark_failed(instance, holder, by) else None
