"""The local Dagster instance `make run` prepares (covid_assets_dev.local_stack)."""

import tomllib

import pytest
import yaml
from dagster import DagsterInstance

from covid_assets_dev.local_stack import PROJECT_ROOT, prepare_dagster_home

pytestmark = pytest.mark.unit


def test_the_local_instance_launches_one_run_of_the_location_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    prepare_dagster_home()
    with DagsterInstance.get() as instance:
        [limit] = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert limit == {"key": "dagster/code_location", "value": "covid_assets", "limit": 1}


def test_the_limit_names_the_location_as_workspace_yaml_and_dg_name_it():
    """Dagster tags every run it creates from a code location (the UI's, the sensor's, the
    schedule's) with the location's name, which the limit counts."""
    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    dg_project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dg"]
    [location] = workspace["load_from"]
    assert location["python_module"]["location_name"] == "covid_assets"
    assert dg_project["project"]["code_location_name"] == "covid_assets"


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
