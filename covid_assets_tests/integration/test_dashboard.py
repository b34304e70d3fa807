"""The dashboard asset against the moto server: what it reads, what it writes, what it shows.

Most tests write an export the way ``athena_export`` does (its Parquet and Glue table input), and
for the states the state level's export, and materialize the dashboard alone; one runs the whole
daily job on a real snapshot, and a few replay real national versions served over HTTP for the
revisions and the charts "as published on" a day.
"""

import base64
import csv
import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from covid_assets.defs.dashboard.as_published_on import AS_PUBLISHED_ON, as_published_page_key
from covid_assets.defs.dashboard.dashboard import DASHBOARD_KEY, build_dashboard
from covid_assets.domain.tables import (
    NATIONAL,
    STATE,
    ServedTable,
    revision_days_table_of,
    revisions_table_of,
)
from covid_assets.resources.exports import PARQUET_FILE_NAME, ExportUnreadableError
from covid_assets.resources.parquet_tables import parquet_bytes
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.history_backfill import (
    csv_revisions,
    national_revision_days,
    national_revisions,
)
from covid_assets_dev.real_files import ManifestVersion, csv_merged_days, manifest_versions
from covid_assets_dev.ticks import TickResult
from covid_assets_dev.web_sources import served_folder
from covid_assets_tests.helpers import (
    JHU_PUBLISHED,
    NATIONAL_HISTORY_DIR,
    SVG_IMAGE,
    MergedDays,
    blank_emulated_account,
    dashboard_page,
    draw_as_published_on,
    materialization_metadata,
    run_daily_job,
    sensor_tick,
    served_tables,
    state_rows,
    use_level_source,
    use_snapshot,
    use_sources,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("integration/test_dashboard")]

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
        Bucket=aws.bucket,
        Key=folder + PARQUET_FILE_NAME,
        Body=parquet_bytes(table, NATIONAL.export_schema),
    )
    location = f"s3://{aws.bucket}/{folder}"
    served = served_tables(aws)
    served.glue.ensure_database()
    served.glue.put_table(served.export(NATIONAL).table_input(len(table), {}, location))
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
    served = served_tables(aws)
    served.glue.ensure_database()
    served.glue.put_table(served.export(STATE).table_input(len(table), {}, location))


def materialize_dashboard(instance, levels: Sequence[ServedTable] = ()):
    return materialize(
        [build_dashboard(levels)],
        resources=current_definitions().resources,
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


@dataclass
class DrawnDashboard:
    """The dashboard's metadata (read by name, as a dict), the page it wrote, and its bucket."""

    metadata: dict[str, Any]
    page: tuple[str, str]  # text, content type
    bucket: str

    def __getitem__(self, name: str) -> Any:
        return self.metadata[name]


@pytest.fixture(scope="module")
def three_days(moto_endpoint) -> DrawnDashboard:
    """The dashboard after drawing THREE_DAYS (state level off): one drawing for the tests that
    only read it."""
    with pytest.MonkeyPatch.context() as monkeypatch, DagsterInstance.ephemeral() as instance:
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        write_export(aws, THREE_DAYS)
        metadata = materialization_metadata(materialize_dashboard(instance), "dashboard")
        return DrawnDashboard(metadata, dashboard_page(aws), aws.bucket)


def failure_error(result):
    [failure] = [event for event in result.all_events if event.is_step_failure]
    return failure.step_failure_data.error


def failure_cause(result):
    return failure_error(result).cause


def test_html_page_is_written_to_the_bucket_and_named_in_the_metadata(three_days):
    text, content_type = three_days.page
    assert content_type == "text/html; charset=utf-8"
    assert text.startswith("<!DOCTYPE html>")
    assert three_days["html_page"] == f"s3://{three_days.bucket}/{DASHBOARD_KEY}"


def test_metadata_embeds_the_four_charts_as_markdown_svg_images(three_days):
    images = SVG_IMAGE.findall(three_days["dashboard"])
    assert len(images) == 4
    assert all(base64.b64decode(svg).startswith(b"<svg") for _, svg in images)


def test_metadata_names_the_export_read_and_the_quirks_drawn(three_days):
    assert three_days["export_location"] == f"s3://{three_days.bucket}/{EXPORT_FOLDER}"
    assert (three_days["days"], three_days["last_date"]) == (3, "2020-12-14")
    assert three_days["recovered_last_reported"] == "2020-12-13"
    assert three_days["days_with_negative_new_cases"] == 1


def test_metadata_has_the_last_days_totals_and_changes_as_numbers(three_days):
    figures = ("cases", "deaths", "new_cases", "new_deaths")
    assert [three_days[name] for name in figures] == [110, 3, -10, 1]


def test_page_states_the_headline_figures(three_days):
    text, _ = three_days.page
    assert "<strong>110</strong> cases in total to 2020-12-14" in text
    assert "<strong>60</strong> recovered to 2020-12-13, the last day reported" in text


def test_with_the_state_level_off_the_dashboard_draws_no_states(three_days):
    assert three_days["states_drawn"] == 0
    assert "by state" not in three_days.page[0]


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
        Bucket=aws.bucket,
        Key=EXPORT_FOLDER + PARQUET_FILE_NAME,
        Body=parquet_bytes(THREE_DAYS, NATIONAL.export_schema),
    )
    metadata = materialization_metadata(materialize_dashboard(instance), "dashboard")
    assert metadata["last_date"] == "2020-12-13"


