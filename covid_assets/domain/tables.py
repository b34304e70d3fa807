"""The served tables, one declaration each: the nation's, the states' and the counties'.

A served table is what its assets are named, which source files a version of it is built from,
its key and its Parquet schema, how a row becomes a DynamoDB item, and where its export and its
history go. Everything after a table (its history, its DynamoDB load, its export, their checks,
what a tick verifies, the backfill) is one code path built from these declarations; the only
difference left is how a table is made: the nation's by merging NYT and JHU (its own asset), a
level's from one NYT file (``Level``). A new level is one entry here plus its rules and its
transform.

Plain declarations: no Dagster or AWS.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from covid_assets.domain.rules import (
    PLACE_COUNT_COLUMNS,
    USPS_CODES,
    KnownDiscrepancy,
    Reconciled,
    Rule,
    level_bad_counts,
    level_duplicate_keys,
    level_missing_keys,
    level_unknown_states,
    sums_differ_from_totals,
)
from covid_assets.domain.sources import JHU, NYT, NYT_COUNTIES, NYT_STATES, Source
from covid_assets.domain.transform import county_daily, national_totals, state_daily, state_totals


@dataclass(frozen=True)
class Reconciliation:
    """What a level's rows must add up to: the sum of its counts over each ``keys`` group equals
    the ``totals`` computed from the raw file of the source ``against`` (the level above),
    except where a ``known`` discrepancy explains the difference."""

    check_name: str
    against: Source
    keys: Sequence[str]
    totals: Callable[[pd.DataFrame], pd.DataFrame]
    totals_label: str
    blocking: bool
    description: str
    known: Sequence[KnownDiscrepancy] = ()


@dataclass(frozen=True)
class Level:
    """How a level below the nation makes its table from one NYT file: the name its items carry
    (``level``, the partition key of the index ``level-date-index``), the column that names a
    place, the transform, the table's rules and its reconciliation with the level above."""

    name: str
    place_column: str
    build_table: Callable[[pd.DataFrame, str], pd.DataFrame]
    table_rules: Sequence[Rule]
    reconciliation: Reconciliation


@dataclass(frozen=True)
class ServedTable:
    """One served table, from its table asset to its DynamoDB items and its Athena export."""

    name: str
    # What one row is, in notices and logs: "day", "state-day", "county-day".
    unit: str
    # The files a version of the table is built from; it was published when the last of them was.
    sources: tuple[Source, ...]
    table_asset: str
    history_asset: str
    records_asset: str
    export_asset: str
    description: str
    key_columns: tuple[str, ...]
    # The served table's columns: the key columns first, then the values its items carry.
    export_schema: pa.Schema
    region_of: Callable[[Mapping[str, Any]], str]
    region_scheme: str
    glue_table_setting: str
    glue_table_default: str
    export_prefix_setting: str
    export_prefix_default: str
    # The NYT file of a version upstream (a backfill's default URL, at a commit).
    upstream_file: str
    # None: the nation's table, merged from NYT and JHU; its items carry no ``level``, so they
    # stay out of the sparse level index.
    level: Level | None = None
    # The source holds only its last days (a window of this many): a key dated before the
    # window's first day has left it, and is kept as last seen, not taken for vanished.
    window_days: int | None = None
    # The export's Hive-style partitions: the partition columns of each row (None: one file).
    export_partitions: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    # Whether each load reads what is stored of the table's days (for the nation, one Query of
    # a few hundred items) rather than diffing against its last load: an item deleted or edited
    # behind the pipeline's back is then written again by the next run, at no extra call.
    load_reads_stored: bool = False

    @property
    def source(self) -> Source:
        """The table's NYT file, of which a backfill loads versions (the nation's is merged
        with the JHU file, its second source)."""
        return self.sources[0]

    @property
    def source_is_window(self) -> bool:
        return self.window_days is not None

    def latest_window(self, rows: pd.DataFrame) -> pd.DataFrame:
        """What a run leaves for the next one to diff against (the load's last load, the
        history's newest table): the rows, or for a window those of its last ``window_days``
        days, which are all a next version can hold. A backfilled version is a whole year."""
        if not self.source_is_window or rows.empty:
            return rows
        return rows[rows["date"] > rows["date"].max() - timedelta(days=self.window_days)]

    @property
    def columns(self) -> list[str]:
        return self.export_schema.names

    @property
    def value_columns(self) -> list[str]:
        return [name for name in self.columns if name not in self.key_columns]

    @property
    def count_columns(self) -> list[str]:
        """The values that are counts: whole numbers in the items, compared in revisions."""
        return [f.name for f in self.export_schema if f.type == pa.int64()]

    @property
    def assets(self) -> list[str]:
        """The table's assets from its table on: the table, its history, load and export."""
        return [self.table_asset, self.history_asset, self.records_asset, self.export_asset]

    def reconciliation_problems(self, table: pd.DataFrame, upstream: pd.DataFrame) -> Reconciled:
        """Where the level's rows do not add up to the level above's (``upstream``: that
        level's raw file), the known discrepancies apart. The level above covers every day; a
        window is held to its own."""
        rule = self.level.reconciliation
        totals = rule.totals(upstream)
        if self.source_is_window:
            totals = totals[totals["date"].isin(set(table["date"]))]
        return sums_differ_from_totals(
            table, totals, rule.keys, self.table_asset, rule.totals_label, rule.known
        )


