"""The county level's pure parts: the NYT county file's rules, the county daily table and its
keys, the reconciliation of the counties with their states inside the window, and how a window
is laid over what is served."""

import datetime as dt

import pandas as pd
import pytest

from covid_assets.domain.hashing import table_sha256
from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.rules import COUNTY_RULES, find_problems
from covid_assets.domain.tables import COUNTY, STATE, county_region, state_and_month
from covid_assets.domain.transform import (
    county_daily,
    differing_rows,
    lay_over,
    lay_over_partitions,
    state_totals,
)

pytestmark = pytest.mark.unit

HEADER = "date,county,state,fips,cases,deaths\n"
WINDOW = HEADER + (
    "2021-03-01,Adjuntas,Puerto Rico,72001,450,\n"
    "2021-03-01,New York City,New York,,800,30\n"
    "2021-03-01,Albany,New York,36001,200,10\n"
    "2021-03-02,Adjuntas,Puerto Rico,72001,454,\n"
    "2021-03-02,New York City,New York,,810,31\n"
    "2021-03-02,Albany,New York,36001,205,10\n"
)
STATES = "date,state,fips,cases,deaths\n" + (
    "2021-02-28,New York,36,990,40\n"
    "2021-03-01,New York,36,1000,40\n"
    "2021-03-02,New York,36,1016,41\n"
    "2021-03-01,Puerto Rico,72,450,3\n"
    "2021-03-02,Puerto Rico,72,454,3\n"
)


def raw(text: str) -> pd.DataFrame:
    return read_csv_text(text.encode())


def problems_of(text: str) -> dict[str, list[str]]:
    found = find_problems(raw(text), COUNTY_RULES, "us-counties-recent.csv")
    return {rule: [str(problem) for problem in problems] for rule, problems in found.items()}


def test_the_table_is_typed_and_sorted_by_date_state_and_county():
    table = county_daily(raw(WINDOW))
    assert list(table.columns) == COUNTY.columns
    assert table["date"].iloc[0] == dt.date(2021, 3, 1)
    assert list(table["county"][:3]) == ["Albany", "New York City", "Adjuntas"]
    assert str(table["cases"].dtype) == str(table["deaths"].dtype) == "Int64"


def test_a_blank_death_count_stays_missing_and_is_never_zero():
    table = county_daily(raw(WINDOW))
    adjuntas = table[table["county"] == "Adjuntas"]
    assert adjuntas["deaths"].isna().all()
    assert list(adjuntas["cases"]) == [450, 454]


@pytest.mark.parametrize(
    ("county", "state", "fips", "region"),
    [
        ("Los Angeles", "California", "06037", "US-CA-06037"),
        ("New York City", "New York", None, "US-NY-New York City"),
        ("Kansas City", "Missouri", None, "US-MO-Kansas City"),
        ("Unknown", "Puerto Rico", None, "US-PR-Unknown"),
    ],
    ids=["fips", "new-york-city", "kansas-city", "unknown"],
)
def test_a_county_is_keyed_by_its_fips_or_by_its_name_when_it_has_none(county, state, fips, region):
    assert county_region({"county": county, "state": state, "fips": fips}) == region


@pytest.mark.parametrize(
    ("line", "rule", "expected"),
    [
        (
            "2021-03-01,Allegany,New York,3603,1,0",
            "fips_are_five_digits_or_blank",
            "us-counties-recent.csv, line 8, column 'fips': found '3603', expected 5 digits "
            "(01001) or blank",
        ),
        (
            "2021-03-01,Albany,New York,36001,201,10",
            "date_state_and_county_are_unique",
            "us-counties-recent.csv, line 8, column 'date, state, county': found '2021-03-01 "
            "New York Albany', expected one row per date, state, county (the same is on line 4)",
        ),
        (
            "2021-03-01,,New York,,1,0",
            "counties_are_named",
            "us-counties-recent.csv, line 8, column 'county': found a blank cell, expected a value",
        ),
        (
            "2021-03-01,Gotham,Atlantis,99001,1,0",
            "states_are_known",
            "us-counties-recent.csv, line 8, column 'state': found 'Atlantis', expected a state "
            "name as NYT spells it",
        ),
    ],
    ids=["short-fips", "repeated-county-day", "unnamed-county", "unknown-state"],
)
def test_a_bad_row_is_named_by_line_column_and_what_was_expected(line, rule, expected):
    problems = problems_of(WINDOW + line + "\n")
    assert problems[rule] == [expected]
    assert all(not found for name, found in problems.items() if name != rule)


