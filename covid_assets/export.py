"""The Athena-ready export: the merged table as Parquet in S3, catalogued in Glue.

Each export is written to a fresh folder under the prefix, and only then does the Glue table's
location switch to it, in one UpdateTable call: a reader of the table's location sees the old
export or the new one, never a half-written or mixed one. The folder before it is kept for one
more run (a query started just before the switch can finish); older ones are deleted. Its
checks then read the export back the way Athena does.
"""

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult, MetadataValue

from covid_assets.checks import (
    EXPORT,
    EXPORT_CHECK_SPECS,
    EXPORT_ROW_COUNT_CHECK,
    GLUE_SCHEMA_CHECK,
    check_result,
    merged_table_asset_with_checks,
    selected_results,
)
from covid_assets.contracts import Problem
from covid_assets.metadata import daily_table_metadata, table_sha256
from covid_assets.resources import GlueCatalogResource, S3BucketResource

EXPORT_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("cases", pa.int64(), nullable=False),
        pa.field("deaths", pa.int64(), nullable=False),
        pa.field("recovered", pa.int64(), nullable=False),
    ]
)
GLUE_TYPES = {pa.date32(): "date", pa.int64(): "bigint"}
CONTENT_HASH_PARAMETER = "covid_assets.content_sha256"
PARQUET_FILE_NAME = "part-00000.parquet"


def parquet_bytes(merged_daily_table: pd.DataFrame) -> bytes:
    arrow_table = pa.Table.from_pandas(
        merged_daily_table, schema=EXPORT_SCHEMA, preserve_index=False
    )
    buffer = io.BytesIO()
    pq.write_table(arrow_table, buffer, compression="snappy")
    return buffer.getvalue()


def glue_columns(schema: pa.Schema = EXPORT_SCHEMA) -> list[dict[str, str]]:
    return [
        {"Name": field.name, "Type": GLUE_TYPES.get(field.type, str(field.type))}
        for field in schema
    ]


