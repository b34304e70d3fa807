"""What the exports and the histories share: Parquet files in the bucket, catalogued as Glue
tables (external, their columns those of the files), each table in its place."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from covid_assets.domain.tables import ServedTable
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.s3 import S3BucketResource

GLUE_TYPES = {
    pa.date32(): "date",
    pa.int64(): "bigint",
    pa.string(): "string",
    # A history's valid_from: UTC, without a zone, as Athena's timestamp is.
    pa.timestamp("ms"): "timestamp",
}
ROW_COUNT_PARAMETER = "covid_assets.row_count"


def parquet_bytes(table: pd.DataFrame, schema: pa.Schema) -> bytes:
    """The table as one Parquet file of ``schema`` (a missing count is null, not 0)."""
    arrow_table = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(arrow_table, buffer, compression="snappy")
    return buffer.getvalue()


def glue_columns(schema: pa.Schema) -> list[dict[str, str]]:
    return [
        {"Name": field.name, "Type": GLUE_TYPES.get(field.type, str(field.type))}
        for field in schema
    ]


def storage_descriptor(location: str, schema: pa.Schema) -> dict[str, Any]:
    """Parquet files at ``location`` whose columns are derived from the files' own schema."""
    return {
        "Columns": glue_columns(schema),
        "Location": location,
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            "Parameters": {"serialization.format": "1"},
        },
    }


def external_table_input(
    name: str, storage: dict[str, Any], rows: int | None, recorded: dict[str, str]
) -> dict[str, Any]:
    """An external Parquet table of ``storage``, with its row count (None: not kept) and what
    else the pipeline ``recorded`` in its parameters."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            **({} if rows is None else {ROW_COUNT_PARAMETER: str(rows)}),
            **recorded,
        },
        "StorageDescriptor": storage,
    }


PARTITION = "published_day"


def by_published_day(
    name: str, location: str, schema: pa.Schema, rows: int | None, recorded: dict[str, str]
) -> dict[str, Any]:
    """An external Parquet table of files in Hive partitions of their publication day
    (``published_day=2021-03-17/``), the partitions projected (Athena computes them; none is
    registered): a history, or a revision summary."""
    table = external_table_input(
        name,
        storage_descriptor(location, schema),
        rows,
        {
            **recorded,
            "projection.enabled": "true",
            f"projection.{PARTITION}.type": "date",
            f"projection.{PARTITION}.format": "yyyy-MM-dd",
            f"projection.{PARTITION}.range": "2020-01-01,NOW",
            f"projection.{PARTITION}.interval": "1",
            f"projection.{PARTITION}.interval.unit": "DAYS",
            "storage.location.template": f"{location}{PARTITION}=${{{PARTITION}}}/",
        },
    )
    table["PartitionKeys"] = [{"Name": PARTITION, "Type": "string"}]
    return table


def folder_of(location: str, bucket: str) -> str:
    """The key prefix of an ``s3://bucket/prefix/`` location, as a folder ("x/"), so that a
    sibling folder "x2/" is not taken for part of it."""
    folder = location.removeprefix(f"s3://{bucket}/").strip("/")
    return f"{folder}/" if folder else ""


def is_data_file(key: str) -> bool:
    """Athena skips "folders" and files whose name starts with "_" or "." (e.g. _SUCCESS)."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", "."))


@dataclass(frozen=True)
class CataloguedFiles:
    """A served table's Parquet files under ``root`` in the bucket, and their Glue table
    ``glue_table``: its export, or its history."""

    table: ServedTable
    glue: GlueCatalogResource
    bucket: S3BucketResource
    glue_table: str
    root: str

    @property
    def label(self) -> str:
        return f"{self.glue.database}.{self.glue_table}"

    def current(self) -> dict[str, Any] | None:
        """The Glue table, as this run last read or wrote it (None: there is none)."""
        return self.glue.get_table(self.glue_table)
