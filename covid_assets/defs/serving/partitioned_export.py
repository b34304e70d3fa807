"""A level's export in Hive-style partitions (the county level's: one per state and month), each
partition written and switched on its own.

A partition's rows are one Parquet file in a version folder of its own
(``<prefix>usps=CA/month=2021-03/<version>/part-00000.parquet``), registered as a Glue partition
of the level's table. A run reads only the partitions its table touches, lays the table's rows
over what they hold (``transform.lay_over``: a row replaces the exported row of its key; a row
the table lacks, such as a day that has left the source's window, stays as last exported) and
writes only the partitions whose content changed. Each then switches to its new folder in
BatchUpdatePartition: a reader sees a partition's old file or its new one, never half of one.
The folder a partition leaves is kept for one more run, as the national export's is, for a
query started before the switch.
"""

import io
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError
from dagster import AssetCheckResult, AssetExecutionContext, MetadataValue

from covid_assets.defs.checks import check_result
from covid_assets.defs.metadata import table_sha256
from covid_assets.defs.serving.athena_export import (
    CONTENT_HASH_PARAMETER,
    GLUE_SCHEMA_CHECK,
    PARQUET_ETAG_PARAMETER,
    PARQUET_FILE_NAME,
    ROW_COUNT_PARAMETER,
    external_table_input,
    glue_columns,
    parquet_bytes,
    storage_descriptor,
)
from covid_assets.domain.rules import Problem
from covid_assets.domain.tables import Level
from covid_assets.domain.transform import lay_over, rows_not_in
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.glue_export import folder_of
from covid_assets.resources.s3 import S3BucketResource

ROWS_CHECK = "rows_match_served_table"
LAID_HASH_PARAMETER = "covid_assets.laid_sha256"
PARTITION_TYPE = "string"


def partition_folder(names: list[str], values: tuple[str, ...]) -> str:
    """``usps=CA/month=2021-03/``: Hive's layout, which Athena and Spark read as partitions."""
    return "".join(f"{name}={value}/" for name, value in zip(names, values, strict=True))


def partitioned_table_input(
    name: str,
    location: str,
    schema: pa.Schema,
    partition_names: list[str],
    rows: int,
    laid_sha256: str = "",
) -> dict[str, Any]:
    """The partitioned table, with its row count and the content hash of the table last laid
    over its partitions in its parameters."""
    table = external_table_input(
        name, storage_descriptor(location, schema), rows, {LAID_HASH_PARAMETER: laid_sha256}
    )
    table["PartitionKeys"] = [{"Name": key, "Type": PARTITION_TYPE} for key in partition_names]
    return table


def partition_input(
    values: tuple[str, ...], location: str, schema: pa.Schema, rows: pd.DataFrame, etag: str
) -> dict[str, Any]:
    return {
        "Values": list(values),
        "StorageDescriptor": storage_descriptor(location, schema),
        "Parameters": {
            CONTENT_HASH_PARAMETER: table_sha256(rows),
            PARQUET_ETAG_PARAMETER: etag,
            ROW_COUNT_PARAMETER: str(len(rows)),
        },
    }


def partition_file(bucket: S3BucketResource, partition: dict[str, Any]) -> str:
    """The key of the partition's data file."""
    return folder_of(partition["StorageDescriptor"]["Location"], bucket.bucket) + PARQUET_FILE_NAME


def is_intact(bucket: S3BucketResource, partition: dict[str, Any]) -> bool:
    """The partition's file is the one the export wrote (one HeadObject against its ETag)."""
    return bucket.etag(partition_file(bucket, partition)) == partition["Parameters"].get(
        PARQUET_ETAG_PARAMETER
    )


def read_partition(
    bucket: S3BucketResource, partition: dict[str, Any], level: Level
) -> tuple[pd.DataFrame, pa.Schema] | None:
    """A partition's rows as the level's table has them (dates as dates, counts as nullable
    integers), and its file's schema; None when its file is gone."""
    try:
        content = bucket.get(partition_file(bucket, partition))
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    arrow_table = pq.read_table(io.BytesIO(content))
    rows = arrow_table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return rows[level.columns], arrow_table.schema


def touched_partitions(table: pd.DataFrame, level: Level) -> dict[tuple[str, ...], pd.DataFrame]:
    """The table's rows by the partition each belongs to."""
    partitions = level.export_partitions(table)
    return {
        tuple(values): rows[level.columns]
        for values, rows in table.groupby([partitions[c] for c in partitions.columns], sort=True)
    }


