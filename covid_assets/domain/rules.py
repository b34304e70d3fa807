"""What the sources and the merged table must look like, as named rules on DataFrames.

Plain pandas, nothing else: no files, HTTP, Dagster or AWS. The transform enforces these rules
before it merges, and the asset checks report each rule separately, so a rule exists once.

A *raw table* is a source CSV read with every cell as text, indexed by the line number the row
has in its file (the header is line 1), so that every problem names the line a person would open
in an editor. ``source`` arguments are only labels for messages (usually the file's URL).
"""

from collections.abc import Callable, Iterable, Sequence
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
# The merged table's count types: NYT always gives cases and deaths; recovered is null where
# JHU gives no figure (``transform.recovered_as_reported``).
MERGED_COUNT_DTYPES = {"cases": "int64", "deaths": "int64", "recovered": "Int64"}

ISO_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
NON_NEGATIVE_INTEGER = "a non-negative integer"
# Beyond 2**53 a float no longer holds every integer, so a count could not be read exactly.
LARGEST_COUNT = 2**53


@dataclass(frozen=True)
class Problem:
    """One cell or row that breaks a rule, said the way a person would fix it."""

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


def format_problems(problems: Sequence[Problem], limit: int, bullet: str = "- ") -> str:
    """The first ``limit`` problems, one a line, and a last line saying how many more there are:
    a message stays readable however many lines of a file are wrong."""
    lines = [f"{bullet}{problem}" for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"{bullet}... and {len(problems) - limit} more")
    return "\n".join(lines)


class SourceDataError(ValueError):
    """A table cannot be used as it is; carries every problem found."""

    MAX_LISTED = 10

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        listed = format_problems(self.problems, self.MAX_LISTED, bullet="  - ")
        super().__init__(f"{len(self.problems)} problem(s) in the source data:\n{listed}")


def parse_iso_dates(text: pd.Series) -> pd.Series:
    """ISO ``YYYY-MM-DD`` strings to ``datetime.date``; anything else (``3/1/21``, ``2021-02-30``,
    blank) becomes NaT so callers decide whether that is an error."""
    well_formed = text.str.fullmatch(ISO_DATE_PATTERN, na=False)
    return pd.to_datetime(text.where(well_formed), format="%Y-%m-%d", errors="coerce").dt.date


def parse_counts(text: pd.Series) -> pd.Series:
    """Count strings to numbers (``121298.00`` is 121298); blank or unreadable becomes NaN."""
    return pd.to_numeric(text.str.strip(), errors="coerce")


def jhu_us_rows(raw_jhu: pd.DataFrame) -> pd.DataFrame:
    """The national US rows: Country/Region exactly ``US`` and no Province/State (a substring
    match would also take "Australia" and "Belarus")."""
    country = raw_jhu[JHU_COUNTRY].fillna("").str.strip()
    province = raw_jhu[JHU_PROVINCE].fillna("").str.strip()
    return raw_jhu[country.eq("US") & province.eq("")]


def _cell(table: pd.DataFrame, line: int, column: str) -> str:
    value = table.at[line, column]
    return "" if pd.isna(value) else str(value)


def missing_columns(raw: pd.DataFrame, required: Iterable[str], source: str) -> list[Problem]:
    present = ", ".join(map(str, raw.columns)) or "no columns"
    return [
        Problem(source, 1, column, None, f"a column named '{column}' in the header ({present})")
        for column in required
        if column not in raw.columns
    ]


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
        valid = numbers.ge(0) & numbers.le(LARGEST_COUNT) & numbers.mod(1).eq(0)
        if blank_allowed:
            valid |= raw[column].fillna("").str.strip().eq("")
        problems += [
            Problem(source, line, column, _cell(raw, line, column), NON_NEGATIVE_INTEGER)
            for line in raw.index[~valid]
        ]
    return problems


def duplicate_keys(
    raw: pd.DataFrame, columns: Sequence[str], source: str, called: str = ""
) -> list[Problem]:
    """Rows whose ``columns`` repeat an earlier row's, naming the line of the first one (the
    key ``called`` what a reader calls it, "date", or after its columns)."""
    keys = raw[columns[0]].astype(str)
    for column in columns[1:]:
        keys = keys + " " + raw[column].astype(str)
    repeated = keys.duplicated(keep="first")
    if not repeated.any():
        return []
    first_line = {value: line for line, value in keys[~repeated].items()}
    what = called or ", ".join(columns)
    same = f"the same {called}" if called else "the same"
    return [
        Problem(
            source,
            line,
            ", ".join(columns),
            keys.at[line],
            f"one row per {what} ({same} is on line {first_line[keys.at[line]]})",
        )
        for line in raw.index[repeated]
    ]


