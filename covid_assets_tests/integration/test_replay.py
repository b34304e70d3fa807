"""Replays of real NYT files through the daily job, day by day as the schedule and the sensor
would have run them.

The snapshots: the real daily snapshots in date order (each published at noon that day) keep
DynamoDB and the export equal to each day's merged table, computed with the csv module; a second
run of the same snapshot writes nothing; and the load notice lists a day's largest revisions.

The national history: a replay of days of ``history/nyt-us``, each version served over HTTP with
its real publication time as Last-Modified (and the 2021-03-17 JHU snapshot, published before all
of them), leaves a history whose "as of" each version's publication time is that version's merged
table, computed with the csv module, queried with the README's SQL in DuckDB over the files as
Athena reads them. A version older than the newest one then leaves what is served as it was. The
benchmark replays every version.

Each replay runs once for the module (a fixture of its own), and the tests read what it
recorded."""

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from dagster import DagsterInstance

from covid_assets.domain.history import as_of_sql
from covid_assets.domain.tables import NATIONAL
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.real_files import (
    ManifestVersion,
    csv_merged_days,
    history_files,
    manifest_versions,
    new_and_revised,
    run_sql,
)
from covid_assets_dev.web_sources import served_folder
from covid_assets_tests.helpers import (
    JHU_PUBLISHED,
    NATIONAL_HISTORY_DIR,
    README,
    MergedDays,
    blank_emulated_account,
    exported_days,
    materialization_metadata,
    run_daily_job,
    stored_days,
    subscribed_alert_inbox,
    use_snapshot,
    use_sources,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
# A long replay of real files: `make replays`, outside `make test`'s timed suite.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.replay,
    pytest.mark.xdist_group("integration/test_replay"),
]

# (snapshot day, items written, of which new days, of which revised days), from the data README.
REPLAY = [
    ("2020-10-09", 261, 261, 0),
    ("2021-03-14", 262, 156, 106),
    ("2021-03-15", 1, 1, 0),
    ("2021-03-16", 1, 1, 0),
    ("2021-03-17", 1, 1, 0),
    ("2021-03-18", 1, 0, 1),  # NYT revised 2021-03-16; JHU had not updated
]
# The days run a second time, right after their first run.
RUN_TWICE = ("2020-10-09", "2021-03-18")


def expected_days(snapshot: Path) -> dict[str, tuple[int, int, int]]:
    """The merged table computed independently of the pipeline, with the csv module."""
    return csv_merged_days(snapshot / "nyt-us.csv", snapshot / "jhu-combined.csv")


@dataclass
class ReplayedSnapshot:
    """What one day's run left, and what it published on SNS."""

    metadata: dict[str, dict[str, Any]]  # by asset
    stored: MergedDays
    exported: MergedDays
    notices: list[tuple[str, str]]


@dataclass
class SecondRun:
    """A run of the same snapshot again, right after the first."""

    success: bool
    metadata: dict[str, dict[str, Any]]  # by asset
    stored_before: MergedDays
    stored_after: MergedDays


@dataclass
class SnapshotReplay:
    days: dict[str, ReplayedSnapshot]
    second_runs: dict[str, SecondRun]
    # After the last day: the table as its step stored it, and every row of the history.
    table: pd.DataFrame
    history: pa.Table


def run_metadata(result) -> dict[str, dict[str, Any]]:
    return {
        asset: materialization_metadata(result, asset)
        for asset in ("merged_daily_table", "dynamodb_records", "athena_export")
    }


@pytest.fixture(scope="module")
def snapshot_replay(moto_endpoint, snapshots_dir) -> SnapshotReplay:
    """The snapshots of REPLAY in order on a blank account, the days of RUN_TWICE run again right
    after their first run: one replay for the module's tests."""
    days, second_runs = {}, {}
    with pytest.MonkeyPatch.context() as monkeypatch, DagsterInstance.ephemeral() as instance:
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        inbox = subscribed_alert_inbox(aws)
        for day, *_ in REPLAY:
            use_snapshot(monkeypatch, snapshots_dir, day)
            result = run_daily_job(instance)
            stored = stored_days(aws)
            days[day] = ReplayedSnapshot(
                run_metadata(result), stored, exported_days(aws), inbox.messages()
            )
            if day in RUN_TWICE:
                again = run_daily_job(instance)
                second_runs[day] = SecondRun(
                    again.success, run_metadata(again), stored, stored_days(aws)
                )
                inbox.messages()
        table = current_definitions().load_asset_value(NATIONAL.table_asset, instance=instance)
        history = history_files(GLUE_HISTORY)
    return SnapshotReplay(days, second_runs, table, history)