def history_table_of(glue_table: str) -> str:
    """The history's Glue table beside the served one: ``us_daily`` → ``us_daily_history``."""
    return f"{glue_table}_history"


def history_prefix_of(export_prefix: str) -> str:
    """The history's key prefix: ``history/`` and the export's (``athena/us_daily/`` →
    ``history/athena/us_daily/``), away from the export's folders and their clean-up, and
    expressible in the template's IAM policy."""
    return f"history/{export_prefix.strip('/')}/"


def revisions_table_of(glue_table: str) -> str:
    """The revision summary's Glue table: ``us_daily`` → ``us_daily_revisions``."""
    return f"{glue_table}_revisions"


def revision_days_table_of(glue_table: str) -> str:
    """The per-day revision statistics' Glue view: ``us_daily`` → ``us_daily_revision_days``."""
    return f"{glue_table}_revision_days"


def revisions_prefix_of(export_prefix: str) -> str:
    """The revision summary's key prefix: ``revisions/`` and the export's, as the history's."""
    return f"revisions/{export_prefix.strip('/')}/"


def national_region(row: Mapping[str, Any]) -> str:
    """``US``: the national totals."""
    return "US"


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
    changed. Each day is formatted once, not once a row (a window has 30 days, 97,000 rows)."""
    days = table["date"].unique()
    month_of = dict(zip(days, pd.to_datetime(days).strftime("%Y-%m"), strict=True))
    return pd.DataFrame(
        {"usps": table["state"].map(USPS_CODES), "month": table["date"].map(month_of).astype(str)},
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


NATIONAL = ServedTable(
    name="national",
    unit="day",
    sources=(NYT, JHU),
    table_asset="merged_daily_table",
    history_asset="merged_daily_history",
    records_asset="dynamodb_records",
    export_asset="athena_export",
    description=(
        "One row per day present in both sources: date, cases and deaths (NYT, int64), "
        "recovered (JHU US, nullable: null where JHU gives no figure, blank or 0 once it "
        "stopped counting on 2020-12-14), sorted by date."
    ),
    key_columns=("date",),
    export_schema=pa.schema(
        [
            pa.field("date", pa.date32(), nullable=False),
            pa.field("cases", pa.int64(), nullable=False),
            pa.field("deaths", pa.int64(), nullable=False),
            # Null where JHU gives no figure (transform.recovered_as_reported).
            pa.field("recovered", pa.int64()),
        ]
    ),
    region_of=national_region,
    region_scheme="'US'",
    load_reads_stored=True,
    glue_table_setting="COVID_GLUE_TABLE",
    glue_table_default="us_daily",
    export_prefix_setting="COVID_S3_PREFIX",
    export_prefix_default="athena/us_daily/",
    upstream_file="us.csv",
)

STATE = ServedTable(
    name="state",
    unit="state-day",
    sources=(NYT_STATES,),
    table_asset="state_daily_table",
    history_asset="state_daily_history",
    records_asset="state_dynamodb_records",
    export_asset="state_athena_export",
    description=(
        "One row per state and day (the 50 states, DC, PR, VI, GU, MP): date, state (as NYT "
        "spells it), fips, cases and deaths (nullable: blank upstream is unknown, not 0)."
    ),
    key_columns=("date", "state"),
    export_schema=pa.schema(
        [
            pa.field("date", pa.date32(), nullable=False),
            pa.field("state", pa.string(), nullable=False),
            pa.field("fips", pa.string()),
            pa.field("cases", pa.int64()),
            pa.field("deaths", pa.int64()),
        ]
    ),
    region_of=state_region,
    region_scheme="'US-<USPS code>' (US-CA, US-PR)",
    glue_table_setting="COVID_GLUE_STATES_TABLE",
    glue_table_default="us_states_daily",
    export_prefix_setting="COVID_S3_STATES_PREFIX",
    export_prefix_default="athena/us_states_daily/",
    upstream_file="us-states.csv",
    level=Level(
        name="state",
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
            against=NYT,
            keys=("date",),
            totals=national_totals,
            totals_label="national NYT total",
            blocking=True,
            description=(
                "On every day, the sum of the states' cases and deaths equals NYT's national "
                "total (us.csv). Blocking: both files come from one NYT commit and agree exactly, "
                "so a mismatch means a partial or mismatched file. It stops the state level's "
                "load and export, and the dashboard that draws them, never the national load "
                "and export."
            ),
        ),
    ),
)

COUNTY = ServedTable(
    name="county",
    unit="county-day",
    sources=(NYT_COUNTIES,),
    table_asset="county_daily_table",
    history_asset="county_daily_history",
    records_asset="county_dynamodb_records",
    export_asset="county_athena_export",
    description=(
        "One row per county and day over NYT's last 30 days: date, state, county (as NYT "
        "spells them), fips (missing for New York City, Kansas City and each state's Unknown), "
        "cases and deaths (nullable: blank upstream is unknown, not 0)."
    ),
    key_columns=("date", "state", "county"),
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
    region_of=county_region,
    region_scheme="'US-<USPS code>-<fips>' (US-CA-06037), or 'US-<USPS code>-<county>' when "
    "the fips is blank (US-NY-New York City)",
    glue_table_setting="COVID_GLUE_COUNTIES_TABLE",
    glue_table_default="us_counties_daily",
    export_prefix_setting="COVID_S3_COUNTIES_PREFIX",
    export_prefix_default="athena/us_counties_daily/",
    upstream_file="us-counties-recent.csv",
    level=Level(
        name="county",
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
            against=NYT_STATES,
            keys=("date", "state"),
            totals=state_totals,
            totals_label="state total",
            blocking=False,
            description=(
                "On every day of the window, the sum of a state's counties equals the state's "
                "total in us-states.csv, except for the known discrepancies (listed with their "
                "reason in the metadata, never failed). A warning, not a block: NYT compiles the "
                "two series separately; each new mismatch is listed with its day and state."
            ),
            known=(
                # Measured on every stock version (2021-03-14 to 2021-03-18): Iowa's counties
                # sum to one case more than its state total on one or two days of each window
                # (2021-02-25 in all, 2021-03-15 or 2021-03-17 in some), and no other state
                # differs. The days move, the state and the size do not.
                KnownDiscrepancy(
                    state="Iowa",
                    column="cases",
                    max_difference=1,
                    reason="NYT compiles Iowa's county and state series separately; on some "
                    "days they differ by one case",
                ),
            ),
        ),
    ),
    # us-counties-recent.csv holds NYT's last 30 days.
    window_days=30,
    export_partitions=state_and_month,
)

TABLES: tuple[ServedTable, ...] = (NATIONAL, STATE, COUNTY)
# The tables below the nation, each made from one NYT file.
LEVELS: tuple[ServedTable, ...] = (STATE, COUNTY)
