"""Where steps leave their outputs for the next ones: files under DAGSTER_HOME by default, S3
under COVID_IO_S3_PREFIX when it is set, so that a run on another machine (a new ECS task) can
read what an earlier one wrote."""

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    FilesystemIOManager,
    instance_for_test,
)

from covid_assets_dev.current_definitions import current_definitions
from covid_assets_tests.helpers import (
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    run_daily_job,
    s3_keys,
    stored_days,
)

pytestmark = pytest.mark.integration

PREFIX = "dagster/io/"


def materialize_dynamodb_records_alone(instance: DagsterInstance) -> ExecuteInProcessResult:
    """What "Materialize" on the one asset in the UI runs: its step alone, its input loaded."""
    job = current_definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=[AssetKey("dynamodb_records")], raise_on_error=False
    )


def forget_one_day(aws) -> None:
    aws.client("dynamodb").delete_item(
        TableName=aws.table_name, Key={"region": {"S": "US"}, "date": {"S": "2020-03-02"}}
    )


def test_by_default_no_step_output_goes_to_s3(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    assert isinstance(current_definitions().resources["io_manager"], FilesystemIOManager)
    served = ("athena/", "history/", "revisions/", "dashboard/")
    assert [key for key in s3_keys(aws) if not key.startswith(served)] == []


def test_with_the_prefix_set_the_assets_handed_over_are_kept_in_s3(
    aws, instance, write_sources, monkeypatch
):
    monkeypatch.setenv("COVID_IO_S3_PREFIX", PREFIX)
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    assert {f"{PREFIX}{asset}" for asset in ("nyt_raw", "jhu_raw", "merged_daily_table")} <= set(
        s3_keys(aws, PREFIX)
    )


def test_with_the_prefix_set_a_new_machine_materializes_one_asset_from_earlier_outputs(
    aws, write_sources, monkeypatch
):
    monkeypatch.setenv("COVID_IO_S3_PREFIX", PREFIX)
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    with instance_for_test() as first_task:
        run_daily_job(first_task)
    forget_one_day(aws)
    with instance_for_test() as new_task:  # its own DAGSTER_HOME: none of the first task's files
        result = materialize_dynamodb_records_alone(new_task)
    assert result.success
    assert stored_days(aws) == THREE_DAYS


def test_without_the_prefix_a_new_machine_cannot_read_earlier_outputs(aws, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    with instance_for_test() as first_task:
        run_daily_job(first_task)
    with instance_for_test() as new_task:
        result = materialize_dynamodb_records_alone(new_task)
    assert not result.success
