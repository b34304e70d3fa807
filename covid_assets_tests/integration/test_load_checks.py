"""The checks after the load and the export compare what AWS really holds with the merged table;
checks run alone look again at what is there, and store nothing."""

import os

import pyarrow as pa
import pytest
from dagster import AssetKey

from covid_assets.defs.serving.athena_export import ROWS_CHECK
from covid_assets.domain.tables import COUNTY, STATE
from covid_assets.resources import exports
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_tests.helpers import (
    COUNTIES_THREE_DAYS,
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    STATES_THREE_DAYS,
    check_evaluation,
    materialization_metadata,
    run_checks_only,
    run_daily_job,
    stored_days,
    use_level_source,
)

pytestmark = pytest.mark.integration

DYNAMODB_CHECK = "dynamodb_records:table_matches_served_table"
COUNTY_ROWS_CHECK = f"{COUNTY.export_asset}:{ROWS_CHECK}"


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


@pytest.fixture
def every_level(write_sources, tmp_path, monkeypatch) -> None:
    """Three days of the nation, its states and their counties (two county partitions)."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    for level, text in ((STATE, STATES_THREE_DAYS), (COUNTY, COUNTIES_THREE_DAYS)):
        (tmp_path / f"{level.name}.csv").write_text(text)
        use_level_source(monkeypatch, level, tmp_path / f"{level.name}.csv")


def county_files_read(calls) -> int:
    prefix = os.environ[COUNTY.export_prefix_setting]
    return sum(
        call.operation == "GetObject" and call.params["Key"].startswith(prefix) for call in calls
    )


def test_after_an_export_the_rows_check_reads_back_only_the_last_partition_file_written(
    aws, instance, every_level
):
    with recorded_calls() as calls:
        result = run_daily_job(instance)
    assert materialization_metadata(result, COUNTY.export_asset)["partitions_created"] == 2
    assert check_evaluation(result, COUNTY_ROWS_CHECK).passed
    assert county_files_read(calls) == 1


def test_a_partition_file_not_holding_the_rows_laid_fails_the_rows_check_after_the_export(
    aws, instance, every_level, monkeypatch
):
    written_bytes = exports.parquet_bytes

    def without_last_row(rows, schema: pa.Schema) -> bytes:
        return written_bytes(rows.iloc[:-1], schema)

    monkeypatch.setattr(exports, "parquet_bytes", without_last_row)
    result = run_daily_job(instance, raise_on_error=False)
    evaluation = check_evaluation(result, COUNTY_ROWS_CHECK)
    assert not evaluation.passed
    assert evaluation.description.count("the served row's values") == 1


def test_partitions_glue_does_not_switch_to_the_rows_laid_fail_the_rows_check_after_the_export(
    aws, instance, every_level, monkeypatch, tmp_path
):
    run_daily_job(instance)
    # A county of each partition revised, with its state's total (the nation's is kept).
    for level, text, revisions in (
        (
            COUNTY,
            COUNTIES_THREE_DAYS,
            (("King,Washington,53033,15", "14"), ("San Juan,Puerto Rico,72127,9", "10")),
        ),
        (STATE, STATES_THREE_DAYS, (("Washington,53,21", "20"), ("Puerto Rico,72,9", "10"))),
    ):
        for line, cases in revisions:
            text = text.replace(
                f"2020-03-03,{line},", f"2020-03-03,{line.rsplit(',', 1)[0]},{cases},"
            )
        (tmp_path / f"{level.name}.csv").write_text(text)
    monkeypatch.setattr(GlueCatalogResource, "update_partitions", lambda *arguments: None)
    result = run_daily_job(instance, raise_on_error=False)
    assert materialization_metadata(result, COUNTY.export_asset)["partitions_rewritten"] == 2
    evaluation = check_evaluation(result, COUNTY_ROWS_CHECK)
    assert not evaluation.passed
    problems = evaluation.metadata["problems"].value
    # Puerto Rico's file, written first, is compared as laid: Glue records the old content.
    assert "partition usps=PR/month=2020-03: found 'content " in problems
    assert "registered in Glue', expected the content written (" in problems
    # Washington's, written last, is read back: Glue still points at the old file.
    assert "partition usps=WA/month=2020-03, column 'date, state, county'" in problems
