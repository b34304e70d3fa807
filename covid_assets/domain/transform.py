"""Turn the raw NYT and JHU tables into the merged daily table, and the NYT state and county
files into their daily tables.

Plain pandas, nothing else: this module knows nothing of files, HTTP, Dagster or AWS. The rules
the inputs must follow live in ``contracts``; ``merge_daily`` enforces them all before it merges.
"""

from collections.abc import Callable, Sequence

import pandas as pd

from covid_assets.domain.hashing import row_hashes, rows_sha256
from covid_assets.domain.rules import (
    COUNTY_NAME,
    COUNTY_RULES,
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
    Rule,
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


def recovered_as_reported(recovered: pd.Series) -> pd.Series:
    """JHU's cumulative US recovered in date order, null (``pd.NA``) where JHU gives no figure:
    a blank, or a 0 after a positive count. JHU stopped counting US recoveries on 2020-12-14
    and its file gives 0 from then on; a cumulative count cannot fall to 0, so that 0 means
    "no longer counted", not "none recovered". A 0 before the first positive count (January
    2020, before any recovery was counted) stays 0."""
    counts = recovered.astype("Int64")
    counted_before = counts.gt(0).fillna(False).cummax().shift(fill_value=False)
    return counts.mask(counted_before & counts.eq(0).fillna(False))


def _typed_jhu_us(raw_jhu: pd.DataFrame) -> pd.DataFrame:
    us_rows = jhu_us_rows(raw_jhu)
    days = pd.DataFrame(
        {
            "date": parse_iso_dates(us_rows[JHU_DATE]),
            "recovered": parse_counts(us_rows[JHU_RECOVERED]).astype("Int64"),
        }
    ).sort_values("date", ignore_index=True)
    days["recovered"] = recovered_as_reported(days["recovered"])
    return days


def merge_daily(
    raw_nyt: pd.DataFrame,
    raw_jhu: pd.DataFrame,
    nyt_source: str = "NYT us.csv",
    jhu_source: str = "JHU combined time series",
) -> pd.DataFrame:
    """The merged daily table: one row per date present in both sources, sorted by date, with
    ``date`` as datetime.date, cases and deaths from NYT (int64) and recovered from JHU
    (nullable Int64: null where JHU gives no figure, ``recovered_as_reported``).

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


def place_daily(
    raw: pd.DataFrame, rules: Sequence[Rule], place_columns: Sequence[str], source: str
) -> pd.DataFrame:
    """A level's daily table: one row per date and place, sorted by both, with ``date`` as
    datetime.date, the ``place_columns`` as NYT spells them, ``fips`` as text (leading zeros
    kept; missing when blank) and ``cases``/``deaths`` as nullable integers: a blank count is
    unknown and stays missing, never 0.

    Raises SourceDataError naming the file, line, column and what was expected when the file
    breaks one of its ``rules``."""
    problems = [p for found in find_problems(raw, rules, source).values() for p in found]
    if problems:
        raise SourceDataError(problems)
    fips = raw[STATE_FIPS].fillna("").str.strip()
    table = pd.DataFrame(
        {
            "date": parse_iso_dates(raw[STATE_DATE]),
            **{column: raw[column] for column in place_columns},
            "fips": fips.where(fips.ne(""), None),
            **{column: parse_counts(raw[column]).astype("Int64") for column in PLACE_COUNT_COLUMNS},
        }
    )
    return table.sort_values(["date", *place_columns], ignore_index=True)


def state_daily(raw_states: pd.DataFrame, source: str = "NYT us-states.csv") -> pd.DataFrame:
    """The state daily table (``place_daily``): date, state, fips, cases, deaths."""
    return place_daily(raw_states, STATE_RULES, (STATE_NAME,), source)


def county_daily(
    raw_counties: pd.DataFrame, source: str = "NYT us-counties-recent.csv"
) -> pd.DataFrame:
    """The county daily table (``place_daily``): date, state, county, fips, cases, deaths."""
    return place_daily(raw_counties, COUNTY_RULES, (STATE_NAME, COUNTY_NAME), source)


def state_totals(raw_states: pd.DataFrame) -> pd.DataFrame:
    """The NYT state file as ``date``, ``state``, ``cases``, ``deaths`` (the totals a state's
    counties add up to); the file must have passed its rules."""
    return state_daily(raw_states).drop(columns="fips")


def lay_over(
    served: pd.DataFrame | None, latest: pd.DataFrame, keys: Sequence[str]
) -> pd.DataFrame:
    """``latest``'s rows laid over ``served``'s: a row of ``latest`` replaces the served row of
    its key, and a served row whose key ``latest`` lacks is kept as it was (a county-day that
    has left the 30-day window is kept as last seen). Sorted by ``keys``."""
    if served is None or served.empty:
        combined = latest
    else:
        replaced = served.set_index(list(keys)).index.isin(latest.set_index(list(keys)).index)
        combined = pd.concat([served[~replaced], latest], ignore_index=True)
    return combined.sort_values(list(keys), ignore_index=True)


def lay_over_partitions(
    served: Sequence[pd.DataFrame],
    latest: pd.DataFrame,
    keys: Sequence[str],
    partitions_of: Callable[[pd.DataFrame], pd.DataFrame],
) -> dict[tuple, tuple[pd.DataFrame, str]]:
    """``latest`` laid over each partition it touches (``served``: the rows of those that
    exist), by partition (``partitions_of``: each row's partition columns): the partition's rows
    sorted by ``keys`` as ``lay_over`` makes them, and their ``table_sha256``. Partitions hold
    disjoint keys, so one pass over them all (one concatenation, one sort, one row hash) lays
    each over its own; a county window touches a hundred, and a pass costs as much for each."""
    laid = lay_over(pd.concat(served, ignore_index=True) if served else None, latest, keys)
    partitions = partitions_of(laid)
    hashes = row_hashes(laid)
    groups = laid.groupby([partitions[column] for column in partitions.columns], sort=True)
    return {
        tuple(values): (
            laid.iloc[positions].reset_index(drop=True),
            rows_sha256(laid.columns, hashes[positions]),
        )
        for values, positions in groups.indices.items()
    }


def differing_rows(rows: pd.DataFrame, other: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The rows of ``rows`` that ``other`` lacks or holds with other values; a missing value
    equals only a missing value."""
    values = [column for column in rows.columns if column not in keys]
    joined = rows.merge(other, on=list(keys), how="left", suffixes=("", "_other"), indicator=True)
    differs = joined["_merge"].ne("both")
    for column in values:
        mine, theirs = joined[column], joined[f"{column}_other"]
        same = (mine == theirs).fillna(False) | (mine.isna() & theirs.isna())
        differs |= ~same.astype(bool)
    return joined.loc[differs, list(rows.columns)]