def write_partitioned_export(
    context: AssetExecutionContext,
    table: pd.DataFrame,
    bucket: S3BucketResource,
    glue: GlueCatalogResource,
    level: Level,
) -> dict[str, Any]:
    """Lay the table over the partitions it touches, write those that changed, switch them;
    returns the materialization's metadata."""
    schema = level.export_schema
    names = list(level.export_partitions(table.head(0)).columns)
    root = bucket.export_root
    current = glue.get_table()
    expected_table = partitioned_table_input(glue.table_name, bucket.uri(root), schema, names, 0)
    if current is None or (
        current["StorageDescriptor"]["Columns"] != glue_columns(schema)
        or current.get("PartitionKeys") != expected_table["PartitionKeys"]
    ):
        glue.put_table(expected_table)
        current = glue.get_table()
    total_rows = int(current.get("Parameters", {}).get(ROW_COUNT_PARAMETER, 0))
    laid_sha256 = table_sha256(table[level.columns])
    wanted = touched_partitions(table, level)
    existing = glue.get_partitions(list(wanted))
    metadata = {
        "glue_table": f"{glue.database}.{glue.table_name}",
        "location": MetadataValue.path(bucket.uri(root)),
        "laid_sha256": laid_sha256,
        "partitions_touched": len(wanted),
        "example_query": example_query(glue, names, next(iter(wanted), ("CA", "2021-03"))),
    }
    # The very table laid over the partitions last time, and each is still registered with the
    # file it wrote: a quiet day reads no partition (the checks read them back).
    if (
        current["Parameters"].get(LAID_HASH_PARAMETER) == laid_sha256
        and existing.keys() == set(wanted)
        and all(is_intact(bucket, partition) for partition in existing.values())
    ):
        context.log.info("%s: the same table as last time; nothing written", glue.table_name)
        return {**metadata, "dagster/row_count": total_rows, "status": "unchanged"}
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    created, updated, replaced_folders = [], [], {}
    rows_written = 0
    for values, rows in wanted.items():
        partition = existing.get(values)
        # A partition whose file is gone is rebuilt from what the table has of it.
        read = read_partition(bucket, partition, level) if partition else None
        old = read[0] if read else None
        merged = lay_over(old, rows, level.key_columns)
        if read and partition["Parameters"].get(CONTENT_HASH_PARAMETER) == table_sha256(merged):
            continue
        folder = f"{root}{partition_folder(names, values)}{version}/"
        etag = bucket.put(
            folder + PARQUET_FILE_NAME,
            parquet_bytes(merged, schema),
            content_type="application/vnd.apache.parquet",
        )
        entry = partition_input(values, bucket.uri(folder), schema, merged, etag)
        rows_written += len(merged)
        total_rows += len(merged) - (0 if old is None else len(old))
        if partition:
            updated.append(entry)
            replaced_folders[values] = folder_of(
                partition["StorageDescriptor"]["Location"], bucket.bucket
            )
        else:
            created.append(entry)
    glue.create_partitions(created)
    glue.update_partitions(updated)
    stale = [
        key
        for values, replaced in replaced_folders.items()
        for key in bucket.list_keys(f"{root}{partition_folder(names, values)}")
        if not key.startswith((replaced, f"{root}{partition_folder(names, values)}{version}/"))
    ]
    bucket.delete(stale)
    glue.put_table(
        partitioned_table_input(
            glue.table_name, bucket.uri(root), schema, names, total_rows, laid_sha256
        )
    )
    context.log.info(
        "%s: %d partition(s) touched, %d created, %d rewritten, %d unchanged",
        glue.table_name,
        len(wanted),
        len(created),
        len(updated),
        len(wanted) - len(created) - len(updated),
    )
    return {
        **metadata,
        "dagster/row_count": total_rows,
        "partitions_created": len(created),
        "partitions_rewritten": len(updated),
        "partitions_unchanged": len(wanted) - len(created) - len(updated),
        "rows_written": rows_written,
        "stale_objects_removed": len(stale),
        "status": "written" if created or updated else "unchanged",
    }


def example_query(glue: GlueCatalogResource, names: list[str], values: tuple[str, ...]) -> Any:
    """An Athena query that reads one partition, for the materialization's metadata."""
    where = " AND ".join(f"{name} = '{value}'" for name, value in zip(names, values, strict=True))
    return MetadataValue.md(
        f"```sql\nSELECT date, county, cases, deaths\nFROM {glue.database}.{glue.table_name}\n"
        f"WHERE {where}\nORDER BY county, date\n```"
    )


def verify_partitioned_export(
    table: pd.DataFrame, bucket: S3BucketResource, glue: GlueCatalogResource, level: Level
) -> list[AssetCheckResult]:
    """Read the partitions the table touches back the way Athena does: each file's columns are
    the Glue table's, and each of the table's rows is in its partition with its values."""
    asset, label = level.export_asset, f"{glue.database}.{glue.table_name}"
    current = glue.get_table()
    if current is None:
        missing = [Problem(label, None, None, None, "the Glue table to exist")]
        return [check_result(asset, name, missing) for name in (GLUE_SCHEMA_CHECK, ROWS_CHECK)]
    declared = current["StorageDescriptor"]["Columns"]
    wanted = touched_partitions(table, level)
    existing = glue.get_partitions(list(wanted))
    schema_problems = []
    if declared != glue_columns(level.export_schema):
        expected = glue_columns(level.export_schema)
        schema_problems.append(Problem(label, None, None, str(declared), f"the columns {expected}"))
    row_problems = []
    names = list(level.export_partitions(table.head(0)).columns)
    for values, rows in wanted.items():
        where = f"{label} partition {partition_folder(names, values).rstrip('/')}"
        partition = existing.get(values)
        if partition is None:
            row_problems.append(Problem(where, None, None, "no partition", f"{len(rows)} rows"))
            continue
        read = read_partition(bucket, partition, level)
        if read is None:
            missing = f"{bucket.uri(partition_file(bucket, partition))}, the partition's file"
            row_problems.append(Problem(where, None, None, "no file", missing))
            continue
        exported, file_schema = read
        if glue_columns(file_schema) != declared:
            schema_problems.append(
                Problem(where, None, None, str(glue_columns(file_schema)), f"Glue's {declared}")
            )
        row_problems += [
            Problem(where, None, ", ".join(level.key_columns), key, "the served row's values")
            for key in rows_not_in(rows, exported, level.key_columns)
        ]
    return [
        check_result(asset, GLUE_SCHEMA_CHECK, schema_problems),
        check_result(asset, ROWS_CHECK, row_problems),
    ]
