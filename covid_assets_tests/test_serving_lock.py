"""The serving lock: a run that finds it held by a run under way waits within a bound, then fails
saying which run; a lock left by a run that has ended is taken over, by one waiter only; a run
releases it when its steps are done; and two runs launched together outside the run queue end
with the state of one of them, complete. Everything runs against the moto server."""

import os
import subprocess
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    ExecuteInProcessResult,
    asset,
    materialize,
)

from covid_assets.defs.automation.failures import failure_reason
from covid_assets.domain.dashboard_data import prepare_dashboard_data
from covid_assets.domain.dashboard_render import dashboard_svgs
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.transform import merge_daily
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.serving_lock import LOCK_KEY, LockHolder, ServingLockResource
from covid_assets_dev.local_stack import PROJECT_ROOT, dagster_command, prepare_dagster_home
from covid_assets_tests.helpers import (
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    EmulatedAws,
    exported_rows,
    materialization_metadata,
    run_daily_job,
    snapshot_sources,
    stored_days,
)

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


def run_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id)]


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


# Two real days: the later one revises one of the earlier one's days, so a mix of the two in
# what is served shows on that day.
TWO_DAYS = ("2021-03-17", "2021-03-18")
TWO_RUNS_SECONDS = 60


def merged_snapshot(snapshots_dir: Path, day: str) -> pd.DataFrame:
    """The merged table of one day's snapshot, as its run builds it."""
    nyt, jhu = (
        RawSourceFile.from_bytes(name, (snapshots_dir / day / name).read_bytes())
        for name in ("nyt-us.csv", "jhu-combined.csv")
    )
    return merge_daily(nyt.table, jhu.table, nyt.url, jhu.url)


def days_of(table: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    return {
        row.date.isoformat(): (row.cases, row.deaths, row.recovered)
        for row in table.itertuples(index=False)
    }


def nyt_url(instance: DagsterInstance, run_id: str) -> str:
    """The NYT file the run downloaded."""
    [url] = [
        entry.asset_materialization.metadata["source_url"].value
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        if entry.asset_materialization.asset_key == AssetKey("nyt_raw")
    ]
    return url


def materialization_times(instance: DagsterInstance, run_id: str) -> list[float]:
    entries = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    return [entry.timestamp for entry in entries]


def test_two_runs_launched_together_outside_the_queue_end_with_one_runs_complete_state(
    aws, snapshots_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    prepare_dagster_home()
    # The instance exists before runs are launched on it: two processes creating its storage at
    # once would race to stamp the schema version.
    DagsterInstance.get().dispose()
    command = dagster_command(
        "asset", "materialize", "--select", "*", "-m", "covid_assets.code_location"
    )

    logs = [tmp_path / f"{day}.log" for day in TWO_DAYS]

    started = time.monotonic()
    with ExitStack() as log_files:
        processes = [
            subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env={
                    **os.environ,
                    **snapshot_sources(snapshots_dir, day),
                    "COVID_SERVING_LOCK_WAIT_SECONDS": str(TWO_RUNS_SECONDS),
                },
                stdout=log_files.enter_context(log.open("w")),
                stderr=subprocess.STDOUT,
            )
            for day, log in zip(TWO_DAYS, logs, strict=True)
        ]
        returncodes = [process.wait(timeout=2 * TWO_RUNS_SECONDS) for process in processes]
    assert time.monotonic() - started < TWO_RUNS_SECONDS

    # Both ran fully, and one waited for the other: the second's steps came after the first's.
    assert returncodes == [0, 0], [log.read_text()[-3000:] for log in logs]
    with DagsterInstance.get() as instance:
        run_ids = [run.run_id for run in instance.get_runs()]
        [(first, second)] = [
            (holder, waiter)
            for waiter in run_ids
            for holder in run_ids
            if any(
                f"What is served is being written by run {holder}" in message
                for message in run_messages(instance, waiter)
            )
        ]
        assert max(materialization_times(instance, first)) < min(
            materialization_times(instance, second)
        )
        [second_day] = [day for day in TWO_DAYS if day in nyt_url(instance, second)]

    # What is served is the newest version's, complete: DynamoDB, the export and the dashboard.
    # When the run that waited had the older version, it only added to the history.
    older_day, newest_day = TWO_DAYS
    served = merged_snapshot(snapshots_dir, newest_day)
    assert days_of(served) != days_of(merged_snapshot(snapshots_dir, older_day))
    assert stored_days(aws) == days_of(served)
    export = exported_rows(aws).to_pandas()
    assert days_of(export) == days_of(served)
    # The page's national charts are those of the export (its revisions' panel, of the history).
    national_charts = dashboard_svgs(prepare_dashboard_data(export)).values()
    page = aws.client("s3").get_object(Bucket=aws.bucket, Key="dashboard/index.html")["Body"]
    text = page.read().decode()
    assert all(chart in text for chart in national_charts)
    if second_day == older_day:
        with DagsterInstance.get() as instance:
            [history] = [
                entry.asset_materialization.metadata["stale_version"].value
                for entry in instance.all_logs(
                    second, of_type=DagsterEventType.ASSET_MATERIALIZATION
                )
                if entry.asset_materialization.asset_key == AssetKey("merged_daily_history")
            ]
        assert history.startswith("nyt_raw was published at 2021-03-17T12:00:00.000Z")