def test_counties_are_reconciled_with_their_state_on_the_window_days_only():
    table = county_daily(raw(WINDOW))
    problems = COUNTY.reconciliation_problems(table, raw(STATES)).problems
    # 2021-02-28 is outside the window, and Puerto Rico's deaths are unknown: neither is a
    # mismatch. New York's cases on 2021-03-02 (810 + 205 = 1,015) are.
    assert [str(problem) for problem in problems] == [
        "county_daily_table, column 'cases': found '2021-03-02 New York: sum 1,015', expected "
        "the state total 1,016"
    ]


IOWA_STATE = "2021-02-25,Iowa,19,335222,5600\n"


@pytest.mark.parametrize(
    ("iowa_counties", "problems", "known"),
    [
        (
            "2021-02-25,Polk,Iowa,19153,335000,5000\n2021-02-25,Story,Iowa,19169,223,600\n",
            [],
            [
                "county_daily_table, column 'cases': found '2021-02-25 Iowa: sum 335,223', "
                "expected the state total 335,222 (known: NYT compiles Iowa's county and state "
                "series separately; on some days they differ by one case)"
            ],
        ),
        (
            "2021-02-25,Polk,Iowa,19153,335000,5000\n2021-02-25,Story,Iowa,19169,224,600\n",
            [
                "county_daily_table, column 'cases': found '2021-02-25 Iowa: sum 335,224', "
                "expected the state total 335,222"
            ],
            [],
        ),
        (
            "2021-02-25,Polk,Iowa,19153,335000,5000\n2021-02-25,Story,Iowa,19169,222,601\n",
            [
                "county_daily_table, column 'deaths': found '2021-02-25 Iowa: sum 5,601', "
                "expected the state total 5,600"
            ],
            [],
        ),
    ],
    ids=["known-state-within-its-bound", "known-state-beyond-its-bound", "known-state-other-count"],
)
def test_a_known_discrepancy_is_listed_with_its_reason_and_anything_beyond_it_warns(
    iowa_counties, problems, known
):
    table = county_daily(raw(HEADER + iowa_counties))
    reconciled = COUNTY.reconciliation_problems(table, raw(STATES + IOWA_STATE))
    assert [str(problem) for problem in reconciled.problems] == problems
    assert [str(problem) for problem in reconciled.known] == known


def test_the_same_difference_in_a_state_not_known_for_it_warns_naming_day_and_state():
    counties = HEADER + (
        "2021-03-01,New York City,New York,,800,30\n2021-03-01,Albany,New York,36001,201,10\n"
    )
    new_york = "date,state,fips,cases,deaths\n2021-03-01,New York,36,1000,40\n"
    reconciled = COUNTY.reconciliation_problems(county_daily(raw(counties)), raw(new_york))
    assert [str(problem) for problem in reconciled.problems] == [
        "county_daily_table, column 'cases': found '2021-03-01 New York: sum 1,001', expected "
        "the state total 1,000"
    ]
    assert reconciled.known == []


def test_state_totals_are_the_state_file_without_its_fips():
    totals = state_totals(raw(STATES))
    assert list(totals.columns) == ["date", "state", "cases", "deaths"]
    assert len(totals) == 5


def test_the_export_is_partitioned_by_usps_code_and_month():
    partitions = state_and_month(county_daily(raw(WINDOW)))
    assert list(partitions.columns) == ["usps", "month"]
    assert set(map(tuple, partitions.to_numpy())) == {("NY", "2021-03"), ("PR", "2021-03")}


