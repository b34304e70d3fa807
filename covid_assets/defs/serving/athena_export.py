"""The asset ``athena_export`` and its checks: the merged table as Parquet in S3, catalogued in
Glue for Athena.

Each export is written to a fresh folder under the prefix, and only then does the Glue table's
location switch to it, in one UpdateTable call: a reader of the table's location sees the old
export or the new one, never a half-written or mixed one. The folder before it is kept for one
more run (a query started just before the switch can finish); older ones are deleted. Its
checks then read the export back the way Athena does (``glue_export``).
"""

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from covid_assets.defs.checks import check_result, selected_results
from covid_assets.defs.metadata import daily_table_metadata, table_sha256
from covid_assets.defs.tables.merged_daily_table import serving_asset
from covid_assets.domain.history import PublishedTable
from covid_assets.domain.rules import Problem
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.glue_export import ExportUnreadableError, folder_of, read_glue_export
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.serving_lock import ServingLockResource

EXPORT = "athena_export"
GLUE_SCHEMA_CHECK = "glue_columns_match_parquet_schema"
EXPORT_ROW_COUNT_CHECK = "row_count_matches_merged_table"
EXPORT_CHECK_SPECS = [
    AssetCheckSpec(
        GLUE_SCHEMA_CHECK,
        asset=EXPORT,
        blocking=True,
        description="The Glue table's columns and types are those of the Parquet files.",
    ),
    AssetCheckSpec(
        EXPORT_ROW_COUNT_CHECK,
        asset=EXPORT,
        blocking=True,
        description="The files at the Glue table's location hold the merged table's rows.",
    ),
]

EXPORT_SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("cases", pa.int64(), nullable=False),
        pa.field("deaths", pa.int64(), nullable=False),
        pa.field("recovered", pa.int64(), nullable=False),
    ]
)
GLUE_TYPES = {
    pa.date32(): "date",
    pa.int64(): "bigint",
    pa.string(): "string",
    # A history's valid_from: UTC, without a zone, as Athena's timestamp is.
    pa.timestamp("ms"): "timestamp",
}
CONTENT_HASH_PARAMETER = "covid_assets.content_sha256"
# The Parquet object's ETag when it was written: a reader can tell with one HeadObject that the
# object at the table's location is still the one the export wrote.
PARQUET_ETAG_PARAMETER = "covid_assets.parquet_etag"
PARQUET_FILE_NAME = "part-00000.parquet"
ROW_COUNT_PARAMETER = "covid_assets.row_count"


def parquet_bytes(table: pd.DataFrame, schema: pa.Schema = EXPORT_SCHEMA) -> bytes:
    """The table as one Parquet file of ``schema`` (a missing count is null, not 0)."""
    arrow_table = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(arrow_table, buffer, compression="snappy")
    return buffer.getvalue()


def glue_columns(schema: pa.Schema = EXPORT_SCHEMA) -> list[dict[str, str]]:
    return [
        {"Name": field.name, "Type": GLUE_TYPES.get(field.type, str(field.type))}
        for field in schema
    ]


def storage_descriptor(location: str, schema: pa.Schema = EXPORT_SCHEMA) -> dict[str, Any]:
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


def glue_table_input(
    name: str,
    location: str,
    content_sha256: str,
    rows: int,
    parquet_etag: str = "",
    schema: pa.Schema = EXPORT_SCHEMA,
) -> dict[str, Any]:
    """An external Parquet table, with the content it holds recorded in its parameters."""
    return external_table_input(
        name,
        storage_descriptor(location, schema),
        rows,
        {CONTENT_HASH_PARAMETER: content_sha256, PARQUET_ETAG_PARAMETER: parquet_etag},
    )


