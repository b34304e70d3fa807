"""The merged daily table's rules, on small hand-written tables."""

import datetime as dt

import pandas as pd
import pytest

from covid_assets.domain.rules import SourceDataError
from covid_assets.domain.transform import merge_daily
from covid_assets_tests.helpers import JHU_HEADER, jhu, nyt, raw_table

pytestmark = pytest.mark.unit

JHU_HEADER_WITH_LAT_LONG = "Date,Country/Region,Province/State,Lat,Long,Confirmed,Recovered,Deaths"


def merged_rows(raw_nyt: pd.DataFrame, raw_jhu: pd.DataFrame) -> list[tuple]:
    return list(merge_daily(raw_nyt, raw_jhu).itertuples(index=False, name=None))


def problems_of(raw_nyt: pd.DataFrame, raw_jhu: pd.DataFrame) -> list[str]:
    with pytest.raises(SourceDataError) as raised:
        merge_daily(raw_nyt, raw_jhu, "nyt.csv", "jhu.csv")
    return [str(problem) for problem in raised.value.problems]


def test_joins_nyt_cases_and_deaths_with_jhu_us_recovered_by_date():
    rows = merged_rows(
        nyt("2020-03-01,10,1", "2020-03-02,20,2"),
        jhu("2020-03-01,US,,9,3,0", "2020-03-02,US,,19,4,0"),
    )
    assert rows == [(dt.date(2020, 3, 1), 10, 1, 3), (dt.date(2020, 3, 2), 20, 2, 4)]


def test_merged_table_has_date_objects_and_int64_counts():
    table = merge_daily(nyt("2020-03-01,10,1"), jhu("2020-03-01,US,,9,3,0"))
    assert list(table.columns) == ["date", "cases", "deaths", "recovered"]
    assert isinstance(table.loc[0, "date"], dt.date)
    assert table[["cases", "deaths"]].dtypes.eq("int64").all()
    assert table["recovered"].dtype == "Int64"  # nullable: no figure is null, not 0


@pytest.mark.parametrize(
    ("country", "province"),
    [
        ("Australia", ""),  # contains "us" as a substring
        ("Belarus", ""),  # ends in "us"
        ("US", "Washington"),  # a state row, not the national total
        ("us", ""),  # not exactly "US"
        ("United States", ""),
    ],
)
def test_only_the_national_us_row_of_jhu_is_used(country, province):
    rows = merged_rows(
        nyt("2020-03-01,10,1"),
        jhu(f"2020-03-01,{country},{province},99,77,0", "2020-03-01,US,,9,3,0"),
    )
    assert rows == [(dt.date(2020, 3, 1), 10, 1, 3)]


@pytest.mark.parametrize(
    "jhu_table",
    [
        raw_table(JHU_HEADER, "2020-03-01,US,,9,3,0"),
        raw_table(JHU_HEADER_WITH_LAT_LONG, "2020-03-01,US,,37.09,-95.71,9,3,0"),
        raw_table("Date,Country/Region,Province/State,Recovered", "2020-03-01,US,,3"),
    ],
    ids=["2021-without-lat-long", "2020-with-lat-long", "only-required-columns"],
)
def test_jhu_loads_with_or_without_optional_columns(jhu_table):
    assert merged_rows(nyt("2020-03-01,10,1"), jhu_table) == [(dt.date(2020, 3, 1), 10, 1, 3)]


def test_recovered_written_as_float_is_read_as_an_integer():
    rows = merged_rows(nyt("2020-03-01,10,1"), jhu("2020-03-01,US,,9.0,121298.00,0"))
    assert rows == [(dt.date(2020, 3, 1), 10, 1, 121298)]


@pytest.mark.parametrize(
    ("recovered", "expected"),
    [
        (["", "3", "4"], [None, 3, 4]),
        (["0", "0", "3"], [0, 0, 3]),
        (["3", "0", "0"], [3, None, None]),
        (["3", "", "0"], [3, None, None]),
        (["5", "4", "0"], [5, 4, None]),
    ],
    ids=[
        "blank-is-null",
        "zero-before-any-count-stays-zero",
        "zero-after-a-count-is-null",
        "zero-after-a-blank-after-a-count-is-null",
        "a-dip-is-kept-as-reported",
    ],
)
def test_recovered_is_null_where_jhu_gives_no_figure(recovered, expected):
    days = [f"2020-12-1{day}" for day in range(len(recovered))]
    # In reverse order: the rule follows the dates, not the lines.
    us_rows = [f"{day},US,,9,{count},0" for day, count in zip(days, recovered, strict=True)]
    table = merge_daily(nyt(*(f"{day},10,1" for day in days)), jhu(*reversed(us_rows)))
    assert [None if pd.isna(count) else count for count in table["recovered"]] == expected


