"""The county level end to end on the real NYT files: a replay of the real county windows day by
day (the history, then the snapshots) leaves DynamoDB and the partitioned Glue table equal to an
independent computation with the csv module, writes exactly the new and revised county-days,
keeps the county-days that leave the window, and reads only what changed.

The files are the real ones cut down to five states at test time (Iowa, whose counties do not
always add up to the state; New York, with New York City and Unknown, which have no fips;
Puerto Rico, whose deaths are blank; Delaware and Rhode Island); the benchmark replays them
whole."""

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, DagsterInstance

from covid_assets.defs.serving.athena_export import ROWS_CHECK
from covid_assets.domain.rules import USPS_CODES
from covid_assets.domain.tables import COUNTY, NATIONAL, STATE
from covid_assets.resources import exports
from covid_assets.resources.dynamodb import LEVEL_INDEX
from covid_assets_dev.aws_calls import AwsCall, recorded_calls
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.figures import is_history_glue_write, is_history_object_write
from covid_assets_dev.real_files import (
    ManifestVersion,
    csv_place_rows,
    expected_items,
    exported_place_rows,
    history_place_rows,
    manifest_versions,
    national_file_of,
    new_and_revised,
    place_file_subset,
    stored_place_items,
    with_partitions,
    written_keys,
)
from covid_assets_tests.helpers import (
    COUNTIES_THREE_DAYS,
    HISTORY_DIR,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    SNAPSHOT_COMMITS,
    STATES_THREE_DAYS,
    blank_emulated_account,
    check_evaluation,
    keys_read,
    materialization_metadata,
    published_at,
    run_assets,
    run_checks_only,
    run_daily_job,
    s3_keys,
    sensor_tick,
    use_level_source,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
# A long replay of real files: `make replays`, outside `make test`'s timed suite.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.replay,
    pytest.mark.xdist_group("integration/test_counties"),
]

REPLAYED_STATES = {"Delaware", "Iowa", "New York", "Puerto Rico", "Rhode Island"}
COUNTY_HISTORY = HISTORY_DIR / "nyt-us-counties-recent"
SNAPSHOT_DAYS = ("2021-03-17", "2021-03-18")
COUNTY_LEVEL_ASSETS = [
    STATE.source.asset,
    COUNTY.source.asset,
    *COUNTY.assets,
]
# What a run that writes nothing may call.
READ_OPERATIONS = ("Get", "List", "Head", "Query", "Scan", "BatchGet", "Describe")
RECONCILIATION = f"{COUNTY.table_asset}:{COUNTY.level.reconciliation.check_name}"

CountyDay = tuple[str, str, str]  # state, county, date


def csv_state_county_mismatches(counties: Path, states: Path) -> set[tuple[str, str]]:
    """The (date, state) of the window on which the counties' sum is not the state's total."""
    totals: dict[tuple[str, str], list[int]] = {}
    with counties.open(newline="") as source:
        for row in csv.DictReader(source):
            day = totals.setdefault((row["date"], row["state"]), [0, 0, 0])
            day[0] += int(row["cases"])
            day[1] += int(row["deaths"] or 0)
            day[2] += row["deaths"] == ""
    with states.open(newline="") as source:
        state_rows = {(row["date"], row["state"]): row for row in csv.DictReader(source)}
    return {
        key
        for key, (cases, deaths, blank_deaths) in totals.items()
        if cases != int(state_rows[key]["cases"])
        or (not blank_deaths and deaths != int(state_rows[key]["deaths"]))
    }


@dataclass
class ReplayedDay:
    """What one day's run did, and what an independent computation says it should have."""

    day: str
    counties_file: Path
    new: set[CountyDay]
    revised: set[CountyDay]
    vanished: set[CountyDay]
    left_window: set[CountyDay]
    served: dict[CountyDay, dict[str, Any]]
    calls: list[AwsCall]
    records: dict[str, Any]
    export: dict[str, Any]
    reconciliation_passed: bool
    reconciliation_metadata: dict[str, Any]
    exported: dict[CountyDay, dict[str, Any]]
    history: dict[str, Any]
    # The history as of the day's publication.
    as_of: dict[CountyDay, dict[str, Any]]