@pytest.mark.parametrize(
    ("days", "months"),
    [
        (["2021-03-01", "2021-03-31"], ["2021-03", "2021-03"]),
        (["2020-12-31", "2021-01-01", "2020-12-31"], ["2020-12", "2021-01", "2020-12"]),
        ([], []),
    ],
    ids=["one month", "across a year, repeated days", "no rows"],
)
def test_each_row_is_in_the_month_of_its_day_and_keeps_its_index(days, months):
    table = pd.DataFrame(
        {"date": [dt.date.fromisoformat(day) for day in days], "state": ["New York"] * len(days)},
        index=range(10, 10 + len(days)),
    )
    partitions = state_and_month(table)
    assert partitions["month"].tolist() == months
    assert partitions["usps"].tolist() == ["NY"] * len(days)
    assert partitions.index.equals(table.index)


KEYS = ("date", "county")


def frame(rows: list[tuple[str, str, int | None]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=[*KEYS, "cases"])
    table["cases"] = table["cases"].astype("Int64")
    return table


@pytest.mark.parametrize(
    ("served", "latest", "expected"),
    [
        (None, [("d2", "a", 1)], [("d2", "a", 1)]),
        ([("d1", "a", 1)], [("d2", "a", 2)], [("d1", "a", 1), ("d2", "a", 2)]),
        ([("d1", "a", 1), ("d2", "a", 2)], [("d2", "a", 3)], [("d1", "a", 1), ("d2", "a", 3)]),
        ([("d2", "b", 5)], [("d2", "a", None)], [("d2", "a", None), ("d2", "b", 5)]),
    ],
    ids=["nothing-served", "left-the-window-is-kept", "revised-replaces", "absent-is-kept"],
)
def test_the_latest_rows_are_laid_over_the_served_ones(served, latest, expected):
    laid = lay_over(None if served is None else frame(served), frame(latest), KEYS)
    assert laid.equals(frame(expected))


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        ([("d1", "a", 1), ("d1", "b", None)], []),
        ([("d1", "a", 2), ("d1", "b", None)], ["d1 a"]),
        ([("d1", "a", 1), ("d1", "b", 0)], ["d1 b"]),
        ([("d1", "a", 1)], ["d1 b"]),
    ],
    ids=["same", "other-value", "zero-is-not-missing", "row-absent"],
)
def test_differing_rows_are_the_rows_absent_or_different(other, expected):
    rows = frame([("d1", "a", 1), ("d1", "b", None)])
    differing = differing_rows(rows, frame(other), KEYS)
    assert [" ".join(key) for key in differing[list(KEYS)].itertuples(index=False)] == expected


@pytest.mark.parametrize(
    ("table", "days", "kept"),
    [(COUNTY, 40, 30), (COUNTY, 10, 10), (COUNTY, 0, 0), (STATE, 40, 40)],
    ids=["a window's year", "a window's first days", "nothing", "not a window"],
)
def test_what_a_run_leaves_to_diff_against_is_a_windows_latest_days(table, days, kept):
    first = dt.date(2021, 1, 1)
    rows = pd.DataFrame({"date": [first + dt.timedelta(days=n) for n in range(days)]})
    left = table.latest_window(rows)
    assert list(left["date"]) == list(rows["date"])[days - kept :]


def by_county(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[["county"]]


@pytest.mark.parametrize(
    "served",
    [[], [[("d1", "a", 1), ("d2", "a", 2)], [("d2", "b", 5)]]],
    ids=["no partition yet", "revised, kept, untouched and new partitions"],
)
def test_the_window_laid_over_all_partitions_at_once_is_each_laid_over_its_own(served):
    latest = frame([("d2", "a", 3), ("d3", "a", 4), ("d3", "c", 7)])
    laid = lay_over_partitions([frame(rows) for rows in served], latest, KEYS, by_county)
    own = {rows[0][1]: frame(rows) for rows in served}
    expected = {
        county: lay_over(own.get(county), latest[latest["county"] == county], KEYS)
        for county in sorted({*own, *latest["county"]})
    }
    assert list(laid) == [(county,) for county in expected]
    for county, rows in expected.items():
        part, sha256 = laid[(county,)]
        assert part.equals(rows.reset_index(drop=True)), county
        assert sha256 == table_sha256(rows), county
