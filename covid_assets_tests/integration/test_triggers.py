"""When runs start: the sensor and the schedule look at the sources and at what is served, and
ask for a run only when something needs doing, saying why; otherwise the tick is skipped, with
the reason, and no run is made."""

import csv
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from covid_assets.defs.automation.triggers import (
    REASON_TAG,
    THIS_PROCESS,
    TRIGGER_TAG,
    inspected_cursor,
)
from covid_assets.defs.serving.served_check import SERVED_CHECK
from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.transform import merge_daily
from covid_assets_dev.aws_calls import AwsCall, recorded_calls
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.figures import is_write
from covid_assets_dev.ticks import TickResult, evaluate
from covid_assets_tests.helpers import (
    DAY_ONE,
    DAY_TWO,
    HISTORY_DIR,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    SERVED_ASSETS,
    THREE_DAYS,
    EmulatedAws,
    blank_emulated_account,
    glue_export_table,
    load_three_days_served,
    run_checks_only,
    run_daily_job,
    schedule_tick,
    sensor_tick,
    stored_days,
    three_days_served,
    use_sources,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("integration/test_triggers")]

QUIET_DAY = (
    r"NYT and JHU unchanged since \d{4}-\d\d-\d\d \d\d:\d\d UTC; "
    r"DynamoDB and the export verified"
)


@pytest.fixture
def served(aws, instance, web_sources):
    """The three-day sources served over HTTP, and one run that loaded them."""
    load_three_days_served(web_sources, instance)
    return web_sources


def test_the_first_tick_on_a_new_instance_requests_a_run(aws, instance, web_sources):
    web_sources.write("us.csv", NYT_THREE_DAYS, DAY_ONE)
    web_sources.write("jhu.csv", JHU_THREE_DAYS, DAY_ONE)

    tick = sensor_tick(instance)

    [request] = tick.run_requests
    assert request.tags[TRIGGER_TAG] == "covid_sources_sensor"
    assert "NYT published a new file" in request.tags[REASON_TAG]


def test_the_first_tick_in_a_new_process_inspects_at_once(aws, instance, web_sources):
    """A restart of `make run` starts a new code-server process: Dagster's cadence carries over,
    the sensor's inspection does not wait for it."""
    web_sources.write("us.csv", NYT_THREE_DAYS, DAY_ONE)
    web_sources.write("jhu.csv", JHU_THREE_DAYS, DAY_ONE)
    another_process = json.dumps({"inspected_at": time.time() - 1, "process": "1-0123456789ab"})

    tick, _ = evaluate(instance, "covid_sources_sensor", another_process)

    assert len(tick.run_requests) == 1
    assert json.loads(tick.cursor)["process"] == THIS_PROCESS


def test_a_tick_within_the_interval_after_this_processs_inspection_says_when_the_next_is(
    aws, instance, web_sources
):
    tick, _ = evaluate(instance, "covid_sources_sensor", inspected_cursor(time.time() - 60))

    assert tick.run_requests == []
    assert re.fullmatch(
        r"next look at the sources and what is served at \d\d:\d\d:\d\d UTC \(every 300 s\)",
        tick.skip_reason,
    )
    assert web_sources.answers == []


@pytest.mark.parametrize("seconds_since", [301, 295], ids=["after", "a_few_seconds_early"])
def test_a_tick_an_interval_after_this_processs_inspection_inspects(
    aws, instance, web_sources, seconds_since
):
    """Ticks come about every 15 s, a little early or late: one due within half a tick looks."""
    load_three_days_served(web_sources, instance)

    tick, _ = evaluate(
        instance, "covid_sources_sensor", inspected_cursor(time.time() - seconds_since)
    )

    assert re.fullmatch(QUIET_DAY, tick.skip_reason), tick.skip_reason
    assert len(web_sources.answers) == 2


@dataclass
class ObservedTick:
    """A sensor tick, and what it asked the sources and AWS."""

    tick: TickResult
    answers: list[tuple[str, int]]
    calls: list[AwsCall]


