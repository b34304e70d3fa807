"""The Athena export of every served table, ``athena_export``, ``state_athena_export`` and
``county_athena_export`` (declared in ``domain.tables``), and its checks: the table as Parquet in
S3, catalogued in Glue, switched so that a reader never sees half of it
(``resources.exports``), then read back the way Athena reads it. The backfill exports with the
same function (``export_rows``).
"""

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.defs.checks import check_result, selected_results
from covid_assets.defs.metadata import daily_table_metadata
from covid_assets.domain.history import PublishedTable
from covid_assets.domain.tables import ServedTable
from covid_assets.resources.exports import ExportStore, ExportWrite, athena_ddl, partition_folder
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource

GLUE_SCHEMA_CHECK = "glue_columns_match_parquet_schema"
# One file is checked by its row count; partitions row by row (only the touched ones are read).
ROW_COUNT_CHECK = "row_count_matches_served_table"
ROWS_CHECK = "rows_match_served_table"

Log = Callable[[str], None]


def rows_check(table: ServedTable) -> str:
    return ROWS_CHECK if table.export_partitions is not None else ROW_COUNT_CHECK


def export_check_specs(table: ServedTable) -> list[AssetCheckSpec]:
    partitioned = table.export_partitions is not None
    return [
        AssetCheckSpec(
            GLUE_SCHEMA_CHECK,
            asset=table.export_asset,
            blocking=True,
            description="The Glue table's columns and types are those of the Parquet files.",
        ),
        AssetCheckSpec(
            rows_check(table),
            asset=table.export_asset,
            blocking=True,
            description=(
                f"Every row of {table.table_asset} is in its partition with the same values "
                "(after a write: as laid, and the last file written read back)."
                if partitioned
                else f"The files at the Glue table's location hold {table.table_asset}'s rows."
            ),
        ),
    ]


def export_rows(
    store: ExportStore, rows: pd.DataFrame, log: Log
) -> tuple[ExportWrite, dict[str, Any]]:
    """Write ``rows`` to the table's export where it does not hold them: what the write did,
    and the materialization's metadata, the same for every table."""
    written = store.write(rows, log)
    metadata: dict[str, Any] = {
        **daily_table_metadata(rows),
        "dagster/row_count": written.rows,
        "glue_table": store.label,
        "location": MetadataValue.path(written.location),
        "status": written.status,
        "content_sha256": written.content_sha256,
        "files_written": written.files_written,
        "stale_objects_removed": written.stale_objects_removed,
        **{f"partitions_{name}": count for name, count in written.partitions.items()},
    }
    if written.partitions:
        metadata["example_query"] = example_query(store, rows)
    else:
        ddl = athena_ddl(
            store.glue.database, store.glue_table, written.location, store.table.export_schema
        )
        metadata["athena_ddl"] = MetadataValue.md(f"```sql\n{ddl}\n```")
    return written, metadata


def example_query(store: ExportStore, rows: pd.DataFrame) -> MetadataValue:
    """An Athena query that reads one partition, for the materialization's metadata."""
    names = store.partition_names
    partitions = store.table.export_partitions(rows.head(1))
    values = tuple(partitions.iloc[0]) if len(partitions) else ("CA", "2021-03")
    where = " AND ".join(f"{name} = '{value}'" for name, value in zip(names, values, strict=True))
    place = store.table.level.place_column if store.table.level else "date"
    return MetadataValue.md(
        f"```sql\nSELECT date, {place}, cases, deaths\nFROM {store.label}\n"
        f"WHERE {where}\nORDER BY {place}, date\n```\n"
        f"(reads only {partition_folder(names, values)})"
    )


def export_check_results(
    store: ExportStore, rows: pd.DataFrame, written: ExportWrite | None
) -> list[AssetCheckResult]:
    """Read the export back the way Athena does and compare it with the table it exports
    (right after ``written``, what that write laid: ``ExportStore.check``)."""
    problems = store.check(rows, written)
    asset = store.table.export_asset
    return [
        check_result(asset, GLUE_SCHEMA_CHECK, problems.schema),
        check_result(asset, rows_check(store.table), problems.rows),
    ]


def build_export_asset(table: ServedTable) -> AssetsDefinition:
    """The table's Athena export and its checks."""
    layout = (
        "partitioned by state and month (usps=CA/month=2021-03, registered as Glue "
        "partitions); a run rewrites only the partitions whose rows changed, and keeps the "
        "rows that left the window"
        if table.export_partitions is not None
        else "one file, switched atomically"
    )

    @multi_asset(
        name=table.export_asset,
        specs=[
            AssetSpec(
                table.export_asset,
                deps=[table.history_asset],
                group_name="serving",
                description=(
                    f"{table.table_asset} as Parquet under s3://$COVID_S3_BUCKET/"
                    f"${table.export_prefix_setting}, registered in Glue as "
                    f"$COVID_GLUE_DATABASE.${table.glue_table_setting} (counts null where "
                    f"unknown), {layout}."
                ),
                kinds={"s3", "parquet", "athena"},
                freshness_policy=served_freshness_policy(),
            )
        ],
        check_specs=export_check_specs(table),
        ins={"published": AssetIn(table.history_asset)},
        # Run alone (no asset selected, from the UI's "Execute"), the checks only read back.
        can_subset=True,
    )
    def export(
        context: AssetExecutionContext,
        published: PublishedTable,
        served: ServedTablesResource,
        serving_lock: ServingLockResource,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        serving_lock.hold(context)
        store = served.export(table)
        written = None
        if context.selected_asset_keys:
            written, metadata = export_rows(store, published.table, context.log.info)
            yield MaterializeResult(metadata={**metadata, **published.metadata})
        results = export_check_results(store, published.table, written)
        yield from selected_results(context.selected_asset_check_keys, results)

    return export