def duplicate_dates(raw: pd.DataFrame, column: str, source: str) -> list[Problem]:
    return duplicate_keys(raw, (column,), source, called="date")


@dataclass(frozen=True)
class Rule:
    """One named rule: the asset check of the same name reports it in the Dagster UI."""

    name: str
    description: str
    find_problems: Callable[[pd.DataFrame, str], list[Problem]]


def _no_rows(expected: str) -> Callable[[pd.DataFrame, str], list[Problem]]:
    def find(table: pd.DataFrame, source: str) -> list[Problem]:
        return [Problem(source, None, None, None, expected)] if table.empty else []

    return find


def _required_columns_rule(columns: Sequence[str], note: str = "") -> Rule:
    """The first rule of every source: the others can only be applied when it passes."""
    return Rule(
        "required_columns_present",
        f"The header has {', '.join(columns)}{note}.",
        lambda raw, source: missing_columns(raw, columns, source),
    )


def _dated_rows_rules(columns: Sequence[str], date_column: str) -> tuple[Rule, ...]:
    """The first rules of a file with one dated row per place and day (NYT's files): its
    columns, at least one row, and real ISO dates."""
    return (
        _required_columns_rule(columns),
        Rule(
            "has_data_rows",
            "There is at least one row after the header.",
            _no_rows("at least one data row after the header"),
        ),
        Rule(
            "dates_are_iso",
            "Every date is a real date written YYYY-MM-DD.",
            lambda raw, source: invalid_dates(raw, date_column, source),
        ),
    )


NYT_RULES = (
    *_dated_rows_rules(NYT_REQUIRED_COLUMNS, NYT_DATE),
    Rule(
        "counts_are_non_negative_integers",
        "Every cases and deaths value is a non-negative integer (121298.00 counts as one).",
        lambda raw, source: invalid_counts(raw, (NYT_CASES, NYT_DEATHS), source),
    ),
    Rule(
        "dates_are_unique",
        "No date appears twice.",
        lambda raw, source: duplicate_dates(raw, NYT_DATE, source),
    ),
)

JHU_RULES = (
    _required_columns_rule(JHU_REQUIRED_COLUMNS, " (Lat/Long may come and go)"),
    Rule(
        "has_us_rows",
        "There are national US rows (Country/Region 'US', blank Province/State).",
        lambda raw, source: _no_rows(f"rows with {JHU_COUNTRY} 'US' and a blank {JHU_PROVINCE}")(
            jhu_us_rows(raw), source
        ),
    ),
    Rule(
        "us_dates_are_iso",
        "Every date of a US row is a real date written YYYY-MM-DD.",
        lambda raw, source: invalid_dates(jhu_us_rows(raw), JHU_DATE, source),
    ),
    Rule(
        "us_recovered_is_non_negative_integer",
        "Every US Recovered value is blank or a non-negative integer.",
        lambda raw, source: invalid_counts(
            jhu_us_rows(raw), (JHU_RECOVERED,), source, blank_allowed=True
        ),
    ),
    Rule(
        "us_dates_are_unique",
        "No date has two US rows.",
        lambda raw, source: duplicate_dates(jhu_us_rows(raw), JHU_DATE, source),
    ),
)


def find_problems(
    raw: pd.DataFrame, rules: Sequence[Rule], source: str
) -> dict[str, list[Problem]]:
    """Each rule's problems, by rule name. The first rule checks the columns; when it fails, the
    other rules cannot be applied and are left out of the result."""
    column_rule, *other_rules = rules
    missing = column_rule.find_problems(raw, source)
    if missing:
        return {column_rule.name: missing}
    return {
        column_rule.name: [],
        **{rule.name: rule.find_problems(raw, source) for rule in other_rules},
    }


# The merged table's own rules. It is typed, so problems name dates instead of file lines.


def _merged_nulls(table: pd.DataFrame, source: str) -> list[Problem]:
    return [
        Problem(
            source, None, column, f"row {position} (date {table['date'].iat[position]})", "a value"
        )
        for column in MERGED_COLUMNS
        if column != "recovered"
        for position in table[column].isna().to_numpy().nonzero()[0]
    ]


def _merged_duplicate_dates(table: pd.DataFrame, source: str) -> list[Problem]:
    repeated = table["date"][table["date"].duplicated()]
    return [Problem(source, None, "date", str(day), "one row per date") for day in repeated]


