"""Turn the raw NYT and JHU tables into the merged daily table.

Plain pandas, nothing else: this module knows nothing of files, HTTP, Dagster or AWS, so every
rule here is unit-tested with hand-written DataFrames.

A *raw table* is a source CSV read with every cell as text, indexed by the line number the row
has in its file (the header is line 1), so that every problem can name the line a person would
open in an editor. ``source`` arguments are only labels for messages (usually the file's URL).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

NYT_DATE, NYT_CASES, NYT_DEATHS = "date", "cases", "deaths"
NYT_REQUIRED_COLUMNS = (NYT_DATE, NYT_CASES, NYT_DEATHS)

JHU_DATE, JHU_COUNTRY, JHU_PROVINCE, JHU_RECOVERED = (
    "Date",
    "Country/Region",
    "Province/State",
    "Recovered",
)
# Lat/Long, Confirmed and Deaths come and go between JHU releases; only these are used.
JHU_REQUIRED_COLUMNS = (JHU_DATE, JHU_COUNTRY, JHU_PROVINCE, JHU_RECOVERED)

MERGED_COLUMNS = ("date", "cases", "deaths", "recovered")
COUNT_COLUMNS = ("cases", "deaths", "recovered")

ISO_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
NON_NEGATIVE_INTEGER = "a non-negative integer"


@dataclass(frozen=True)
class Problem:
    """One cell or row of a source that breaks the contract, said the way a person would fix it."""

    source: str
    line: int | None
    column: str | None
    value: str | None
    expected: str

    def __str__(self) -> str:
        where = [self.source]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.value is None:
            found = ""
        elif self.value == "":
            found = "found a blank cell, "
        else:
            found = f"found {self.value!r}, "
        return f"{', '.join(where)}: {found}expected {self.expected}"


class SourceDataError(ValueError):
    """A source table cannot be used as it is; carries every problem found."""

    MAX_LISTED = 10

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  - {problem}" for problem in self.problems[: self.MAX_LISTED])
        more = len(self.problems) - self.MAX_LISTED
        suffix = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the source data:\n{listed}{suffix}")


def missing_columns(raw: pd.DataFrame, required: Iterable[str], source: str) -> list[Problem]:
    present = ", ".join(map(str, raw.columns)) or "no columns"
    return [
        Problem(source, 1, column, None, f"a column named '{column}' in the header ({present})")
        for column in required
        if column not in raw.columns
    ]


def parse_iso_dates(text: pd.Series) -> pd.Series:
    """ISO ``YYYY-MM-DD`` strings to ``datetime.date``; anything else (``3/1/21``, ``2021-02-30``,
    blank) becomes NaT so callers decide whether that is an error."""
    well_formed = text.str.fullmatch(ISO_DATE_PATTERN, na=False)
    return pd.to_datetime(text.where(well_formed), format="%Y-%m-%d", errors="coerce").dt.date


def parse_counts(text: pd.Series) -> pd.Series:
    """Count strings to numbers (``121298.00`` is 121298); blank or unreadable becomes NaN."""
    return pd.to_numeric(text.str.strip(), errors="coerce")


def _cell(raw: pd.DataFrame, line: int, column: str) -> str:
    value = raw.at[line, column]
    return "" if pd.isna(value) else str(value)


def invalid_dates(raw: pd.DataFrame, column: str, source: str) -> list[Problem]:
    parsed = parse_iso_dates(raw[column])
    return [
        Problem(source, line, column, _cell(raw, line, column), "a date as YYYY-MM-DD")
        for line in raw.index[parsed.isna()]
    ]


def invalid_counts(
    raw: pd.DataFrame, columns: Iterable[str], source: str, blank_allowed: bool = False
) -> list[Problem]:
    problems = []
    for column in columns:
        numbers = parse_counts(raw[column])
        # Beyond 2**53 a float no longer holds every integer, so the value could not be exact.
        valid = numbers.ge(0) & numbers.le(2**53) & numbers.mod(1).eq(0)
        if blank_allowed:
            valid |= raw[column].fillna("").str.strip().eq("")
        problems += [
            Problem(source, line, column, _cell(raw, line, column), NON_NEGATIVE_INTEGER)
            for line in raw.index[~valid]
        ]
    return problems


def duplicate_dates(raw: pd.DataFrame, column: str, source: str) -> list[Problem]:
    dates = raw[column]
    repeated = dates.duplicated(keep="first")
    first_line = {value: line for line, value in dates[~repeated].items()}
    return [
        Problem(
            source,
            line,
            column,
            dates.at[line],
            f"one row per date (the same date is on line {first_line[dates.at[line]]})",
        )
        for line in raw.index[repeated]
    ]


def jhu_us_rows(raw_jhu: pd.DataFrame) -> pd.DataFrame:
    """The national US rows: Country/Region exactly ``US`` and no Province/State (a substring
    match would also take "Australia" and "Belarus")."""
    country = raw_jhu[JHU_COUNTRY].fillna("").str.strip()
    province = raw_jhu[JHU_PROVINCE].fillna("").str.strip()
    return raw_jhu[country.eq("US") & province.eq("")]


def nyt_problems(raw_nyt: pd.DataFrame, source: str) -> list[Problem]:
    """Everything that stops the NYT table from being used, in the order a person would fix it."""
    problems = missing_columns(raw_nyt, NYT_REQUIRED_COLUMNS, source)
    if problems:
        return problems
    if raw_nyt.empty:
        return [Problem(source, None, None, None, "at least one data row after the header")]
    return (
        invalid_dates(raw_nyt, NYT_DATE, source)
        + invalid_counts(raw_nyt, (NYT_CASES, NYT_DEATHS), source)
        + duplicate_dates(raw_nyt, NYT_DATE, source)
    )


def jhu_problems(raw_jhu: pd.DataFrame, source: str) -> list[Problem]:
    """Everything that stops the JHU table from being used. Only the US rows are checked: a bad
    cell in another country's row does not stop the US pipeline."""
    problems = missing_columns(raw_jhu, JHU_REQUIRED_COLUMNS, source)
    if problems:
        return problems
    us_rows = jhu_us_rows(raw_jhu)
    if us_rows.empty:
        expected = f"rows with {JHU_COUNTRY} 'US' and a blank {JHU_PROVINCE}"
        return [Problem(source, None, JHU_COUNTRY, None, expected)]
    return (
        invalid_dates(us_rows, JHU_DATE, source)
        + invalid_counts(us_rows, (JHU_RECOVERED,), source, blank_allowed=True)
        + duplicate_dates(us_rows, JHU_DATE, source)
    )


