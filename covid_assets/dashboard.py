"""The dashboard asset: charts of the Athena export, in the Dagster UI and as a page in S3.

It reads the export back the way Athena does, through the Glue table: the table's location and
columns, then every Parquet file at that location. What it draws is therefore exactly what a
query of the table would see, with no second copy of the data.
"""

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from covid_assets.dashboard_data import prepare_dashboard_data
from covid_assets.dashboard_render import dashboard_html, dashboard_markdown, dashboard_svgs
from covid_assets.export import exported_files
from covid_assets.resources import GlueCatalogResource, S3BucketResource
from covid_assets.transform import MERGED_COLUMNS

DASHBOARD_KEY = "dashboard/index.html"


class ExportUnreadableError(RuntimeError):
    """The Glue table is missing, lacks a column the dashboard needs, or has no data files."""


def read_glue_table(table: dict[str, Any], bucket: S3BucketResource) -> pa.Table:
    """Every data file at a Glue table's S3 location, as one table of the columns the dashboard
    draws (which the Glue table must declare)."""
    storage = table["StorageDescriptor"]
    columns = [column["Name"] for column in storage["Columns"]]
    missing = [column for column in MERGED_COLUMNS if column not in columns]
    if missing:
        raise ExportUnreadableError(
            f"Glue table {table['DatabaseName']}.{table['Name']} has no column(s) {missing}; "
            "materialize athena_export to rewrite it."
        )
    parts = [
        pq.read_table(io.BytesIO(content), columns=list(MERGED_COLUMNS))
        for _, content in exported_files(bucket, storage["Location"])
    ]
    if not parts:
        raise ExportUnreadableError(
            f"no data files at {storage['Location']}; materialize athena_export first."
        )
    return pa.concat_tables(parts)


@asset(
    group_name="reporting",
    deps=["athena_export"],
    description=(
        "Charts of cumulative cases, deaths and recovered and of daily new cases and deaths, "
        "drawn from the Athena export (read through its Glue table): SVG charts in the "
        f"materialization and a self-contained page at s3://$COVID_S3_BUCKET/{DASHBOARD_KEY}."
    ),
    kinds={"svg", "html", "s3"},
)
def dashboard(
    context: AssetExecutionContext, bucket: S3BucketResource, glue: GlueCatalogResource
) -> MaterializeResult:
    table = glue.get_table()
    if table is None:
        raise ExportUnreadableError(
            f"Glue table {glue.database}.{glue.table_name} does not exist; "
            "materialize athena_export first."
        )
    export = read_glue_table(table, bucket).to_pandas()
    data = prepare_dashboard_data(export)
    svgs = dashboard_svgs(data)
    page_html = dashboard_html(data, svgs).encode()
    bucket.put(DASHBOARD_KEY, page_html, content_type="text/html; charset=utf-8")
    page = bucket.uri(DASHBOARD_KEY)
    context.log.info(
        "Dashboard of %d days (to %s) written to %s", len(export), data.last_date, page
    )
    return MaterializeResult(
        metadata={
            "dashboard": MetadataValue.md(dashboard_markdown(data, svgs)),
            "html_page": MetadataValue.path(page),
            "export_location": MetadataValue.path(table["StorageDescriptor"]["Location"]),
            "days": len(export),
            "first_date": str(data.first_date),
            "last_date": str(data.last_date),
            "recovered_last_reported": str(data.recovered_last_reported or "never"),
            "days_with_negative_new_cases": data.negative_change_days["cases"],
            "days_with_negative_new_deaths": data.negative_change_days["deaths"],
            "page_bytes": len(page_html),
        }
    )