@dataclass
class CountyReplay:
    days: list[ReplayedDay]
    stored: dict[tuple[str, str], dict[str, Any]]
    quiet_calls: list[AwsCall]
    quiet_records: dict[str, Any]
    quiet_export: dict[str, Any]


@pytest.fixture(scope="module")
def county_replay(moto_endpoint, snapshots_dir, tmp_path_factory) -> "CountyReplay":
    """The real county window of 2021-03-10, then of the 2021-03-17 and 2021-03-18 snapshots (a
    week of days leaves the window between the first two), each run in turn
    against the 2021-03-18 state file. One replay for the module's tests, since a first load is
    most of its cost; it returns each day's run, a run of the last day again, and DynamoDB's county
    items at the end."""
    if not COUNTY_HISTORY.is_dir():
        pytest.skip(
            f"real county history not found at {COUNTY_HISTORY} (see shared/data/README.md)"
        )
    folder = tmp_path_factory.mktemp("counties")
    # Each file published when NYT committed it (a snapshot: at noon of its day).
    # The history's last version only: the snapshots' two days make the next-day pair.
    versions = [
        *manifest_versions(COUNTY_HISTORY)[-1:],
        *(
            ManifestVersion(
                day,
                SNAPSHOT_COMMITS[day],
                f"{day}T12:00:00Z",
                snapshots_dir / day / "nyt-us-counties-recent.csv",
            )
            for day in SNAPSHOT_DAYS
        ),
    ]
    states_file = place_file_subset(
        snapshots_dir / "2021-03-18" / "nyt-us-states.csv", REPLAYED_STATES, folder / "states.csv"
    )
    replayed = []
    with pytest.MonkeyPatch.context() as monkeypatch, DagsterInstance.ephemeral() as instance:
        blank_emulated_account(moto_endpoint, monkeypatch)
        monkeypatch.setenv("COVID_NYT_URL", str(national_file_of(states_file, folder / "us.csv")))
        use_level_source(monkeypatch, STATE, states_file)
        served: dict[CountyDay, dict[str, Any]] = {}
        window: dict[CountyDay, dict[str, Any]] = {}
        for version in versions:
            day = version.run_day
            counties_file = place_file_subset(version.file, REPLAYED_STATES, folder / f"{day}.csv")
            published_at(version.at, counties_file)
            use_level_source(monkeypatch, COUNTY, counties_file)
            with recorded_calls() as calls:
                result = run_assets(instance, COUNTY_LEVEL_ASSETS)
            rows = csv_place_rows(counties_file)
            first_day = min(date for _, _, date in rows)
            new, revised = new_and_revised(rows, served)
            reconciliation = check_evaluation(result, RECONCILIATION)
            replayed.append(
                ReplayedDay(
                    day=day,
                    counties_file=counties_file,
                    new=new,
                    revised=revised,
                    vanished={key for key in window.keys() - rows.keys() if key[2] >= first_day},
                    left_window={key for key in window.keys() - rows.keys() if key[2] < first_day},
                    served=(served := {**served, **rows}),
                    calls=calls,
                    records=materialization_metadata(result, COUNTY.records_asset),
                    export=materialization_metadata(result, COUNTY.export_asset),
                    reconciliation_passed=reconciliation.passed,
                    reconciliation_metadata={
                        key: value.value for key, value in reconciliation.metadata.items()
                    },
                    exported=exported_place_rows(COUNTY),
                    history=materialization_metadata(result, COUNTY.history_asset),
                    as_of=history_place_rows(COUNTY, version.sql_time),
                )
            )
            window = rows
        # The last day once more: nothing has changed.
        with recorded_calls() as quiet_calls:
            quiet = run_assets(instance, COUNTY_LEVEL_ASSETS)
        # A Scan of the emulator costs seconds: DynamoDB is read whole once, at the end, and
        # each day's writes are checked key by key.
        stored = stored_place_items(COUNTY)
    return CountyReplay(
        replayed,
        stored,
        quiet_calls,
        materialization_metadata(quiet, COUNTY.records_asset),
        materialization_metadata(quiet, COUNTY.export_asset),
    )


