"""Reading an export the way Athena does: the Glue table's columns and location, then every data
file at that location. The export's checks, the dashboard and the tests all read it this way, so
what they see is what a query of the table would see."""

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.s3 import S3BucketResource


class ExportUnreadableError(RuntimeError):
    """The Glue table is missing, lacks a column asked for, or has no data files."""


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
class ExportedFile:
    uri: str
    content: bytes

    @functools.cached_property
    def footer(self) -> pq.FileMetaData:
        """The Parquet footer: the file's schema and row count, without reading its data."""
        return pq.read_metadata(pa.BufferReader(self.content))


@dataclass(frozen=True)
class GlueExport:
    """A Glue table and the data files at its location."""

    table_name: str
    location: str
    columns: list[dict[str, str]]
    parameters: dict[str, str]
    files: list[ExportedFile]

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Every data file as one table of ``columns`` (by default the Glue table's), which the
        Glue table must declare."""
        declared = [column["Name"] for column in self.columns]
        wanted = declared if columns is None else list(columns)
        missing = [column for column in wanted if column not in declared]
        if missing:
            raise ExportUnreadableError(f"Glue table {self.table_name} has no column(s) {missing}")
        if not self.files:
            raise ExportUnreadableError(f"no data files at {self.location}")
        return pa.concat_tables(
            pq.read_table(io.BytesIO(file.content), columns=wanted) for file in self.files
        )


def read_glue_export(glue: GlueCatalogResource, bucket: S3BucketResource) -> GlueExport:
    """The export as the Glue table describes it; ExportUnreadableError if there is none."""
    table: dict[str, Any] | None = glue.get_table()
    table_name = f"{glue.database}.{glue.table_name}"
    if table is None:
        raise ExportUnreadableError(f"Glue table {table_name} does not exist")
    storage = table["StorageDescriptor"]
    location = storage["Location"]
    files = [
        ExportedFile(bucket.uri(key), bucket.get(key))
        for key in bucket.list_keys(folder_of(location, bucket.bucket))
        if is_data_file(key)
    ]
    return GlueExport(table_name, location, storage["Columns"], table.get("Parameters", {}), files)