def test_every_data_file_at_the_location_is_read(aws, instance):
    write_export(aws, THREE_DAYS.head(2))
    aws.client("s3").put_object(
        Bucket=aws.bucket,
        Key=EXPORT_FOLDER + "part-00001.parquet",
        Body=parquet_bytes(THREE_DAYS.tail(1), NATIONAL.export_schema),
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


def test_after_one_publication_the_revisions_view_says_no_revisions_yet(three_days):
    assert three_days["revised_publications"] == 0
    assert "No revisions yet" in three_days["dashboard"]
    assert "<li>No revisions yet: they are shown once" in three_days.page[0]


def test_a_day_published_on_that_is_no_iso_day_is_refused_before_anything_is_read(aws, instance):
    error = failure_error(draw_as_published_on(instance, "14/06/2020")[0])
    assert "day: '14/06/2020' is not a day in ISO form, like 2020-06-14" in error.message


# Three real national versions, published on 2020-05-06, 2020-05-07 (which revises dozens of
# past days) and 2020-05-08; the dashboard is then drawn as published on the middle one's day.
REPLAYED_RUN_DAYS = ("2020-05-07", "2020-05-08", "2020-05-09")
PUBLISHED_ON = "2020-05-07"
BEFORE_THE_FIRST_VERSION = "2020-05-05"


@dataclass
class DashboardReplay:
    bucket: str
    versions: list[ManifestVersion]
    merged: dict[str, MergedDays]
    daily: dict[str, Any]
    page: str
    published_on: dict[str, Any]
    published_on_page: str
    before_the_first: Any
    tick_after: TickResult
    dashboard_runs: list[str]
    daily_run_ids: set[str]
    revision_tables: dict[str, dict[str, Any]]
    revisions: list[tuple]
    revision_days: dict[str, tuple]

    @property
    def csv_revisions(self) -> list[tuple]:
        """The revision summary of the versions, computed from their csv files."""
        return csv_revisions([(v.at, self.merged[v.run_day]) for v in self.versions])


@pytest.fixture(scope="module")
def dashboard_replay(moto_endpoint, snapshots_dir, tmp_path_factory) -> DashboardReplay:
    """The replayed versions through the daily job, each served over HTTP with its NYT commit
    time as Last-Modified (JHU published before all of them); then the dashboard alone as
    published on PUBLISHED_ON, and as published on a day before the first version."""
    if not NATIONAL_HISTORY_DIR.is_dir():
        pytest.skip(
            f"real NYT history not found at {NATIONAL_HISTORY_DIR} (see shared/data/README.md)"
        )
    versions = [
        v for v in manifest_versions(NATIONAL_HISTORY_DIR) if v.run_day in REPLAYED_RUN_DAYS
    ]
    jhu = snapshots_dir / "2021-03-17" / "jhu-combined.csv"
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        DagsterInstance.ephemeral() as instance,
        served_folder(tmp_path_factory.mktemp("web")) as web,
    ):
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        use_sources(
            monkeypatch, f"{web.url}/us.csv", web.publish("jhu.csv", jhu, JHU_PUBLISHED.timestamp())
        )
        for version in versions:
            web.publish("us.csv", version.file, version.at.timestamp())
            daily = materialization_metadata(run_daily_job(instance), "dashboard")
        published_on = draw_as_published_on(instance, PUBLISHED_ON)[1]
        published_on_page, _ = dashboard_page(
            aws, as_published_page_key(dt.date.fromisoformat(PUBLISHED_ON))
        )
        before_the_first = draw_as_published_on(instance, BEFORE_THE_FIRST_VERSION)[0]
        page, _ = dashboard_page(aws)
        return DashboardReplay(
            bucket=aws.bucket,
            versions=versions,
            merged={v.run_day: csv_merged_days(v.file, jhu) for v in versions},
            daily=daily,
            page=page,
            published_on=published_on,
            published_on_page=published_on_page,
            before_the_first=before_the_first,
            tick_after=sensor_tick(instance),
            dashboard_runs=[
                record.event_log_entry.run_id
                for record in instance.fetch_materializations(
                    AssetKey("dashboard"), limit=10
                ).records
            ],
            daily_run_ids={
                run.run_id for run in instance.get_runs() if run.job_name != AS_PUBLISHED_ON
            },
            revision_tables={
                name: aws.client("glue").get_table(DatabaseName="covid", Name=name)["Table"]
                for name in (revisions_table_of("us_daily"), revision_days_table_of("us_daily"))
            },
            revisions=national_revisions(),
            revision_days=national_revision_days(),
        )


