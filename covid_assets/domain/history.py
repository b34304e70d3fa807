"""Every published version of a served table, kept as an append-only history: plain functions on
DataFrames (no Dagster or AWS).

A history row is a served row (its key and value columns) and ``valid_from``, the publication
time (UTC) of the source version that first carried those values. A version appends one row per
key that is new or whose values changed, so the table "as of" a time T is, for each key, the row
with the greatest ``valid_from`` not after T (``as_of``), and the history grows by what changed.

Beside the rows, a history has its revision summary (``version_summary``): per publication and
per place (the key above the day), how many days it revised and added, and per count its net
change, the change of the cumulative count on the latest day both it and the version before
hold. A revision of a cumulative count carries into every later day, so summing the changes of
the days revised would count one adjustment once per later day; the latest common day's change
is what the revision added or removed. The summary's rows are stored per publication; what a
history hands on, and keeps, is their totals per publication (``publication_totals``), a row
per version whatever the number of places, so that a day costs its own work at every level.
Per place and day, the statistics of its revisions in the manner of epiprocess's
``revision_summary`` are SQL over the history (``revision_days_sql``).
"""

import bisect
import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa

from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.tables import ServedTable

VALID_FROM = "valid_from"
# The most revisions a load notice lists.
LISTED_REVISIONS = 5
# What a history's Glue table records of the newest version appended.
NEWEST_PUBLISHED = "covid_assets.newest_published"
NEWEST_SHA256 = "covid_assets.newest_sha256"
NEWEST_OBJECT = "covid_assets.newest_object"
NEWEST_ETAG = "covid_assets.newest_etag"
REVISIONS_SHA256 = "covid_assets.revisions_sha256"
SOURCE_PUBLISHED = "covid_assets.published."
STAMP = "%Y%m%dT%H%M%S"
PUBLISHED = "published"
DAYS_REVISED = "days_revised"
DAYS_ADDED = "days_added"
# A value is near its latest once within this share of it (epiprocess's ``within_latest``).
NEAR_LATEST = 0.2


def sha256_columns(table: ServedTable) -> list[str]:
    """One column per source of the table: the sha256 of the source file of the row's batch
    (``nyt_sha256``, ``jhu_sha256``, ``nyt_states_sha256``...)."""
    return [f"{source.asset.removesuffix('_raw')}_sha256" for source in table.sources]


def history_schema(table: ServedTable) -> pa.Schema:
    """A history row: the served row, its valid_from, and its batch's source hashes."""
    extra = [pa.field(VALID_FROM, pa.timestamp("ms"), nullable=False)]
    extra += [pa.field(name, pa.string(), nullable=False) for name in sha256_columns(table)]
    return pa.schema([*table.export_schema, *extra])


@dataclass(frozen=True)
class PublishedTable:
    """What a history asset hands on to the assets that serve its table: the newest version's
    table, when that version was published (ISO, UTC), when the version just seen was older
    than it, why that one is not served, and the history's revisions: the totals of its
    revision summary per publication (``publication_totals``)."""

    table: pd.DataFrame
    published: str
    stale_reason: str | None = None
    revisions: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def metadata(self) -> dict[str, str]:
        """What a serving asset says of the version it serves."""
        return {"published": self.published, "stale_version": self.stale_reason or ""}