def test_replaying_the_snapshots_keeps_dynamodb_and_the_export_equal_to_each_days_merged_table(
    snapshot_replay, snapshots_dir
):
    for day, written, inserted, updated in REPLAY:
        replayed = snapshot_replay.days[day]
        metadata = replayed.metadata["dynamodb_records"]
        expected = expected_days(snapshots_dir / day)
        assert (metadata["items_written"], metadata["inserted"], metadata["updated"]) == (
            written,
            inserted,
            updated,
        ), day
        assert replayed.stored == expected, day
        assert replayed.exported == expected, day
    # The last run took in NYT's revision of 2021-03-16 (29,573,180 -> 29,573,186 cases).
    assert snapshot_replay.days[REPLAY[-1][0]].stored["2021-03-16"] == (29_573_186, 536_472, None)


def test_recovered_is_null_everywhere_after_jhu_stopped_counting_on_2020_12_14(snapshot_replay):
    """JHU's file gives 0 from 2020-12-14 on: the table, DynamoDB (no attribute), the export
    and the history (Parquet nulls) have no figure there, and keep the last one counted."""
    last = snapshot_replay.days[REPLAY[-1][0]]
    table = snapshot_replay.table
    history = snapshot_replay.history.to_pylist()
    recovered_by_place = {
        "table": dict(zip(table["date"].map(str), table["recovered"], strict=True)),
        "dynamodb": {day: counts[2] for day, counts in last.stored.items()},
        "export": {day: counts[2] for day, counts in last.exported.items()},
        "history": {str(row["date"]): row["recovered"] for row in history},
    }
    for place, recovered in recovered_by_place.items():
        stopped = {day: count for day, count in recovered.items() if day > "2020-12-13"}
        assert len(stopped) == 93, place  # 2020-12-14 to 2021-03-16
        assert all(pd.isna(count) for count in stopped.values()), place
        assert recovered["2020-12-13"] == 6_298_082, place


@pytest.mark.parametrize("day", RUN_TWICE)
def test_a_second_run_of_the_same_snapshot_writes_nothing(snapshot_replay, day):
    again = snapshot_replay.second_runs[day]
    assert again.success
    assert again.metadata["dynamodb_records"]["items_written"] == 0
    assert again.metadata["athena_export"]["status"] == "unchanged"
    assert again.stored_after == again.stored_before


def test_first_snapshot_ends_on_2020_10_08(snapshot_replay):
    first = snapshot_replay.days["2020-10-09"]
    assert first.stored["2020-10-08"] == (7_638_362, 212_678, 3_021_252)
    merged = first.metadata["merged_daily_table"]
    assert (merged["first_date"], merged["last_date"]) == (str(dt.date(2020, 1, 22)), "2020-10-08")


def test_the_load_notice_lists_the_days_largest_revisions(snapshot_replay):
    """The run of 2021-03-18, after 2021-03-17's."""
    *_, (subject, message) = snapshot_replay.days["2021-03-18"].notices
    assert subject == "covid_assets: 1 day(s) updated in covid_daily"
    assert message.endswith("Largest revisions:\n- 2021-03-16 cases: 29,573,180 → 29,573,186")


# The first version; 2020-05-07 to 2020-05-09 (the 8th revises dozens of days); the last two.
REPLAYED_DAYS = ("2020-04-16", "2020-05-07", "2020-05-08", "2020-05-09", "2021-01-30", "2021-01-31")
# A version between them, loaded after the newest (as from a stale cache).
LATE_DAY = "2020-06-15"
GLUE_HISTORY = "us_daily_history"


@dataclass
class NationalReplay:
    versions: list[ManifestVersion]
    merged: dict[str, MergedDays]
    appended: dict[str, int]
    new_and_revised: dict[str, int]
    history: pa.Table
    late: ManifestVersion
    late_metadata: dict[str, dict[str, Any]]
    history_after_late: pa.Table
    served_after_late: MergedDays
    exported_after_late: MergedDays


