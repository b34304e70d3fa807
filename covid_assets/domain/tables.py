"""The levels below the nation, one declaration each.

A level is a source file with one row per place and day, served as a table of its own: its
source, the names of its three assets (the served table, its DynamoDB load, its Athena export),
the columns that name a place, how a place becomes a DynamoDB region, what its rows must add up
to one level up, and where its export goes. The assets, their checks and settings are built from
``LEVELS`` (``level_assets``, ``settings``), so a new level is one entry here plus its rules and
its transform. The national pipeline (``merged_daily_table`` and what is built from it) is not a
level: it stays as it is.

Plain declarations: no Dagster or AWS.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from covid_assets.domain.history import history_asset_of
from covid_assets.domain.rules import (
    PLACE_COUNT_COLUMNS,
    USPS_CODES,
    Problem,
    Rule,
    level_bad_counts,
    level_duplicate_keys,
    level_missing_keys,
    level_unknown_states,
    sums_differ_from_totals,
)
from covid_assets.domain.sources import NYT, NYT_COUNTIES, NYT_STATES, Source
from covid_assets.domain.transform import county_daily, national_totals, state_daily, state_totals


@dataclass(frozen=True)
class Reconciliation:
    """What a level's rows must add up to: the sum of its counts over each ``keys`` group equals
    the ``totals`` computed from the upstream asset ``against`` (its input value)."""

    check_name: str
    against: str
    keys: Sequence[str]
    totals: Callable[[Any], pd.DataFrame]
    totals_label: str
    blocking: bool
    description: str


@dataclass(frozen=True)
class Level:
    """One level of places and how it is built, loaded and exported."""

    name: str
    source: Source
    table_asset: str
    records_asset: str
    export_asset: str
    description: str
    key_columns: Sequence[str]
    place_column: str
    build_table: Callable[[pd.DataFrame, str], pd.DataFrame]
    table_rules: Sequence[Rule]
    reconciliation: Reconciliation
    region_of: Callable[[Mapping[str, Any]], str]
    region_scheme: str
    # The served table's columns, the key columns first, then the values its items carry.
    export_schema: pa.Schema
    glue_table_setting: str
    glue_table_default: str
    export_prefix_setting: str
    export_prefix_default: str
    # The source holds only its last days (a window): a place-day before the window's first date
    # has left it, and is kept as last seen, not taken for vanished.
    source_is_window: bool = False
    # The export's Hive-style partitions: the partition columns of each row (None: one file).
    export_partitions: Callable[[pd.DataFrame], pd.DataFrame] | None = None

    @property
    def columns(self) -> list[str]:
        return self.export_schema.names

    @property
    def history_asset(self) -> str:
        return history_asset_of(self.table_asset)

    @property
    def assets(self) -> list[str]:
        """The level's assets from its table on: the table, its history, load and export."""
        return [self.table_asset, self.history_asset, self.records_asset, self.export_asset]

    def reconciliation_problems(self, table: pd.DataFrame, upstream: Any) -> list[Problem]:
        rule = self.reconciliation
        totals = rule.totals(upstream)
        if self.source_is_window:
            # The level above covers every day; the window's own days are what it is held to.
            totals = totals[totals["date"].isin(set(table["date"]))]
        return sums_differ_from_totals(
            table, totals, rule.keys, self.table_asset, rule.totals_label
        )


def state_region(row: Mapping[str, Any]) -> str:
    """``US-<USPS code>``: ``US-CA``, ``US-PR``."""
    return f"US-{USPS_CODES[row['state']]}"


def county_region(row: Mapping[str, Any]) -> str:
    """``US-<USPS code>-<fips>`` (``US-CA-06037``), or, for a county published without a fips,
    ``US-<USPS code>-<county as published>`` (``US-NY-New York City``, ``US-WA-Unknown``)."""
    fips = row["fips"]
    return f"US-{USPS_CODES[row['state']]}-{row['county'] if pd.isna(fips) else fips}"


def state_and_month(table: pd.DataFrame) -> pd.DataFrame:
    """The county export's partitions: the state's USPS code and the month (``2021-03``), so a
    query of one state reads its files only, and a next day rewrites only the months it
    changed."""
    dates = pd.to_datetime(table["date"])
    return pd.DataFrame(
        {"usps": table["state"].map(USPS_CODES), "month": dates.dt.strftime("%Y-%m")},
        index=table.index,
    )


