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
