"""Turn the raw NYT and JHU tables into the merged daily table, and the NYT state file into
the state daily table.

Plain pandas, nothing else: this module knows nothing of files, HTTP, Dagster or AWS. The rules
the inputs must follow live in ``contracts``; ``merge_daily`` enforces them all before it merges.
"""

import pandas as pd

from covid_assets.contracts import (
    JHU_DATE,
    JHU_RECOVERED,
    JHU_RULES,
    MERGED_COLUMNS,
    NYT_CASES,
    NYT_DATE,
    NYT_DEATHS,
    NYT_RULES,
    PLACE_COUNT_COLUMNS,
    STATE_DATE,
    STATE_FIPS,
    STATE_NAME,
    STATE_RULES,
    SourceDataError,
    find_problems,
    jhu_us_rows,
    parse_counts,
    parse_iso_dates,
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
    problems = [
        problem
        for raw, rules, source in (
            (raw_nyt, NYT_RULES, nyt_source),
            (raw_jhu, JHU_RULES, jhu_source),
        )
        for rule_problems in find_problems(raw, rules, source).values()
        for problem in rule_problems
    ]
    if problems:
        raise SourceDataError(problems)
    merged = _typed_nyt(raw_nyt).merge(
        _typed_jhu_us(raw_jhu), on="date", how="inner", validate="one_to_one"
    )
    return merged.sort_values("date", ignore_index=True)[list(MERGED_COLUMNS)]


def national_totals(raw_nyt: pd.DataFrame) -> pd.DataFrame:
    """The NYT national file as ``date``, ``cases``, ``deaths`` (the totals the states add up
    to); the file must have passed its rules."""
    return _typed_nyt(raw_nyt)


def state_daily(raw_states: pd.DataFrame, source: str = "NYT us-states.csv") -> pd.DataFrame:
    """The state daily table: one row per (date, state), sorted by both, with ``date`` as
    datetime.date, ``state`` as NYT spells it, ``fips`` as text (leading zeros kept; missing when
    blank) and ``cases``/``deaths`` as nullable integers: a blank count is unknown and stays
    missing, never 0.

    Raises SourceDataError naming the file, line, column and what was expected when the file
    breaks a rule of ``STATE_RULES``."""
    problems = [
        p for found in find_problems(raw_states, STATE_RULES, source).values() for p in found
    ]
    if problems:
        raise SourceDataError(problems)
    fips = raw_states[STATE_FIPS].str.strip()
    table = pd.DataFrame(
        {
            "date": parse_iso_dates(raw_states[STATE_DATE]),
            "state": raw_states[STATE_NAME],
            "fips": fips.where(fips.ne(""), None),
            **{
                column: parse_counts(raw_states[column]).astype("Int64")
                for column in PLACE_COUNT_COLUMNS
            },
        }
    )
    return table.sort_values(["date", "state"], ignore_index=True)
