"""When runs start: the sensor and the schedule look at the sources and at what is served, and
ask for a run only when something needs doing, saying why; otherwise the tick is skipped, with
the reason, and no run is made."""

import csv
import hashlib
import os
import re
from collections.abc import Callable
from datetime import datetime

import pytest
from dagster import AssetKey

from covid_assets.definitions import build_definitions
from covid_assets.defs.automation.triggers import REASON_TAG, TRIGGER_TAG
from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.transform import merge_daily
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.figures import is_write
from covid_assets_tests.helpers import (
    DAY_ONE,
    DAY_TWO,
    HISTORY_DIR,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    EmulatedAws,
    glue_export_table,
    load_three_days_served,
    run_daily_job,
    schedule_tick,
    sensor_tick,
    stored_days,
)

pytestmark = pytest.mark.integration

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


def test_a_quiet_tick_is_skipped_and_says_why(served, instance):
    tick = sensor_tick(instance)

    assert tick.run_requests == []
    assert re.fullmatch(QUIET_DAY, tick.skip_reason), tick.skip_reason


def test_the_schedule_skips_a_quiet_day_with_the_same_reason(aws, instance_on_disk, web_sources):
    load_three_days_served(web_sources, instance_on_disk)

    tick = schedule_tick(instance_on_disk)

    assert tick.run_requests == []
    assert re.fullmatch(QUIET_DAY, tick.skip_reason), tick.skip_reason


def test_a_quiet_tick_asks_each_source_once_and_is_answered_304(served, instance):
    sensor_tick(instance)

    assert served.answers == [("/us.csv", 304), ("/jhu.csv", 304)]


def test_a_quiet_tick_makes_at_most_five_aws_calls_and_writes_nothing(served, instance):
    with recorded_calls() as calls:
        sensor_tick(instance)

    assert len(calls) <= 5, [call.operation for call in calls]
    assert [call.operation for call in calls if is_write(call.operation)] == []


def test_a_quiet_tick_leaves_no_event_on_the_raw_assets(served, instance):
    assert sensor_tick(instance).asset_events == []


def test_a_tick_after_a_source_published_requests_one_run_and_says_which(served, instance):
    served.write("us.csv", NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,31,3"), DAY_TWO)

    tick = sensor_tick(instance)

    [request] = tick.run_requests
    assert request.tags[REASON_TAG] == "NYT published a new file"
    assert served.answers == [("/us.csv", 200), ("/jhu.csv", 304)]


def test_a_tick_that_sees_a_new_file_records_its_version_on_the_raw_asset(served, instance):
    new_file = NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,31,3")
    served.write("us.csv", new_file, DAY_TWO)

    tick = sensor_tick(instance)

    by_asset = {event.asset_key: event for event in tick.asset_events}
    nyt = by_asset[AssetKey("nyt_raw")]
    assert nyt.metadata["status"].value == "changed"
    assert nyt.tags["dagster/data_version"] == hashlib.sha256(new_file.encode()).hexdigest()
    assert by_asset[AssetKey("jhu_raw")].metadata["status"].value == "unchanged"


def test_the_run_after_one_source_changed_loads_it_and_the_next_tick_is_quiet(
    aws, served, instance
):
    served.write("us.csv", NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,31,3"), DAY_TWO)
    assert len(sensor_tick(instance).run_requests) == 1

    run_daily_job(instance)

    assert stored_days(aws)["2020-03-03"] == (31, 3, 0)
    assert sensor_tick(instance).run_requests == []


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


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (delete_table, "DynamoDB table covid_daily does not exist"),
        (delete_latest_item, "DynamoDB table covid_daily has no item for US 2020-03-03"),
        (change_latest_item, "DynamoDB item US 2020-03-03 differs from the last load"),
        (delete_parquet_object, "part-00000.parquet does not exist"),
        (delete_glue_table, "export: the Glue table does not exist"),
        (delete_dashboard_page, "dashboard: s3://covid-assets-local/dashboard/index.html"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_tick_requests_a_repair_when_what_is_served_is_not_what_was_written(
    aws, served, instance, damage: Callable[[EmulatedAws], None], reason: str
):
    damage(aws)

    [request] = sensor_tick(instance).run_requests

    assert reason in request.tags[REASON_TAG]


@pytest.mark.parametrize(
    "damage",
    [
        delete_table,
        change_latest_item,
        delete_parquet_object,
        delete_glue_table,
        delete_dashboard_page,
    ],
    ids=lambda damage: damage.__name__,
)
def test_the_repair_run_restores_what_is_served_and_the_next_tick_is_quiet(
    aws, served, instance, damage: Callable[[EmulatedAws], None]
):
    damage(aws)

    run_daily_job(instance)

    assert stored_days(aws) == THREE_DAYS
    assert sensor_tick(instance).run_requests == []


def test_a_tick_after_a_run_that_built_only_one_source_requests_the_rest(aws, served, instance):
    served.write("us.csv", NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,32,3"), DAY_TWO)
    only_nyt = (
        build_definitions()
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
