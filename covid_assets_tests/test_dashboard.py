"""The dashboard asset against the moto server: what it reads, what it writes, what it shows.

Most tests write an export the way ``athena_export`` does (its Parquet and Glue table input) and
materialize the dashboard alone; one runs the whole daily job on a real snapshot.
"""

import base64
import datetime as dt

import pandas as pd
import pytest
from dagster import materialize

from covid_assets.athena_export import PARQUET_FILE_NAME, glue_table_input, parquet_bytes
from covid_assets.aws import GlueCatalogResource
from covid_assets.dashboard import DASHBOARD_KEY, dashboard
from covid_assets.definitions import build_definitions
from covid_assets.glue_export import ExportUnreadableError
from covid_assets_tests.helpers import (
    materialization_metadata,
    run_daily_job,
    use_snapshot,
)
from covid_assets_tests.test_dashboard_render import SVG_IMAGE

EXPORT_FOLDER = "athena/us_daily/test-export/"

# Three days: cases revised down on the last, and recovered no longer reported on it.
THREE_DAYS = pd.DataFrame(
    {
        "date": [dt.date(2020, 12, 12), dt.date(2020, 12, 13), dt.date(2020, 12, 14)],
        "cases": [100, 120, 110],
        "deaths": [1, 2, 3],
        "recovered": [50, 60, 0],
    }
)


def write_export(aws, table: pd.DataFrame, folder: str = EXPORT_FOLDER) -> str:
    """Put ``table`` where athena_export would, and point the Glue table at it."""
    aws.client("s3").put_object(
        Bucket=aws.bucket, Key=folder + PARQUET_FILE_NAME, Body=parquet_bytes(table)
    )
    location = f"s3://{aws.bucket}/{folder}"
    catalog = GlueCatalogResource(database="covid", table_name="us_daily")
    catalog.ensure_database()
    catalog.put_table(glue_table_input("us_daily", location, "", len(table)))
    return location


def materialize_dashboard(instance):
    return materialize(
        [dashboard],
        resources=build_definitions().resources,
        instance=instance,
        raise_on_error=False,
    )


@pytest.fixture
def three_days(aws, instance):
    """The dashboard's metadata after drawing THREE_DAYS."""
    write_export(aws, THREE_DAYS)
    return materialization_metadata(materialize_dashboard(instance), "dashboard")


def dashboard_page(aws) -> tuple[str, str]:
    page = aws.client("s3").get_object(Bucket=aws.bucket, Key=DASHBOARD_KEY)
    return page["Body"].read().decode(), page["ContentType"]


def failure_cause(result):
    [failure] = [event for event in result.all_events if event.is_step_failure]
    return failure.step_failure_data.error.cause


def test_html_page_is_written_to_the_bucket_and_named_in_the_metadata(aws, three_days):
    text, content_type = dashboard_page(aws)
    assert content_type == "text/html; charset=utf-8"
    assert text.startswith("<!DOCTYPE html>")
    assert three_days["html_page"] == f"s3://{aws.bucket}/{DASHBOARD_KEY}"


def test_metadata_embeds_the_four_charts_as_markdown_svg_images(three_days):
    images = SVG_IMAGE.findall(three_days["dashboard"])
    assert len(images) == 4
    assert all(base64.b64decode(svg).startswith(b"<svg") for _, svg in images)


def test_metadata_names_the_export_read_and_the_quirks_drawn(aws, three_days):
    assert three_days["export_location"] == f"s3://{aws.bucket}/{EXPORT_FOLDER}"
    assert (three_days["days"], three_days["last_date"]) == (3, "2020-12-14")
    assert three_days["recovered_last_reported"] == "2020-12-13"
    assert three_days["days_with_negative_new_cases"] == 1


def test_dashboard_reads_the_folder_the_glue_table_points_at(aws, instance):
    write_export(aws, THREE_DAYS.head(2), folder="athena/us_daily/elsewhere/")
    aws.client("s3").put_object(
        Bucket=aws.bucket, Key=EXPORT_FOLDER + PARQUET_FILE_NAME, Body=parquet_bytes(THREE_DAYS)
    )
    metadata = materialization_metadata(materialize_dashboard(instance), "dashboard")
    assert metadata["last_date"] == "2020-12-13"


def test_every_data_file_at_the_location_is_read(aws, instance):
    write_export(aws, THREE_DAYS.head(2))
    aws.client("s3").put_object(
        Bucket=aws.bucket,
        Key=EXPORT_FOLDER + "part-00001.parquet",
        Body=parquet_bytes(THREE_DAYS.tail(1)),
    )
    metadata = materialization_metadata(materialize_dashboard(instance), "dashboard")
    assert (metadata["days"], metadata["last_date"]) == (3, "2020-12-14")


def test_files_athena_would_skip_are_not_read(aws, instance):
    write_export(aws, THREE_DAYS)
    aws.client("s3").put_object(Bucket=aws.bucket, Key=EXPORT_FOLDER + "_SUCCESS", Body=b"")
    result = materialize_dashboard(instance)
    assert result.success
    assert materialization_metadata(result, "dashboard")["days"] == 3


def test_without_an_export_the_dashboard_fails_saying_what_to_run(aws, instance):
    cause = failure_cause(materialize_dashboard(instance))
    assert cause.cls_name == ExportUnreadableError.__name__
    assert "covid.us_daily does not exist; materialize athena_export first" in cause.message


def test_export_without_a_column_the_dashboard_needs_is_refused(aws, instance):
    write_export(aws, THREE_DAYS)
    glue = aws.client("glue")
    table = glue.get_table(DatabaseName="covid", Name="us_daily")["Table"]
    storage = table["StorageDescriptor"]
    storage["Columns"] = [column for column in storage["Columns"] if column["Name"] != "deaths"]
    glue.update_table(
        DatabaseName="covid", TableInput={"Name": "us_daily", "StorageDescriptor": storage}
    )
    cause = failure_cause(materialize_dashboard(instance))
    assert "covid.us_daily has no column(s) ['deaths']" in cause.message


def test_daily_job_draws_the_real_snapshot_with_recovered_no_longer_reported(
    aws, instance, snapshots_dir, monkeypatch
):
    use_snapshot(monkeypatch, snapshots_dir, "2021-03-18")
    metadata = materialization_metadata(run_daily_job(instance), "dashboard")
    assert (metadata["days"], metadata["first_date"], metadata["last_date"]) == (
        420,
        "2020-01-22",
        "2021-03-16",
    )
    assert metadata["recovered_last_reported"] == "2020-12-13"
    text, _ = dashboard_page(aws)
    assert "Recovered: no longer reported after 2020-12-13." in text
    assert "Last data: 2021-03-16." in text
