"""The benchmark's floors for the pipeline's shape (``covid_assets_dev.idle_pipeline``): the
project's steps, assets and checks, doing nothing but report them; and the same without checks."""

import pytest
from dagster import DagsterInstance

from covid_assets.definitions import defs as project_defs
from covid_assets_dev.idle_pipeline import defs as idle_defs
from covid_assets_dev.idle_pipeline import defs_without_checks

pytestmark = pytest.mark.unit


def shape(definitions) -> tuple[set, set, set]:
    job = definitions.resolve_implicit_global_asset_job_def()
    graph = definitions.resolve_asset_graph()
    return (
        {node.name for node in job.nodes},
        set(graph.get_all_asset_keys()),
        set(graph.asset_check_keys),
    )


def test_the_idle_pipeline_has_the_projects_steps_assets_and_checks():
    assert shape(idle_defs) == shape(project_defs)


def test_the_idle_pipeline_reports_every_asset_materialized_and_every_check_passed():
    job = idle_defs.resolve_implicit_global_asset_job_def()
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance)
    graph = idle_defs.resolve_asset_graph()
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == set(graph.get_all_asset_keys())
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_check_key for e in evaluations} == set(graph.asset_check_keys)
    assert all(e.passed for e in evaluations)


def test_the_idle_pipeline_without_checks_has_the_projects_asset_steps_and_assets_and_no_check():
    asset_steps = {asset.node_def.name for asset in project_defs.assets or []}
    _, assets, _ = shape(project_defs)
    assert shape(defs_without_checks) == (asset_steps, assets, set())


def test_the_idle_pipeline_without_checks_reports_every_asset_materialized():
    job = defs_without_checks.resolve_implicit_global_asset_job_def()
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance)
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == set(defs_without_checks.resolve_asset_graph().get_all_asset_keys())
    assert result.get_asset_check_evaluations() == []