def external_table_input(
    name: str, storage: dict[str, Any], rows: int, recorded: dict[str, str]
) -> dict[str, Any]:
    """An external Parquet table of ``storage``, with its row count and what else the export
    ``recorded`` in its parameters."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            ROW_COUNT_PARAMETER: str(rows),
            **recorded,
        },
        "StorageDescriptor": storage,
    }


def athena_ddl(database: str, table: str, location: str, schema: pa.Schema = EXPORT_SCHEMA) -> str:
    """The equivalent Athena DDL, for people who create the table by hand."""
    columns = ",\n".join(
        f"  `{column['Name']}` {column['Type']}" for column in glue_columns(schema)
    )
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{columns}\n)\n"
        f"STORED AS PARQUET\nLOCATION '{location}'\n"
        "TBLPROPERTIES ('classification'='parquet')"
    )


@serving_asset(
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
    merged_daily_history: PublishedTable,
    bucket: S3BucketResource,
    glue: GlueCatalogResource,
    serving_lock: ServingLockResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    serving_lock.hold(context)
    merged_daily_table = merged_daily_history.table
    if context.selected_asset_keys:
        metadata = write_export(context, merged_daily_table, bucket, glue)
        yield MaterializeResult(metadata={**metadata, **merged_daily_history.metadata})
    yield from selected_results(
        context.selected_asset_check_keys, verify_export(merged_daily_table, bucket, glue)
    )


def served_export_problem(
    glue_table: dict[str, Any] | None, bucket: S3BucketResource, content_sha256: str
) -> str | None:
    """Why the served export is not this content, or None when it is: the Glue table exists,
    records this content hash, and its location holds the very Parquet object the export wrote
    (one HeadObject; no listing or reading)."""
    if glue_table is None:
        return "the Glue table does not exist"
    parameters = glue_table.get("Parameters", {})
    if parameters.get(CONTENT_HASH_PARAMETER) != content_sha256:
        return "the Glue table records other content"
    key = folder_of(glue_table["StorageDescriptor"]["Location"], bucket.bucket) + PARQUET_FILE_NAME
    etag = bucket.etag(key)
    if etag is None:
        return f"{bucket.uri(key)} does not exist"
    if etag != parameters.get(PARQUET_ETAG_PARAMETER):
        return f"{bucket.uri(key)} is not the object the export wrote"
    return None


def write_export(
    context: AssetExecutionContext,
    table: pd.DataFrame,
    bucket: S3BucketResource,
    glue: GlueCatalogResource,
    schema: pa.Schema = EXPORT_SCHEMA,
) -> dict[str, Any]:
    """Write the table to a new version folder and switch the Glue table to it, unless the
    current export already holds this content; returns the materialization's metadata."""
    content_sha256 = table_sha256(table)
    current = glue.get_table()
    current_folder = (
        folder_of(current["StorageDescriptor"]["Location"], bucket.bucket) if current else None
    )
    metadata: dict[str, Any] = {
        **daily_table_metadata(table),
        "glue_table": f"{glue.database}.{glue.table_name}",
        "content_sha256": content_sha256,
    }

    if served_export_problem(current, bucket, content_sha256) is None:
        location = current["StorageDescriptor"]["Location"]
        context.log.info("Export unchanged at %s; nothing written", location)
        metadata.update(status="unchanged", location=MetadataValue.path(location))
    else:
        version = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{content_sha256[:12]}"
        new_folder = f"{bucket.export_root}{version}/"
        parquet_etag = bucket.put(
            new_folder + PARQUET_FILE_NAME,
            parquet_bytes(table, schema),
            content_type="application/vnd.apache.parquet",
        )
        location = bucket.uri(new_folder)
        glue.put_table(
            glue_table_input(
                glue.table_name, location, content_sha256, len(table), parquet_etag, schema
            )
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
        f"```sql\n{athena_ddl(glue.database, glue.table_name, location, schema)}\n```"
    )
    return metadata


def verify_export(
    table: pd.DataFrame,
    bucket: S3BucketResource,
    glue: GlueCatalogResource,
    asset: str = EXPORT,
    row_count_check: str = EXPORT_ROW_COUNT_CHECK,
) -> list[AssetCheckResult]:
    """Read the export back the way Athena does and compare it with the table it exports: the
    Glue columns with each file's schema, and the files' rows with the table's."""
    try:
        export = read_glue_export(glue, bucket)
    except ExportUnreadableError:
        missing = [
            Problem(
                f"{glue.database}.{glue.table_name}", None, None, None, "the Glue table to exist"
            )
        ]
        return [check_result(asset, name, missing) for name in (GLUE_SCHEMA_CHECK, row_count_check)]
    schema_problems = [
        Problem(file.uri, None, None, str(file_columns), f"Glue's {export.columns}")
        for file in export.files
        for file_columns in [glue_columns(file.footer.schema.to_arrow_schema())]
        if file_columns != export.columns
    ]
    rows = sum(file.footer.num_rows for file in export.files)
    count_problems = (
        []
        if rows == len(table)
        else [Problem(export.location, None, None, f"{rows} rows", f"{len(table)} rows")]
    )
    return [
        check_result(asset, GLUE_SCHEMA_CHECK, schema_problems),
        check_result(asset, row_count_check, count_problems),
    ]
