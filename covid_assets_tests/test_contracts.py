"""The merged table's own rules, which the transform never breaks, so they are tested here."""

import datetime as dt

import pandas as pd
import pytest

from covid_assets.contracts import (
    CUMULATIVE_TOTALS_RULE,
    MERGED_BLOCKING_RULES,
    common_dates_mismatch,
)
from covid_assets_tests.test_transform import jhu, nyt

RULES = {rule.name: rule for rule in MERGED_BLOCKING_RULES}


def merged(*rows: tuple) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["date", "cases", "deaths", "recovered"])
    return table.astype({"cases": "int64", "deaths": "int64", "recovered": "int64"})


GOOD = merged((dt.date(2020, 3, 1), 10, 1, 0), (dt.date(2020, 3, 2), 20, 2, 1))


@pytest.mark.parametrize("rule", [*RULES, CUMULATIVE_TOTALS_RULE.name])
def test_a_good_merged_table_passes_every_rule(rule):
    found = (RULES.get(rule) or CUMULATIVE_TOTALS_RULE).find_problems(GOOD, "merged")
    assert found == []


def test_a_null_is_reported_with_its_row_and_date():
    table = GOOD.astype({"recovered": "float64"})
    table.loc[1, "recovered"] = None
    [problem] = RULES["no_nulls"].find_problems(table, "merged")
    assert (
        str(problem)
        == "merged, column 'recovered': found 'row 1 (date 2020-03-02)', expected a value"
    )


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
