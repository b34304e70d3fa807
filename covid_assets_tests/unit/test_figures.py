"""What a run cost and the benchmark's targets (covid_assets_dev.figures, covid_assets_dev.targets):
writes and items are counted rightly, and each target's verdict follows its rule."""

import pytest

from covid_assets_dev.aws_calls import AwsCall, CallCounts
from covid_assets_dev.figures import (
    RunFigures,
    figures_from_calls,
    median_difference,
    median_ratio,
)
from covid_assets_dev.targets import (
    NextDayCost,
    county_history_targets,
    first_load_targets,
    floor_targets,
    scenario_targets,
    tick_targets,
)

pytestmark = pytest.mark.unit


def figures(calls: list[AwsCall]) -> RunFigures:
    return figures_from_calls(calls, seconds=1.0)


def test_items_written_counts_every_request_of_a_batch_across_tables():
    batch = AwsCall(
        "dynamodb",
        "BatchWriteItem",
        {"RequestItems": {"a": [{"PutRequest": {}}] * 25, "b": [{"DeleteRequest": {}}] * 2}},
    )
    put = AwsCall("dynamodb", "PutItem", {"TableName": "a"})
    query = AwsCall("dynamodb", "Query", {"TableName": "a"})

    assert figures([batch, put, query]).dynamodb_items_written == 28


def test_write_calls_are_those_that_change_state_and_only_of_their_service():
    run = figures(
        [
            AwsCall("glue", "CreateDatabase", {}),
            AwsCall("glue", "UpdateTable", {}),
            AwsCall("glue", "GetTable", {}),
            AwsCall("s3", "ListObjectsV2", {}),
            AwsCall("s3", "GetObject", {}),
            AwsCall("sns", "Publish", {}),
        ]
    )

    assert (run.write_calls("glue"), run.write_calls("s3"), run.write_calls("sns")) == (2, 0, 0)


def test_full_load_target_wants_one_write_call_per_25_rows():
    one_call_per_batch = figures([AwsCall("dynamodb", "BatchWriteItem", {"RequestItems": {}})] * 17)
    no_calls = figures([])

    [full_load] = [
        target
        for target in scenario_targets(one_call_per_batch, no_calls, no_calls, 417)
        if target.what.startswith("full load")
    ]

    assert (full_load.wanted, full_load.verdict) == ("17", "PASS")


def test_a_quiet_tick_passes_with_four_reads_and_misses_with_a_write_or_a_download():
    reads = [AwsCall("dynamodb", "GetItem", {}), AwsCall("glue", "GetTable", {})] + [
        AwsCall("s3", "HeadObject", {})
    ] * 2
    baseline = figures([AwsCall("dynamodb", "PutItem", {})] * 421)

    quiet = tick_targets(figures(reads), [304, 304], 0, baseline)
    writing = tick_targets(
        figures([*reads, AwsCall("s3", "PutObject", {})]), [200, 304], 0, baseline
    )

    assert {t.what: t.verdict for t in quiet if t.verdict != "PASS"} == {
        "no-change day, tick: seconds of evaluation": "MISS"  # figures() times every call 1 s
    }
    missed = {t.what for t in writing if t.verdict == "MISS"}
    assert {
        "no-change day, tick: write calls",
        "no-change day, tick: requests answered 200",
        "no-change day, tick: conditional requests answered 304",
    } <= missed


def test_the_national_next_day_may_take_at_most_one_second_above_the_empty_job():
    assert [t.verdict for t in floor_targets(None)] == ["SKIP"]
    assert [t.verdict for t in floor_targets(1.0)] == ["PASS"]
    assert [t.verdict for t in floor_targets(1.01)] == ["MISS"]


def test_first_load_and_repair_may_take_at_most_twice_the_bare_loop():
    assert [t.verdict for t in first_load_targets(None, None)] == ["SKIP", "SKIP"]
    assert [t.verdict for t in first_load_targets(2.0, 2.1)] == ["PASS", "MISS"]


def test_county_targets_are_skipped_when_not_measured():
    assert {t.verdict for t in county_history_targets(None, None)} == {"SKIP"}


def test_a_three_times_longer_history_may_cost_at_most_fifteen_percent_more():
    short = NextDayCost(days=130, seconds=10.0, peak_mb=500)
    within = county_history_targets(short, NextDayCost(days=390, seconds=11.5, peak_mb=575))
    slower = county_history_targets(short, NextDayCost(days=390, seconds=11.6, peak_mb=500))

    assert [t.verdict for t in within] == ["PASS"] * 4
    assert [t.verdict for t in slower] == ["PASS", "PASS", "MISS", "PASS"]
    assert "3x history" in slower[2].what


def test_the_county_next_day_misses_above_twelve_seconds_or_600_mb_over_the_longer_history():
    short = NextDayCost(days=130, seconds=12.5, peak_mb=650)
    verdicts = county_history_targets(short, NextDayCost(days=390, seconds=12.5, peak_mb=650))

    assert [t.verdict for t in verdicts] == ["MISS", "MISS", "PASS", "PASS"]


def test_the_own_time_above_the_floor_is_the_median_of_each_rounds_difference():
    assert median_difference([(5.0, 2.0), (4.0, 3.5), (3.0, 2.0)]) == 1.0


def test_whole_process_ratio_is_the_median_of_back_to_back_pairs():
    assert median_ratio([(3.0, 2.0), (6.0, 2.0), (2.0, 2.0)]) == 1.5


class _Model:
    """The little of a botocore operation model that CallCounts reads."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.service_model = type("ServiceModel", (), {"signing_name": "dynamodb"})()


@pytest.mark.parametrize(
    ("extra", "counted"),
    [
        ({}, {"county level": 1}),
        ({"Limit": 1, "Select": "COUNT"}, {}),
    ],
    ids=["a whole level", "a load's probe of one item"],
)
def test_level_queries_count_the_reads_of_a_level_not_the_probe_of_one_item(extra, counted):
    counts = CallCounts()
    values = {":level": {"S": "county"}}
    params = {"IndexName": "level-date-index", "ExpressionAttributeValues": values} | extra
    counts.count(_Model("Query"), params)
    assert dict(counts.level_queries) == counted
