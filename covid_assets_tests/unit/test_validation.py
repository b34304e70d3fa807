"""The merged table's own rules, which the transform never breaks, so they are tested here."""

import datetime as dt

import pandas as pd
import pytest

from covid_assets.domain.rules import (
    CUMULATIVE_TOTALS_RULE,
    MERGED_BLOCKING_RULES,
    ServedTolerances,
    common_dates_mismatch,
    lost_served_days,
    no_common_dates,
    served_counts_dropped,
    served_days_lost_beyond_tolerance,
)
from covid_assets_tests.helpers import jhu, nyt

pytestmark = pytest.mark.unit

RULES = {rule.name: rule for rule in MERGED_BLOCKING_RULES}


def merged(*rows: tuple) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["date", "cases", "deaths", "recovered"])
    return table.astype({"cases": "int64", "deaths": "int64", "recovered": "Int64"})


GOOD = merged((dt.date(2020, 3, 1), 10, 1, 0), (dt.date(2020, 3, 2), 20, 2, 1))


@pytest.mark.parametrize("rule", [*RULES, CUMULATIVE_TOTALS_RULE.name])
def test_a_good_merged_table_passes_every_rule(rule):
    found = (RULES.get(rule) or CUMULATIVE_TOTALS_RULE).find_problems(GOOD, "merged")
    assert found == []


def test_a_null_is_reported_with_its_row_and_date():
    table = GOOD.astype({"deaths": "float64"})
    table.loc[1, "deaths"] = None
    [problem] = RULES["no_nulls"].find_problems(table, "merged")
    assert (
        str(problem) == "merged, column 'deaths': found 'row 1 (date 2020-03-02)', expected a value"
    )


def test_a_null_recovered_is_no_figure_not_a_problem():
    table = GOOD.copy()
    table.loc[1, "recovered"] = pd.NA
    assert RULES["no_nulls"].find_problems(table, "merged") == []
    assert RULES["counts_are_non_negative_int64"].find_problems(table, "merged") == []


def test_a_repeated_date_is_reported():
    table = pd.concat([GOOD, GOOD.tail(1)], ignore_index=True)
    [problem] = RULES["dates_are_unique"].find_problems(table, "merged")
    assert problem.value == "2020-03-02"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            merged((dt.date(2020, 3, 1), -5, 1, 0)),
            "found '2020-03-01: -5', expected a non-negative integer",
        ),
        (GOOD.astype({"deaths": "float64"}), "column 'deaths': found 'float64', expected int64"),
    ],
    ids=["negative", "not-int64"],
)
def test_counts_must_be_non_negative_int64(table, expected):
    [problem] = RULES["counts_are_non_negative_int64"].find_problems(table, "merged")
    assert expected in str(problem)


def test_decreasing_totals_name_the_day_and_both_values():
    table = merged((dt.date(2020, 3, 1), 10, 2, 0), (dt.date(2020, 3, 2), 9, 2, 0))
    [problem] = CUMULATIVE_TOTALS_RULE.find_problems(table, "merged")
    assert str(problem) == (
        "merged, column 'cases': found '2020-03-02: 9', expected at least the previous day's 10"
    )


def test_row_count_must_equal_the_dates_common_to_both_sources():
    raw_nyt = nyt("2020-03-01,10,1", "2020-03-02,20,2", "2020-03-03,30,3")
    raw_jhu = jhu("2020-03-01,US,,0,0,0", "2020-03-02,US,,0,1,0")
    assert common_dates_mismatch(GOOD, raw_nyt, raw_jhu, "merged") == []
    [problem] = common_dates_mismatch(GOOD.head(1), raw_nyt, raw_jhu, "merged")
    assert str(problem) == "merged: found '1 rows', expected 2 (dates in both sources)"


def test_sources_sharing_a_date_pass():
    raw_nyt = nyt("2020-03-01,10,1", "2020-03-02,20,2")
    assert no_common_dates(raw_nyt, jhu("2020-03-02,US,,0,1,0"), "merged") == []


def test_sources_sharing_no_date_are_reported_with_each_sources_dates():
    raw_nyt = nyt("2020-03-01,10,1", "2020-03-02,20,2")
    [problem] = no_common_dates(raw_nyt, jhu("2021-03-01,US,,0,1,0"), "merged")
    assert str(problem) == (
        "merged, column 'date': found 'no date in both sources (NYT 2020-03-01..2020-03-02, "
        "JHU US 2021-03-01..2021-03-01)', expected at least one date present in both sources"
    )