def _merged_bad_counts(table: pd.DataFrame, source: str) -> list[Problem]:
    problems = []
    for column, dtype in MERGED_COUNT_DTYPES.items():
        if table[column].dtype != dtype:
            problems.append(Problem(source, None, column, str(table[column].dtype), dtype))
            continue
        negative = table[table[column].lt(0).fillna(False)]
        problems += [
            Problem(source, None, column, f"{day}: {value}", NON_NEGATIVE_INTEGER)
            for day, value in zip(negative["date"], negative[column], strict=True)
        ]
    return problems


def decreasing_totals(table: pd.DataFrame, source: str) -> list[Problem]:
    """Days on which cumulative cases or deaths are lower than the day before. Real NYT data
    does this after corrections, so it is a warning, not an error."""
    ordered = table.sort_values("date")
    return [
        Problem(
            source,
            None,
            column,
            f"{day}: {value:,}",
            f"at least the previous day's {int(previous):,}",
        )
        for column in ("cases", "deaths")
        for day, value, previous in zip(
            ordered["date"], ordered[column], ordered[column].shift(), strict=True
        )
        if pd.notna(previous) and value < previous
    ]


MERGED_BLOCKING_RULES = (
    Rule(
        "no_nulls",
        "No cell of the merged table is empty, but recovered where JHU gives no figure.",
        _merged_nulls,
    ),
    Rule("dates_are_unique", "One row per date.", _merged_duplicate_dates),
    Rule(
        "counts_are_non_negative_int64",
        "cases and deaths are int64, recovered a nullable Int64, and none is negative.",
        _merged_bad_counts,
    ),
)

CUMULATIVE_TOTALS_RULE = Rule(
    "cumulative_totals_never_decrease",
    "Cumulative cases and deaths never go down from one day to the next (a warning: NYT "
    "corrections sometimes lower them).",
    decreasing_totals,
)


def common_dates_mismatch(
    table: pd.DataFrame, raw_nyt: pd.DataFrame, raw_jhu: pd.DataFrame, source: str
) -> list[Problem]:
    """The merged table must have exactly one row for each date present in both sources."""
    nyt_dates = set(parse_iso_dates(raw_nyt[NYT_DATE]).dropna())
    jhu_dates = set(parse_iso_dates(jhu_us_rows(raw_jhu)[JHU_DATE]).dropna())
    expected = len(nyt_dates & jhu_dates)
    if len(table) == expected:
        return []
    return [
        Problem(source, None, None, f"{len(table)} rows", f"{expected} (dates in both sources)")
    ]


def no_common_dates(raw_nyt: pd.DataFrame, raw_jhu: pd.DataFrame, source: str) -> list[Problem]:
    """The sources must share at least one date: an inner join of two files that share none is
    an empty table, which would replace every day that is served."""
    nyt_dates = parse_iso_dates(raw_nyt[NYT_DATE]).dropna()
    jhu_dates = parse_iso_dates(jhu_us_rows(raw_jhu)[JHU_DATE]).dropna()
    if set(nyt_dates) & set(jhu_dates):
        return []
    spans = [
        f"{name} {dates.min()}..{dates.max()}" if len(dates) else f"{name} no dates"
        for name, dates in (("NYT", nyt_dates), ("JHU US", jhu_dates))
    ]
    return [
        Problem(
            source,
            None,
            "date",
            f"no date in both sources ({', '.join(spans)})",
            "at least one date present in both sources",
        )
    ]


# The merged table against what is served now (the export as users query it). Upstream files
# are revised, so past days may change and even go down; they must not vanish or collapse.


@dataclass(frozen=True)
class ServedTolerances:
    """How far a new merged table may fall short of the served one before it is held back."""

    max_lost_days_percent: int
    protected_recent_days: int
    max_count_drop_percent: int
    count_drop_floor: int


def lost_served_days(table: pd.DataFrame, served: pd.DataFrame, source: str) -> list[Problem]:
    """Every served day the merged table no longer has (a warning when few and old)."""
    lost = sorted(set(served["date"]) - set(table["date"]))
    return [Problem(source, None, "date", str(day), "the served day to be kept") for day in lost]


