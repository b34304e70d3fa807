"""The serving lock, a lease: a run that finds it held by a run under way, which renews it, waits
within a bound, then fails saying which run; a lock left by a run that has ended, or not renewed
for a lease period, is taken over by one waiter only, and a run that died holding it is marked
failed with the reason; a tick does the same for a dead run, and leaves a live one under way; a
run that lost the lock writes nothing more; a run releases it when its steps are done. Everything
runs against the moto server."""

import time
import uuid
from datetime import UTC, datetime

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
from covid_assets.defs.automation.triggers import REASON_TAG
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.serving_lock import (
    LOCK_KEY,
    Heartbeat,
    LockHolder,
    ServingLockResource,
)
from covid_assets_tests.helpers import (
    DAY_ONE,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    EmulatedAws,
    materialization_metadata,
    run_daily_job,
    run_messages,
    sensor_tick,
)

pytestmark = pytest.mark.integration

SINCE = "2021-03-18T12:15:00+00:00"


@asset
def serving_step(context: AssetExecutionContext, serving_lock: ServingLockResource) -> None:
    serving_lock.hold(context)


def serving_lock(
    aws: EmulatedAws, wait_seconds: int = 30, lease_seconds: int = 60
) -> ServingLockResource:
    dynamodb = DynamoDBResource(table_name=aws.table_name, region_name=aws.region)
    return ServingLockResource(
        dynamodb=dynamodb, wait_seconds=wait_seconds, lease_seconds=lease_seconds
    )


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


def hold_lock_for(aws: EmulatedAws, run_id: str, renewed: str = SINCE) -> LockHolder:
    """The lock item as a run left it, last renewed at ``renewed``."""
    holder = LockHolder(run_id, SINCE, renewed, lease=uuid.uuid4().hex)
    item = {
        **LOCK_KEY,
        "owner": {"S": run_id},
        "since": {"S": SINCE},
        "renewed": {"S": renewed},
        "lease": {"S": holder.lease},
    }
    aws.client("dynamodb").put_item(TableName=aws.table_name, Item=item)
    return holder


def just_now() -> str:
    return datetime.now(UTC).isoformat()


def lock_item(aws: EmulatedAws) -> dict | None:
    response = aws.client("dynamodb").get_item(
        TableName=aws.table_name, Key=LOCK_KEY, ConsistentRead=True
    )
    return response.get("Item")


def lock_owner(aws: EmulatedAws) -> str | None:
    """The run the lock item names, or None when there is no lock item."""
    item = lock_item(aws)
    return item["owner"]["S"] if item else None


def step_failure(result: ExecuteInProcessResult) -> str:
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return failure_reason(failure.step_failure_data.error)


def test_a_run_finding_the_lock_held_by_a_run_under_way_waits_then_fails_saying_which(
    aws, instance
):
    holder = run_with_status(instance, DagsterRunStatus.STARTED)
    hold_lock_for(aws, holder, renewed=just_now())

    started = time.monotonic()
    result = run_serving_step(instance, serving_lock(aws, wait_seconds=2))
    elapsed = time.monotonic() - started

    assert not result.success
    assert 2 <= elapsed < 10  # the bound, and no more than a run's own overhead beyond it
    assert step_failure(result).startswith(
        f"What is served is being written by run {holder} (since 2021-03-18 12:15:00 UTC); "
        "waited 2 s (COVID_SERVING_LOCK_WAIT_SECONDS)."
    )
    assert lock_owner(aws) == holder


def test_a_holder_that_renews_its_lease_keeps_the_lock_past_the_lease_period(aws, instance):
    holder = run_with_status(instance, DagsterRunStatus.STARTED)
    lock = serving_lock(aws, lease_seconds=1)
    assert lock.claim(holder, lease="first") is None
    heartbeat = Heartbeat(lock, holder)
    heartbeat.start()
    try:
        # Three lease periods: without the heartbeat the waiter would take it over after one.
        result = run_serving_step(instance, serving_lock(aws, wait_seconds=3, lease_seconds=1))
    finally:
        heartbeat.stop()

    assert step_failure(result).startswith(f"What is served is being written by run {holder} ")
    assert lock_item(aws)["lease"]["S"] != "first"  # renewed
    assert lock_owner(aws) == holder
    assert instance.get_run_by_id(holder).status == DagsterRunStatus.STARTED


@pytest.mark.parametrize("status", [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED], ids=str)
def test_a_lock_left_by_a_run_that_has_ended_is_taken_over_at_once(aws, instance, status):
    holder = run_with_status(instance, status)
    hold_lock_for(aws, holder, renewed=just_now())

    started = time.monotonic()
    result = run_serving_step(instance, serving_lock(aws, wait_seconds=30))

    assert time.monotonic() - started < 10  # far from the 30 s it would have waited
    assert result.success
    assert (
        f"Took over the serving lock of run {holder} (since 2021-03-18 12:15:00 UTC), "
        "which has ended" in " ".join(run_messages(instance, result.run_id))
    )
    assert lock_owner(aws) is None  # released when the run's steps were done