TOLERANCES = ServedTolerances(
    max_lost_days_percent=1, protected_recent_days=7, max_count_drop_percent=10, count_drop_floor=10
)
# 200 served days from 2020-03-01, growing by 1,000 cases, 10 deaths and 100 recovered a day.
SERVED = merged(
    *(
        (dt.date(2020, 3, 1) + dt.timedelta(days=day), 1000 * day, 10 * day, 100 * day)
        for day in range(200)
    )
)
LAST_SERVED_DAY = SERVED["date"].iat[-1]


def without(*days: dt.date) -> pd.DataFrame:
    return SERVED[~SERVED["date"].isin(days)].reset_index(drop=True)


def with_value(day: dt.date, column: str, value: int) -> pd.DataFrame:
    table = SERVED.copy()
    table.loc[table["date"].eq(day), column] = value
    return table


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (SERVED, []),
        (without(dt.date(2020, 3, 10)), []),  # 1 of 200 days: 0.5%, old
        (without(dt.date(2020, 3, 10), dt.date(2020, 3, 11)), []),  # 1% exactly
        (
            without(dt.date(2020, 3, 10), dt.date(2020, 3, 11), dt.date(2020, 3, 12)),
            ["found '3 of 200 served days lost (2020-03-10..2020-03-12)', expected at most 1%"],
        ),
        (
            without(LAST_SERVED_DAY - dt.timedelta(days=6)),
            ["found '2020-09-10', expected each of the last 7 served days to be kept"],
        ),
        (
            SERVED.head(100),
            ["found '100 of 200 served days lost (2020-06-09..2020-09-16)'", *["last 7"] * 7],
        ),
    ],
    ids=[
        "nothing-lost",
        "one-old-day",
        "one-percent",
        "over-one-percent",
        "a-recent-day",
        "half-the-days",
    ],
)
def test_served_days_may_be_lost_only_within_the_tolerance(table, expected):
    problems = served_days_lost_beyond_tolerance(table, SERVED, TOLERANCES, "merged")
    assert len(problems) == len(expected)
    for problem, words in zip(problems, expected, strict=True):
        assert words in str(problem)


def test_every_lost_served_day_is_listed():
    lost = lost_served_days(without(dt.date(2020, 3, 10)), SERVED, "merged")
    assert [str(problem) for problem in lost] == [
        "merged, column 'date': found '2020-03-10', expected the served day to be kept"
    ]


DAY = dt.date(2020, 5, 1)  # day 61: 61,000 cases, 610 deaths, 6,100 recovered served


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (SERVED, None),
        (with_value(DAY, "deaths", 583), None),  # -4.5%, the largest real revision
        (with_value(DAY, "cases", 54_900), None),  # -10%
        (with_value(dt.date(2020, 3, 2), "deaths", 0), None),  # 10 -> 0, within the floor
        (with_value(DAY, "recovered", pd.NA), None),  # JHU stopped counting recoveries
        (with_value(DAY, "cases", 30_500), "column 'cases': found '2020-05-01: 30,500 (served"),
        (with_value(DAY, "deaths", 305), "column 'deaths': found '2020-05-01: 305 (served 610)'"),
        (with_value(DAY, "recovered", 3_050), "column 'recovered': found '2020-05-01: 3,050"),
        (with_value(dt.date(2020, 3, 3), "deaths", 9), "found '2020-03-03: 9 (served 20)'"),
    ],
    ids=[
        "unchanged",
        "real-revision",
        "at-the-tolerance",
        "small-count-to-zero",
        "recovered-to-null",
        "cases-halved",
        "deaths-halved",
        "recovered-halved",
        "beyond-the-floor",
    ],
)
def test_served_counts_may_fall_only_within_the_tolerance(table, expected):
    problems = [str(p) for p in served_counts_dropped(table, SERVED, TOLERANCES, "merged")]
    assert problems == ([] if expected is None else [problems[0]])
    if expected is not None:
        assert expected in problems[0]
        assert "expected at most 10% (or 10) below the served value" in problems[0]
