"""A served table's Athena export: Parquet in S3, catalogued in Glue, written so that a reader
never sees half of it (one file switched by one UpdateTable, or partitions switched in
BatchUpdatePartition), and read back the way Athena reads it. The Glue table records what it
serves: the content hash of the table written last and its last data file's key and ETag, which
a tick checks with one HeadObject. See docs/pipeline.md, "Export".
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from covid_assets.domain.hashing import table_sha256
from covid_assets.domain.progress import ProgressLog
from covid_assets.domain.rules import Problem
from covid_assets.domain.transform import differing_rows, lay_over_partitions
from covid_assets.resources.glue import GlueCatalogResource, Partition
from covid_assets.resources.parquet_tables import (
    ROW_COUNT_PARAMETER,
    CataloguedFiles,
    external_table_input,
    folder_of,
    glue_columns,
    is_data_file,
    parquet_bytes,
    storage_descriptor,
)
from covid_assets.resources.s3 import S3BucketResource

CONTENT_HASH_PARAMETER = "covid_assets.content_sha256"
# The data file written last, and its ETag then: a reader can tell with one HeadObject that the
# object is still the one the export wrote.
PARQUET_KEY_PARAMETER = "covid_assets.parquet_key"
PARQUET_ETAG_PARAMETER = "covid_assets.parquet_etag"
PARQUET_FILE_NAME = "part-00000.parquet"
PARTITION_TYPE = "string"
# A check compares the partitions it reads in batches of about this many rows: few comparisons
# when a backfill checks every partition, and a bounded peak of memory whatever their number.
CHECK_BATCH_ROWS = 50_000
# Partitions whose files are encoded, then written at once, between two looks at the progress.
WRITE_CHUNK_PARTITIONS = 64

Log = Callable[[str], None]


class ExportUnreadableError(RuntimeError):
    """The Glue table is missing, lacks a column asked for, or has no data files."""


def served_file(key: str, etag: str, content_sha256: str) -> dict[str, str]:
    """What the Glue table records of the export it serves."""
    return {
        CONTENT_HASH_PARAMETER: content_sha256,
        PARQUET_KEY_PARAMETER: key,
        PARQUET_ETAG_PARAMETER: etag,
    }


def athena_ddl(database: str, table: str, location: str, schema: pa.Schema) -> str:
    """The equivalent Athena DDL, for people who create the table by hand."""
    columns = ",\n".join(
        f"  `{column['Name']}` {column['Type']}" for column in glue_columns(schema)
    )
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{columns}\n)\n"
        f"STORED AS PARQUET\nLOCATION '{location}'\n"
        "TBLPROPERTIES ('classification'='parquet')"
    )


def partition_folder(names: Sequence[str], values: Sequence[str]) -> str:
    """``usps=CA/month=2021-03/``: Hive's layout, which Athena and Spark read as partitions."""
    return "".join(f"{name}={value}/" for name, value in zip(names, values, strict=True))


def version_folder_name(moment: datetime | None = None) -> str:
    return f"{moment or datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"


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


def read_glue_export(glue: GlueCatalogResource, bucket: S3BucketResource, name: str) -> GlueExport:
    """The export as the Glue table ``name`` describes it (the files at its location);
    ExportUnreadableError if there is none."""
    table = glue.get_table(name)
    label = f"{glue.database}.{name}"
    if table is None:
        raise ExportUnreadableError(f"Glue table {label} does not exist")
    storage = table["StorageDescriptor"]
    location = storage["Location"]
    files = [
        ExportedFile(bucket.uri(key), bucket.get(key))
        for key in bucket.list_keys(folder_of(location, bucket.bucket))
        if is_data_file(key)
    ]
    return GlueExport(label, location, storage["Columns"], table.get("Parameters", {}), files)


