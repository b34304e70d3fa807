"""The dashboard asset against the moto server: what it reads, what it writes, what it shows.

Most tests write an export the way ``athena_export`` does (its Parquet and Glue table input), and
for the states the state level's export, and materialize the dashboard alone; one runs the whole
daily job on a real snapshot.
"""

import base64
import csv
import datetime as dt
from collections.abc import Sequence

import pandas as pd
import pytest
from dagster import materialize

from covid_assets.athena_export import PARQUET_FILE_NAME, glue_table_input, parquet_bytes
from covid_assets.aws import GlueCatalogResource
from covid_assets.dashboard import DASHBOARD_KEY, build_dashboard
from covid_assets.dashboard_data import weekly_new_cases
from covid_assets.definitions import build_definitions
from covid_assets.glue_export import ExportUnreadableError
from covid_assets.levels import STATE, Level
from covid_assets_tests.helpers import (
    materialization_metadata,
    run_daily_job,
    use_level_source,
    use_snapshot,
)
from covid_assets_tests.test_dashboard_data import state_rows
from covid_assets_tests.test_dashboard_render import SVG_IMAGE

EXPORT_FOLDER = "athena/us_daily/test-export/"
STATE_EXPORT_FOLDER = "athena/us_states_daily/test-export/"

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


def write_state_export(aws, table: pd.DataFrame) -> None:
    """Put ``table`` where state_athena_export would, and point its Glue table at it."""
    schema = STATE.export_schema
    aws.client("s3").put_object(
        Bucket=aws.bucket,
        Key=STATE_EXPORT_FOLDER + PARQUET_FILE_NAME,
        # The dashboard reads only date, state and cases.
        Body=parquet_bytes(table.assign(fips=None, deaths=None), schema),
    )
    location = f"s3://{aws.bucket}/{STATE_EXPORT_FOLDER}"
    catalog = GlueCatalogResource(database="covid", table_name=STATE.glue_table_default)
    catalog.ensure_database()
    catalog.put_table(
        glue_table_input(STATE.glue_table_default, location, "", len(table), schema=schema)
    )


def materialize_dashboard(instance, levels: Sequence[Level] = ()):
    return materialize(
        [build_dashboard(levels)],
        resources=build_definitions().resources,
        instance=instance,
        raise_on_error=False,
    )


@pytest.fixture
def with_states(aws, instance, monkeypatch):
    """The dashboard's metadata after drawing THREE_DAYS and two weeks of two states, with the
    state level on."""
    use_level_source(monkeypatch, STATE, "unused-by-the-dashboard.csv")
    write_export(aws, THREE_DAYS)
    write_state_export(aws, state_rows({"Utah": [0, *[70] * 7, *[140] * 7], "Ohio": [0] * 15}))
    return materialization_metadata(materialize_dashboard(instance, [STATE]), "dashboard")


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


def test_metadata_has_the_last_days_totals_and_changes_as_numbers(three_days):
    figures = ("cases", "deaths", "new_cases", "new_deaths")
    assert [three_days[name] for name in figures] == [110, 3, -10, 1]


def test_page_states_the_headline_figures(aws, three_days):
    text, _ = dashboard_page(aws)
    assert "<strong>110</strong> cases in total to 2020-12-14" in text
    assert "<strong>60</strong> recovered to 2020-12-13, the last day reported" in text


def test_with_the_state_level_off_the_dashboard_draws_no_states(aws, three_days):
    assert three_days["states_drawn"] == 0
    assert "by state" not in dashboard_page(aws)[0]


def test_with_the_state_level_on_the_page_and_the_metadata_show_the_states_panel(aws, with_states):
    assert with_states["states_drawn"] == 2
    images = SVG_IMAGE.findall(with_states["dashboard"])
    assert [title for title, _ in images][-1] == "Daily new cases by state"
    text, _ = dashboard_page(aws)
    assert '<figure aria-label="Daily new cases by state" class="wide">' in text
    assert "Utah: 10 a day in the week to 2020-12-15" in text


def test_with_the_state_level_on_and_no_state_export_the_dashboard_says_what_to_run(
    aws, instance, monkeypatch
):
    use_level_source(monkeypatch, STATE, "unused-by-the-dashboard.csv")
    write_export(aws, THREE_DAYS)
    cause = failure_cause(materialize_dashboard(instance, [STATE]))
    assert (
        "covid.us_states_daily does not exist; materialize state_athena_export first"
        in cause.message
    )


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


def nyt_cases_by_day(path) -> dict[str, int]:
    with path.open(newline="") as nyt_file:
        return {row["date"]: int(row["cases"]) for row in csv.DictReader(nyt_file)}


def test_daily_job_draws_the_real_snapshot_stating_its_last_days_new_cases(
    aws, instance, snapshots_dir, monkeypatch
):
    """Recovered stops where JHU stopped counting, and the new cases of the last day in both
    sources are those of NYT's file read with the csv module: the page once drew that day's
    change as a stroke down to zero."""
    cases = nyt_cases_by_day(snapshots_dir / "2021-03-18" / "nyt-us.csv")
    new_cases = cases["2021-03-16"] - cases["2021-03-15"]
    assert new_cases == 54_440
    use_snapshot(monkeypatch, snapshots_dir, "2021-03-18")
    metadata = materialization_metadata(run_daily_job(instance), "dashboard")
    assert (metadata["days"], metadata["first_date"], metadata["last_date"]) == (
        420,
        "2020-01-22",
        "2021-03-16",
    )
    assert metadata["recovered_last_reported"] == "2020-12-13"
    assert metadata["new_cases"] == new_cases
    assert "- **54,440** new cases on 2021-03-16" in metadata["dashboard"]
    text, _ = dashboard_page(aws)
    assert "<strong>54,440</strong> new cases on 2021-03-16" in text
    assert "Recovered: no longer reported after 2020-12-13." in text
    assert "Last data: 2021-03-16." in text


def test_states_weeks_of_the_real_file_are_the_change_over_each_week(snapshots_dir):
    """Each state's last week, from NYT's states file read with the csv module: its cases on the
    last day less those seven days before, a day."""
    path = snapshots_dir / "2021-03-18" / "nyt-us-states.csv"
    with path.open(newline="") as states_file:
        rows = list(csv.DictReader(states_file))
    cases = {(row["state"], row["date"]): int(row["cases"]) for row in rows}
    states = sorted({row["state"] for row in rows})
    expected = [(cases[s, "2021-03-17"] - cases[s, "2021-03-10"]) / 7 for s in states]
    weekly = weekly_new_cases(pd.read_csv(path))
    assert (weekly.index[-1].date(), list(weekly.columns)) == (dt.date(2021, 3, 17), states)
    assert list(weekly.iloc[-1]) == pytest.approx(expected)
    assert len(states) == 55
