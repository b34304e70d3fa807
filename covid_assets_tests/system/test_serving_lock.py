"""The serving lock between two whole processes: two runs launched together with `dagster asset
materialize`, outside the run queue, end with one run's complete state served."""

import os
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
)

from covid_assets.domain.dashboard_data import prepare_dashboard_data
from covid_assets.domain.dashboard_render import dashboard_svgs
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.transform import merge_daily
from covid_assets_dev.local_stack import PROJECT_ROOT, dagster_command, prepare_dagster_home
from covid_assets_tests.helpers import (
    exported_rows,
    run_messages,
    snapshot_sources,
    stored_days,
)

pytestmark = pytest.mark.system

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


def days_of(table: pd.DataFrame) -> dict[str, tuple[int, int, int | None]]:
    """date -> (cases, deaths, recovered), None where recovered is null (no figure)."""
    return {
        row.date.isoformat(): (
            row.cases,
            row.deaths,
            None if pd.isna(row.recovered) else int(row.recovered),
        )
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
    # The page's national charts are those of the export (its revisions', of the summary).
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