@dataclass(frozen=True)
class ExportWrite:
    """What writing a table to its export did."""

    status: str  # "written" or "unchanged"
    location: str
    rows: int  # rows the export holds now
    content_sha256: str
    files_written: int = 0
    stale_objects_removed: int = 0
    # A partitioned export's partitions: touched, created, rewritten, unchanged.
    partitions: dict[str, int] = field(default_factory=dict)
    # The rows and content hash of each partition the write laid the table over, and the last
    # partition whose file it wrote (None: none written): what the check after it compares.
    laid: dict[tuple[str, ...], tuple[pd.DataFrame, str]] = field(default_factory=dict)
    last_written: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ExportProblems:
    """What reading the export back found: files whose columns are not the Glue table's, and
    rows that are not the table's."""

    schema: list[Problem]
    rows: list[Problem]


@dataclass(frozen=True)
class ExportStore(CataloguedFiles):
    """One served table's export: its Glue table and its files."""

    @property
    def partition_names(self) -> list[str]:
        partitions = self.table.export_partitions
        return [] if partitions is None else list(partitions(self.table_head()).columns)

    def table_head(self) -> pd.DataFrame:
        return pd.DataFrame(columns=self.table.columns)

    def served_problem(self, content_sha256: str | None, current: Any = ...) -> str | None:
        """Why the export is not serving ``content_sha256`` (the content its last write
        recorded), or None when it is: the Glue table exists, records that content, and the
        data file it records is the very object the export wrote (one HeadObject, or none when
        this run has listed or read it already)."""
        table = self.current() if current is ... else current
        if table is None:
            return f"Glue table {self.label} does not exist"
        parameters = table.get("Parameters", {})
        if content_sha256 is None or parameters.get(CONTENT_HASH_PARAMETER) != content_sha256:
            return "the Glue table records other content"
        key = parameters.get(PARQUET_KEY_PARAMETER)
        if not key:
            return "the Glue table records no data file"
        etag = self.bucket.etag(key)
        if etag is None:
            return f"{self.bucket.uri(key)} does not exist"
        if etag != parameters.get(PARQUET_ETAG_PARAMETER):
            return f"{self.bucket.uri(key)} is not the object the export wrote"
        return None

    def write(self, rows: pd.DataFrame, log: Log) -> ExportWrite:
        """Write ``rows`` where the export does not hold them already."""
        if self.table.export_partitions is None:
            return self._write_one_file(rows, log)
        return self._write_partitions(rows, log)

    def check(self, rows: pd.DataFrame, written: ExportWrite | None = None) -> ExportProblems:
        """Read the export back the way Athena does and compare it with ``rows``; right after
        the write that laid them over partitions (``written``), compare them with what it laid
        and read back only the last file it wrote (``_check_partitions``)."""
        if self.table.export_partitions is None:
            return self._check_one_file(rows)
        return self._check_partitions(rows, written)

    def read(self, columns: Sequence[str]) -> tuple[pd.DataFrame, str]:
        """The export's ``columns`` as a query of its Glue table reads them, and its location
        (one file only)."""
        export = read_glue_export(self.glue, self.bucket, self.glue_table)
        return export.to_arrow(columns).to_pandas(), export.location

    # One file.

    def _write_one_file(self, rows: pd.DataFrame, log: Log) -> ExportWrite:
        schema = self.table.export_schema
        content_sha256 = table_sha256(rows)
        current = self.current()
        if self.served_problem(content_sha256, current) is None:
            location = current["StorageDescriptor"]["Location"]
            log(f"Export unchanged at {location}; nothing written")
            return ExportWrite("unchanged", location, len(rows), content_sha256)
        current_folder = (
            folder_of(current["StorageDescriptor"]["Location"], self.bucket.bucket)
            if current
            else None
        )
        new_folder = f"{self.root}{version_folder_name()}-{content_sha256[:12]}/"
        key = new_folder + PARQUET_FILE_NAME
        etag = self.bucket.put(
            key, parquet_bytes(rows, schema), content_type="application/vnd.apache.parquet"
        )
        location = self.bucket.uri(new_folder)
        self.glue.put_table(
            self.table_input(len(rows), served_file(key, etag, content_sha256), location)
        )
        keep = (new_folder, current_folder)
        stale = [
            key
            for key in self.bucket.list_keys(self.root)
            if not any(folder and key.startswith(folder) for folder in keep)
        ]
        self.bucket.delete(stale)
        log(f"Exported to {location}; removed {len(stale)} stale object(s)")
        return ExportWrite(
            "written", location, len(rows), content_sha256, 1, stale_objects_removed=len(stale)
        )

    def _check_one_file(self, rows: pd.DataFrame) -> ExportProblems:
        try:
            export = read_glue_export(self.glue, self.bucket, self.glue_table)
        except ExportUnreadableError:
            missing = [Problem(self.label, None, None, None, "the Glue table to exist")]
            return ExportProblems(missing, missing)
        schema = [
            Problem(file.uri, None, None, str(file_columns), f"Glue's {export.columns}")
            for file in export.files
            for file_columns in [glue_columns(file.footer.schema.to_arrow_schema())]
            if file_columns != export.columns
        ]
        exported = sum(file.footer.num_rows for file in export.files)
        count = (
            []
            if exported == len(rows)
            else [Problem(export.location, None, None, f"{exported} rows", f"{len(rows)} rows")]
        )
        return ExportProblems(schema, count)

    # Partitions.

    def _partitions_of(self, rows: pd.DataFrame) -> dict[tuple[str, ...], pd.DataFrame]:
        """The rows by the partition each belongs to."""
        partitions = self.table.export_partitions(rows)
        columns = self.table.columns
        return {
            tuple(values): part[columns]
            for values, part in rows.groupby([partitions[c] for c in partitions.columns], sort=True)
        }

    def table_input(
        self, rows: int, recorded: dict[str, str], location: str | None = None
    ) -> dict[str, Any]:
        """The export's Glue table: Parquet files at ``location`` (one file's version folder;
        partitions: the prefix, and its partition keys), with what the export ``recorded``."""
        location = location or self.bucket.uri(self.root)
        table = external_table_input(
            self.glue_table, storage_descriptor(location, self.table.export_schema), rows, recorded
        )
        if self.table.export_partitions is not None:
            table["PartitionKeys"] = [
                {"Name": name, "Type": PARTITION_TYPE} for name in self.partition_names
            ]
        return table

    def _partition_file(self, partition: Partition) -> str:
        location = partition["StorageDescriptor"]["Location"]
        return folder_of(location, self.bucket.bucket) + PARQUET_FILE_NAME

    def _read_partitions(
        self, partitions: dict[tuple[str, ...], Partition]
    ) -> dict[tuple[str, ...], tuple[pd.DataFrame, pa.Schema] | None]:
        """Each partition's rows as the table has them (dates as dates, counts as nullable
        integers) and its file's schema, None where its file is gone; the files read at once
        (``S3BucketResource.get_many``)."""
        files = self.bucket.get_many([self._partition_file(p) for p in partitions.values()])
        return {
            values: None if content is None else self._parquet_rows(content)
            for values, content in zip(partitions, files, strict=True)
        }

    def _parquet_rows(self, content: bytes) -> tuple[pd.DataFrame, pa.Schema]:
        arrow_table = pq.read_table(io.BytesIO(content))
        rows = arrow_table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        return rows[self.table.columns], arrow_table.schema

    def _write_partitions(self, rows: pd.DataFrame, log: Log) -> ExportWrite:
        schema = self.table.export_schema
        names = self.partition_names
        location = self.bucket.uri(self.root)
        current = self.current()
        expected = self.table_input(0, {})
        if current is None or (
            current["StorageDescriptor"]["Columns"] != glue_columns(schema)
            or current.get("PartitionKeys") != expected["PartitionKeys"]
        ):
            self.glue.put_table(expected)
            current = self.current()
        recorded = current.get("Parameters", {})
        total_rows = int(recorded.get(ROW_COUNT_PARAMETER, 0))
        laid_sha256 = table_sha256(rows[self.table.columns])
        wanted = self._partitions_of(rows)
        existing = self.glue.get_partitions(self.glue_table, list(wanted))
        if (
            recorded.get(CONTENT_HASH_PARAMETER) == laid_sha256
            and existing.keys() == set(wanted)
            and all(
                self.bucket.etag(self._partition_file(partition))
                == partition["Parameters"].get(PARQUET_ETAG_PARAMETER)
                for partition in existing.values()
            )
        ):
            log(f"{self.glue_table}: the same table as last time; nothing written")
            counts = {"touched": len(wanted), "created": 0, "rewritten": 0}
            return ExportWrite(
                "unchanged",
                location,
                total_rows,
                laid_sha256,
                partitions=counts | {"unchanged": len(wanted)},
            )
        stored = self._read_partitions(existing)
        laid = lay_over_partitions(
            [read[0] for read in stored.values() if read],
            rows[self.table.columns],
            self.table.key_columns,
            self.table.export_partitions,
        )
        changed = [
            values
            for values in wanted
            if not stored.get(values)
            or existing[values]["Parameters"].get(CONTENT_HASH_PARAMETER) != laid[values][1]
        ]
        version = version_folder_name()
        created, updated, replaced_folders = [], [], {}
        last_file = (
            recorded.get(PARQUET_KEY_PARAMETER, ""),
            recorded.get(PARQUET_ETAG_PARAMETER, ""),
        )
        progress = ProgressLog(log)
        for start in range(0, len(changed), WRITE_CHUNK_PARTITIONS):
            chunk = changed[start : start + WRITE_CHUNK_PARTITIONS]
            folders = [
                f"{self.root}{partition_folder(names, values)}{version}/" for values in chunk
            ]
            etags = self.bucket.put_many(
                [
                    (folder + PARQUET_FILE_NAME, parquet_bytes(laid[values][0], schema))
                    for values, folder in zip(chunk, folders, strict=True)
                ],
                content_type="application/vnd.apache.parquet",
            )
            for values, folder, etag in zip(chunk, folders, etags, strict=True):
                merged, merged_sha256 = laid[values]
                entry = {
                    "Values": list(values),
                    "StorageDescriptor": storage_descriptor(self.bucket.uri(folder), schema),
                    "Parameters": {
                        CONTENT_HASH_PARAMETER: merged_sha256,
                        PARQUET_ETAG_PARAMETER: etag,
                        ROW_COUNT_PARAMETER: str(len(merged)),
                    },
                }
                old = stored.get(values)
                total_rows += len(merged) - (0 if old is None else len(old[0]))
                if partition := existing.get(values):
                    updated.append(entry)
                    replaced_folders[values] = folder_of(
                        partition["StorageDescriptor"]["Location"], self.bucket.bucket
                    )
                else:
                    created.append(entry)
            last_file = (folders[-1] + PARQUET_FILE_NAME, etags[-1])
            done = start + len(chunk)
            progress(
                done,
                f"{self.glue_table}: {done} of {len(changed)} changed partition(s) written "
                f"({len(wanted)} touched)",
            )
        self.glue.create_partitions(self.glue_table, created)
        self.glue.update_partitions(self.glue_table, updated)
        partition_folders = [
            f"{self.root}{partition_folder(names, values)}" for values in replaced_folders
        ]
        stale = [
            entry.key
            for folder, replaced, listed in zip(
                partition_folders,
                replaced_folders.values(),
                self.bucket.list_many(partition_folders),
                strict=True,
            )
            for entry in listed
            if not entry.key.startswith((replaced, f"{folder}{version}/"))
        ]
        self.bucket.delete(stale)
        self.glue.put_table(
            self.table_input(total_rows, served_file(last_file[0], last_file[1], laid_sha256))
        )
        counts = {
            "touched": len(wanted),
            "created": len(created),
            "rewritten": len(updated),
            "unchanged": len(wanted) - len(created) - len(updated),
        }
        log(
            f"{self.glue_table}: {counts['touched']} partition(s) touched, {counts['created']} "
            f"created, {counts['rewritten']} rewritten, {counts['unchanged']} unchanged"
        )
        return ExportWrite(
            "written" if created or updated else "unchanged",
            location,
            total_rows,
            laid_sha256,
            files_written=len(created) + len(updated),
            stale_objects_removed=len(stale),
            partitions=counts,
            laid=laid,
            last_written=changed[-1] if changed else None,
        )

    def _rows_differing(
        self, batch: list[tuple[pd.DataFrame, pd.DataFrame]], where_of: dict[tuple, str]
    ) -> list[Problem]:
        """The served rows that their partitions' files lack or hold otherwise, compared in one
        pass over the batch (partitions hold disjoint keys)."""
        keys = list(self.table.key_columns)
        differing = differing_rows(
            pd.concat([part for part, _ in batch], ignore_index=True),
            pd.concat([exported for _, exported in batch], ignore_index=True),
            keys,
        )
        partitions = self.table.export_partitions(differing).itertuples(index=False)
        return [
            Problem(
                where_of[tuple(partition)],
                None,
                ", ".join(keys),
                " ".join(map(str, key)),
                "the served row's values",
            )
            for key, partition in zip(
                differing[keys].itertuples(index=False), partitions, strict=True
            )
        ]

    def _check_partitions(
        self, rows: pd.DataFrame, written: ExportWrite | None = None
    ) -> ExportProblems:
        """Each touched partition registered in Glue, and ``rows`` in it with the same values.
        Run alone, every partition's file is read. Right after a write (``written``), a
        partition it laid is compared with the rows it laid there, registered with their
        content hash, and only the last file it wrote is read back: every file is made by the
        same code, and S3 verifies each upload's checksum."""
        laid = written.laid if written else {}
        read_back = written.last_written if written else None
        current = self.current()
        if current is None:
            missing = [Problem(self.label, None, None, None, "the Glue table to exist")]
            return ExportProblems(missing, missing)
        declared = current["StorageDescriptor"]["Columns"]
        expected_columns = glue_columns(self.table.export_schema)
        wanted = self._partitions_of(rows)
        existing = self.glue.get_partitions(self.glue_table, list(wanted))
        schema_problems = []
        if declared != expected_columns:
            schema_problems.append(
                Problem(self.label, None, None, str(declared), f"the columns {expected_columns}")
            )
        row_problems = []
        names = self.partition_names
        batch: list[tuple[pd.DataFrame, pd.DataFrame]] = []
        batch_rows = 0
        where_of = {}
        for values, part in wanted.items():
            where = f"{self.label} partition {partition_folder(names, values).rstrip('/')}"
            partition = existing.get(values)
            if partition is None:
                row_problems.append(Problem(where, None, None, "no partition", f"{len(part)} rows"))
                continue
            exported, problems = (
                self._laid_rows(partition, *laid[values], where)
                if values in laid and values != read_back
                else self._file_rows(partition, where, declared)
            )
            schema_problems += problems.schema
            row_problems += problems.rows
            if exported is None:
                continue
            batch.append((part, exported))
            batch_rows += len(part)
            where_of[values] = where
            if batch_rows >= CHECK_BATCH_ROWS:
                row_problems += self._rows_differing(batch, where_of)
                batch, batch_rows = [], 0
        if batch:
            row_problems += self._rows_differing(batch, where_of)
        return ExportProblems(schema_problems, row_problems)

    def _laid_rows(
        self, partition: Partition, rows: pd.DataFrame, content_sha256: str, where: str
    ) -> tuple[pd.DataFrame | None, ExportProblems]:
        """The rows a write laid in ``partition``, if Glue registered it with their content."""
        recorded = partition["Parameters"].get(CONTENT_HASH_PARAMETER)
        if recorded == content_sha256:
            return rows, ExportProblems([], [])
        found = f"content {str(recorded)[:12]} registered in Glue"
        problem = Problem(where, None, None, found, f"the content written ({content_sha256[:12]})")
        return None, ExportProblems([], [problem])

    def _file_rows(
        self, partition: Partition, where: str, declared: list[dict[str, str]]
    ) -> tuple[pd.DataFrame | None, ExportProblems]:
        """The rows of ``partition``'s file, if it exists, and whether its columns are Glue's."""
        content = self.bucket.get_if_exists(self._partition_file(partition))
        if content is None:
            missing = f"{self.bucket.uri(self._partition_file(partition))}, the partition's file"
            return None, ExportProblems([], [Problem(where, None, None, "no file", missing)])
        rows, file_schema = self._parquet_rows(content)
        columns = glue_columns(file_schema)
        schema = (
            []
            if columns == declared
            else [Problem(where, None, None, str(columns), f"Glue's {declared}")]
        )
        return rows, ExportProblems(schema, [])
