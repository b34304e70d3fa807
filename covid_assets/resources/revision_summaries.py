"""A served table's revision summary (``domain.history.version_summary``) in S3 and Glue, and
the Glue view of its per-day revision statistics (``domain.history.revision_days_sql``).

The summary is beside the history: one Parquet object per publication, holding its rows (one
per place), in a Hive partition of its publication day:
``<prefix>published_day=2021-03-17/20210317T071503123Z.parquet``. A version newer than the rest
writes its own object; one older than the newest rewrites its own and the next version's, the
rows it changes. The Glue table projects its partitions, so a write registers nothing. The view
is SQL over the history, so it is never stale and no run maintains it: it is written when its
definition changes.
"""

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from covid_assets.domain.history import (
    PUBLISHED,
    STAMP,
    revision_days_columns,
    revision_days_sql,
    revision_summary_schema,
)
from covid_assets.resources.parquet_tables import (
    PARTITION,
    CataloguedFiles,
    by_published_day,
    is_data_file,
    parquet_bytes,
)

# The types of the view's columns, in the catalogue (Hive) and in Athena's SQL (Presto).
VIEW_TYPES = {pa.date32(): ("date", "date"), pa.string(): ("string", "varchar")}
# What the history's Glue table records of the summary's table and view: their definitions'
# hash, so that a run writes them only when it changes.
REVISION_TABLES_SHA256 = "covid_assets.revision_tables_sha256"


def publication_time(key: str) -> pd.Timestamp:
    """The publication an object holds, from its name."""
    stamp = key.rsplit("/", 1)[-1].removesuffix(".parquet").removesuffix("Z")
    moment = pd.Timestamp(datetime.strptime(stamp[:15], STAMP))
    return moment + pd.Timedelta(milliseconds=int(stamp[15:]))


@dataclass(frozen=True)
class RevisionSummaryStore(CataloguedFiles):
    """One served table's revision summary (its Glue table and objects), the Glue view of its
    per-day statistics (``days_view``), and the history's Glue table the view reads."""

    days_view: str
    history_table: str

    def object_key(self, published: pd.Timestamp) -> str:
        stamp = f"{published:{STAMP}}{published.microsecond // 1000:03d}Z"
        return f"{self.root}{PARTITION}={published.date()}/{stamp}.parquet"

    def write(self, rows: pd.DataFrame) -> list[str]:
        """Write the rows of each publication in ``rows`` as its object; their locations."""
        schema = revision_summary_schema(self.table)
        locations = []
        for published, publication in rows.groupby(PUBLISHED, sort=True):
            key = self.object_key(published)
            body = parquet_bytes(publication[schema.names], schema)
            self.bucket.put(key, body, "application/vnd.apache.parquet")
            locations.append(self.bucket.uri(key))
        return locations

    def read(self, until: pd.Timestamp | None = None) -> pd.DataFrame:
        """The summary's rows, of the publications up to ``until`` (all when None)."""
        keys = [key for key in self.bucket.list_keys(self.root) if is_data_file(key)]
        if until is not None:
            keys = [key for key in keys if publication_time(key) <= until]
        schema = revision_summary_schema(self.table)
        tables = [pq.read_table(io.BytesIO(self.bucket.get(key))) for key in keys]
        arrow = pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()
        return arrow.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    def table_input(self) -> dict[str, Any]:
        """The summary's Glue table: its Parquet files partitioned by publication day."""
        location = self.bucket.uri(self.root)
        schema = revision_summary_schema(self.table)
        return by_published_day(self.glue_table, location, schema, None, {})

    def view_input(self) -> dict[str, Any]:
        """The per-day statistics' Glue view, as Athena writes one for ``CREATE VIEW``: its SQL
        and columns, base64 in a comment Athena reads (and the catalogue's columns beside)."""
        key_types = {
            name: VIEW_TYPES[self.table.export_schema.field(name).type]
            for name in self.table.key_columns
        }
        types = [
            key_types.get(name, ("bigint", "bigint")) for name in revision_days_columns(self.table)
        ]
        names = revision_days_columns(self.table)
        sql = revision_days_sql(f'"{self.glue.database}"."{self.history_table}"', self.table)
        presto = {
            "originalSql": sql,
            "catalog": "awsdatacatalog",
            "schema": self.glue.database,
            "columns": [
                {"name": name, "type": presto_type}
                for name, (_, presto_type) in zip(names, types, strict=True)
            ],
        }
        encoded = base64.b64encode(json.dumps(presto).encode()).decode("ascii")
        return {
            "Name": self.days_view,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true", "comment": "Presto View"},
            "ViewOriginalText": f"/* Presto View: {encoded} */",
            "ViewExpandedText": "/* Presto View */",
            "StorageDescriptor": {
                "Columns": [
                    {"Name": name, "Type": hive}
                    for name, (hive, _) in zip(names, types, strict=True)
                ],
                "SerdeInfo": {},
            },
        }

    def tables_sha256(self) -> str:
        """The hash of the summary's table and view definitions."""
        inputs = json.dumps([self.table_input(), self.view_input()], sort_keys=True)
        return hashlib.sha256(inputs.encode()).hexdigest()

    def put_tables(self) -> None:
        self.glue.put_table(self.table_input())
        self.glue.put_table(self.view_input())


def view_sql(view: dict[str, Any]) -> str:
    """The SQL of a Glue view written by ``view_input``."""
    encoded = view["ViewOriginalText"].removeprefix("/* Presto View: ").removesuffix(" */")
    return json.loads(base64.b64decode(encoded))["originalSql"]