def test_a_lock_of_a_run_this_instance_does_not_know_is_kept_while_it_is_renewed(aws, instance):
    """Another Dagster instance's run (a laptop pointed at the table) may be alive."""
    holder = str(uuid.uuid4())
    hold_lock_for(aws, holder, renewed=just_now())

    result = run_serving_step(instance, serving_lock(aws, wait_seconds=1))

    assert step_failure(result).startswith(f"What is served is being written by run {holder} ")


@pytest.mark.parametrize("known", [True, False], ids=["started", "unknown"])
def test_a_lock_not_renewed_for_its_lease_is_taken_over_at_once(aws, instance, known):
    holder = run_with_status(instance, DagsterRunStatus.STARTED) if known else str(uuid.uuid4())
    hold_lock_for(aws, holder)  # last renewed in 2021

    started = time.monotonic()
    result = run_serving_step(instance, serving_lock(aws, wait_seconds=30))

    assert time.monotonic() - started < 10
    assert result.success
    assert (
        f"Took over the serving lock of run {holder} (since 2021-03-18 12:15:00 UTC), whose "
        "lease lapsed: not renewed for " in " ".join(run_messages(instance, result.run_id))
    )
    assert lock_owner(aws) is None


def test_a_run_that_died_holding_the_lock_is_marked_failed_with_the_reason(aws, instance):
    holder = run_with_status(instance, DagsterRunStatus.STARTED)
    hold_lock_for(aws, holder)

    taker = run_serving_step(instance, serving_lock(aws, lease_seconds=60)).run_id

    assert instance.get_run_by_id(holder).status == DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(holder, of_type=DagsterEventType.RUN_FAILURE)
    assert failure.message.startswith(
        f"Marked failed by run {taker}: this run's serving lock, whose lease lapsed: not renewed "
        "for "
    )
    assert "s, more than 60 s (COVID_SERVING_LOCK_LEASE_SECONDS). Its process is gone" in (
        failure.message
    )


def test_of_two_runs_taking_over_the_same_stale_lock_only_the_first_gets_it(aws, instance):
    stale = hold_lock_for(aws, run_with_status(instance, DagsterRunStatus.STARTED))
    lock = serving_lock(aws)

    assert lock.claim("first-waiter", "first-lease", stale=stale) is None
    assert lock.claim("second-waiter", "second-lease", stale=stale).run_id == "first-waiter"
    assert lock_owner(aws) == "first-waiter"


def test_a_lock_written_before_leases_is_taken_over_once_its_run_has_ended(aws, instance):
    holder = run_with_status(instance, DagsterRunStatus.FAILURE)
    item = {**LOCK_KEY, "owner": {"S": holder}, "since": {"S": SINCE}}
    aws.client("dynamodb").put_item(TableName=aws.table_name, Item=item)

    result = run_serving_step(instance, serving_lock(aws))

    assert result.success
    assert lock_owner(aws) is None


def test_a_run_that_lost_the_lock_fails_its_next_step_saying_to_whom(aws, instance):
    lock = serving_lock(aws, lease_seconds=1)
    thief = str(uuid.uuid4())

    @asset
    def first_step(context: AssetExecutionContext, serving_lock: ServingLockResource) -> None:
        serving_lock.hold(context)
        hold_lock_for(aws, thief, renewed=just_now())  # as a run that took over a lapsed lease
        time.sleep(1)  # three renewals: the first finds the lock gone

    @asset(deps=[first_step])
    def second_step(context: AssetExecutionContext, serving_lock: ServingLockResource) -> None:
        serving_lock.hold(context)

    result = materialize(
        [first_step, second_step],
        instance=instance,
        resources={"serving_lock": lock},
        raise_on_error=False,
    )

    assert step_failure(result).startswith(
        f"This run lost the serving lock to run {thief} (since 2021-03-18 12:15:00 UTC)"
    )
    assert lock_owner(aws) == thief  # the thief's lock is left alone


def test_a_tick_marks_a_run_that_died_holding_the_lock_failed_and_requests_a_run(
    aws, instance, web_sources
):
    web_sources.write("us.csv", NYT_THREE_DAYS, DAY_ONE)
    web_sources.write("jhu.csv", JHU_THREE_DAYS, DAY_ONE)
    dead = run_with_status(instance, DagsterRunStatus.STARTED)
    hold_lock_for(aws, dead)  # last renewed in 2021

    tick = sensor_tick(instance)

    assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(dead, of_type=DagsterEventType.RUN_FAILURE)
    assert failure.message.startswith("Marked failed by a tick of covid_sources_sensor: ")
    [request] = tick.run_requests
    assert "NYT published a new file" in request.tags[REASON_TAG]


def test_a_tick_leaves_a_run_that_renews_its_lock_under_way(aws, instance, web_sources):
    running = run_with_status(instance, DagsterRunStatus.STARTED)
    hold_lock_for(aws, running, renewed=just_now())

    tick = sensor_tick(instance)

    assert tick.skip_reason == f"run {running} is already under way"
    assert instance.get_run_by_id(running).status == DagsterRunStatus.STARTED


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