def published_time(last_modified: str | None) -> datetime | None:
    """When a file was published, as an aware UTC time: from an HTTP date (a server's
    Last-Modified, ``Wed, 17 Mar 2021 07:15:03 GMT``) or an ISO time (a local file's
    modification time, to the microsecond); None when there is none or it cannot be read."""
    if not last_modified:
        return None
    try:
        return datetime.fromisoformat(last_modified).astimezone(UTC)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(last_modified).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def utc_timestamp(moment: datetime) -> pd.Timestamp:
    """A history time: UTC, without a zone (Parquet's and Athena's plain ``timestamp``), in ms."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.floor("ms")


@dataclass(frozen=True)
class SourceVersion:
    """One source file of a version: when it was published, how that is known, and its hash."""

    asset: str
    published: datetime
    published_from: str
    sha256: str


@dataclass(frozen=True)
class Version:
    """The source files a table was built from. It was published when its last file was."""

    sources: tuple[SourceVersion, ...]

    @property
    def published(self) -> datetime:
        return max(source.published for source in self.sources)

    @property
    def valid_from(self) -> pd.Timestamp:
        return utc_timestamp(self.published)

    def object_name(self) -> str:
        """``20210317T071503123Z-<first 12 hex of each source's sha256>.parquet``: in time order
        within a partition, and one name per version."""
        stamp = self.valid_from
        hashes = "-".join(source.sha256[:12] for source in self.sources)
        return f"{stamp:{STAMP}}{stamp.microsecond // 1000:03d}Z-{hashes}.parquet"


def iso(moment: datetime | pd.Timestamp) -> str:
    return pd.Timestamp(moment).tz_localize(None).isoformat(timespec="milliseconds") + "Z"


def from_iso(text: str) -> pd.Timestamp:
    return pd.Timestamp(text.removesuffix("Z"))


def source_version(raw: RawSourceFile, asset: str, fallback: datetime) -> SourceVersion:
    """When the source published the file: its Last-Modified over HTTP, else the file's
    modification time, else ``fallback`` (the run's start)."""
    published = published_time(raw.last_modified)
    how = "Last-Modified" if urlparse(raw.url).scheme in ("http", "https") else "file time"
    if published is None:
        published, how = fallback, "run start"
    return SourceVersion(asset, published, how, hashlib.sha256(raw.content).hexdigest())


def stale_reason(glue_table: dict[str, Any] | None, version: Version) -> str | None:
    """Why ``version`` is older than the newest one in the history whose Glue table this is (a
    source file published before the one the newest version was built from), or None when it
    is not."""
    recorded = {} if glue_table is None else glue_table.get("Parameters", {})
    for source in version.sources:
        newest = recorded.get(SOURCE_PUBLISHED + source.asset)
        if newest and utc_timestamp(source.published) < from_iso(newest):
            return (
                f"{source.asset} was published at {iso(source.published)}, before the "
                f"{newest} file of the newest version in the history"
            )
    return None


def _same(left: pd.Series, right: pd.Series) -> pd.Series:
    """Element-wise equality in which two missing values are equal."""
    equal = (left == right).astype("boolean").fillna(False).astype(bool)
    return equal | (left.isna() & right.isna()).to_numpy()


def changed_rows(
    before: pd.DataFrame | None, after: pd.DataFrame, key_columns: Sequence[str]
) -> pd.DataFrame:
    """The rows of ``after`` whose key ``before`` lacks or holds with other values."""
    if before is None or before.empty:
        return after.copy()
    keys = list(key_columns)
    values = [column for column in after.columns if column not in keys]
    old = before[keys + values].rename(columns={column: f"{column}\0" for column in values})
    merged = after.reset_index(drop=True).merge(old, on=keys, how="left", indicator=True)
    unchanged = (merged["_merge"] == "both").to_numpy()
    for column in values:
        unchanged = unchanged & _same(merged[column], merged[f"{column}\0"]).to_numpy()
    return after.reset_index(drop=True)[~unchanged].reset_index(drop=True)


def as_of(history: pd.DataFrame, moment: pd.Timestamp, key_columns: Sequence[str]) -> pd.DataFrame:
    """For each key, the row with the greatest ``valid_from`` not after ``moment``, by key."""
    keys = list(key_columns)
    rows = history[history[VALID_FROM] <= moment]
    rows = rows.sort_values(VALID_FROM, kind="stable").drop_duplicates(keys, keep="last")
    return rows.sort_values(keys, kind="stable").reset_index(drop=True)


def version_rows(
    history: pd.DataFrame,
    table: pd.DataFrame,
    published: pd.Timestamp,
    version_times: Sequence[pd.Timestamp],
    key_columns: Sequence[str],
) -> pd.DataFrame:
    """What a version published at ``published`` adds to ``history`` (rows with their
    ``valid_from``), so that "as of" that time gives the version's table and "as of" every other
    version's time (``version_times``, those already in the history) gives what it gave before.

    A version newer than all others adds its new and changed rows. One older than the newest (a
    stale copy, a version loaded late) adds its rows that differ from the history at its time;
    each such key also gets its earlier value again at the next version's time, where the
    history had no row of its own for it, so that later versions still read as they did. A key
    the version lacks is not removed: as in the served tables, a key is kept as last seen."""
    keys = list(key_columns)
    before = as_of(history, published, keys).drop(columns=VALID_FROM)
    added = changed_rows(before, table, keys).assign(**{VALID_FROM: published})
    later = sorted(time for time in version_times if time > published)
    if not later or added.empty:
        return added
    next_version = later[0]
    # Keys whose history has a row of its own after this version and up to the next one.
    rows_after = history[(history[VALID_FROM] > published) & (history[VALID_FROM] <= next_version)]
    kept = before.merge(added[keys], on=keys).merge(
        rows_after[keys].drop_duplicates(), on=keys, how="left", indicator=True
    )
    restored = kept[kept["_merge"] == "left_only"].drop(columns="_merge")
    restored = restored.assign(**{VALID_FROM: next_version})
    return pd.concat([added, restored[added.columns]], ignore_index=True)


@dataclass(frozen=True)
class Revision:
    """One value of one past row changed by a version."""

    key: str
    field: str
    old: Any
    new: Any

    @property
    def size(self) -> float:
        try:
            return abs(float(self.new) - float(self.old))
        except (TypeError, ValueError):
            return float("inf")

    def __str__(self) -> str:
        def shown(value: Any) -> str:
            # Counts read back from DynamoDB are Decimals.
            if isinstance(value, numbers.Number):
                return f"{value:,}"
            return "blank" if value is None else str(value)

        return f"{self.key} {self.field}: {shown(self.old)} → {shown(self.new)}"


def largest_revisions(
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    fields: Sequence[str],
    key_of: Any,
    limit: int = LISTED_REVISIONS,
) -> list[Revision]:
    """The ``limit`` largest changes among (stored, revised) item pairs: per item and field, the
    old and new values, largest absolute change first (a value gained or lost counts as
    largest), then by key."""
    revisions = [
        Revision(key_of(new), field, old.get(field), new.get(field))
        for old, new in pairs
        for field in fields
        if old.get(field) != new.get(field)
    ]
    return largest(revisions, limit)


def largest(revisions: Sequence[Revision], limit: int = LISTED_REVISIONS) -> list[Revision]:
    """The ``limit`` largest revisions, largest absolute change first, then by key."""
    return sorted(revisions, key=lambda revision: (-revision.size, revision.key))[:limit]


def as_of_sql(table: str, key_columns: Sequence[str], value_columns: Sequence[str], at: str) -> str:
    """The served table as of ``at`` (``YYYY-MM-DD HH:MM:SS``, UTC) from its history, in
    Athena's SQL (which DuckDB also runs): per key, the row with the greatest valid_from."""
    keys = ", ".join(f'"{column}"' for column in key_columns)
    columns = ", ".join([keys, *(f'"{column}"' for column in value_columns), VALID_FROM])
    return (
        f"SELECT {columns}\n"
        "FROM (\n"
        f"  SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY {VALID_FROM} DESC)"
        " AS newest\n"
        f"  FROM {table}\n"
        f"  WHERE {VALID_FROM} <= TIMESTAMP '{at}'\n"
        ")\n"
        "WHERE newest = 1\n"
        f"ORDER BY {keys}"
    )


def place_columns(table: ServedTable) -> list[str]:
    """The level's keys above the day: none for the nation, ``state``, ``state`` and
    ``county``."""
    return [column for column in table.key_columns if column != "date"]


def net_change_columns(table: ServedTable) -> list[str]:
    return [f"{column}_net_change" for column in table.count_columns]


def revision_summary_schema(table: ServedTable) -> pa.Schema:
    """A row of a table's revision summary: the publication, the place (and its ``fips`` when
    the table has one), the days it revised and added, and per count the net change (null:
    unknown, as for a first version, a new place or a blank count)."""
    carried = [*place_columns(table), *(["fips"] if "fips" in table.value_columns else [])]
    return pa.schema(
        [
            pa.field(PUBLISHED, pa.timestamp("ms"), nullable=False),
            *(table.export_schema.field(column) for column in carried),
            pa.field(DAYS_REVISED, pa.int64(), nullable=False),
            pa.field(DAYS_ADDED, pa.int64(), nullable=False),
            *(pa.field(column, pa.int64()) for column in net_change_columns(table)),
        ]
    )


def no_revisions(table: ServedTable) -> pd.DataFrame:
    return pd.DataFrame(columns=revision_summary_schema(table).names)


def _last_per_place(codes: np.ndarray, rows: np.ndarray, places: int) -> np.ndarray:
    """Per place (code), the last of ``rows`` (positions) that is of it; -1 for none."""
    last = np.full(places, -1)
    np.maximum.at(last, codes[rows], rows)
    return last


def version_summary(
    before: pd.DataFrame | None, after: pd.DataFrame, published: pd.Timestamp, table: ServedTable
) -> pd.DataFrame:
    """The revision summary of the version ``after`` (a table), published at ``published``,
    against the version before it (``before``; None: there was none): per place of the
    version, ``days_revised`` (days both hold whose values differ), ``days_added`` (days only
    it holds), and per count its net change, the change of the count on the latest day both
    hold (null: no such day, or the count unknown on it in either)."""
    values, places, counts = table.value_columns, place_columns(table), table.count_columns
    # In order of place, then date: a place's last row is its latest day.
    order = [*places, "date"]
    new = after.set_index(order)[values].sort_index()
    previous = (after.head(0) if before is None else before).set_index(order)[values]
    held = new.index.isin(previous.index)
    old = previous.reindex(new.index)

    def cells(frame: pd.DataFrame, column: str) -> np.ndarray:
        if column in counts:
            return frame[column].to_numpy(dtype="float64", na_value=np.nan)
        return frame[column].to_numpy(dtype=object, na_value=None)

    same = held.copy()
    differences = {}
    for column in values:
        left, right = cells(new, column), cells(old, column)
        same &= (left == right) | (pd.isna(left) & pd.isna(right))
        if column in counts:
            differences[column] = left - right
    if places:
        codes, names = pd.factorize(new.index.droplevel("date"))
        place_frame = names.to_frame(index=False).set_axis(places, axis=1)
    else:
        codes, place_frame = np.zeros(len(new), dtype=np.intp), pd.DataFrame(index=[0])
    count = len(place_frame)
    rows = np.arange(len(new))
    latest_common = _last_per_place(codes, rows[held], count)
    summary = place_frame.assign(
        **{
            PUBLISHED: published,
            DAYS_REVISED: np.bincount(codes[held & ~same], minlength=count),
            DAYS_ADDED: np.bincount(codes[~held], minlength=count),
        },
        **{
            f"{column}_net_change": pd.array(
                np.where(latest_common >= 0, differences[column][latest_common], np.nan),
                dtype="Int64",
            )
            for column in counts
        },
    )
    schema = revision_summary_schema(table)
    if "fips" in schema.names:
        fips = cells(new, "fips")
        latest_fips = _last_per_place(codes, rows[~pd.isna(fips)], count)
        summary["fips"] = np.where(latest_fips >= 0, fips[latest_fips], None)
    return summary.sort_values(places or PUBLISHED, ignore_index=True)[schema.names]


def totals_columns(table: ServedTable) -> list[str]:
    """The columns of a revision summary's totals per publication (``publication_totals``)."""
    return [PUBLISHED, DAYS_REVISED, DAYS_ADDED, *net_change_columns(table)]


def publication_totals(summary: pd.DataFrame, table: ServedTable) -> pd.DataFrame:
    """A revision summary's totals per publication, in order of publication: the days revised
    and added and each count's net change, summed over the publication's places (a net change
    unknown in every place stays unknown). The nation has one place: its totals are its
    summary."""
    summed = totals_columns(table)[1:]
    totals = summary.groupby(PUBLISHED, sort=True)[summed].sum(min_count=1).reset_index()
    return totals.astype({column: "Int64" for column in net_change_columns(table)})


def with_totals(totals: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Totals per publication with those of the publications in ``rows`` (totals too) replaced
    or added, in order of publication."""
    if rows.empty:
        return totals
    kept = totals[~totals[PUBLISHED].isin(rows[PUBLISHED])]
    combined = rows if kept.empty else pd.concat([kept, rows], ignore_index=True)
    return combined.sort_values(PUBLISHED, kind="stable", ignore_index=True)


def revision_summary(
    history: pd.DataFrame,
    version_times: Sequence[pd.Timestamp],
    table: ServedTable,
    publications: Sequence[pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """A history's revision summary, each version against the one before it, both as the
    history gives them ("as of" their times): of every version, or only of ``publications``
    (a version loaded out of order and the next one), so that its cost is theirs."""
    keys, times = list(table.key_columns), sorted(version_times)

    def table_at(time: pd.Timestamp) -> pd.DataFrame:
        return as_of(history, time, keys)[table.columns]

    summaries = []
    # The last table read, which is the next publication's "before" when they follow.
    last: tuple[pd.Timestamp | None, pd.DataFrame | None] = (None, None)
    for time in sorted(times if publications is None else publications):
        position, before = bisect.bisect_left(times, time), None
        if position:
            earlier = times[position - 1]
            before = last[1] if last[0] == earlier else table_at(earlier)
        after = table_at(time)
        if not after.empty:
            summaries.append(version_summary(before, after, time, table))
        last = (time, after)
    if not summaries:
        return no_revisions(table)
    return pd.concat(summaries, ignore_index=True)


def revision_days_columns(table: ServedTable) -> list[str]:
    """The columns of the per-day statistics (``revision_days_sql``)."""
    per_count = [
        f"{column}_{statistic}"
        for column in table.count_columns
        for statistic in ("lag_near_latest", "spread")
    ]
    return [*table.key_columns, "revisions", "min_lag", "max_lag", *per_count]


def revision_days_sql(history_table: str, table: ServedTable) -> str:
    """Per place and day, the statistics of its revisions in the manner of epiprocess's
    ``revision_summary``, from the history ``history_table`` in Athena's SQL (which DuckDB
    also runs): ``revisions``, how many later versions changed the day's row; ``min_lag`` and
    ``max_lag``, the days from the day to the publications that revised it; per count the
    lag of the first publication from which on the count stayed within 20% of its latest
    (``cases_lag_near_latest``: null when the latest is unknown) and the spread of its values
    (``cases_spread``, largest less smallest)."""
    keys = ", ".join(f'"{column}"' for column in table.key_columns)
    counts = [f'"{column}"' for column in table.count_columns]
    window = f"PARTITION BY {keys} ORDER BY {VALID_FROM}"
    latest = ",\n    ".join(
        f"last_value({count}) OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED "
        f'FOLLOWING) AS "latest_{name}"'
        for count, name in zip(counts, table.count_columns, strict=True)
    )
    last_far = ",\n    ".join(
        f'max(CASE WHEN NOT coalesce(abs({count} - "latest_{name}") <= {NEAR_LATEST} * '
        f'abs("latest_{name}"), false) THEN {VALID_FROM} END) OVER (PARTITION BY {keys}) '
        f'AS "far_{name}"'
        for count, name in zip(counts, table.count_columns, strict=True)
    )
    statistics = ",\n  ".join(
        f'min(CASE WHEN "far_{name}" IS NULL OR {VALID_FROM} > "far_{name}" THEN lag END) '
        f'AS "{name}_lag_near_latest",\n  max({count}) - min({count}) AS "{name}_spread"'
        for count, name in zip(counts, table.count_columns, strict=True)
    )
    return (
        "WITH versions AS (\n"
        f"  SELECT {keys}, {', '.join(counts)}, {VALID_FROM},\n"
        f"    date_diff('day', \"date\", CAST({VALID_FROM} AS date)) AS lag,\n"
        f"    row_number() OVER ({window}) AS nth,\n"
        f"    {latest}\n"
        f"  FROM {history_table}\n"
        "), settled AS (\n"
        "  SELECT *,\n"
        f"    {last_far}\n"
        "  FROM versions\n"
        ")\n"
        f"SELECT {keys},\n"
        "  count(*) - 1 AS revisions,\n"
        "  min(CASE WHEN nth > 1 THEN lag END) AS min_lag,\n"
        "  max(CASE WHEN nth > 1 THEN lag END) AS max_lag,\n"
        f"  {statistics}\n"
        "FROM settled\n"
        f"GROUP BY {keys}"
    )