def revision_line(published: str, summary: tuple) -> str:
    """The dashboard's line of a publication's summary row."""
    _, revised, added, cases, deaths, _ = summary
    return (
        f"Latest publication, {published[:10]} {published[11:16]} UTC: {revised} past days "
        f"revised, {added} day{'' if added == 1 else 's'} added; net change {cases:+,} cases and "
        f"{deaths:+,} deaths."
    )


def test_the_revision_summary_is_that_of_the_csv_files(dashboard_replay):
    """A row per publication, each version against the one before, read back as Athena
    reads the Glue table us_daily_revisions; test_history_backfill holds the backfill's to
    the same computation."""
    assert dashboard_replay.revisions == dashboard_replay.csv_revisions
    assert dashboard_replay.revisions[1][1] > 30  # 2020-05-07's version revised dozens of days


def test_the_revision_tables_are_parquet_by_publication_day_and_a_view_of_the_history(
    dashboard_replay,
):
    summary, days = dashboard_replay.revision_tables.values()
    assert summary["StorageDescriptor"]["Location"] == (
        f"s3://{dashboard_replay.bucket}/revisions/athena/us_daily/"
    )
    assert summary["PartitionKeys"] == [{"Name": "published_day", "Type": "string"}]
    assert days["TableType"] == "VIRTUAL_VIEW"


def test_the_per_day_revisions_are_those_of_the_csv_files(dashboard_replay):
    """Per day: how many versions changed it, and the least and greatest lag (days from the
    day to the publication) of those that did."""
    versions = [
        (v.at.date(), dashboard_replay.merged[v.run_day]) for v in dashboard_replay.versions
    ]
    lags: dict[str, list[int]] = {day: [] for _, table in versions for day in table}
    for (_, before), (published, after) in itertools.pairwise(versions):
        for day in before.keys() & after.keys():
            if before[day] != after[day]:
                lags[day].append((published - dt.date.fromisoformat(day)).days)
    expected = {
        day: (len(found), min(found, default=None), max(found, default=None))
        for day, found in lags.items()
    }
    assert {day: stats[:3] for day, stats in dashboard_replay.revision_days.items()} == expected


