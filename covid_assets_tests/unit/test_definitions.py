"""The code location as Dagster and a person see it: assets, lineage, schedule, settings."""

import re
import subprocess
import sys

import pytest
from dagster import AssetKey, DefaultScheduleStatus

from covid_assets.definitions import build_definitions
from covid_assets.settings import SETTINGS
from covid_assets_dev.local_stack import PROJECT_ROOT
from covid_assets_tests.helpers import (
    COUNTY_LINEAGE,
    LINEAGE,
    STATE_LINEAGE,
    every_level_at_its_default,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.unit, pytest.mark.xdist_group("unit/test_definitions")]


def test_lineage_runs_from_raw_sources_to_dynamodb_the_export_and_the_dashboard(monkeypatch):
    every_level_at_its_default(monkeypatch)
    graph = build_definitions().resolve_asset_graph()
    for asset, parents in {**LINEAGE, **STATE_LINEAGE, **COUNTY_LINEAGE}.items():
        node = graph.get(AssetKey(asset))
        assert {key.to_user_string() for key in node.parent_keys} == parents, asset


def test_every_asset_has_a_group_and_a_description(monkeypatch):
    every_level_at_its_default(monkeypatch)
    definitions = build_definitions()
    for asset in {**LINEAGE, **STATE_LINEAGE, **COUNTY_LINEAGE}:
        spec = definitions.resolve_assets_def(asset).get_asset_spec(AssetKey(asset))
        assert spec.group_name, asset
        assert spec.description, asset


def test_schedule_runs_the_whole_graph_daily_at_12_15_utc_and_is_on_by_default(monkeypatch):
    every_level_at_its_default(monkeypatch)
    definitions = build_definitions()
    schedule = definitions.resolve_schedule_def("covid_daily_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 12 * * *", "UTC")
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    job = definitions.resolve_job_def(schedule.job_name)
    executable = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert executable == set(LINEAGE) | set(STATE_LINEAGE) | set(COUNTY_LINEAGE)


def test_the_county_level_set_to_the_empty_url_leaves_the_nation_and_the_states(monkeypatch):
    every_level_at_its_default(monkeypatch)
    monkeypatch.setenv("COVID_NYT_COUNTIES_URL", "")
    definitions = build_definitions()
    graph = definitions.resolve_asset_graph()
    assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert assets == set(LINEAGE) | set(STATE_LINEAGE)
    assert not {"county_glue", "county_bucket"} & set(definitions.resources)


def test_the_state_level_set_to_the_empty_url_leaves_exactly_the_national_pipeline(monkeypatch):
    """The county level is held to the states, so it is off with them."""
    every_level_at_its_default(monkeypatch)
    monkeypatch.setenv("COVID_NYT_STATES_URL", "")
    definitions = build_definitions()
    graph = definitions.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == set(LINEAGE)
    assert {key.asset_key.to_user_string() for key in graph.asset_check_keys} <= set(LINEAGE)
    assert set(definitions.resources["downloader"].urls) == {"nyt_raw", "jhu_raw"}
    assert not {"state_glue", "state_bucket"} & set(definitions.resources)


def test_every_check_can_run_alone_without_materializing_its_asset(monkeypatch):
    """The UI's Execute: a check's execution set is the check itself."""
    every_level_at_its_default(monkeypatch)
    graph = build_definitions().get_repository_def().asset_graph
    assert len(graph.asset_check_keys) == 63
    for check in graph.asset_check_keys:
        assert graph.get_execution_set_asset_and_check_keys(check) == {check}, check


def test_settings_set_in_the_environment_become_env_vars(monkeypatch):
    monkeypatch.setenv("COVID_DYNAMODB_TABLE", "prod_table")
    monkeypatch.delenv("COVID_S3_BUCKET", raising=False)
    resources = build_definitions().resources
    assert resources["dynamodb"].table_name == "COVID_DYNAMODB_TABLE"  # an EnvVar holds its name
    assert resources["served"].bucket.bucket == SETTINGS["COVID_S3_BUCKET"].default


def test_readme_configuration_table_lists_every_setting_with_its_default():
    readme = (PROJECT_ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", readme, flags=re.MULTILINE))
    assert {name: setting.default for name, setting in SETTINGS.items()}.items() <= rows.items()


@pytest.fixture(scope="module")
def freeze_counts() -> dict[str, int]:
    """How many objects are frozen (left out of garbage collections) in a new process: before
    and after it imports the definitions, and at exit, after it made 50,000 more objects; and
    the full collections the import ran, and whether the collector is on after it."""
    probe = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('at exit:', gc.get_freeze_count()))\n"
        "print('before:', gc.get_freeze_count())\n"
        "full_collections = gc.get_stats()[2]['collections']\n"
        "import covid_assets.code_location\n"
        "print('after import:', gc.get_freeze_count())\n"
        "print('full collections during import:',"
        " gc.get_stats()[2]['collections'] - full_collections)\n"
        "print('collector on after import:', int(gc.isenabled()))\n"
        "made_by_the_run = [[] for _ in range(50_000)]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return {
        name: int(count)
        for name, count in (line.split(": ") for line in result.stdout.splitlines())
    }


def test_loading_the_definitions_freezes_the_objects_alive_then(freeze_counts):
    assert freeze_counts["before"] == 0
    assert freeze_counts["after import"] > 100_000


def test_importing_the_definitions_runs_no_full_garbage_collection(freeze_counts):
    assert freeze_counts["full collections during import"] == 0


def test_the_collector_is_on_once_the_definitions_are_loaded(freeze_counts):
    assert freeze_counts["collector on after import"] == 1


def test_a_process_that_loads_the_definitions_skips_the_garbage_collection_at_exit(freeze_counts):
    assert freeze_counts["at exit"] > freeze_counts["after import"] + 45_000
