"""The production instance of infra/dagster.yaml.example: its storage and run retries, with the
daily job run on them against a real PostgreSQL server that these tests start on 127.0.0.1.

The ECS run launcher of the example is left out (there is no ECS here); everything else is the
file as deployed, with only the port changed to the test server's.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import AssetCheckKey, AssetKey, DagsterInstance, DagsterRunStatus

from covid_assets_dev.local_stack import PROJECT_ROOT
from covid_assets_dev.postgres import PostgresCluster, postgres_cluster, postgres_programs
from covid_assets_tests.helpers import (
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    run_daily_job,
    stored_days,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.system, pytest.mark.xdist_group("system/test_production_instance")]

EXAMPLE = PROJECT_ROOT / "infra" / "dagster.yaml.example"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    programs = postgres_programs()
    if programs is None:
        pytest.skip("PostgreSQL server not installed (apt-get install postgresql)")
    with postgres_cluster(programs) as cluster:
        yield cluster


@pytest.fixture
def production_home(
    postgres: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A DAGSTER_HOME with the example's configuration (no run launcher) and a new database,
    its environment set as the deployment sets it."""
    config = yaml.safe_load(EXAMPLE.read_text())
    del config["run_launcher"]
    config["storage"]["postgres"]["postgres_db"]["port"] = postgres.port
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name, value in postgres.instance_environment().items():
        monkeypatch.setenv(name, value)
    return home


def test_the_daily_job_runs_on_the_production_storage(aws, write_sources, production_home):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    with DagsterInstance.get() as instance:
        result = run_daily_job(instance)
    assert result.success
    assert stored_days(aws) == THREE_DAYS


def test_runs_events_and_check_results_are_kept_in_postgresql(aws, write_sources, production_home):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    with DagsterInstance.get() as instance:
        run_id = run_daily_job(instance).run_id
    # A second instance (another process in a deployment) reads them from the server: no SQLite
    # storage was made beside the configuration.
    assert list(production_home.rglob("*.db")) == []
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
        loaded = instance.get_latest_materialization_event(AssetKey("dynamodb_records"))
        assert loaded.run_id == run_id
        check = AssetCheckKey(AssetKey("dynamodb_records"), "table_matches_served_table")
        [evaluation] = instance.event_log_storage.get_asset_check_execution_history(check, 10)
        assert evaluation.run_id == run_id


def test_failed_runs_are_relaunched_twice(production_home):
    with DagsterInstance.get() as instance:
        assert (instance.run_retries_enabled, instance.run_retries_max_retries) == (True, 2)


def test_the_production_instance_monitors_runs_and_leaves_relaunching_them_to_retries(
    production_home,
):
    with DagsterInstance.get() as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_start_timeout_seconds == 300


def test_the_production_instance_launches_one_run_at_a_time(production_home):
    with DagsterInstance.get() as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