@pytest.fixture(scope="module")
def quiet_tick(moto_endpoint, tmp_path_factory) -> ObservedTick:
    """A tick of the sensor after a run loaded the sources, nothing published since."""
    with three_days_served(moto_endpoint, tmp_path_factory.mktemp("web")) as served:
        with recorded_calls() as calls:
            tick = sensor_tick(served.instance)
        return ObservedTick(tick, list(served.web.answers), calls)


def test_a_quiet_tick_is_skipped_and_says_why(quiet_tick):
    tick = quiet_tick.tick

    assert tick.run_requests == []
    assert re.fullmatch(QUIET_DAY, tick.skip_reason), tick.skip_reason


def test_the_schedule_skips_a_quiet_day_with_the_same_reason(aws, instance_on_disk, web_sources):
    load_three_days_served(web_sources, instance_on_disk)

    tick = schedule_tick(instance_on_disk)

    assert tick.run_requests == []
    assert re.fullmatch(QUIET_DAY, tick.skip_reason), tick.skip_reason


def test_a_quiet_tick_asks_each_source_once_and_is_answered_304(quiet_tick):
    assert quiet_tick.answers == [("/us.csv", 304), ("/jhu.csv", 304)]


def test_a_quiet_tick_makes_at_most_five_aws_calls_and_writes_nothing(quiet_tick):
    calls = quiet_tick.calls

    assert len(calls) <= 5, [call.operation for call in calls]
    assert [call.operation for call in calls if is_write(call.operation)] == []


def test_a_quiet_tick_leaves_no_event_on_the_raw_assets(quiet_tick):
    assert quiet_tick.tick.asset_events == []


# The NYT file a day later, with one day revised.
NEW_NYT_FILE = NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,31,3")


@dataclass
class NewFile:
    """The sensor's tick after NYT published NEW_NYT_FILE, the run it asked for, and the tick
    after that run."""

    tick: ObservedTick
    stored_after_the_run: dict[str, tuple[int, int, int]]
    next_tick: TickResult


@pytest.fixture(scope="module")
def new_file(moto_endpoint, tmp_path_factory) -> NewFile:
    with three_days_served(moto_endpoint, tmp_path_factory.mktemp("web")) as served:
        served.web.write("us.csv", NEW_NYT_FILE, DAY_TWO)
        tick = ObservedTick(sensor_tick(served.instance), list(served.web.answers), [])
        run_daily_job(served.instance)
        return NewFile(tick, stored_days(served.aws), sensor_tick(served.instance))


def test_a_tick_after_a_source_published_requests_one_run_and_says_which(new_file):
    [request] = new_file.tick.tick.run_requests
    assert request.tags[REASON_TAG] == "NYT published a new file"
    assert new_file.tick.answers == [("/us.csv", 200), ("/jhu.csv", 304)]


def test_a_tick_that_sees_a_new_file_records_its_version_on_the_raw_asset(new_file):
    by_asset = {event.asset_key: event for event in new_file.tick.tick.asset_events}
    nyt = by_asset[AssetKey("nyt_raw")]
    assert nyt.metadata["status"].value == "changed"
    assert nyt.tags["dagster/data_version"] == hashlib.sha256(NEW_NYT_FILE.encode()).hexdigest()
    assert by_asset[AssetKey("jhu_raw")].metadata["status"].value == "unchanged"


def test_the_run_after_one_source_changed_loads_it_and_the_next_tick_is_quiet(new_file):
    assert len(new_file.tick.tick.run_requests) == 1
    assert new_file.stored_after_the_run["2020-03-03"] == (31, 3, None)
    assert new_file.next_tick.run_requests == []


def delete_table(aws: EmulatedAws) -> None:
    aws.client("dynamodb").delete_table(TableName=aws.table_name)


def delete_latest_item(aws: EmulatedAws) -> None:
    key = {"region": {"S": "US"}, "date": {"S": "2020-03-03"}}
    aws.client("dynamodb").delete_item(TableName=aws.table_name, Key=key)


def change_latest_item(aws: EmulatedAws) -> None:
    aws.client("dynamodb").update_item(
        TableName=aws.table_name,
        Key={"region": {"S": "US"}, "date": {"S": "2020-03-03"}},
        UpdateExpression="SET cases = :cases",
        ExpressionAttributeValues={":cases": {"N": "1"}},
    )


