"""The state level end to end on the real NYT files: the state daily table, its DynamoDB items
and its Glue table equal an independent computation with the csv module, and a replay of the
real history writes exactly the new and revised state-days."""

import os
from pathlib import Path
from typing import Any

import pytest

from covid_assets.defs.automation.triggers import REASON_TAG
from covid_assets.domain.history import iso
from covid_assets.domain.tables import STATE, history_table_of
from covid_assets.resources.dynamodb import KEY_ATTRIBUTES, LEVEL_INDEX
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.figures import is_history_glue_write, is_history_object_write
from covid_assets_dev.real_files import (
    ManifestVersion,
    csv_place_rows,
    expected_items,
    exported_place_rows,
    history_files,
    history_place_rows,
    manifest_versions,
    national_file_of,
    new_and_revised,
    place_file_subset,
    stored_place_items,
    written_keys,
)
from covid_assets_tests.helpers import (
    HISTORY_DIR,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    SNAPSHOT_COMMITS,
    STATES_THREE_DAYS,
    THREE_DAYS,
    check_evaluation,
    materialization_metadata,
    materialized_assets,
    run_assets,
    run_daily_job,
    sensor_tick,
    stored_days,
    stored_item_versions,
    use_level_source,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("integration/test_states")]

StateDay = tuple[str, str]


@pytest.fixture
def three_state_days(write_sources, tmp_path, monkeypatch) -> Path:
    """The three-day national sources and a state file that reconciles with them."""
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    states_file = tmp_path / "us-states.csv"
    states_file.write_text(STATES_THREE_DAYS)
    use_level_source(monkeypatch, STATE, states_file)
    return states_file


def test_a_quiet_tick_asks_the_state_source_too_and_a_new_state_file_starts_a_run(
    aws, instance, three_state_days
):
    run_daily_job(instance)
    quiet = sensor_tick(instance)
    assert quiet.run_requests == []
    assert quiet.skip_reason.startswith("NYT, JHU and NYT states unchanged since ")
    three_state_days.write_text(
        STATES_THREE_DAYS.replace("Puerto Rico,72,9,0", "Puerto Rico,72,9,1")
    )
    tick = sensor_tick(instance)
    assert len(tick.run_requests) == 1
    assert tick.run_requests[0].tags[REASON_TAG] == "NYT states published a new file"


def test_a_second_run_of_the_same_state_file_reads_and_writes_no_state_item(
    aws, instance, three_state_days
):
    run_daily_job(instance)
    with recorded_calls() as calls:
        result = run_daily_job(instance)
    operations = [call.operation for call in calls if call.service == "dynamodb"]
    assert "BatchWriteItem" not in operations
    # One BatchGetItem: the served check's probe of each load's latest item, none of the load.
    assert operations.count("BatchGetItem") == 1
    assert not [call for call in calls if call.params.get("IndexName")]
    records = materialization_metadata(result, STATE.records_asset)
    assert (records["items_written"], records["unchanged"]) == (0, 6)
    assert materialization_metadata(result, STATE.export_asset)["status"] == "unchanged"


def test_a_state_item_deleted_behind_the_pipelines_back_starts_a_run_that_writes_it_again(
    aws, instance, three_state_days
):
    """Neither the tick nor the load trusts the record of the last load over the table."""
    run_daily_job(instance)
    aws.client("dynamodb").delete_item(
        TableName=aws.table_name, Key={"region": {"S": "US-WA"}, "date": {"S": "2020-03-03"}}
    )
    tick = sensor_tick(instance)
    assert [request.tags[REASON_TAG] for request in tick.run_requests] == [
        "state_dynamodb_records: DynamoDB table covid_daily has no item for US-WA 2020-03-03"
    ]
    records = materialization_metadata(run_daily_job(instance), STATE.records_asset)
    assert (records["inserted"], records["read"]) == (
        1,
        "the 6 item(s) of the table (BatchGetItem)",
    )
    assert ("US-WA", "2020-03-03") in stored_place_items(STATE)


def test_states_that_do_not_add_up_stop_the_state_level_and_the_dashboard_not_the_national_load(
    aws, instance, three_state_days, alert_inbox
):
    """The dashboard draws the states too, so it waits with them: the page keeps the last
    complete picture, as the state export does."""
    three_state_days.write_text(
        STATES_THREE_DAYS.replace("Puerto Rico,72,6,0", "Puerto Rico,72,5,0")
    )
    result = run_daily_job(instance, raise_on_error=False)
    assert not result.success
    check = check_evaluation(result, f"{STATE.table_asset}:states_sum_to_national_totals")
    assert not check.passed
    assert check.description == (
        "state_daily_table, column 'cases': found '2020-03-02: sum 19', expected the national "
        "NYT total 20"
    )
    built = materialized_assets(result)
    assert {"dynamodb_records", "athena_export"} <= built
    assert not {STATE.records_asset, STATE.export_asset, "dashboard"} & built
    assert stored_days(aws) == THREE_DAYS
    assert stored_place_items(STATE) == {}
    assert any(
        "state_daily_table failed validation" in subject for subject, _ in alert_inbox.messages()
    )


def test_a_blank_count_is_no_dynamodb_attribute_and_null_in_the_export(
    aws, instance, three_state_days
):
    three_state_days.write_text(STATES_THREE_DAYS.replace("72,6,0", "72,6,"))
    assert run_daily_job(instance).success
    item = stored_place_items(STATE)[("US-PR", "2020-03-02")]
    assert item == {"level": "state", "place": "Puerto Rico", "fips": "72", "cases": 6}
    assert exported_place_rows(STATE)[("Puerto Rico", "2020-03-02")] == {"fips": "72", "cases": 6}


