"""The backfill of files (job history_backfill with files, as NYT's yearly county files) on small
hand-written county files: what it serves, the progress it records, its failures, and the daily
county load after it."""

import os
import pickle
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    ExecuteInProcessResult,
)

from covid_assets.defs.automation.failures import failure_reason
from covid_assets.defs.backfills.history_backfill import (
    HISTORY_BACKFILL,
    history_backfill_run_config,
)
from covid_assets.domain.tables import COUNTY, STATE
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.real_files import exported_place_rows, stored_place_items
from covid_assets_tests.helpers import (
    COUNTIES_THREE_DAYS,
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    STATES_THREE_DAYS,
    materialization_metadata,
    run_assets,
    run_daily_job,
    sensor_tick,
    stored_output_path,
    use_level_source,
)

pytestmark = pytest.mark.integration

HEADER, *COUNTY_LINES = COUNTIES_THREE_DAYS.splitlines(keepends=True)
# Three counties of the two states of STATES_THREE_DAYS, three to a day (one known by its name,
# one without deaths), and the day after.
DAY_1, DAY_2, DAY_3 = ("".join(COUNTY_LINES[3 * day : 3 * day + 3]) for day in range(3))
DAY_4 = "2020-03-04,King,Washington,53033,20,4\n2020-03-04,Unknown,Washington,,8,0\n"
DAY_4 += "2020-03-04,San Juan,Puerto Rico,72127,12,\n"
STATES_FOUR_DAYS = STATES_THREE_DAYS + (
    "2020-03-04,Washington,53,28,4\n2020-03-04,Puerto Rico,72,12,0\n"
)
KING_REVISED = "2020-03-02,King,Washington,53033,11,2\n"


def county_file(folder: Path, name: str, *lines: str) -> str:
    """A county file, published (modified) a second after the one written before it."""
    path = folder / name
    path.write_text(HEADER + "".join(lines))
    county_file.published = getattr(county_file, "published", 1_600_000_000) + 1
    os.utime(path, (county_file.published, county_file.published))
    return str(path)