def test_each_day_writes_exactly_the_new_and_revised_county_days(county_replay):
    days = county_replay.days
    for day in days:
        changed = expected_items({key: day.served[key] for key in day.new | day.revised})
        assert sorted(written_keys(day.calls)) == sorted(changed), day.day
        assert (day.records["inserted"], day.records["updated"]) == (
            len(day.new),
            len(day.revised),
        ), day.day
        assert day.records["batch_write_calls"] == -(-len(changed) // 25), day.day


def test_each_day_appends_its_new_and_revised_county_days_to_the_history(county_replay):
    for day in county_replay.days:
        assert day.history["rows_appended"] == len(day.new) + len(day.revised), day.day


def test_each_next_days_history_append_is_one_object_and_one_glue_write(county_replay):
    """The first day also creates the history's Glue table."""
    for day in county_replay.days[1:]:
        assert sum(map(is_history_object_write, day.calls)) == 1, day.day
        assert sum(map(is_history_glue_write, day.calls)) == 1, day.day


def test_the_history_as_of_each_days_publication_is_every_county_day_served_then(county_replay):
    for day in county_replay.days:
        assert day.as_of == day.served, day.day


def test_dynamodb_holds_every_county_day_ever_seen_with_its_latest_values(county_replay):
    days, stored = county_replay.days, county_replay.stored
    assert stored == expected_items(days[-1].served)


def test_the_partitioned_glue_table_holds_every_county_day_ever_seen(county_replay):
    days = county_replay.days
    for day in days:
        assert day.exported == with_partitions(COUNTY, day.served), day.day


def test_a_county_day_that_leaves_the_window_is_kept_and_not_reported_vanished(county_replay):
    days, stored = county_replay.days, county_replay.stored
    later = [day for day in days if day.left_window]
    assert later, "the replay has days that leave the window"
    for day in later:
        assert day.records["vanished_count"] == len(day.vanished), day.day
        assert set(with_partitions(COUNTY, {k: day.served[k] for k in day.left_window})) <= set(
            day.exported
        )
    left = {key for day in later for key in day.left_window}
    assert set(expected_items({key: days[-1].served[key] for key in left})) <= set(stored)


def test_blank_counts_are_missing_never_zero(county_replay):
    days, stored = county_replay.days, county_replay.stored
    puerto_rico = [item for (region, _), item in stored.items() if region.startswith("US-PR-")]
    assert puerto_rico
    assert all("deaths" not in item for item in puerto_rico if item["place"] != "Unknown")
    exported = days[-1].exported
    assert all(
        "deaths" not in row
        for (state, county, _), row in exported.items()
        if state == "Puerto Rico" and county != "Unknown"
    )


def test_counties_without_a_fips_are_keyed_by_their_name(county_replay):
    stored = county_replay.stored
    regions = {region for region, _ in stored}
    assert {"US-NY-New York City", "US-IA-Unknown"} <= regions
    assert "US-NY-36061" not in regions  # Manhattan is counted within New York City
    assert "US-DE-10001" in regions


def test_a_first_load_counts_the_level_in_its_index_once_and_reads_none_of_its_items(
    county_replay,
):
    first = county_replay.days[0]
    queries = [call.params for call in first.calls if call.operation in ("Query", "Scan")]
    assert [(q["IndexName"], q["Select"], q["Limit"]) for q in queries] == [
        (LEVEL_INDEX, "COUNT", 1)
    ]
    # The last item of each batch written, read back by the check, and the served check's probe
    # of the latest.
    assert keys_read(first.calls) == first.records["batch_write_calls"] + 1


def test_after_the_first_load_a_day_reads_only_the_items_that_changed(county_replay):
    for day in county_replay.days[1:]:
        operations = {call.operation for call in day.calls}
        assert not operations & {"Query", "Scan"}, day.day
        read = keys_read(day.calls)
        # The keys that differ from the last load, then the last of each batch written, read
        # back by the check, and the load's latest item (the served check's probe of the load).
        batches = day.records["batch_write_calls"]
        assert read == len(day.new) + len(day.revised) + batches + 1, day.day


def test_a_next_day_rewrites_only_the_partitions_whose_rows_changed(county_replay):
    for day in county_replay.days[1:]:
        changed = {(USPS_CODES[state], date[:7]) for state, _, date in day.new | day.revised}
        written = day.export["partitions_created"] + day.export["partitions_rewritten"]
        assert written == len(changed), day.day
        assert day.export["partitions_unchanged"] == day.export["partitions_touched"] - written


def test_iowas_known_discrepancy_passes_and_is_listed_with_its_reason_in_the_metadata(
    county_replay, snapshots_dir, tmp_path
):
    last = county_replay.days[-1]
    states = place_file_subset(
        snapshots_dir / "2021-03-18" / "nyt-us-states.csv", REPLAYED_STATES, tmp_path / "s.csv"
    )
    mismatches = csv_state_county_mismatches(last.counties_file, states)
    assert mismatches == {("2021-02-25", "Iowa"), ("2021-03-17", "Iowa")}
    assert last.reconciliation_passed
    metadata = last.reconciliation_metadata
    assert (metadata["problem_count"], metadata["known_count"]) == (0, len(mismatches))
    for day, state in mismatches:
        assert f"{day} {state}: sum" in metadata["known"]
    assert metadata["known"].count("known: NYT compiles Iowa's county and state series") == 2


def test_the_row_counts_are_of_every_county_day_served_not_of_the_window(county_replay):
    days = county_replay.days
    for day in days:
        assert day.records["dagster/row_count"] == len(day.served), day.day
        assert day.export["dagster/row_count"] == len(day.served), day.day


def test_the_same_window_again_writes_nothing_and_reads_only_what_its_checks_read_back(
    county_replay,
):
    calls = county_replay.quiet_calls
    operations = {call.operation for call in calls}
    assert not {"BatchWriteItem", "Query", "Scan"} & operations
    # One BatchGetItem: the served check's probe of the load's latest item, none of the load.
    assert [call.operation for call in calls].count("BatchGetItem") == 1
    assert not {"BatchCreatePartition", "BatchUpdatePartition"} & operations
    county_objects = [
        call.operation
        for call in calls
        if call.operation in ("PutObject", "GetObject") and "counties" in call.params.get("Key", "")
    ]
    # The export's rows check reads each partition the window touches back, once.
    assert county_objects == ["GetObject"] * county_replay.quiet_export["partitions_touched"]
    assert county_replay.quiet_records["items_written"] == 0
    assert county_replay.quiet_export["status"] == "unchanged"


@pytest.fixture
def three_county_days(write_sources, tmp_path, monkeypatch) -> None:
    """The three-day national sources, and state and county files that add up to them."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    for level, name, text in (
        (STATE, "us-states.csv", STATES_THREE_DAYS),
        (COUNTY, "us-counties.csv", COUNTIES_THREE_DAYS),
    ):
        (tmp_path / name).write_text(text)
        use_level_source(monkeypatch, level, tmp_path / name)


def test_a_partition_file_deleted_behind_the_pipelines_back_is_found_and_rewritten(
    aws, instance, three_county_days
):
    run_assets(instance, COUNTY_LEVEL_ASSETS)
    exported = exported_place_rows(COUNTY)
    [washington] = [
        key for key in s3_keys(aws, os.environ[COUNTY.export_prefix_setting]) if "usps=WA" in key
    ]
    aws.client("s3").delete_object(Bucket=aws.bucket, Key=washington)
    result = run_assets(instance, COUNTY_LEVEL_ASSETS)
    export = materialization_metadata(result, COUNTY.export_asset)
    assert (export["status"], export["partitions_rewritten"]) == ("written", 1)
    assert exported_place_rows(COUNTY) == exported
    assert check_evaluation(result, f"{COUNTY.export_asset}:{ROWS_CHECK}").passed


def test_a_partition_row_changed_behind_the_pipelines_back_fails_the_rows_check_naming_both(
    aws, instance, three_county_days, monkeypatch
):
    # Every partition its own batch: a row is named by the partition it was read from.
    monkeypatch.setattr(exports, "CHECK_BATCH_ROWS", 1)
    run_assets(instance, COUNTY_LEVEL_ASSETS)
    [washington] = [
        key for key in s3_keys(aws, os.environ[COUNTY.export_prefix_setting]) if "usps=WA" in key
    ]
    s3 = aws.client("s3")
    rows = pq.read_table(
        io.BytesIO(s3.get_object(Bucket=aws.bucket, Key=washington)["Body"].read())
    )
    cases = rows.column("cases").to_pylist()
    cases[-1] += 1
    changed = io.BytesIO()
    pq.write_table(rows.set_column(rows.schema.get_field_index("cases"), "cases", [cases]), changed)
    s3.put_object(Bucket=aws.bucket, Key=washington, Body=changed.getvalue())

    check = f"{COUNTY.export_asset}:{ROWS_CHECK}"
    evaluation = run_checks_only(instance, check)[check]
    assert not evaluation.passed
    assert evaluation.description.count("the served row's values") == 1
    assert (
        "partition usps=WA/month=2020-03, column 'date, state, county': "
        "found '2020-03-03 Washington Unknown'" in evaluation.description
    )


def test_a_quiet_tick_with_every_level_on_looks_at_every_table_the_way_it_looks_at_the_nations(
    aws, instance, three_county_days
):
    """Each level adds one look at its source (here a file's hash) and a HeadObject of its
    export's last file: every load's latest item is read in the one BatchGetItem, and every
    export's Glue table in the one GetTables, the nation's tick makes anyway."""
    run_daily_job(instance)
    with recorded_calls() as calls:
        tick = sensor_tick(instance)
    assert tick.run_requests == []
    assert tick.skip_reason.startswith("NYT, JHU, NYT states and NYT counties unchanged since")
    assert sorted(call.operation for call in calls) == [
        "BatchGetItem",
        "GetTables",
        *["HeadObject"] * 4,
    ]
    heads = sorted(
        call.params["Key"].split("/")[1] for call in calls if call.operation == "HeadObject"
    )
    assert heads == ["index.html", "us_counties_daily", "us_daily", "us_states_daily"]
    [batch] = [call for call in calls if call.operation == "BatchGetItem"]
    [keys] = [request["Keys"] for request in batch.params["RequestItems"].values()]
    assert [key["region"]["S"] for key in keys] == ["US", "US-WA", "US-WA-Unknown"]


def test_every_tables_checks_run_alone_on_the_stored_files_and_write_nothing(
    aws, instance, three_county_days
):
    """The UI's Execute on the checks of the three tables: each gives its result, recomputed
    from the raw files the daily run stored and what it served, with no new table, no lock, no
    quarantine and no alert (no AWS write at all)."""
    daily_run = run_daily_job(instance).run_id
    tables = [table.table_asset for table in (NATIONAL, STATE, COUNTY)]
    checks = [
        key.to_user_string()
        for key in current_definitions().resolve_asset_graph().asset_check_keys
        if key.asset_key.to_user_string() in tables
    ]
    with recorded_calls() as calls:
        evaluations = run_checks_only(instance, *checks)
    assert len(checks) == 19
    assert {check for check, e in evaluations.items() if e.passed} == set(checks)
    assert [call for call in calls if not call.operation.startswith(READ_OPERATIONS)] == []
    for table in tables:
        latest = instance.get_latest_materialization_event(AssetKey(table))
        assert latest.run_id == daily_run, table