def glue_table_input(name: str, location: str, content_sha256: str, rows: int) -> dict[str, Any]:
    """An external Parquet table whose columns are derived from the files' own schema."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            CONTENT_HASH_PARAMETER: content_sha256,
            "covid_assets.row_count": str(rows),
        },
        "StorageDescriptor": {
            "Columns": glue_columns(),
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": (
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                ),
                "Parameters": {"serialization.format": "1"},
            },
        },
    }


def athena_ddl(database: str, table: str, location: str) -> str:
    """The equivalent Athena DDL, for people who create the table by hand."""
    columns = ",\n".join(f"  `{column['Name']}` {column['Type']}" for column in glue_columns())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{columns}\n)\n"
        f"STORED AS PARQUET\nLOCATION '{location}'\n"
        "TBLPROPERTIES ('classification'='parquet')"
    )


def folder_of(location: str, bucket: str) -> str:
    """The key prefix of an ``s3://bucket/prefix/`` location, as a folder ("x/"), so that a
    sibling folder "x2/" is not taken for part of it."""
    folder = location.removeprefix(f"s3://{bucket}/").strip("/")
    return f"{folder}/" if folder else ""


def is_data_file(key: str) -> bool:
    """Athena skips "folders" and files whose name starts with "_" or "." (e.g. _SUCCESS)."""
    name = key.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", "."))


def exported_files(bucket: S3BucketResource, location: str) -> Iterator[tuple[str, bytes]]:
    """(key, content) of every data file at an export location, the files Athena would read."""
    for key in bucket.list_keys(folder_of(location, bucket.bucket)):
        if is_data_file(key):
            yield key, bucket.get(key)


@merged_table_asset_with_checks(
    EXPORT,
    description=(
        "The merged table as Parquet under s3://$COVID_S3_BUCKET/$COVID_S3_PREFIX, registered "
        "in the Glue Data Catalog as an external table for Athena."
    ),
    kinds={"s3", "parquet", "athena"},
    # Run alone, the checks only read the export back.
    check_specs=EXPORT_CHECK_SPECS,
)
def athena_export(
    context: AssetExecutionContext,
    merged_daily_table: pd.DataFrame,
    bucket: S3BucketResource,
    glue: GlueCatalogResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    if context.selected_asset_keys:
        yield MaterializeResult(metadata=write_export(context, merged_daily_table, bucket, glue))
    yield from selected_results(
        context.selected_asset_check_keys, verify_export(merged_daily_table, bucket, glue)
    )


def write_export(
    context: AssetExecutionContext,
    merged_daily_table: pd.DataFrame,
    bucket: S3BucketResource,
    glue: GlueCatalogResource,
) -> dict[str, Any]:
    """Write the table to a new version folder and switch the Glue table to it, unless the
    current export already holds this content; returns the materialization's metadata."""
    content_sha256 = table_sha256(merged_daily_table)
    current = glue.get_table()
    current_folder = (
        folder_of(current["StorageDescriptor"]["Location"], bucket.bucket) if current else None
    )
    metadata: dict[str, Any] = {
        **daily_table_metadata(merged_daily_table),
        "glue_table": f"{glue.database}.{glue.table_name}",
    }

    unchanged = (
        current is not None
        and current.get("Parameters", {}).get(CONTENT_HASH_PARAMETER) == content_sha256
        and any(bucket.list_keys(current_folder))
    )
    if unchanged:
        location = current["StorageDescriptor"]["Location"]
        context.log.info("Export unchanged at %s; nothing written", location)
        metadata.update(status="unchanged", location=MetadataValue.path(location))
    else:
        version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{content_sha256[:12]}"
        new_folder = f"{bucket.export_root}{version}/"
        bucket.put(
            new_folder + PARQUET_FILE_NAME,
            parquet_bytes(merged_daily_table),
            content_type="application/vnd.apache.parquet",
        )
        location = bucket.uri(new_folder)
        glue.put_table(
            glue_table_input(glue.table_name, location, content_sha256, len(merged_daily_table))
        )
        keep = (new_folder, current_folder)
        stale = [
            key
            for key in bucket.list_keys(bucket.export_root)
            if not any(folder and key.startswith(folder) for folder in keep)
        ]
        bucket.delete(stale)
        context.log.info("Exported to %s; removed %d stale object(s)", location, len(stale))
        metadata.update(
            status="written",
            location=MetadataValue.path(location),
            stale_objects_removed=len(stale),
        )

    metadata["athena_ddl"] = MetadataValue.md(
        f"```sql\n{athena_ddl(glue.database, glue.table_name, location)}\n```"
    )
    return metadata


def verify_export(
    merged_daily_table: pd.DataFrame, bucket: S3BucketResource, glue: GlueCatalogResource
) -> list[AssetCheckResult]:
    """Read the export back the way Athena does (the Glue table's columns and location, then
    the Parquet files there) and compare it with the merged table."""
    table_name = f"{glue.database}.{glue.table_name}"
    table = glue.get_table()
    if table is None:
        missing = [Problem(table_name, None, None, None, "the Glue table to exist")]
        return [
            check_result(EXPORT, name, missing)
            for name in (GLUE_SCHEMA_CHECK, EXPORT_ROW_COUNT_CHECK)
        ]
    location = table["StorageDescriptor"]["Location"]
    catalog_columns = table["StorageDescriptor"]["Columns"]
    schema_problems, rows = [], 0
    for key, content in exported_files(bucket, location):
        footer = pq.read_metadata(pa.BufferReader(content))
        rows += footer.num_rows
        file_columns = glue_columns(footer.schema.to_arrow_schema())
        if file_columns != catalog_columns:
            schema_problems.append(
                Problem(bucket.uri(key), None, None, str(file_columns), f"Glue's {catalog_columns}")
            )
    count_problems = (
        []
        if rows == len(merged_daily_table)
        else [Problem(location, None, None, f"{rows} rows", f"{len(merged_daily_table)} rows")]
    )
    return [
        check_result(EXPORT, GLUE_SCHEMA_CHECK, schema_problems),
        check_result(EXPORT, EXPORT_ROW_COUNT_CHECK, count_problems),
    ]
