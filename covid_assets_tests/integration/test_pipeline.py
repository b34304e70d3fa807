"""The daily job end to end against the moto server, on small hand-written sources."""

import datetime as dt
import logging
import warnings

import pytest
from dagster import AssetKey, BetaWarning, DagsterInstance

from covid_assets.definitions import build_definitions
from covid_assets.domain import transform
from covid_assets.domain.history import iso
from covid_assets.domain.tables import NATIONAL
from covid_assets_dev.local_stack import prepare_dagster_home
from covid_assets_tests.helpers import (
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    exported_rows,
    generated_sources,
    glue_export_table,
    materialization_metadata,
    run_checks_only,
    run_daily_job,
    stored_days,
    without_lines,
)

pytestmark = pytest.mark.integration


def test_first_run_loads_every_merged_day_into_dynamodb(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    result = run_daily_job(instance)
    assert stored_days(aws) == THREE_DAYS
    metadata = materialization_metadata(result, "dynamodb_records")
    assert (metadata["inserted"], metadata["updated"], metadata["unchanged"]) == (3, 0, 0)
    assert metadata["dagster/row_count"] == 3


def test_items_carry_region_iso_date_numeric_counts_and_their_versions(
    aws, instance, write_sources, tmp_path
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    item = aws.client("dynamodb").get_item(
        TableName=aws.table_name, Key={"region": {"S": "US"}, "date": {"S": "2020-03-02"}}
    )["Item"]
    # Local files are published when they were last modified; the version, when its last was.
    published = max((tmp_path / name).stat().st_mtime for name in ("us.csv", "jhu.csv"))
    published_iso = iso(dt.datetime.fromtimestamp(published, dt.UTC))
    assert item == {
        "region": {"S": "US"},
        "date": {"S": "2020-03-02"},
        "cases": {"N": "20"},
        "deaths": {"N": "2"},
        "recovered": {"N": "2"},
        "first_published": {"S": published_iso},
        "last_revised": {"S": published_iso},
        "revisions": {"N": "0"},
    }


def test_export_is_parquet_at_the_glue_tables_location_with_matching_types(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    table = glue_export_table(aws)
    assert table["StorageDescriptor"]["Columns"] == [
        {"Name": "date", "Type": "date"},
        {"Name": "cases", "Type": "bigint"},
        {"Name": "deaths", "Type": "bigint"},
        {"Name": "recovered", "Type": "bigint"},
    ]
    assert table["StorageDescriptor"]["Location"].startswith(f"s3://{aws.bucket}/athena/us_daily/")
    exported = exported_rows(aws)
    assert exported.schema.equals(NATIONAL.export_schema)
    assert exported.to_pylist()[-1] == {
        "date": dt.date(2020, 3, 3),
        "cases": 30,
        "deaths": 3,
        "recovered": None,
    }
    assert exported.num_rows == 3


def test_second_run_of_the_same_data_rewrites_nothing(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    location = glue_export_table(aws)["StorageDescriptor"]["Location"]
    result = run_daily_job(instance)
    assert result.success
    assert materialization_metadata(result, "dynamodb_records")["items_written"] == 0
    assert materialization_metadata(result, "athena_export")["status"] == "unchanged"
    assert materialization_metadata(result, "dashboard")["page_written"] is False
    assert stored_days(aws) == THREE_DAYS
    assert glue_export_table(aws)["StorageDescriptor"]["Location"] == location


def test_a_source_change_that_leaves_the_merged_table_alone_rewrites_nothing(
    aws, instance, write_sources
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    location = glue_export_table(aws)["StorageDescriptor"]["Location"]
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS + "2020-03-04,Chad,,1,1,0\n")
    result = run_daily_job(instance)
    assert materialization_metadata(result, "dynamodb_records")["items_written"] == 0
    assert materialization_metadata(result, "athena_export")["status"] == "unchanged"
    assert glue_export_table(aws)["StorageDescriptor"]["Location"] == location


def test_revised_day_is_rewritten_and_the_rest_left_alone(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    write_sources(NYT_THREE_DAYS.replace("2020-03-02,20,2", "2020-03-02,21,2"), JHU_THREE_DAYS)
    result = run_daily_job(instance)
    metadata = materialization_metadata(result, "dynamodb_records")
    assert (metadata["inserted"], metadata["updated"], metadata["unchanged"]) == (0, 1, 2)
    assert stored_days(aws)["2020-03-02"] == (21, 2, 2)
    assert [row["cases"] for row in exported_rows(aws).to_pylist()] == [10, 21, 30]


def test_a_table_served_with_0_for_no_figure_is_corrected_by_the_next_run_as_a_revision(
    aws, instance, write_sources, monkeypatch
):
    """What a version before the rule "no figure is null" served: recovered 0 where JHU gives
    none (2020-03-03 is blank). The next run rewrites the item without the attribute, exports
    null, and appends the day to the history as revised."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    with monkeypatch.context() as earlier_rule:
        earlier_rule.setattr(transform, "recovered_as_reported", lambda counts: counts.fillna(0))
        run_daily_job(instance)
    assert stored_days(aws)["2020-03-03"] == (30, 3, 0)
    result = run_daily_job(instance)
    records = materialization_metadata(result, "dynamodb_records")
    assert (records["inserted"], records["updated"], records["unchanged"]) == (0, 1, 2)
    assert stored_days(aws) == THREE_DAYS
    assert [row["recovered"] for row in exported_rows(aws).to_pylist()] == [1, 2, None]
    history = materialization_metadata(result, NATIONAL.history_asset)
    assert (history["status"], history["rows_appended"]) == ("appended", 1)


def test_new_export_replaces_the_old_one_at_the_tables_location(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    first_location = glue_export_table(aws)["StorageDescriptor"]["Location"]
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    run_daily_job(instance)
    assert glue_export_table(aws)["StorageDescriptor"]["Location"] != first_location
    assert exported_rows(aws).num_rows == 4


def test_only_the_current_and_previous_exports_are_kept(aws, instance, write_sources):
    for days in (1, 2, 3):
        nyt_rows = "".join(f"2020-03-0{day},{day},0\n" for day in range(1, days + 1))
        jhu_rows = "".join(f"2020-03-0{day},US,,{day},0,0\n" for day in range(1, days + 1))
        write_sources(
            "date,cases,deaths\n" + nyt_rows, JHU_THREE_DAYS.splitlines()[0] + "\n" + jhu_rows
        )
        run_daily_job(instance)
    listing = aws.client("s3").list_objects_v2(Bucket=aws.bucket, Prefix="athena/us_daily/")
    folders = {entry["Key"].rsplit("/", 2)[-2] for entry in listing["Contents"]}
    assert len(folders) == 2


def test_day_that_vanishes_upstream_is_kept_and_reported(aws, instance, write_sources):
    # One old day of 200: within the tolerance of the checks against what is served.
    nyt_text, jhu_text = generated_sources(200)
    write_sources(nyt_text, jhu_text)
    run_daily_job(instance)
    loaded = stored_days(aws)
    write_sources(without_lines(nyt_text, "2020-03-10"), jhu_text)
    result = run_daily_job(instance)
    assert stored_days(aws) == loaded
    metadata = materialization_metadata(result, "dynamodb_records")
    assert metadata["vanished_keys"] == ["2020-03-10"]
    assert metadata["dagster/row_count"] == 200


def test_a_load_writes_exactly_what_the_table_lacks_or_holds_wrong(aws, instance, write_sources):
    """The diff is against what the table really holds: a day missing or stale for any reason
    (deleted or edited by hand here) is rewritten by the next load, with the new day."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    dynamodb = aws.client("dynamodb")
    dynamodb.delete_item(
        TableName=aws.table_name, Key={"region": {"S": "US"}, "date": {"S": "2020-03-01"}}
    )
    dynamodb.update_item(
        TableName=aws.table_name,
        Key={"region": {"S": "US"}, "date": {"S": "2020-03-02"}},
        UpdateExpression="SET cases = :stale",
        ExpressionAttributeValues={":stale": {"N": "1"}},
    )
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    result = run_daily_job(instance)
    assert stored_days(aws) == {**THREE_DAYS, "2020-03-04": (40, 4, 4)}
    metadata = materialization_metadata(result, "dynamodb_records")
    assert (metadata["inserted"], metadata["updated"], metadata["unchanged"]) == (2, 1, 1)


def test_table_and_glue_database_are_created_when_missing(aws, instance, write_sources):
    aws.client("dynamodb").delete_table(TableName=aws.table_name)
    # The emulator's CloudFormation skips AWS::Glue::*, so the stack leaves no database.
    assert aws.client("glue").get_databases()["DatabaseList"] == []
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    assert stored_days(aws) == THREE_DAYS
    assert glue_export_table(aws)["DatabaseName"] == "covid"


def test_batches_of_more_than_25_days_are_all_written(aws, instance, write_sources):
    days = [dt.date(2020, 3, 1) + dt.timedelta(days=offset) for offset in range(60)]
    write_sources(
        "date,cases,deaths\n" + "".join(f"{day},{n},0\n" for n, day in enumerate(days)),
        JHU_THREE_DAYS.splitlines()[0]
        + "\n"
        + "".join(f"{day},US,,0,{n},0\n" for n, day in enumerate(days)),
    )
    result = run_daily_job(instance)
    assert len(stored_days(aws)) == 60
    assert materialization_metadata(result, "dynamodb_records")["batch_write_calls"] == 3


def test_the_local_instance_keeps_no_debug_lines_in_run_logs(
    aws, write_sources, tmp_path, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    prepare_dagster_home()
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    with DagsterInstance.get() as instance:
        records = instance.get_records_for_run(run_daily_job(instance).run_id).records
    log_lines = [r.event_log_entry for r in records if not r.event_log_entry.is_dagster_event]
    assert [line.user_message for line in log_lines if line.level < logging.INFO] == []
    assert any("merged_daily_table: 3 rows" in line.user_message for line in log_lines)


def test_one_table_check_executed_alone_reports_its_result_and_builds_no_table(
    aws, instance, write_sources
):
    """The UI's Execute on one check of the table: a run of that check alone."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    daily = run_daily_job(instance)
    check = "merged_daily_table:sources_share_dates"
    assert run_checks_only(instance, check)[check].passed
    latest = instance.get_latest_materialization_event(AssetKey(NATIONAL.table_asset))
    assert latest.run_id == daily.run_id


def test_loading_the_definitions_and_a_run_emit_no_beta_warning(aws, instance, write_sources):
    """Dagster's BetaWarnings (data versions, code references) are silenced where the code
    uses those features, so that no terminal prints them at every run."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BetaWarning)
        build_definitions()
        assert run_daily_job(instance).success