def _typed_nyt(raw_nyt: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": parse_iso_dates(raw_nyt[NYT_DATE]),
            "cases": parse_counts(raw_nyt[NYT_CASES]).astype("int64"),
            "deaths": parse_counts(raw_nyt[NYT_DEATHS]).astype("int64"),
        }
    )


def _typed_jhu_us(raw_jhu: pd.DataFrame) -> pd.DataFrame:
    us_rows = jhu_us_rows(raw_jhu)
    return pd.DataFrame(
        {
            "date": parse_iso_dates(us_rows[JHU_DATE]),
            # JHU leaves Recovered blank where it has no figure; the table wants a number.
            "recovered": parse_counts(us_rows[JHU_RECOVERED]).fillna(0).astype("int64"),
        }
    )


def merge_daily(
    raw_nyt: pd.DataFrame,
    raw_jhu: pd.DataFrame,
    nyt_source: str = "NYT us.csv",
    jhu_source: str = "JHU combined time series",
) -> pd.DataFrame:
    """The merged daily table: one row per date present in both sources, sorted by date, with
    ``date`` as datetime.date, cases and deaths from NYT and recovered from JHU, all int64.

    Raises SourceDataError naming the file, line, column and what was expected when either
    source breaks its contract; both sources are checked before either is rejected.
    """
    problems = nyt_problems(raw_nyt, nyt_source) + jhu_problems(raw_jhu, jhu_source)
    if problems:
        raise SourceDataError(problems)
    merged = _typed_nyt(raw_nyt).merge(
        _typed_jhu_us(raw_jhu), on="date", how="inner", validate="one_to_one"
    )
    return merged.sort_values("date", ignore_index=True)[list(MERGED_COLUMNS)]