def test_a_table_made_before_the_level_index_gets_it_from_the_state_load(
    aws, instance, three_state_days
):
    dynamodb = aws.client("dynamodb")
    dynamodb.delete_table(TableName=aws.table_name)
    dynamodb.create_table(
        TableName=aws.table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=KEY_ATTRIBUTES,
        KeySchema=[
            {"AttributeName": "region", "KeyType": "HASH"},
            {"AttributeName": "date", "KeyType": "RANGE"},
        ],
    )
    assert run_daily_job(instance).success
    indexes = dynamodb.describe_table(TableName=aws.table_name)["Table"]["GlobalSecondaryIndexes"]
    assert [index["IndexName"] for index in indexes] == [LEVEL_INDEX]
    assert len(stored_place_items(STATE)) == 6


STATE_HISTORY = HISTORY_DIR / "nyt-us-states"
STATE_LEVEL_ASSETS = [
    "nyt_raw",
    "nyt_states_raw",
    *STATE.assets,
]


@pytest.fixture(scope="module")
def state_history() -> list[ManifestVersion]:
    if not STATE_HISTORY.is_dir():
        pytest.skip(f"real state history not found at {STATE_HISTORY} (see shared/data/README.md)")
    return manifest_versions(STATE_HISTORY)


# The states the real history revises (Alaska's 145 past days on 2021-02-10, Nebraska's 113 on
# 2021-02-14, a few single days), and Puerto Rico; the benchmark replays every state.
REPLAYED_STATES = {
    "Alaska",
    "California",
    "Nebraska",
    "New Jersey",
    "North Carolina",
    "Puerto Rico",
    "Texas",
    "Washington",
}


# A long replay of real files: `make replays`, outside `make test`'s timed suite.
@pytest.mark.replay
def test_replaying_the_state_history_writes_exactly_the_new_and_revised_state_days(
    aws, instance, state_history, snapshots_dir, monkeypatch, tmp_path
):
    """Each day's run writes exactly the state-days that are new or differ from the day before
    (seen in its BatchWriteItem calls), leaves the Glue table equal to that day's file read with
    the csv module, and appends exactly those state-days to the history, whose "as of" the day's
    publication is the day's file. The replay ends with the real 2021-03-18 snapshot, and
    DynamoDB then holds exactly that file. The files are the real ones cut down to the states
    they revise, each modified when NYT published it."""
    before: dict[StateDay, dict[str, Any]] = {}
    revised_by_day, appended = {}, 0
    latest_snapshot = ManifestVersion(
        "2021-03-18",
        SNAPSHOT_COMMITS["2021-03-18"],
        "2021-03-18T12:00:00Z",
        snapshots_dir / "2021-03-18" / "nyt-us-states.csv",
    )
    for version in [*state_history, latest_snapshot]:
        day = version.run_day
        states_file = place_file_subset(version.file, REPLAYED_STATES, tmp_path / f"{day}.csv")
        os.utime(states_file, (version.at.timestamp(), version.at.timestamp()))
        use_level_source(monkeypatch, STATE, states_file)
        national = national_file_of(states_file, tmp_path / f"us-{day}.csv")
        monkeypatch.setenv("COVID_NYT_URL", str(national))
        with recorded_calls() as calls:
            result = run_assets(instance, STATE_LEVEL_ASSETS)
        rows = csv_place_rows(states_file)
        new, revised = new_and_revised(rows, before)
        changed = expected_items({key: rows[key] for key in new | revised})
        assert sorted(written_keys(calls)) == sorted(changed), day
        metadata = materialization_metadata(result, STATE.records_asset)
        assert (metadata["inserted"], metadata["updated"]) == (len(new), len(revised)), day
        assert metadata["unchanged"] == len(rows) - len(new) - len(revised)
        assert exported_place_rows(STATE) == rows, day
        history = materialization_metadata(result, STATE.history_asset)
        assert history["rows_appended"] == len(new) + len(revised), day
        assert sum(map(is_history_object_write, calls)) == 1, day
        # The first day also creates the history's Glue table.
        assert sum(map(is_history_glue_write, calls)) == (1 if before else 2), day
        assert history_place_rows(STATE, version.sql_time) == rows, day
        if not before:
            assert metadata["batch_write_calls"] == -(-len(rows) // 25)
        revised_by_day[day] = len(revised)
        appended += len(new) + len(revised)
        before = rows
    assert revised_by_day["2021-02-10"] == 148
    assert revised_by_day["2021-02-14"] == 113
    assert {state for state, _ in before} == REPLAYED_STATES
    assert stored_place_items(STATE) == expected_items(before)
    history_table = history_table_of(os.environ[STATE.glue_table_setting])
    assert history_files(history_table).num_rows == appended
    # Alaska's 2020-12-01: first seen on 2021-02-08 (32,911 cases), revised to 32,909 on
    # 2021-02-10 and back to 32,911 on 2021-02-11.
    first, _, _, back = state_history[:4]
    assert stored_item_versions(aws, "US-AK", "2020-12-01") == {
        "first_published": iso(first.at),
        "last_revised": iso(back.at),
        "revisions": 2,
    }
