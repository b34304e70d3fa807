"""The checks after the load compare what AWS really holds with the merged table; checks run
alone look again at what is there, and store nothing."""

import pytest
from dagster import AssetKey

from covid_assets_tests.helpers import (
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    check_evaluation,
    run_checks_only,
    run_daily_job,
    stored_days,
)

pytestmark = pytest.mark.integration

DYNAMODB_CHECK = "dynamodb_records:table_matches_served_table"


def test_a_dynamodb_item_changed_behind_the_pipelines_back_is_named_by_its_date(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    aws.client("dynamodb").update_item(
        TableName=aws.table_name,
        Key={"region": {"S": "US"}, "date": {"S": "2020-03-02"}},
        UpdateExpression="SET deaths = :wrong",
        ExpressionAttributeValues={":wrong": {"N": "99"}},
    )
    evaluation = run_checks_only(instance, DYNAMODB_CHECK)[DYNAMODB_CHECK]
    assert not evaluation.passed
    assert "found '2020-03-02'" in evaluation.description


def test_a_glue_schema_that_no_longer_matches_the_files_fails_the_export_check(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    glue = aws.client("glue")
    table = glue.get_table(DatabaseName="covid", Name="us_daily")["Table"]
    table["StorageDescriptor"]["Columns"][1]["Type"] = "string"
    glue.update_table(
        DatabaseName="covid",
        TableInput={
            key: table[key] for key in ("Name", "TableType", "Parameters", "StorageDescriptor")
        },
    )
    schema_check, count_check = (
        "athena_export:glue_columns_match_parquet_schema",
        "athena_export:row_count_matches_served_table",
    )
    evaluations = run_checks_only(instance, schema_check, count_check)
    assert not evaluations[schema_check].passed
    assert "'cases', 'Type': 'bigint'" in evaluations[schema_check].description
    assert evaluations[count_check].passed


def days_read(evaluation) -> int:
    return evaluation.metadata["items_read"].value


def test_after_a_load_the_dynamodb_check_reads_back_one_day_of_each_batch_written(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    assert days_read(check_evaluation(run_daily_job(instance), DYNAMODB_CHECK)) == 1
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    evaluation = check_evaluation(run_daily_job(instance), DYNAMODB_CHECK)
    assert evaluation.passed
    assert days_read(evaluation) == 1


def test_the_dynamodb_check_run_alone_reads_every_item_and_writes_nothing(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    aws.client("dynamodb").delete_item(
        TableName=aws.table_name, Key={"region": {"S": "US"}, "date": {"S": "2020-03-01"}}
    )
    evaluation = run_checks_only(instance, DYNAMODB_CHECK)[DYNAMODB_CHECK]
    assert not evaluation.passed
    assert days_read(evaluation) == 2
    assert "found '2020-03-01'" in evaluation.description
    assert "2020-03-01" not in stored_days(aws)


def test_raw_checks_run_alone_check_what_the_source_serves_now_and_store_nothing(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    stored = instance.get_latest_materialization_event(AssetKey("nyt_raw"))
    write_sources(NYT_THREE_DAYS.replace("2020-03-02,20", "2020-03-02,-20"), JHU_THREE_DAYS)
    check = "nyt_raw:counts_are_non_negative_integers"
    evaluation = run_checks_only(instance, check)[check]
    assert not evaluation.passed
    assert "line 3, column 'cases'" in evaluation.description
    assert instance.get_latest_materialization_event(AssetKey("nyt_raw")) == stored
