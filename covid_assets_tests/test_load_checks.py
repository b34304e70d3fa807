"""The checks after the load compare what AWS really holds with the merged table."""

from dagster import AssetCheckKey

from covid_assets.definitions import build_definitions
from covid_assets_tests.conftest import JHU_THREE_DAYS, NYT_THREE_DAYS, run_daily_job


def run_checks_only(instance, *checks: str):
    """Evaluate some checks again, in a run of their own, against the last materializations."""
    keys = {AssetCheckKey.from_user_string(check) for check in checks}
    job = build_definitions().resolve_implicit_global_asset_job_def()
    only_checks = job.get_subset(asset_selection=set(), asset_check_selection=keys)
    result = only_checks.execute_in_process(instance=instance, raise_on_error=False)
    return {e.asset_check_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


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
    check = "dynamodb_records:table_matches_merged_table"
    evaluation = run_checks_only(instance, check)[check]
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
        "athena_export:row_count_matches_merged_table",
    )
    evaluations = run_checks_only(instance, schema_check, count_check)
    assert not evaluations[schema_check].passed
    assert "'cases', 'Type': 'bigint'" in evaluations[schema_check].description
    assert evaluations[count_check].passed
