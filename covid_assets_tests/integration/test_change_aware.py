"""A run costs what changed: sources are fetched conditionally (a source with nothing newer is
not downloaded again: the run uses the file the last run stored), and what is served is
written only where it differs."""

import pytest
from dagster import AssetKey

from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.figures import is_data_write, is_serving_lock_call
from covid_assets_tests.helpers import (
    DAY_TWO,
    JHU_THREE_DAYS,
    LINEAGE,
    NYT_THREE_DAYS,
    THREE_DAYS,
    load_three_days_served,
    materialization_metadata,
    materialized_assets,
    run_daily_job,
    stored_days,
    stored_output_path,
)

pytestmark = pytest.mark.integration


def test_a_run_by_hand_on_a_day_with_nothing_new_downloads_nothing_and_writes_only_the_lock(
    aws, instance, web_sources
):
    answers = web_sources.answers
    load_three_days_served(web_sources, instance)

    with recorded_calls() as calls:
        result = run_daily_job(instance)

    assert answers == [("/us.csv", 304), ("/jhu.csv", 304)]
    assert materialized_assets(result) == set(LINEAGE)
    for source in ("nyt_raw", "jhu_raw"):
        assert materialization_metadata(result, source)["bytes_downloaded"] == 0
    assert [call.operation for call in calls if is_data_write(call)] == []
    # Its only writes take and release the serving lock.
    assert [call.operation for call in calls if is_serving_lock_call(call)] == [
        "PutItem",
        "DeleteItem",
    ]
    assert stored_days(aws) == THREE_DAYS


def test_a_run_by_hand_passes_every_check_on_a_day_with_nothing_new(aws, instance, web_sources):
    load_three_days_served(web_sources, instance)

    result = run_daily_job(instance)

    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == len(current_definitions().resolve_asset_graph().asset_check_keys)
    assert all(evaluation.passed for evaluation in evaluations)


def test_when_one_source_changes_the_other_is_used_as_stored_and_the_change_is_loaded(
    aws, instance, web_sources
):
    write, answers = web_sources.write, web_sources.answers
    load_three_days_served(web_sources, instance)
    write("us.csv", NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,31,3"), DAY_TWO)
    answers.clear()

    result = run_daily_job(instance)

    assert answers == [("/us.csv", 200), ("/jhu.csv", 304)]
    assert materialization_metadata(result, "jhu_raw")["bytes_downloaded"] == 0
    assert stored_days(aws)["2020-03-03"] == (31, 3, None)


def test_a_stored_file_that_is_gone_is_downloaded_again(aws, instance, web_sources):
    load_three_days_served(web_sources, instance)
    stored_output_path(instance, "jhu_raw").unlink()

    result = run_daily_job(instance)

    assert web_sources.answers == [("/us.csv", 304), ("/jhu.csv", 304), ("/jhu.csv", 200)]
    assert result.success
    assert stored_days(aws) == THREE_DAYS


def test_a_run_that_materialized_one_source_alone_is_followed_by_a_full_run(
    aws, instance, write_sources
):
    """The merged table is built from both sources' current files, whatever ran before."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    write_sources(NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,32,3"), JHU_THREE_DAYS)
    only_nyt = (
        current_definitions()
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={AssetKey("nyt_raw")})
    )
    only_nyt.execute_in_process(instance=instance)

    result = run_daily_job(instance)

    assert "dynamodb_records" in materialized_assets(result)
    assert stored_days(aws) == {**THREE_DAYS, "2020-03-03": (32, 3, None)}
