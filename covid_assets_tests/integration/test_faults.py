"""Failures moto never produces, injected by a proxy between the pipeline and moto server:
DynamoDB throttling, UnprocessedItems, and an AWS error half-way through a load."""

import os

import pytest

from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets_tests.fault_proxy import (
    Fault,
    acknowledge_without_writing,
    dynamodb_error,
    leave_half_unprocessed,
)
from covid_assets_tests.helpers import (
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    check_evaluation,
    materialization_metadata,
    run_daily_job,
    sensor_tick,
    stored_days,
    use_snapshot,
)

pytestmark = pytest.mark.integration


def test_throttled_batch_writes_are_retried_until_they_succeed(
    aws, instance, write_sources, fault_proxy
):
    fault_proxy.inject(
        Fault("BatchWriteItem", dynamodb_error("ProvisionedThroughputExceededException"), times=2)
    )
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    assert run_daily_job(instance).success
    assert stored_days(aws) == THREE_DAYS
    assert fault_proxy.calls["BatchWriteItem"] == 3


def test_unprocessed_items_are_resent_until_all_are_written(
    aws, instance, snapshots_dir, monkeypatch, fault_proxy
):
    fault_proxy.inject(Fault("BatchWriteItem", leave_half_unprocessed, times=4))
    use_snapshot(monkeypatch, snapshots_dir, "2020-10-09")
    result = run_daily_job(instance)
    assert len(stored_days(aws)) == 261
    # 11 batches of up to 25, and one more call for each of the 4 partly processed ones.
    assert materialization_metadata(result, "dynamodb_records")["batch_write_calls"] == 15


def test_a_write_acknowledged_but_not_stored_fails_the_dynamodb_check_naming_the_day(
    aws, instance, write_sources, fault_proxy
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    fault_proxy.inject(Fault("BatchWriteItem", acknowledge_without_writing))
    write_sources(NYT_FOUR_DAYS, JHU_FOUR_DAYS)
    evaluation = check_evaluation(
        run_daily_job(instance), "dynamodb_records:table_matches_served_table"
    )
    assert not evaluation.passed
    assert "column 'date': found '2020-03-04'" in evaluation.description


def test_items_still_unprocessed_after_the_last_round_fail_with_a_clear_error(aws, fault_proxy):
    fault_proxy.inject(Fault("BatchWriteItem", leave_half_unprocessed))
    table = DynamoDBResource(table_name=aws.table_name, max_batch_rounds=3)
    items = [{"region": "US", "date": f"2020-03-0{day}", "cases": day} for day in range(1, 9)]
    with pytest.raises(RuntimeError, match=r"left 1 item\(s\) unprocessed .* after 3 attempts"):
        table.put_items(items)


def test_a_load_interrupted_after_some_batches_is_completed_by_the_next_run(
    aws, instance, snapshots_dir, monkeypatch, fault_proxy
):
    fault_proxy.inject(Fault("BatchWriteItem", dynamodb_error("AccessDeniedException"), after=3))
    use_snapshot(monkeypatch, snapshots_dir, "2020-10-09")
    assert not run_daily_job(instance, raise_on_error=False).success
    assert len(stored_days(aws)) == 75  # three batches of 25 got in before the error

    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint)
    repair = materialization_metadata(run_daily_job(instance), "dynamodb_records")
    assert (repair["inserted"], repair["unchanged"]) == (186, 75)
    assert len(stored_days(aws)) == 261

    assert sensor_tick(instance).run_requests == []  # nothing left to do


def test_the_proxy_passes_everything_else_through_unchanged(
    aws, instance, write_sources, fault_proxy
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    assert run_daily_job(instance).success
    assert stored_days(aws) == THREE_DAYS
    assert os.environ["AWS_ENDPOINT_URL"] == fault_proxy.url
    assert fault_proxy.calls["BatchWriteItem"] == 1