def served_days_lost_beyond_tolerance(
    table: pd.DataFrame, served: pd.DataFrame, tolerances: ServedTolerances, source: str
) -> list[Problem]:
    """More than ``max_lost_days_percent`` of the served days lost, or any of the last
    ``protected_recent_days`` served days: a cut or shrunk file, not a revision."""
    lost = set(served["date"]) - set(table["date"])
    recent = sorted(served["date"])[-tolerances.protected_recent_days :]
    problems = [
        Problem(
            source,
            None,
            "date",
            str(day),
            f"each of the last {tolerances.protected_recent_days} served days to be kept",
        )
        for day in recent
        if tolerances.protected_recent_days and day in lost
    ]
    allowed = tolerances.max_lost_days_percent / 100 * len(served)
    if len(lost) > allowed:
        problems.insert(
            0,
            Problem(
                source,
                None,
                "date",
                f"{len(lost)} of {len(served)} served days lost ({min(lost)}..{max(lost)})",
                f"at most {tolerances.max_lost_days_percent}% of the served days lost",
            ),
        )
    return problems


def served_counts_dropped(
    table: pd.DataFrame, served: pd.DataFrame, tolerances: ServedTolerances, source: str
) -> list[Problem]:
    """Counts of a day that fall below the served ones by more than ``max_count_drop_percent``
    of the served value and more than ``count_drop_floor``: revisions do lower counts, a little
    (the floor lets small counts such as 1 -> 0 through). A count that is null on either side
    is not compared: no figure is not a lower figure (JHU stopped counting recoveries, and its
    later files give 0, read as null, for days it once counted)."""
    both = table.merge(served, on="date", suffixes=("", "_served"))
    problems = []
    for column in COUNT_COLUMNS:
        new, old = both[column], both[f"{column}_served"]
        allowed = (old * tolerances.max_count_drop_percent / 100).clip(
            lower=tolerances.count_drop_floor
        )
        dropped = (old - new).gt(allowed).fillna(False).astype(bool)
        problems += [
            Problem(
                source,
                None,
                column,
                f"{day}: {value:,} (served {served_value:,})",
                f"at most {tolerances.max_count_drop_percent}% (or "
                f"{tolerances.count_drop_floor}) below the served value",
            )
            for day, value, served_value in zip(
                both["date"][dropped], new[dropped], old[dropped], strict=True
            )
        ]
    return problems


# The NYT state file (us-states.csv): one row per state and day. A blank count is unknown, not
# zero, so it passes the count rule and stays missing downstream.

STATE_DATE, STATE_NAME, STATE_FIPS, STATE_CASES, STATE_DEATHS = (
    "date",
    "state",
    "fips",
    "cases",
    "deaths",
)
STATE_REQUIRED_COLUMNS = (STATE_DATE, STATE_NAME, STATE_FIPS, STATE_CASES, STATE_DEATHS)
# The counts of every level's rows (a state's, next a county's): nullable, blank is unknown.
PLACE_COUNT_COLUMNS = (STATE_CASES, STATE_DEATHS)

# The 50 states, DC and the territories NYT reports, spelled as NYT spells them, with their
# USPS codes (the codes name the DynamoDB regions, so they must never change).
USPS_CODES = {
    "Alabama": "AL",
    "Alaska": "AK",
    "Arizona": "AZ",
    "Arkansas": "AR",
    "California": "CA",
    "Colorado": "CO",
    "Connecticut": "CT",
    "Delaware": "DE",
    "District of Columbia": "DC",
    "Florida": "FL",
    "Georgia": "GA",
    "Guam": "GU",
    "Hawaii": "HI",
    "Idaho": "ID",
    "Illinois": "IL",
    "Indiana": "IN",
    "Iowa": "IA",
    "Kansas": "KS",
    "Kentucky": "KY",
    "Louisiana": "LA",
    "Maine": "ME",
    "Maryland": "MD",
    "Massachusetts": "MA",
    "Michigan": "MI",
    "Minnesota": "MN",
    "Mississippi": "MS",
    "Missouri": "MO",
    "Montana": "MT",
    "Nebraska": "NE",
    "Nevada": "NV",
    "New Hampshire": "NH",
    "New Jersey": "NJ",
    "New Mexico": "NM",
    "New York": "NY",
    "North Carolina": "NC",
    "North Dakota": "ND",
    "Northern Mariana Islands": "MP",
    "Ohio": "OH",
    "Oklahoma": "OK",
    "Oregon": "OR",
    "Pennsylvania": "PA",
    "Puerto Rico": "PR",
    "Rhode Island": "RI",
    "South Carolina": "SC",
    "South Dakota": "SD",
    "Tennessee": "TN",
    "Texas": "TX",
    "Utah": "UT",
    "Vermont": "VT",
    "Virgin Islands": "VI",
    "Virginia": "VA",
    "Washington": "WA",
    "West Virginia": "WV",
    "Wisconsin": "WI",
    "Wyoming": "WY",
}