def delete_parquet_object(aws: EmulatedAws) -> None:
    location = glue_export_table(aws)["StorageDescriptor"]["Location"]
    folder = location.removeprefix(f"s3://{aws.bucket}/")
    aws.client("s3").delete_object(Bucket=aws.bucket, Key=folder + "part-00000.parquet")


def delete_glue_table(aws: EmulatedAws) -> None:
    aws.client("glue").delete_table(
        DatabaseName=os.environ["COVID_GLUE_DATABASE"], Name=os.environ["COVID_GLUE_TABLE"]
    )


def delete_dashboard_page(aws: EmulatedAws) -> None:
    aws.client("s3").delete_object(Bucket=aws.bucket, Key="dashboard/index.html")


# Each damage done behind the pipeline's back, and the reason the tick gives for the repair.
DAMAGES = {
    delete_table: "DynamoDB table covid_daily does not exist",
    delete_latest_item: "DynamoDB table covid_daily has no item for US 2020-03-03",
    change_latest_item: "DynamoDB item US 2020-03-03 differs from the last load",
    delete_parquet_object: "part-00000.parquet does not exist",
    delete_glue_table: "athena_export: Glue table covid.us_daily does not exist",
    delete_dashboard_page: "dashboard: s3://covid-assets-local/dashboard/index.html",
}


@dataclass
class Repair:
    """After a damage: the sensor's tick, the repair run, and the tick after it."""

    damage: Callable[[EmulatedAws], None]
    tick: TickResult
    stored_after_the_run: dict[str, tuple[int, int, int]]
    next_tick: TickResult


@pytest.fixture(scope="module")
def repairs(moto_endpoint, tmp_path_factory) -> dict[Callable, Repair]:
    """Each damage done in turn to what is served, each followed by a tick and the run it
    requested: each repair leaves what is served as the first run did, for the next damage."""
    with three_days_served(moto_endpoint, tmp_path_factory.mktemp("web")) as served:
        found = {}
        for damage in DAMAGES:
            damage(served.aws)
            tick = sensor_tick(served.instance)
            run_daily_job(served.instance)
            found[damage] = Repair(
                damage, tick, stored_days(served.aws), sensor_tick(served.instance)
            )
        return found


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_a_tick_requests_a_repair_when_what_is_served_is_not_what_was_written(repairs, damage):
    [request] = repairs[damage].tick.run_requests

    assert DAMAGES[damage] in request.tags[REASON_TAG]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_the_repair_run_restores_what_is_served_and_the_next_tick_is_quiet(repairs, damage):
    assert repairs[damage].stored_after_the_run == THREE_DAYS
    assert repairs[damage].next_tick.run_requests == []


def served_check_states(instance: DagsterInstance) -> dict[str, tuple[str, str | None]]:
    """The latest evaluation of served_as_last_written on each serving asset, as the UI shows
    it: its status and description."""
    states = {}
    for asset in SERVED_ASSETS:
        key = AssetCheckKey(AssetKey(asset), SERVED_CHECK)
        [latest] = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        evaluation = latest.event.dagster_event.event_specific_data
        states[asset] = (latest.status.value, evaluation.description)
    return states


@dataclass
class Wiped:
    """After a run, the emulated account wiped (as a restart of `make run` leaves it): the
    served check on each serving asset after the sensor's tick, and after the repair run."""

    after_the_tick: dict[str, tuple[str, str | None]]
    executed_alone: dict[str, tuple[bool, str | None]]
    after_the_run: dict[str, tuple[str, str | None]]