def expected_items(*lines: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The county items these rows make, a later row of a county-day replacing an earlier one."""
    items = {}
    for line in "".join(lines).splitlines():
        date, county, state, fips, cases, deaths = line.split(",")
        usps = {"Washington": "WA", "Puerto Rico": "PR"}[state]
        item = {"level": "county", "place": county, "cases": int(cases)}
        item |= {"fips": fips} if fips else {}
        item |= {"deaths": int(deaths)} if deaths else {}
        items[(f"US-{usps}-{fips or county}", date)] = item
    return items


@pytest.fixture
def county_level(write_sources, tmp_path, monkeypatch) -> Path:
    """The county level on, beside three-day national and state files that reconcile, its
    daily source (the recent window) at the returned path, holding the first three days."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    states = tmp_path / "us-states.csv"
    states.write_text(STATES_THREE_DAYS)
    use_level_source(monkeypatch, STATE, states)
    recent = Path(county_file(tmp_path, "us-counties-recent.csv", DAY_1, DAY_2, DAY_3))
    use_level_source(monkeypatch, COUNTY, recent)
    return recent


def next_day_sources(write_sources, tmp_path: Path, *county_lines: str) -> None:
    """The national and state files one day longer, and this county window."""
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    (tmp_path / "us-states.csv").write_text(STATES_FOUR_DAYS)
    county_file(tmp_path, "us-counties-recent.csv", *county_lines)


def run_county_level(instance: DagsterInstance) -> ExecuteInProcessResult:
    """A daily run of the county level alone: its source, the state file it is held to, its
    table, load and export."""
    return run_assets(instance, [COUNTY.source.asset, STATE.source.asset, *COUNTY.assets])


def run_backfill(
    instance: DagsterInstance, urls: list[str], raise_on_error: bool = True
) -> ExecuteInProcessResult:
    job = current_definitions().resolve_job_def(HISTORY_BACKFILL)
    return job.execute_in_process(
        run_config=history_backfill_run_config("county", files=urls),
        instance=instance,
        raise_on_error=raise_on_error,
    )


def backfill_metadata(result: ExecuteInProcessResult, asset: str) -> list[dict[str, Any]]:
    """The plain metadata of each materialization of ``asset`` in the run, in order."""
    return [
        {key: value.value for key, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey(asset)
    ]


def test_a_backfill_of_the_counties_while_their_level_is_off_fails_saying_so(
    aws, instance, tmp_path, monkeypatch
):
    use_level_source(monkeypatch, STATE, tmp_path / "us-states.csv")
    result = run_backfill(
        instance, [county_file(tmp_path, "us-counties-2020.csv", DAY_1)], raise_on_error=False
    )
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "The county level is off (COVID_NYT_COUNTIES_URL is empty)" in failure_reason(
        failure.step_failure_data.error
    )


def test_the_backfill_loads_its_files_in_order_into_dynamodb_and_the_export(
    aws, instance, county_level, tmp_path
):
    first = county_file(tmp_path, "us-counties-2020a.csv", DAY_1, DAY_2)
    second = county_file(tmp_path, "us-counties-2020b.csv", KING_REVISED, DAY_3)
    assert run_backfill(instance, [first, second]).success

    expected = expected_items(DAY_1, DAY_2, KING_REVISED, DAY_3)
    assert stored_place_items(COUNTY) == expected
    exported = {
        (county, date): row["cases"]
        for (_, county, date), row in exported_place_rows(COUNTY).items()
    }
    assert exported == {
        (item["place"], date): item["cases"] for (_, date), item in expected.items()
    }


def test_the_backfill_records_each_files_progress_then_serves_the_newest_once(
    aws, instance, county_level, tmp_path
):
    first = county_file(tmp_path, "us-counties-2020a.csv", DAY_1, DAY_2)
    second = county_file(tmp_path, "us-counties-2020b.csv", KING_REVISED, DAY_3)
    result = run_backfill(instance, [first, second])

    [progress] = backfill_metadata(result, COUNTY.history_asset)
    assert (progress["versions_done"], progress["rows_appended"]) == ("2 / 2", 10)
    [records] = backfill_metadata(result, COUNTY.records_asset)
    assert (records["items_written"], records["dagster/row_count"]) == (9, 9)
    [export] = backfill_metadata(result, COUNTY.export_asset)
    assert export["status"] == "written"
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(
        m.startswith("version 2 / 2 (us-counties-2020b.csv), 4 rows appended") for m in messages
    )


def test_a_backfill_run_again_writes_nothing(aws, instance, county_level, tmp_path):
    urls = [county_file(tmp_path, "us-counties-2020.csv", DAY_1, DAY_2, DAY_3)]
    run_backfill(instance, urls)
    with recorded_calls() as calls:
        again = run_backfill(instance, urls)
    [records] = backfill_metadata(again, COUNTY.records_asset)
    assert (records["items_written"], records["unchanged"]) == (0, 9)
    assert backfill_metadata(again, COUNTY.export_asset)[0]["status"] == "unchanged"
    assert not [call for call in calls if call.operation == "BatchWriteItem"]


def test_a_bad_file_fails_the_backfill_naming_its_line_and_a_run_again_serves_every_file(
    aws, instance, county_level, tmp_path
):
    first = county_file(tmp_path, "us-counties-2020a.csv", DAY_1, DAY_2)
    second = county_file(tmp_path, "us-counties-2020b.csv", DAY_3.replace(",15,3", ",-15,3"))
    failed = run_backfill(instance, [first, second], raise_on_error=False)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert f"{second}, line 2, column 'cases': found '-15'" in failure_reason(
        failure.step_failure_data.error
    )
    # Nothing is served until every version is in: the first file waits in the history.
    assert stored_place_items(COUNTY) == {}

    county_file(tmp_path, "us-counties-2020b.csv", DAY_3)
    again = run_backfill(instance, [first, second])
    [progress] = backfill_metadata(again, COUNTY.history_asset)
    assert (progress["versions_skipped"], progress["rows_appended"]) == (1, 3)
    assert [r["items_written"] for r in backfill_metadata(again, COUNTY.records_asset)] == [9]
    assert stored_place_items(COUNTY) == expected_items(DAY_1, DAY_2, DAY_3)


def test_a_daily_run_after_the_backfill_reads_and_writes_only_the_new_and_revised_county_days(
    aws, instance, county_level, tmp_path, write_sources
):
    run_backfill(instance, [county_file(tmp_path, "us-counties-2020.csv", DAY_1, DAY_2, DAY_3)])
    next_day_sources(write_sources, tmp_path, KING_REVISED, DAY_3, DAY_4)

    with recorded_calls() as calls:
        result = run_county_level(instance)
    records = materialization_metadata(result, COUNTY.records_asset)
    assert (records["inserted"], records["updated"], records["batch_write_calls"]) == (3, 1, 1)
    assert records["dagster/row_count"] == 12  # the 9 backfilled county-days and day 4's 3
    assert records["read"] == "the 4 item(s) that differ from the last load (BatchGetItem)"
    county_queries = [
        call
        for call in calls
        if call.params.get("ExpressionAttributeValues", {}).get(":level") == {"S": "county"}
    ]
    assert county_queries == []
    assert stored_place_items(COUNTY) == expected_items(DAY_1, DAY_2, KING_REVISED, DAY_3, DAY_4)


def test_a_backfill_between_daily_runs_leaves_the_next_daily_run_consistent(
    aws, instance, county_level, tmp_path, write_sources
):
    run_county_level(instance)  # the window of the first three days
    # An older version of day 2 from a history file: the backfill writes it over the window's.
    run_backfill(instance, [county_file(tmp_path, "us-counties-2020.csv", KING_REVISED)])
    next_day_sources(write_sources, tmp_path, DAY_2, DAY_3, DAY_4)

    records = materialization_metadata(run_county_level(instance), COUNTY.records_asset)
    # Day 4's three county-days, and King's day 2 back to the window's value.
    assert (records["inserted"], records["updated"]) == (3, 1)
    assert stored_place_items(COUNTY) == expected_items(DAY_1, DAY_2, DAY_3, DAY_4)


def test_the_backfill_waits_for_the_serving_lock_of_a_run_under_way(
    aws, instance, county_level, tmp_path, monkeypatch
):
    holder = DagsterRun(
        job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED
    )
    instance.add_run(holder)
    lock = ServingLockResource(dynamodb=DynamoDBResource(table_name=aws.table_name), wait_seconds=1)
    assert lock.claim(holder.run_id, lease="held-by-the-test") is None
    monkeypatch.setenv("COVID_SERVING_LOCK_WAIT_SECONDS", "1")

    result = run_backfill(
        instance, [county_file(tmp_path, "us-counties-2020.csv", DAY_1)], raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert f"being written by run {holder.run_id}" in failure.step_failure_data.error.message
    assert stored_place_items(COUNTY) == {}


def test_after_a_backfill_that_served_a_newer_version_the_sensors_next_tick_is_quiet(
    aws, instance, county_level, tmp_path
):
    """A daily run would append the daily file as older than the newest and serve nothing new."""
    run_daily_job(instance)
    run_backfill(instance, [county_file(tmp_path, "us-counties-2020.csv", KING_REVISED)])

    tick = sensor_tick(instance)

    assert tick.run_requests == []
    assert stored_place_items(COUNTY)[("US-WA-53033", "2020-03-02")]["cases"] == 11


def king_days(first: int, last: int) -> tuple[str, str]:
    """King's county lines and Washington's state lines (the same counts) of days ``first`` to
    ``last`` from 2020-03-01, cases growing by one a day."""
    days = [(date(2020, 3, 1) + timedelta(days=n), n + 1) for n in range(first, last + 1)]
    counties = "".join(f"{day},King,Washington,53033,{cases},0\n" for day, cases in days)
    states = "".join(f"{day},Washington,53,{cases},0\n" for day, cases in days)
    return counties, states


def backfill_a_year_of_king(instance, tmp_path, monkeypatch) -> None:
    """A backfilled year of 40 days of King (from 2020-03-01), with a state file one day
    longer."""
    year, _ = king_days(0, 39)
    states = tmp_path / "us-states-king.csv"
    states.write_text(STATES_THREE_DAYS.splitlines(keepends=True)[0] + king_days(0, 40)[1])
    use_level_source(monkeypatch, STATE, states)
    run_backfill(instance, [county_file(tmp_path, "us-counties-2020.csv", year)])


def handed_on_days(instance) -> tuple[date, int]:
    """The first day and the number of rows of the table the county history handed on."""
    handed_on = pickle.loads(stored_output_path(instance, COUNTY.history_asset).read_bytes())
    return handed_on.table["date"].min(), len(handed_on.table)


def test_a_backfilled_year_hands_on_only_its_last_30_days_to_the_next_day(
    aws, instance, county_level, tmp_path, monkeypatch
):
    backfill_a_year_of_king(instance, tmp_path, monkeypatch)
    assert handed_on_days(instance) == (date(2020, 3, 11), 30)
    county_file(tmp_path, "us-counties-recent.csv", king_days(11, 40)[0])

    result = run_county_level(instance)

    assert materialization_metadata(result, COUNTY.history_asset)["rows_appended"] == 1
    assert handed_on_days(instance) == (date(2020, 3, 12), 30)


def test_a_version_reaching_before_the_handed_on_days_is_compared_with_the_history(
    aws, instance, county_level, tmp_path, monkeypatch
):
    backfill_a_year_of_king(instance, tmp_path, monkeypatch)
    county_file(tmp_path, "us-counties-recent.csv", king_days(5, 40)[0])

    result = run_county_level(instance)

    # Days 6 to 10 are in the history, though not in what the backfill handed on.
    assert materialization_metadata(result, COUNTY.history_asset)["rows_appended"] == 1
