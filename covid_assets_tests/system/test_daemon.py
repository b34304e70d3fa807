"""The Dagster daemon, as `make run` starts it: when the emulator comes back empty under the same
DAGSTER_HOME (moto keeps nothing across restarts), the sensor's first tick repairs everything
that is served, with no click."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from covid_assets.defs.serving.served_check import SERVED_CHECK
from covid_assets_dev.local_stack import INSTANCE_CONFIG, PROJECT_ROOT, moto_server
from covid_assets_tests.helpers import (
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    EmulatedAws,
    blank_emulated_account,
    exported_rows,
    run_daily_job,
    s3_keys,
    stored_days,
)

pytestmark = pytest.mark.system

REPAIR_SECONDS = 180


def everything_served(aws: EmulatedAws) -> bool:
    try:
        return (
            stored_days(aws) == THREE_DAYS
            and exported_rows(aws).num_rows == len(THREE_DAYS)
            and "dashboard/index.html" in s3_keys(aws, "dashboard/")
        )
    except Exception:  # the table, the Glue table or the export not there yet
        return False


def served_check_history(instance: DagsterInstance, asset: str) -> list[tuple[str, bool]]:
    """The evaluations of served_as_last_written on ``asset``, oldest first: (run id, passed);
    the run id of a tick's is empty."""
    key = AssetCheckKey(AssetKey(asset), SERVED_CHECK)
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    return [(record.run_id, record.status.value == "SUCCEEDED") for record in reversed(records)]


def test_after_the_emulator_restarts_the_sensors_first_tick_fails_the_served_check_and_repairs(
    tmp_path, monkeypatch, write_sources
):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with moto_server() as first_emulator:
        aws = blank_emulated_account(first_emulator, monkeypatch)
        write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
        with DagsterInstance.get() as instance:
            run_daily_job(instance)
        assert everything_served(aws)

    with moto_server() as restarted_emulator:
        aws = blank_emulated_account(restarted_emulator, monkeypatch)
        write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
        assert stored_days(aws) == {}
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "COVID_SENSOR_INTERVAL_SECONDS": "5"},
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "daemon.log").open("w"),
            start_new_session=True,
        )
        started = time.monotonic()
        try:
            while not everything_served(aws):
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                if time.monotonic() - started > REPAIR_SECONDS:
                    pytest.fail(
                        f"nothing repaired after {REPAIR_SECONDS} s:\n"
                        + (tmp_path / "daemon.log").read_text()[-3000:]
                    )
                time.sleep(2)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=60)

    with DagsterInstance.get() as instance:
        [repair] = [
            run
            for run in instance.get_runs()
            if run.tags.get("covid_assets/trigger") == "covid_sources_sensor"
        ]
        history = served_check_history(instance, "dynamodb_records")
    assert "DynamoDB table covid_daily has no item" in repair.tags["covid_assets/reason"]
    # The first run's pass, the tick's failure (no run), the repair run's pass.
    assert [passed for _, passed in history] == [True, False, True]
    assert history[-1][0] == repair.run_id