@pytest.fixture(scope="module")
def wiped(moto_endpoint, tmp_path_factory) -> Wiped:
    with three_days_served(moto_endpoint, tmp_path_factory.mktemp("web")) as served:
        blank_emulated_account(served.aws.endpoint, served.monkeypatch)
        use_sources(served.monkeypatch, f"{served.web.url}/us.csv", f"{served.web.url}/jhu.csv")
        # What the daemon does with a sensor's asset events.
        for event in sensor_tick(served.instance).asset_events:
            served.instance.report_runless_asset_event(event)
        after_the_tick = served_check_states(served.instance)
        alone = run_checks_only(served.instance, *(f"{a}:{SERVED_CHECK}" for a in SERVED_ASSETS))
        executed_alone = {
            key.split(":")[0]: (evaluation.passed, evaluation.description)
            for key, evaluation in alone.items()
        }
        run_daily_job(served.instance)
        return Wiped(after_the_tick, executed_alone, served_check_states(served.instance))


def test_a_tick_that_finds_what_is_served_missing_fails_the_served_check_naming_it(wiped):
    assert {asset: status for asset, (status, _) in wiped.after_the_tick.items()} == dict.fromkeys(
        SERVED_ASSETS, "FAILED"
    )
    descriptions = {asset: text for asset, (_, text) in wiped.after_the_tick.items()}
    assert (
        "DynamoDB table covid_daily has no item for US 2020-03-03"
        in descriptions["dynamodb_records"]
    )
    assert "Glue table covid.us_daily does not exist" in descriptions["athena_export"]
    assert (
        "s3://covid-assets-local/dashboard/index.html does not exist" in descriptions["dashboard"]
    )


def test_the_served_check_executed_alone_fails_too_naming_what_is_missing(wiped):
    assert wiped.executed_alone == {
        "dynamodb_records": (False, "DynamoDB table covid_daily has no item for US 2020-03-03"),
        "athena_export": (False, "Glue table covid.us_daily does not exist"),
        "dashboard": (False, "s3://covid-assets-local/dashboard/index.html does not exist"),
    }


def test_the_repair_run_passes_the_served_check_on_each_serving_asset(wiped):
    assert wiped.after_the_run == dict.fromkeys(SERVED_ASSETS, ("SUCCEEDED", None))


def test_a_tick_after_a_run_that_built_only_one_source_requests_the_rest(aws, served, instance):
    served.write("us.csv", NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,32,3"), DAY_TWO)
    only_nyt = (
        current_definitions()
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={AssetKey("nyt_raw")})
    )
    only_nyt.execute_in_process(instance=instance)

    [request] = sensor_tick(instance).run_requests

    assert "did not finish building" in request.tags[REASON_TAG]


def nyt_history(run_day: str) -> tuple[bytes, float]:
    """One real NYT version of us.csv and the time NYT published it."""
    folder = HISTORY_DIR / "nyt-us"
    if not folder.is_dir():
        pytest.skip(f"real NYT history not found at {folder} (see shared/data/README.md)")
    with (folder / "MANIFEST.csv").open() as manifest:
        published = {row["run_day"]: row["committed_utc"] for row in csv.DictReader(manifest)}
    committed = datetime.fromisoformat(published[run_day].replace("Z", "+00:00"))
    return (folder / f"{run_day}.csv").read_bytes(), committed.timestamp()


def test_the_sensor_picks_up_a_same_day_revision_and_the_run_loads_it(
    aws, instance, web_sources, snapshots_dir
):
    """NYT's 2020-05-08 version revised 41 past days; the sensor sees it on its next tick."""
    jhu = (snapshots_dir / "2021-03-18" / "jhu-combined.csv").read_bytes()
    web_sources.write("jhu.csv", jhu, DAY_ONE)
    first, first_published = nyt_history("2020-05-07")
    web_sources.write("us.csv", first, first_published)
    run_daily_job(instance)
    assert sensor_tick(instance).run_requests == []

    revised, revised_published = nyt_history("2020-05-08")
    web_sources.write("us.csv", revised, revised_published)
    [request] = sensor_tick(instance).run_requests
    run_daily_job(instance)

    expected = merge_daily(read_csv_text(revised), read_csv_text(jhu))
    assert request.tags[REASON_TAG] == "NYT published a new file"
    assert stored_days(aws) == {
        row.date.isoformat(): (row.cases, row.deaths, row.recovered)
        for row in expected.itertuples()
    }
    assert sensor_tick(instance).run_requests == []
