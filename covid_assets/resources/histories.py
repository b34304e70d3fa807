"""A served table's history (``domain.history``) in S3 and Glue.

Each appended version is one Parquet object, never rewritten, in a Hive partition of its
publication day: ``<prefix>published_day=2021-03-17/20210317T071503Z-<source hashes>.parquet``.
The Glue table finds the partitions by Athena's partition projection, so an append registers
nothing: it is one PutObject and one UpdateTable, whose parameters record the newest version
appended (its publication time per source, the hash of its table and of the history's
revisions, and its object). One day, or a month, of publications is read alone by filtering on
``published_day``.
"""

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from covid_assets.domain.history import (
    NEWEST_ETAG,
    NEWEST_OBJECT,
    NEWEST_PUBLISHED,
    NEWEST_SHA256,
    REVISIONS_SHA256,
    SOURCE_PUBLISHED,
    STAMP,
    Version,
    as_of,
    as_of_sql,
    history_schema,
    iso,
    revision_summary,
    sha256_columns,
    utc_timestamp,
)
from covid_assets.domain.tables import ServedTable
from covid_assets.resources.parquet_tables import (
    PARTITION,
    ROW_COUNT_PARAMETER,
    CataloguedFiles,
    by_published_day,
    is_data_file,
    parquet_bytes,
)
from covid_assets.resources.revision_summaries import (
    REVISION_TABLES_SHA256,
    RevisionSummaryStore,
)

VERSIONS = "covid_assets.versions"


def version_time(key: str) -> pd.Timestamp:
    """The publication time of the version an object holds, from its name."""
    stamp = key.rsplit("/", 1)[-1].split("-", 1)[0].removesuffix("Z")
    return pd.Timestamp(datetime.strptime(stamp[:15], STAMP)) + pd.Timedelta(
        milliseconds=int(stamp[15:] or 0)
    )


@dataclass(frozen=True)
class StoredHistory:
    """Every row of a history (or those up to a time), and the publication time of every
    version it holds (one per object, also for a version that changed nothing)."""

    rows: pd.DataFrame
    version_times: list[pd.Timestamp]

    def newest_rows(self, table: ServedTable) -> pd.DataFrame:
        """Every key's row as of the newest version, in ``table``'s columns: for a window, also
        the keys that have left it, as last seen."""
        return as_of(self.rows, max(self.version_times), table.key_columns)[table.columns]


@dataclass(frozen=True)
class Newest:
    """What an append records: the hash of the history's revisions after it, and the hash of
    the version's table when the version becomes the newest (None: it is older than the
    newest, which stays recorded)."""

    table_sha256: str | None
    revisions_sha256: str


@dataclass(frozen=True)
class Appended:
    """Where an appended version's object is, the history's row count after it, and the Glue
    table as the append left it."""

    location: str
    total_rows: int
    current: dict[str, Any]


