"""Every published version of a served table, kept as an append-only history: plain functions on
DataFrames (no Dagster or AWS).

A history row is a served row (its key and value columns) and ``valid_from``, the publication
time (UTC) of the source version that first carried those values. A version appends one row per
key that is new or whose values changed, so the table "as of" a time T is, for each key, the row
with the greatest ``valid_from`` not after T (``as_of``), and the history grows by what changed.

Beside the rows, a history keeps its revisions (``revision_rows``): per version and per date it
revised, how many keys it changed and by how much. A new version adds its own
(``version_revisions``), so what the dashboard reads does not grow with the versions read.
"""

import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

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
REVISED_KEYS = "revised_keys"


def sha256_columns(table: ServedTable) -> list[str]:
    """One column per source of the table: the sha256 of the source file of the row's batch
    (``nyt_sha256``, ``jhu_sha256``, ``nyt_states_sha256``...)."""
    return [f"{source.asset.removesuffix('_raw')}_sha256" for source in table.sources]


def history_schema(table: ServedTable) -> pa.Schema:
    """A history row: the served row, its valid_from, and its batch's source hashes."""
    extra = [pa.field(VALID_FROM, pa.timestamp("ms"), nullable=False)]
    extra += [pa.field(name, pa.string(), nullable=False) for name in sha256_columns(table)]
    return pa.schema([*table.export_schema, *extra])


def revision_columns(table: ServedTable) -> list[str]:
    """The columns of a table's revisions: the version, the date revised, the keys of that date
    it changed, and per count the total absolute change (``cases_change``)."""
    return [VALID_FROM, "date", REVISED_KEYS, *(f"{c}_change" for c in table.count_columns)]


def no_revisions(table: ServedTable) -> pd.DataFrame:
    return pd.DataFrame(columns=revision_columns(table))


@dataclass(frozen=True)
class PublishedTable:
    """What a history asset hands on to the assets that serve its table: the newest version's
    table, when that version was published (ISO, UTC), when the version just seen was older
    than it, why that one is not served, and the history's revisions (``revision_rows``)."""

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


def _changes(new: pd.DataFrame, old: pd.DataFrame, columns: Sequence[str]) -> dict[str, pd.Series]:
    """Per count, the absolute change from ``old`` to ``new`` (row by row); unknown where
    either is unknown."""
    return {
        f"{column}_change": (new[column].astype("float64") - old[column].astype("float64")).abs()
        for column in columns
    }


def _per_date(
    revised: pd.DataFrame, versions: Sequence[pd.Timestamp], table: ServedTable
) -> pd.DataFrame:
    """Revised rows (a row per key, with its changes) summed per version and date, and a row
    with no date for each of ``versions`` (those that appended rows) that revised nothing."""
    changes = [f"{column}_change" for column in table.count_columns]
    grouped = revised.groupby([VALID_FROM, "date"], sort=True)
    summed = grouped[changes].sum().astype("int64")
    summed.insert(0, REVISED_KEYS, grouped.size())
    summed = summed.reset_index()
    quiet = sorted(set(versions) - set(summed[VALID_FROM]))
    if quiet:
        nothing = pd.DataFrame({VALID_FROM: quiet, "date": None, REVISED_KEYS: 0})
        summed = pd.concat([summed, nothing.assign(**dict.fromkeys(changes, 0))])
    if summed.empty:
        return no_revisions(table)
    return summed.sort_values(VALID_FROM, kind="stable", ignore_index=True)[revision_columns(table)]


def revision_rows(history: pd.DataFrame, table: ServedTable) -> pd.DataFrame:
    """A history's revisions: per version (``valid_from``) and date, how many keys of that date
    the version revised (a key it carried that already had an earlier row) and the total
    absolute change of each count, each revision measured from the key's value just before it;
    a version that appended rows but revised none has one row with no date. A key new in the
    history is no revision; an unknown count changes nothing."""
    keys = list(table.key_columns)
    rows = history.sort_values(VALID_FROM, kind="stable", ignore_index=True)
    earlier = rows.groupby(keys, sort=False)[table.count_columns].shift()
    revised = rows.groupby(keys, sort=False).cumcount() > 0
    changes = _changes(rows, earlier, table.count_columns)
    frame = pd.DataFrame({VALID_FROM: rows[VALID_FROM], "date": rows["date"], **changes})
    return _per_date(frame[revised.to_numpy()], rows[VALID_FROM].unique(), table)


def version_revisions(
    before: pd.DataFrame | None, added: pd.DataFrame, valid_from: pd.Timestamp, table: ServedTable
) -> pd.DataFrame:
    """The revisions of a version newer than every other: of the rows it ``added``, those whose
    key ``before`` (the newest version's table) already had, measured from that table's
    values. What ``revision_rows`` gives these rows once they are in the history."""
    if added.empty:
        return no_revisions(table)
    keys = list(table.key_columns)
    counts = table.count_columns
    old = (before if before is not None else added.head(0))[keys + counts]
    both = added[keys + counts].merge(old, on=keys, suffixes=("", "\0"))
    earlier = both[[f"{c}\0" for c in counts]].set_axis(counts, axis=1)
    changes = _changes(both, earlier, counts)
    frame = pd.DataFrame({VALID_FROM: valid_from, "date": both["date"], **changes})
    return _per_date(frame, [valid_from], table)


def with_revisions(revisions: pd.DataFrame, added: pd.DataFrame) -> pd.DataFrame:
    """A history's revisions with a newer version's added."""
    frames = [frame for frame in (revisions, added) if not frame.empty]
    if len(frames) < 2:
        return frames[0] if frames else revisions
    return pd.concat(frames, ignore_index=True)