def unknown_states(raw: pd.DataFrame, column: str, source: str) -> list[Problem]:
    """Names that are not in ``USPS_CODES``: a new territory or a respelling would otherwise
    get a region of its own, or none."""
    return [
        Problem(source, line, column, _cell(raw, line, column), "a state name as NYT spells it")
        for line in raw.index[~raw[column].isin(USPS_CODES.keys())]
    ]


# The rules every place file shares (the state and the county files).
PLACE_COUNTS_RULE = Rule(
    "counts_are_blank_or_non_negative_integers",
    "Every cases and deaths value is blank (unknown, kept as missing) or a non-negative integer.",
    lambda raw, source: invalid_counts(raw, PLACE_COUNT_COLUMNS, source, blank_allowed=True),
)
KNOWN_STATES_RULE = Rule(
    "states_are_known",
    "Every state is one of the 50 states, DC, PR, VI, GU or MP, spelled as NYT spells it.",
    lambda raw, source: unknown_states(raw, STATE_NAME, source),
)

STATE_RULES = (
    *_dated_rows_rules(STATE_REQUIRED_COLUMNS, STATE_DATE),
    PLACE_COUNTS_RULE,
    KNOWN_STATES_RULE,
    Rule(
        "date_and_state_are_unique",
        "No state has two rows for one date.",
        lambda raw, source: duplicate_keys(raw, (STATE_DATE, STATE_NAME), source),
    ),
)


# The NYT county file (us-counties-recent.csv: the last 30 days, revised in place; the yearly
# us-counties-<year>.csv have the same header). A blank fips is real (New York City, Kansas City,
# each state's "Unknown"): such a county is known by its name.

COUNTY_DATE, COUNTY_NAME, COUNTY_FIPS = "date", "county", "fips"
COUNTY_REQUIRED_COLUMNS = (
    COUNTY_DATE,
    COUNTY_NAME,
    STATE_NAME,
    COUNTY_FIPS,
    STATE_CASES,
    STATE_DEATHS,
)
FIPS_PATTERN = r"\d{5}"


def invalid_fips(raw: pd.DataFrame, column: str, source: str) -> list[Problem]:
    """A county's fips names its DynamoDB region, so it must be five digits (leading zeros
    kept) or blank."""
    text = raw[column].fillna("").str.strip()
    bad = ~(text.eq("") | text.str.fullmatch(FIPS_PATTERN))
    return [
        Problem(source, line, column, _cell(raw, line, column), "5 digits (01001) or blank")
        for line in raw.index[bad]
    ]


def blank_cells(raw: pd.DataFrame, column: str, source: str) -> list[Problem]:
    return [
        Problem(source, line, column, "", "a value")
        for line in raw.index[raw[column].fillna("").str.strip().eq("")]
    ]


COUNTY_RULES = (
    *_dated_rows_rules(COUNTY_REQUIRED_COLUMNS, COUNTY_DATE),
    PLACE_COUNTS_RULE,
    KNOWN_STATES_RULE,
    Rule(
        "counties_are_named",
        "Every row names its county (a county without a fips is known by its name).",
        lambda raw, source: blank_cells(raw, COUNTY_NAME, source),
    ),
    Rule(
        "fips_are_five_digits_or_blank",
        "Every fips is five digits (leading zeros kept) or blank.",
        lambda raw, source: invalid_fips(raw, COUNTY_FIPS, source),
    ),
    Rule(
        "date_state_and_county_are_unique",
        "No county has two rows for one date.",
        lambda raw, source: duplicate_keys(raw, (COUNTY_DATE, STATE_NAME, COUNTY_NAME), source),
    ),
)


# A level's served table (typed: one row per place and day, counts as nullable integers). Its
# problems name the key of the row, not a file line.


def level_duplicate_keys(
    table: pd.DataFrame, key_columns: Sequence[str], source: str
) -> list[Problem]:
    repeated = table[table.duplicated(list(key_columns))]
    return [
        Problem(source, None, ", ".join(key_columns), " ".join(map(str, key)), "one row per key")
        for key in repeated[list(key_columns)].itertuples(index=False)
    ]


