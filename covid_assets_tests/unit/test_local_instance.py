"""The local Dagster instance `make run` prepares (covid_assets_dev.local_stack)."""

import pytest
from dagster import DagsterInstance

from covid_assets_dev.local_stack import prepare_dagster_home

pytestmark = pytest.mark.unit


def test_the_local_instance_launches_one_run_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    prepare_dagster_home()
    with DagsterInstance.get() as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_the_local_instance_monitors_runs_without_resuming_them(tmp_path, monkeypatch):
    """The default run launcher has no worker health check and cannot resume a run; the
    daemon still ends runs stuck starting or cancelling."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    prepare_dagster_home()
    with DagsterInstance.get() as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_cancel_timeout_seconds == 180