@dataclass(frozen=True)
class HistoryStore(CataloguedFiles):
    """One served table's history (its Glue table and its objects) and its revision summary,
    which each append keeps up to date."""

    summaries: RevisionSummaryStore

    def object_key(self, version: Version) -> str:
        return f"{self.root}{PARTITION}={version.valid_from.date()}/{version.object_name()}"

    @staticmethod
    def parameters(current: dict[str, Any] | None) -> dict[str, str]:
        return {} if current is None else current.get("Parameters", {})

    def newest_problem(self, current: dict[str, Any] | None) -> str | None:
        """Why the history's files are not those its Glue table records, or None when they
        are: the newest version's object is the one appended, and no object was appended after
        it without being recorded (one List from the newest version's day on)."""
        recorded = self.parameters(current)
        key = recorded.get(NEWEST_OBJECT)
        if not key:
            return "the Glue table records no newest version"
        day_folder = key.rsplit("/", 1)[0] + "/"
        listed = self.bucket.list_objects(self.root, start_after=day_folder)
        etag = next((entry.etag for entry in listed if entry.key == key), None)
        if etag != recorded.get(NEWEST_ETAG):
            return f"{self.bucket.uri(key)} is not the object the history recorded"
        later = next((entry.key for entry in listed if entry.key > key), None)
        if later is not None:
            return f"{self.bucket.uri(later)} was appended after the newest recorded version"
        return None

    def keys(self) -> list[str]:
        """The objects of every version, in order."""
        return [key for key in self.bucket.list_keys(self.root) if is_data_file(key)]

    def read(self, until: pd.Timestamp | None = None) -> StoredHistory:
        """The rows (and version times) of every version published up to ``until`` (all when
        None)."""
        keys = self.keys()
        if until is not None:
            keys = [key for key in keys if version_time(key) <= until]
        tables = [pq.read_table(io.BytesIO(self.bucket.get(key))) for key in keys]
        schema = history_schema(self.table)
        # Each cast first: a version written before a column became nullable differs in that.
        arrow = (
            pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()
        )
        rows = arrow.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        return StoredHistory(rows, sorted({version_time(key) for key in keys}))

    def append(
        self,
        current: dict[str, Any] | None,
        rows: pd.DataFrame,
        version: Version,
        newest: Newest,
        summary_rows: pd.DataFrame,
    ) -> Appended:
        """Write the version's rows as one new object and record it in the Glue table (one
        UpdateTable; the table is created the first time), and the revision summary's rows it
        changes (an object per publication). When the summary's table and view definitions are
        not those recorded (a history older than its summary, or a new definition), they are
        written, and so is every publication of the summary: recomputed from the history's
        files, but for a new history, whose summary is the version's rows."""
        schema = history_schema(self.table)
        hashes = dict(zip(sha256_columns(self.table), version.sources, strict=True))
        stamped = rows.assign(**{name: source.sha256 for name, source in hashes.items()})
        key = self.object_key(version)
        etag = self.bucket.put(
            key, parquet_bytes(stamped[schema.names], schema), "application/vnd.apache.parquet"
        )
        recorded = {
            name: value
            for name, value in self.parameters(current).items()
            if name.startswith("covid_assets.")
        }
        total = int(recorded.get(ROW_COUNT_PARAMETER, 0)) + len(rows)
        recorded[VERSIONS] = str(int(recorded.get(VERSIONS, 0)) + 1)
        recorded[REVISIONS_SHA256] = newest.revisions_sha256
        definitions = self.summaries.tables_sha256()
        if recorded.get(REVISION_TABLES_SHA256) != definitions:
            if current is not None:
                stored = self.read()
                summary_rows = revision_summary(stored.rows, stored.version_times, self.table)
            self.summaries.write(summary_rows)
            self.summaries.put_tables()
            recorded[REVISION_TABLES_SHA256] = definitions
        else:
            self.summaries.write(summary_rows)
        if newest.table_sha256 is not None:
            recorded |= {
                NEWEST_PUBLISHED: iso(version.published),
                NEWEST_SHA256: newest.table_sha256,
                NEWEST_OBJECT: key,
                NEWEST_ETAG: etag,
                **{SOURCE_PUBLISHED + s.asset: iso(s.published) for s in version.sources},
            }
        table_input = self.table_input(total, recorded)
        self.glue.put_table(table_input)
        return Appended(self.bucket.uri(key), total, table_input)

    def table_input(self, rows: int, recorded: dict[str, str]) -> dict[str, Any]:
        """The history's Glue table: its Parquet files partitioned by publication day."""
        location = self.bucket.uri(self.root)
        return by_published_day(
            self.glue_table, location, history_schema(self.table), rows, recorded
        )

    def as_of(self, moment: datetime) -> pd.DataFrame:
        """The served table as it was at ``moment``: the history's as-of SQL (``history``), run
        by DuckDB over the files of the versions published until then."""
        until = utc_timestamp(moment)
        sql = as_of_sql("history", self.table.key_columns, self.table.value_columns, f"{until}")
        with duckdb.connect() as connection:
            connection.register("history", self.read(until).rows)
            return connection.sql(sql).df()