def level_bad_counts(table: pd.DataFrame, key_columns: Sequence[str], source: str) -> list[Problem]:
    """Counts must be nullable integers (missing is unknown) and never negative."""
    problems = []
    for column in PLACE_COUNT_COLUMNS:
        if table[column].dtype != "Int64":
            problems.append(Problem(source, None, column, str(table[column].dtype), "Int64"))
            continue
        negative = table[table[column].lt(0).fillna(False)]
        problems += [
            Problem(
                source, None, column, f"{' '.join(map(str, key))}: {value}", NON_NEGATIVE_INTEGER
            )
            for *key, value in negative[[*key_columns, column]].itertuples(index=False)
        ]
    return problems


def level_missing_keys(
    table: pd.DataFrame, key_columns: Sequence[str], source: str
) -> list[Problem]:
    return [
        Problem(source, None, column, f"row {position}", "a value")
        for column in key_columns
        for position in table[column].isna().to_numpy().nonzero()[0]
    ]


def level_unknown_states(table: pd.DataFrame, source: str) -> list[Problem]:
    unknown = sorted(set(table[STATE_NAME]) - USPS_CODES.keys())
    return [
        Problem(source, None, STATE_NAME, name, "a state name as NYT spells it") for name in unknown
    ]


@dataclass(frozen=True)
class KnownDiscrepancy:
    """A known, explained way a state's parts (its counties) differ from its total: ``column``
    off by at most ``max_difference``, on any day, for ``reason``. Declared by state and bound,
    not by day: the days it falls on move from one version to the next, so a list of days would
    fail the next version, while the bound keeps a bigger difference a warning."""

    state: str
    column: str
    max_difference: int
    reason: str

    def covers(self, key: dict[str, object], column: str, difference: int) -> bool:
        return (
            key.get(STATE_NAME) == self.state
            and column == self.column
            and abs(difference) <= self.max_difference
        )


@dataclass(frozen=True)
class KnownProblem:
    """A mismatch that a known discrepancy explains: reported with its reason, never failed."""

    problem: Problem
    reason: str

    def __str__(self) -> str:
        return f"{self.problem} (known: {self.reason})"


@dataclass(frozen=True)
class Reconciled:
    """Where parts do not add up to their totals: the problems, and the known ones apart."""

    problems: list[Problem]
    known: list[KnownProblem]


def sums_differ_from_totals(
    parts: pd.DataFrame,
    totals: pd.DataFrame,
    keys: Sequence[str],
    source: str,
    totals_label: str,
    known: Sequence[KnownDiscrepancy] = (),
) -> Reconciled:
    """Each key (a day, or a day and a place) on which the parts' sum is not the total, per
    count: ``parts`` and ``totals`` have the ``keys`` and the count columns. A key on one side
    only is a mismatch too. A count that is unknown (blank) for some part leaves that key's sum
    unknown, so it is not compared: unknown is not zero, and not a mismatch either. A difference
    that one of ``known`` covers is listed apart, with its reason."""
    counts = list(PLACE_COUNT_COLUMNS)
    groups = parts.groupby(list(keys))[counts]
    # A sum is known only where every part's count is known.
    sums = groups.sum().where(groups.count().eq(groups.size(), axis=0))
    present = pd.Series(True, index=sums.index, name="present")
    both = (
        sums.join(present)
        .join(totals.set_index(list(keys))[counts].add_suffix("_total"), how="outer")
        .sort_index()
    )
    problems, explained = [], []
    for key, row in both.iterrows():
        key_values = key if isinstance(key, tuple) else (key,)
        where = " ".join(map(str, key_values))
        if pd.isna(row["present"]):
            problems += [
                Problem(
                    source, None, column, f"{where}: no rows", f"the {totals_label} {int(total):,}"
                )
                for column in counts
                if pd.notna(total := row[f"{column}_total"])
            ]
            continue
        for column in counts:
            summed, total = row[column], row[f"{column}_total"]
            if pd.isna(summed):
                continue
            if pd.isna(total):
                problems.append(
                    Problem(
                        source,
                        None,
                        column,
                        f"{where}: sum {int(summed):,}",
                        f"a {totals_label} row",
                    )
                )
            elif summed != total:
                problem = Problem(
                    source,
                    None,
                    column,
                    f"{where}: sum {int(summed):,}",
                    f"the {totals_label} {int(total):,}",
                )
                named = dict(zip(keys, key_values, strict=True))
                reason = next(
                    (k.reason for k in known if k.covers(named, column, int(summed - total))),
                    None,
                )
                if reason is None:
                    problems.append(problem)
                else:
                    explained.append(KnownProblem(problem, reason))
    return Reconciled(problems, explained)
