"""The serving lock: a run that finds it held by a run under way waits within a bound, then fails
saying which run; a lock left by a run that has ended is taken over, by one waiter only; a run
releases it when its steps are done; and two runs launched together outside the run queue end
with the state of one of them, complete. Everything runs against the moto server."""

import time
import uuid

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    ExecuteInProcessResult,
    asset,
    materialize,
)

from covid_assets.defs.automation.failures import failure_reason
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.serving_lock import LOCK_KEY, LockHolder, ServingLockResource
from covid_assets_tests.helpers import (
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    EmulatedAws,
    materialization_metadata,
    run_daily_job,
    run_messages,
)

pytestmark = pytest.mark.integration

SINCE = "2021-03-18T12:15:00+00:00"


@asset
def serving_step(context: AssetExecutionContext, serving_lock: ServingLockResource) -> None:
    serving_lock.hold(context)


def serving_lock(aws: EmulatedAws, wait_seconds: int = 30) -> ServingLockResource:
    dynamodb = DynamoDBResource(table_name=aws.table_name, region_name=aws.region)
    return ServingLockResource(dynamodb=dynamodb, wait_seconds=wait_seconds)


def run_serving_step(
    instance: DagsterInstance, lock: ServingLockResource
) -> ExecuteInProcessResult:
    return materialize(
        [serving_step], instance=instance, resources={"serving_lock": lock}, raise_on_error=False
    )


def run_with_status(instance: DagsterInstance, status: DagsterRunStatus) -> str:
    """The id of a run of another job that this instance has in ``status``."""
    run = DagsterRun(job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), status=status)
    instance.add_run(run)
    return run.run_id


def hold_lock_for(aws: EmulatedAws, run_id: str) -> LockHolder:
    """The lock item as a run left it."""
    item = {**LOCK_KEY, "owner": {"S": run_id}, "since": {"S": SINCE}}
    aws.client("dynamodb").put_item(TableName=aws.table_name, Item=item)
    return LockHolder(run_id, SINCE)


def lock_owner(aws: EmulatedAws) -> str | None:
    """The run the lock item names, or None when there is no lock item."""
    response = aws.client("dynamodb").get_item(
        TableName=aws.table_name, Key=LOCK_KEY, ConsistentRead=True
    )
    return response["Item"]["owner"]["S"] if "Item" in response else None


def test_a_run_finding_the_lock_held_by_a_run_under_way_waits_then_fails_saying_which(
    aws, instance
):
    holder = run_with_status(instance, DagsterRunStatus.STARTED)
    hold_lock_for(aws, holder)

    started = time.monotonic()
    result = run_serving_step(instance, serving_lock(aws, wait_seconds=2))
    elapsed = time.monotonic() - started

    assert not result.success
    assert 2 <= elapsed < 10  # the bound, and no more than a run's own overhead beyond it
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failure_reason(failure.step_failure_data.error).startswith(
        f"What is served is being written by run {holder} (since 2021-03-18 12:15:00 UTC); "
        "waited 2 s (COVID_SERVING_LOCK_WAIT_SECONDS)."
    )
    assert lock_owner(aws) == holder


@pytest.mark.parametrize(
    "status", [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED, None], ids=str
)
def test_a_lock_left_by_a_run_that_has_ended_or_is_unknown_is_taken_over_at_once(
    aws, instance, status
):
    holder = run_with_status(instance, status) if status else str(uuid.uuid4())
    hold_lock_for(aws, holder)

    started = time.monotonic()
    result = run_serving_step(instance, serving_lock(aws, wait_seconds=30))

    assert time.monotonic() - started < 10  # far from the 30 s it would have waited
    assert result.success
    assert f"Took over the serving lock of run {holder}" in " ".join(
        run_messages(instance, result.run_id)
    )
    assert lock_owner(aws) is None  # released when the run's steps were done


def test_of_two_runs_taking_over_the_same_stale_lock_only_the_first_gets_it(aws, instance):
    stale = hold_lock_for(aws, run_with_status(instance, DagsterRunStatus.FAILURE))
    lock = serving_lock(aws)

    assert lock.claim("first-waiter", stale=stale) is None
    assert lock.claim("second-waiter", stale=stale).run_id == "first-waiter"
    assert lock_owner(aws) == "first-waiter"


@pytest.mark.parametrize(
    "nyt_text",
    [NYT_THREE_DAYS, NYT_THREE_DAYS.replace(",20,", ",-20,")],
    ids=["loaded", "rejected"],
)
def test_a_run_of_the_pipeline_holds_the_lock_and_releases_it_when_its_steps_are_done(
    aws, instance, write_sources, nyt_text
):
    write_sources(nyt_text, JHU_THREE_DAYS)

    result = run_daily_job(instance, raise_on_error=False)

    assert "This run holds the serving lock" in run_messages(instance, result.run_id)
    assert lock_owner(aws) is None


def test_the_load_never_takes_the_lock_item_for_a_day(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)

    metadata = materialization_metadata(run_daily_job(instance), "dynamodb_records")

    assert metadata["vanished_keys"] == []
    assert metadata["dagster/row_count"] == 3