def test_the_revisions_view_shows_the_latest_publications_summary(dashboard_replay):
    """Its numbers (the latest publication's days revised and added and net changes) and a
    chart of points per publication day."""
    last = dashboard_replay.versions[-1]
    line = revision_line(last.committed_utc, dashboard_replay.csv_revisions[-1])
    assert f"<li>{line}</li>" in dashboard_replay.page
    assert f"- {line}" in dashboard_replay.daily["dashboard"]
    assert dashboard_replay.daily["revised_publications"] == 2
    assert (
        dashboard_replay.daily["days_revised_latest_publication"]
        == dashboard_replay.csv_revisions[-1][1]
    )


def test_the_daily_runs_draw_the_newest_version_from_the_export(dashboard_replay):
    newest = dashboard_replay.merged[dashboard_replay.versions[-1].run_day]
    last_day = max(newest)
    assert (dashboard_replay.daily["last_date"], dashboard_replay.daily["cases"]) == (
        last_day,
        newest[last_day][0],
    )
    assert "as published on" not in dashboard_replay.page


def test_as_published_on_a_day_draws_that_days_version_and_says_so(dashboard_replay):
    """The version published on PUBLISHED_ON (the second): its last day's totals and its day
    count, not the newest version's; the page is written beside today's, which it leaves."""
    [version] = [v for v in dashboard_replay.versions if v.committed_utc.startswith(PUBLISHED_ON)]
    table = dashboard_replay.merged[version.run_day]
    last_day = max(table)
    cases, deaths, _ = table[last_day]
    metadata = dashboard_replay.published_on
    assert metadata["as_published_on"] == PUBLISHED_ON
    assert (metadata["days"], metadata["last_date"]) == (len(table), last_day)
    assert (metadata["cases"], metadata["deaths"]) == (cases, deaths)
    page_uri = f"s3://{dashboard_replay.bucket}/{as_published_page_key(dt.date.fromisoformat(PUBLISHED_ON))}"
    assert metadata["html_page"] == page_uri
    page = dashboard_replay.published_on_page
    assert f"<h1>COVID-19 in the United States, as published on {PUBLISHED_ON}</h1>" in page
    assert f"<strong>{cases:,}</strong> cases in total to {last_day}" in page
    assert (
        f"**COVID-19 in the United States, as published on {PUBLISHED_ON}**"
        in (metadata["dashboard"])
    )
    assert "as published on" not in dashboard_replay.page


def test_as_published_on_a_day_before_the_first_version_says_there_was_none(dashboard_replay):
    error = failure_error(dashboard_replay.before_the_first)
    assert (
        f"day {BEFORE_THE_FIRST_VERSION}: the history has no version published by the end of "
        f"{BEFORE_THE_FIRST_VERSION}"
    ) in error.message


def test_a_page_as_published_on_is_no_materialization_of_the_dashboard(dashboard_replay):
    """Its runs (the one that drew and the one that failed) leave the daily dashboard's
    materializations, and so its lineage and health, as the daily runs made them."""
    assert dashboard_replay.dashboard_runs
    assert set(dashboard_replay.dashboard_runs) <= dashboard_replay.daily_run_ids


def test_a_page_as_published_on_does_not_set_the_sensor_off(dashboard_replay):
    assert dashboard_replay.tick_after.run_requests == []
    assert "unchanged since" in dashboard_replay.tick_after.skip_reason


def test_the_revisions_as_published_on_a_day_stop_at_that_day(dashboard_replay):
    """The page of the middle version's day has the first two publications' summary, not the
    third's, which came later."""
    _, middle, _ = dashboard_replay.versions
    page = dashboard_replay.published_on_page
    assert dashboard_replay.published_on["revised_publications"] == 1
    line = revision_line(middle.committed_utc, dashboard_replay.csv_revisions[1])
    assert f"<li>{line}</li>" in page
