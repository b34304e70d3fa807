"""The dashboard asset: charts of the Athena export, in the Dagster UI and as a page in S3.

It reads the export back the way Athena does, through the Glue table (``glue_export``), so what
it draws is exactly what a query of the table would see, with no second copy of the data.
"""

import hashlib

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from covid_assets.athena_export import EXPORT
from covid_assets.aws import GlueCatalogResource, S3BucketResource
from covid_assets.dashboard_data import prepare_dashboard_data
from covid_assets.dashboard_render import dashboard_html, dashboard_markdown, dashboard_svgs
from covid_assets.freshness import served_freshness_policy
from covid_assets.glue_export import ExportUnreadableError, read_glue_export
from covid_assets.serving_lock import ServingLockResource
from covid_assets.transform import MERGED_COLUMNS

DASHBOARD = "dashboard"
DASHBOARD_KEY = "dashboard/index.html"


@asset(
    name=DASHBOARD,
    group_name="reporting",
    deps=[EXPORT],
    freshness_policy=served_freshness_policy(),
    description=(
        "Charts of cumulative cases, deaths and recovered and of daily new cases and deaths, "
        "drawn from the Athena export (read through its Glue table): SVG charts in the "
        f"materialization and a self-contained page at s3://$COVID_S3_BUCKET/{DASHBOARD_KEY}."
    ),
    kinds={"svg", "html", "s3"},
)
def dashboard(
    context: AssetExecutionContext,
    bucket: S3BucketResource,
    glue: GlueCatalogResource,
    serving_lock: ServingLockResource,
) -> MaterializeResult:
    serving_lock.hold(context)
    try:
        glue_export = read_glue_export(glue, bucket)
        export = glue_export.to_arrow(MERGED_COLUMNS).to_pandas()
    except ExportUnreadableError as error:
        raise ExportUnreadableError(f"{error}; materialize {EXPORT} first.") from None
    data = prepare_dashboard_data(export)
    svgs = dashboard_svgs(data)
    page_html = dashboard_html(data, svgs).encode()
    page = bucket.uri(DASHBOARD_KEY)
    # A single-part object's ETag is its body's MD5: an unchanged page is not written again.
    page_written = bucket.etag(DASHBOARD_KEY) != f'"{hashlib.md5(page_html).hexdigest()}"'
    if page_written:
        bucket.put(DASHBOARD_KEY, page_html, content_type="text/html; charset=utf-8")
    context.log.info(
        "Dashboard of %d days (to %s) %s %s",
        len(export),
        data.last_date,
        "written to" if page_written else "unchanged at",
        page,
    )
    return MaterializeResult(
        metadata={
            "dashboard": MetadataValue.md(dashboard_markdown(data, svgs)),
            "html_page": MetadataValue.path(page),
            "export_location": MetadataValue.path(glue_export.location),
            "days": len(export),
            "first_date": str(data.first_date),
            "last_date": str(data.last_date),
            "recovered_last_reported": str(data.recovered_last_reported or "never"),
            "days_with_negative_new_cases": data.negative_change_days["cases"],
            "days_with_negative_new_deaths": data.negative_change_days["deaths"],
            "page_bytes": len(page_html),
            "page_written": page_written,
        }
    )
