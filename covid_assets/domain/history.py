"""Every published version of a served table, kept as an append-only history: plain functions on
DataFrames (no Dagster or AWS).

A history row is a served row (its key and value columns) and ``valid_from``, the publication
time (UTC) of the source version that first carried those values. A version appends one row per
key that is new or whose values changed, so the table "as of" a time T is, for each key, the row
with the greatest ``valid_from`` not after T (``as_of``), and the history grows by what changed.
"""

import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa

from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.sources import Source

VALID_FROM = "valid_from"
# The most revisions a load notice lists.
LISTED_REVISIONS = 5
# What a history's Glue table records of the newest version appended.
NEWEST_PUBLISHED = "covid_assets.newest_published"
NEWEST_SHA256 = "covid_assets.newest_sha256"
NEWEST_OBJECT = "covid_assets.newest_object"
NEWEST_ETAG = "covid_assets.newest_etag"
SOURCE_PUBLISHED = "covid_assets.published."
STAMP = "%Y%m%dT%H%M%S"


def history_asset_of(table_asset: str) -> str:
    """The history asset of a table asset: ``merged_daily_table`` → ``merged_daily_history``."""
    return table_asset.removesuffix("_table") + "_history"


def history_table_of(glue_table: str) -> str:
    """The history's Glue table beside the served one: ``us_daily`` → ``us_daily_history``."""
    return f"{glue_table}_history"


def history_prefix_of(export_prefix: str) -> str:
    """The history's key prefix: ``history/`` and the export's (``athena/us_daily/`` →
    ``history/athena/us_daily/``), away from the export's folders and their clean-up, and
    expressible in the template's IAM policy."""
    return f"history/{export_prefix.strip('/')}/"


@dataclass(frozen=True)
class HistoryOf:
    """The history of one served table: the table asset it records, the sources whose versions
    it stamps each batch with, the table's key columns and served schema, and the settings of the
    served export beside which it is kept (its Glue table and prefix are derived from them)."""

    table_asset: str
    sources: Sequence[Source]
    key_columns: Sequence[str]
    served_schema: pa.Schema
    glue_table_setting: str
    export_prefix_setting: str

    @property
    def asset(self) -> str:
        return history_asset_of(self.table_asset)

    @property
    def value_columns(self) -> list[str]:
        return [name for name in self.served_schema.names if name not in self.key_columns]

    @property
    def sha256_columns(self) -> list[str]:
        """One column per source: the sha256 of the source file of the row's batch."""
        return [f"{source.asset.removesuffix('_raw')}_sha256" for source in self.sources]

    @property
    def schema(self) -> pa.Schema:
        """A history row: the served row, its valid_from, and its batch's source hashes."""
        extra = [pa.field(VALID_FROM, pa.timestamp("ms"), nullable=False)]
        extra += [pa.field(name, pa.string(), nullable=False) for name in self.sha256_columns]
        return pa.schema([*self.served_schema, *extra])


@dataclass(frozen=True)
class PublishedTable:
    """What a history asset hands on to the assets that serve its table: the newest version's
    table, when that version was published (ISO, UTC), and, when the version just seen was
    older than it, why that one is not served."""

    table: pd.DataFrame
    published: str
    stale_reason: str | None = None

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