@pytest.fixture(scope="module")
def national_replay(moto_endpoint, snapshots_dir, tmp_path_factory) -> NationalReplay:
    """The replayed days in order, then the version of LATE_DAY, older than the newest one, as
    a stale cache would serve it: one replay for the module's tests."""
    if not NATIONAL_HISTORY_DIR.is_dir():
        pytest.skip(
            f"real NYT history not found at {NATIONAL_HISTORY_DIR} (see shared/data/README.md)"
        )
    everything = manifest_versions(NATIONAL_HISTORY_DIR)
    versions = [version for version in everything if version.run_day in REPLAYED_DAYS]
    late = next(version for version in everything if version.run_day == LATE_DAY)
    jhu = snapshots_dir / "2021-03-17" / "jhu-combined.csv"
    merged, appended, changed = {}, {}, {}
    before: MergedDays = {}
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        DagsterInstance.ephemeral() as instance,
        served_folder(tmp_path_factory.mktemp("web")) as web,
    ):
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        jhu_url = web.publish("jhu.csv", jhu, JHU_PUBLISHED.timestamp())
        use_sources(monkeypatch, f"{web.url}/us.csv", jhu_url)
        for version in versions:
            web.publish("us.csv", version.file, version.at.timestamp())
            result = run_daily_job(instance)
            merged[version.run_day] = rows = csv_merged_days(version.file, jhu)
            new, revised = new_and_revised(rows, before)
            changed[version.run_day] = len(new) + len(revised)
            history = materialization_metadata(result, NATIONAL.history_asset)
            appended[version.run_day] = history["rows_appended"]
            before = rows
        in_order = history_files(GLUE_HISTORY)
        # A copy on disk, modified when NYT published it: the HTTP server would answer the
        # run's If-Modified-Since with 304, as upstream does.
        late_copy = tmp_path_factory.mktemp("late") / "us.csv"
        shutil.copyfile(late.file, late_copy)
        os.utime(late_copy, (late.at.timestamp(), late.at.timestamp()))
        monkeypatch.setenv("COVID_NYT_URL", str(late_copy))
        result = run_daily_job(instance)
        merged[late.run_day] = csv_merged_days(late.file, jhu)
        return NationalReplay(
            versions=versions,
            merged=merged,
            appended=appended,
            new_and_revised=changed,
            history=in_order,
            late=late,
            late_metadata={
                asset: materialization_metadata(result, asset)
                for asset in (NATIONAL.history_asset, "dynamodb_records", "athena_export")
            },
            history_after_late=history_files(GLUE_HISTORY),
            served_after_late=stored_days(aws),
            exported_after_late=exported_days(aws),
        )


def as_of_days(history: pa.Table, version: ManifestVersion) -> MergedDays:
    """The history as of the version's publication, by the as-of SQL run in DuckDB."""
    columns = ("cases", "deaths", "recovered")
    sql = as_of_sql(f"covid.{GLUE_HISTORY}", ("date",), columns, version.sql_time)
    return {
        day.isoformat(): (cases, deaths, recovered)
        for day, cases, deaths, recovered, _ in run_sql(sql, {f"covid.{GLUE_HISTORY}": history})
    }


def test_the_history_as_of_each_versions_publication_is_that_versions_merged_table(
    national_replay,
):
    for version in national_replay.versions:
        found = as_of_days(national_replay.history, version)
        assert found == national_replay.merged[version.run_day], version.run_day


def test_each_version_appends_exactly_its_new_and_revised_days(national_replay):
    assert national_replay.appended == national_replay.new_and_revised
    assert national_replay.new_and_revised["2020-05-08"] > 30
    assert national_replay.history.num_rows == sum(national_replay.new_and_revised.values())


def test_each_row_records_its_batchs_source_hashes_and_publication_day(national_replay):
    rows = national_replay.history.to_pylist()
    for row in rows:
        assert re.fullmatch("[0-9a-f]{64}", row["nyt_sha256"]), row
        assert re.fullmatch("[0-9a-f]{64}", row["jhu_sha256"]), row
        assert str(row["published_day"]) == row["valid_from"].date().isoformat()
    assert len({row["jhu_sha256"] for row in rows}) == 1
    assert len({row["nyt_sha256"] for row in rows}) == len(national_replay.versions)


def test_the_readmes_as_of_query_runs_in_duckdb_over_the_history_files(national_replay):
    query = re.search(r"```sql\n(SELECT \"date\".*?)\n```", README.read_text(), re.DOTALL)
    assert query, "README: no as-of query of us_daily_history"
    newest = national_replay.versions[-1]
    columns = ("cases", "deaths", "recovered")
    assert query.group(1) == as_of_sql(f"covid.{GLUE_HISTORY}", ("date",), columns, newest.sql_time)
    found = run_sql(query.group(1), {f"covid.{GLUE_HISTORY}": national_replay.history})
    by_day = {
        day.isoformat(): (cases, deaths, recovered) for day, cases, deaths, recovered, _ in found
    }
    assert by_day == national_replay.merged[newest.run_day]


def test_a_version_older_than_the_newest_leaves_what_is_served_unchanged(national_replay):
    newest = national_replay.merged[national_replay.versions[-1].run_day]
    assert national_replay.served_after_late == newest
    assert national_replay.exported_after_late == newest
    history, records, export = (
        national_replay.late_metadata[asset]
        for asset in (NATIONAL.history_asset, "dynamodb_records", "athena_export")
    )
    assert history["stale_version"].startswith(
        f"nyt_raw was published at {national_replay.late.committed_utc.replace('Z', '.000Z')}"
    )
    assert records["items_written"] == 0
    assert records["stale_version"] == export["stale_version"] == history["stale_version"]
    assert export["status"] == "unchanged"


def test_a_version_older_than_the_newest_adds_what_the_history_lacks(national_replay):
    """Then "as of" every version, the late one included, gives that version's table."""
    history = national_replay.history_after_late
    assert history.num_rows > national_replay.history.num_rows
    assert national_replay.late_metadata[NATIONAL.history_asset]["status"] == "stale: appended"
    for version in [*national_replay.versions, national_replay.late]:
        assert as_of_days(history, version) == national_replay.merged[version.run_day], version