def test_blank_recovered_in_other_countries_is_ignored():
    rows = merged_rows(
        nyt("2020-03-01,10,1"),
        jhu("2020-03-01,Canada,Ontario,5,,0", "2020-03-01,US,,9,3,0"),
    )
    assert rows == [(dt.date(2020, 3, 1), 10, 1, 3)]


def test_unsorted_input_gives_a_table_sorted_by_date():
    rows = merged_rows(
        nyt("2020-03-03,30,3", "2020-03-01,10,1", "2020-03-02,20,2"),
        jhu("2020-03-02,US,,0,2,0", "2020-03-03,US,,0,3,0", "2020-03-01,US,,0,1,0"),
    )
    assert [row[0] for row in rows] == [dt.date(2020, 3, day) for day in (1, 2, 3)]


@pytest.mark.parametrize(
    ("nyt_dates", "jhu_dates", "expected_days"),
    [
        (["2020-01-21", "2020-01-22"], ["2020-01-22"], [22]),  # NYT starts a day earlier
        (["2020-01-22", "2020-01-23"], ["2020-01-22"], [22]),  # JHU lags a day
        (["2020-01-22", "2020-01-24"], ["2020-01-22", "2020-01-23", "2020-01-24"], [22, 24]),
        (["2020-01-21"], ["2020-01-22"], []),
    ],
    ids=["nyt-only-day", "jhu-lags", "gap-in-nyt", "no-common-day"],
)
def test_days_present_in_one_source_only_are_dropped(nyt_dates, jhu_dates, expected_days):
    rows = merged_rows(
        nyt(*(f"{day},1,0" for day in nyt_dates)),
        jhu(*(f"{day},US,,1,0,0" for day in jhu_dates)),
    )
    assert [row[0] for row in rows] == [dt.date(2020, 1, day) for day in expected_days]


@pytest.mark.parametrize(
    ("nyt_row", "expected_message"),
    [
        (
            "3/1/20,10,1",
            "nyt.csv, line 2, column 'date': found '3/1/20', expected a date as YYYY-MM-DD",
        ),
        ("2020-02-30,10,1", "column 'date': found '2020-02-30', expected a date as YYYY-MM-DD"),
        ("yesterday,10,1", "column 'date': found 'yesterday'"),
        (
            "2020-03-01,-1,1",
            "nyt.csv, line 2, column 'cases': found '-1', expected a non-negative integer",
        ),
        ("2020-03-01,1.5,1", "column 'cases': found '1.5', expected a non-negative integer"),
        ("2020-03-01,a,1", "column 'cases': found 'a', expected a non-negative integer"),
        ("2020-03-01,10,", "column 'deaths': found a blank cell, expected a non-negative integer"),
    ],
)
def test_bad_nyt_cell_is_reported_with_file_line_and_column(nyt_row, expected_message):
    problems = problems_of(nyt(nyt_row), jhu("2020-03-01,US,,9,3,0"))
    assert any(expected_message in problem for problem in problems), problems


def test_bad_jhu_us_cell_is_reported_with_file_line_and_column():
    problems = problems_of(
        nyt("2020-03-01,10,1"), jhu("2020-03-01,Chad,,1,1,0", "2020-03-01,US,,9,-3,0")
    )
    assert problems == [
        "jhu.csv, line 3, column 'Recovered': found '-3', expected a non-negative integer"
    ]


def test_missing_column_is_named_with_the_columns_found():
    problems = problems_of(
        nyt("2020-03-01,10,1"),
        raw_table("Date,Country/Region,Province/State,Recovereds", "2020-03-01,US,,3"),
    )
    assert problems == [
        "jhu.csv, line 1, column 'Recovered': expected a column named 'Recovered' in the header "
        "(Date, Country/Region, Province/State, Recovereds)"
    ]


def test_duplicate_date_names_both_lines():
    problems = problems_of(nyt("2020-03-01,10,1", "2020-03-01,11,1"), jhu("2020-03-01,US,,9,3,0"))
    assert problems == [
        "nyt.csv, line 3, column 'date': found '2020-03-01', expected one row per date "
        "(the same date is on line 2)"
    ]


def test_jhu_without_us_rows_is_rejected():
    problems = problems_of(nyt("2020-03-01,10,1"), jhu("2020-03-01,Chad,,1,1,0"))
    assert problems == [
        "jhu.csv: expected rows with Country/Region 'US' and a blank Province/State"
    ]


def test_header_only_nyt_is_rejected():
    assert problems_of(nyt(), jhu("2020-03-01,US,,9,3,0")) == [
        "nyt.csv: expected at least one data row after the header"
    ]


def test_problems_of_both_sources_are_reported_together():
    problems = problems_of(nyt("2020-03-01,x,1"), jhu("2020-03-01,US,,9,y,0"))
    assert [problem.split(",")[0] for problem in problems] == ["nyt.csv", "jhu.csv"]