def _table_rules(key_columns: Sequence[str], extra: Sequence[Rule] = ()) -> tuple[Rule, ...]:
    """The rules of every level's table: keys present and unique, counts nullable integers."""
    keys = ", ".join(key_columns)
    return (
        Rule(
            "keys_are_present",
            f"Every row has its {keys}.",
            lambda table, source: level_missing_keys(table, key_columns, source),
        ),
        Rule(
            "keys_are_unique",
            f"One row per {keys}.",
            lambda table, source: level_duplicate_keys(table, key_columns, source),
        ),
        Rule(
            "counts_are_non_negative_nullable_integers",
            f"{' and '.join(PLACE_COUNT_COLUMNS)} are nullable integers (missing: unknown, "
            "never 0) and never negative.",
            lambda table, source: level_bad_counts(table, key_columns, source),
        ),
        *extra,
    )


STATE = Level(
    name="state",
    source=NYT_STATES,
    table_asset="state_daily_table",
    records_asset="state_dynamodb_records",
    export_asset="state_athena_export",
    description=(
        "One row per state and day (the 50 states, DC, PR, VI, GU, MP): date, state (as NYT "
        "spells it), fips, cases and deaths (nullable: blank upstream is unknown, not 0)."
    ),
    key_columns=("date", "state"),
    place_column="state",
    build_table=state_daily,
    table_rules=_table_rules(
        ("date", "state"),
        (
            Rule(
                "states_are_known",
                "Every state has a USPS code (its DynamoDB region is US-<code>).",
                level_unknown_states,
            ),
        ),
    ),
    reconciliation=Reconciliation(
        check_name="states_sum_to_national_totals",
        against=NYT.asset,
        keys=("date",),
        totals=lambda nyt_raw: national_totals(nyt_raw.table),
        totals_label="national NYT total",
        blocking=True,
        description=(
            "On every day, the sum of the states' cases and deaths equals NYT's national total "
            "(us.csv). Blocking: both files come from one NYT commit and agree exactly, so a "
            "mismatch means a partial or mismatched file. It stops the state level's load and "
            "export, and the dashboard that draws them, never the national load and export."
        ),
    ),
    region_of=state_region,
    region_scheme="'US-<USPS code>' (US-CA, US-PR)",
    export_schema=pa.schema(
        [
            pa.field("date", pa.date32(), nullable=False),
            pa.field("state", pa.string(), nullable=False),
            pa.field("fips", pa.string()),
            pa.field("cases", pa.int64()),
            pa.field("deaths", pa.int64()),
        ]
    ),
    glue_table_setting="COVID_GLUE_STATES_TABLE",
    glue_table_default="us_states_daily",
    export_prefix_setting="COVID_S3_STATES_PREFIX",
    export_prefix_default="athena/us_states_daily/",
)

COUNTY = Level(
    name="county",
    source=NYT_COUNTIES,
    table_asset="county_daily_table",
    records_asset="county_dynamodb_records",
    export_asset="county_athena_export",
    description=(
        "One row per county and day over NYT's last 30 days: date, state, county (as NYT "
        "spells them), fips (missing for New York City, Kansas City and each state's Unknown), "
        "cases and deaths (nullable: blank upstream is unknown, not 0)."
    ),
    key_columns=("date", "state", "county"),
    place_column="county",
    build_table=county_daily,
    table_rules=_table_rules(
        ("date", "state", "county"),
        (
            Rule(
                "states_are_known",
                "Every state has a USPS code (its counties' DynamoDB regions are US-<code>-…).",
                level_unknown_states,
            ),
        ),
    ),
    reconciliation=Reconciliation(
        check_name="counties_sum_to_state_totals",
        against=NYT_STATES.asset,
        keys=("date", "state"),
        totals=lambda nyt_states_raw: state_totals(nyt_states_raw.table),
        totals_label="state total",
        blocking=False,
        description=(
            "On every day of the window, the sum of a state's counties equals the state's "
            "total in us-states.csv. A warning, not a block: NYT compiles the two series "
            "separately, and a few state-days differ by a case or two (Iowa, twice in the "
            "2021-03-18 window); each mismatch is listed with its day and state."
        ),
    ),
    region_of=county_region,
    region_scheme="'US-<USPS code>-<fips>' (US-CA-06037), or 'US-<USPS code>-<county>' when "
    "the fips is blank (US-NY-New York City)",
    export_schema=pa.schema(
        [
            pa.field("date", pa.date32(), nullable=False),
            pa.field("state", pa.string(), nullable=False),
            pa.field("county", pa.string(), nullable=False),
            pa.field("fips", pa.string()),
            pa.field("cases", pa.int64()),
            pa.field("deaths", pa.int64()),
        ]
    ),
    glue_table_setting="COVID_GLUE_COUNTIES_TABLE",
    glue_table_default="us_counties_daily",
    export_prefix_setting="COVID_S3_COUNTIES_PREFIX",
    export_prefix_default="athena/us_counties_daily/",
    source_is_window=True,
    export_partitions=state_and_month,
)

LEVELS: tuple[Level, ...] = (STATE, COUNTY)
