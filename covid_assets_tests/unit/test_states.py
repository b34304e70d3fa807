"""The state level's pure parts: the NYT state file's rules, the state daily table, and the
reconciliation of the states with the national totals."""

import datetime as dt

import pandas as pd
import pytest

from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.rules import STATE_RULES, SourceDataError, find_problems
from covid_assets.domain.tables import STATE, state_region
from covid_assets.domain.transform import state_daily

pytestmark = pytest.mark.unit

HEADER = "date,state,fips,cases,deaths\n"
TWO_STATES = HEADER + (
    "2020-03-01,Washington,53,10,1\n"
    "2020-03-01,Puerto Rico,72,5,0\n"
    "2020-03-02,Washington,53,12,2\n"
    "2020-03-02,Puerto Rico,72,6,1\n"
)
NATIONAL = "date,cases,deaths\n2020-03-01,15,1\n2020-03-02,18,3\n"


def raw(text: str) -> pd.DataFrame:
    return read_csv_text(text.encode())


def problems_of(text: str) -> dict[str, list[str]]:
    found = find_problems(raw(text), STATE_RULES, "us-states.csv")
    return {rule: [str(problem) for problem in problems] for rule, problems in found.items()}


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ("10,", (10, None)),
        (",1", (None, 1)),
        (",", (None, None)),
        ("10.00,0", (10, 0)),
    ],
    ids=["deaths-blank", "cases-blank", "both-blank", "decimal-zero"],
)
def test_a_blank_count_stays_missing_and_is_never_zero(cells, expected):
    table = state_daily(raw(HEADER + f"2020-03-01,Washington,53,{cells}\n"))
    row = table.iloc[0]
    assert [None if pd.isna(row[c]) else int(row[c]) for c in ("cases", "deaths")] == list(expected)
    assert str(table["cases"].dtype) == str(table["deaths"].dtype) == "Int64"


def test_the_table_is_typed_and_sorted_by_date_then_state():
    table = state_daily(raw(TWO_STATES))
    assert list(table.columns) == STATE.columns
    assert table["date"].iloc[0] == dt.date(2020, 3, 1)
    assert list(table["state"]) == ["Puerto Rico", "Washington"] * 2
    assert list(table["fips"]) == ["72", "53"] * 2


@pytest.mark.parametrize(
    ("line", "rule", "expected"),
    [
        (
            "2020-03-01,Atlantis,99,1,0",
            "states_are_known",
            "us-states.csv, line 6, column 'state': found 'Atlantis', expected a state name as "
            "NYT spells it",
        ),
        (
            "2020-03-01,Washington,53,11,1",
            "date_and_state_are_unique",
            "us-states.csv, line 6, column 'date, state': found '2020-03-01 Washington', "
            "expected one row per date, state (the same is on line 2)",
        ),
        (
            "2020-03-01,Ohio,39,-1,0",
            "counts_are_blank_or_non_negative_integers",
            "us-states.csv, line 6, column 'cases': found '-1', expected a non-negative integer",
        ),
        (
            "3/1/20,Ohio,39,1,0",
            "dates_are_iso",
            "us-states.csv, line 6, column 'date': found '3/1/20', expected a date as YYYY-MM-DD",
        ),
    ],
    ids=["unknown-state", "duplicate-key", "negative-count", "not-iso"],
)
def test_a_bad_line_is_named_with_its_file_line_and_column(line, rule, expected):
    found = problems_of(TWO_STATES + line + "\n")
    assert found[rule] == [expected]
    assert all(not problems for name, problems in found.items() if name != rule)


def test_the_table_refuses_a_file_that_breaks_a_rule():
    with pytest.raises(SourceDataError, match="Atlantis"):
        state_daily(raw(TWO_STATES + "2020-03-01,Atlantis,99,1,0\n"))


@pytest.mark.parametrize(
    ("name", "region"),
    [("California", "US-CA"), ("Puerto Rico", "US-PR"), ("District of Columbia", "US-DC")],
)
def test_a_state_is_the_region_us_and_its_usps_code(name, region):
    assert state_region({"state": name}) == region


def reconcile(states: str, national: str) -> list[str]:
    return [
        str(p)
        for p in STATE.reconciliation_problems(state_daily(raw(states)), raw(national)).problems
    ]


def test_states_that_sum_to_the_national_totals_reconcile():
    assert reconcile(TWO_STATES, NATIONAL) == []


@pytest.mark.parametrize(
    ("national", "expected"),
    [
        (
            NATIONAL.replace("2020-03-02,18,3", "2020-03-02,19,3"),
            [
                "state_daily_table, column 'cases': found '2020-03-02: sum 18', expected the "
                "national NYT total 19"
            ],
        ),
        (
            NATIONAL + "2020-03-03,20,3\n",
            [
                "state_daily_table, column 'cases': found '2020-03-03: no rows', expected the "
                "national NYT total 20",
                "state_daily_table, column 'deaths': found '2020-03-03: no rows', expected the "
                "national NYT total 3",
            ],
        ),
        (
            NATIONAL.replace("2020-03-01,15,1\n", ""),
            [
                "state_daily_table, column 'cases': found '2020-03-01: sum 15', expected a "
                "national NYT total row",
                "state_daily_table, column 'deaths': found '2020-03-01: sum 1', expected a "
                "national NYT total row",
            ],
        ),
    ],
    ids=["a-day-differs", "a-national-day-without-states", "a-state-day-without-national"],
)
def test_each_reconciliation_mismatch_is_reported_with_its_day(national, expected):
    assert reconcile(TWO_STATES, national) == expected


def test_a_day_with_an_unknown_state_count_is_not_compared_for_that_count():
    states = TWO_STATES.replace("2020-03-02,Puerto Rico,72,6,1", "2020-03-02,Puerto Rico,72,,1")
    assert reconcile(states, NATIONAL) == []
    wrong_deaths = NATIONAL.replace("2020-03-02,18,3", "2020-03-02,18,4")
    assert reconcile(states, wrong_deaths) == [
        "state_daily_table, column 'deaths': found '2020-03-02: sum 3', expected the national "
        "NYT total 4"
    ]
