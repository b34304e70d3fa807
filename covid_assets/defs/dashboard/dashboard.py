"""The dashboard asset: charts of the Athena exports, in the Dagster UI and as a page in S3, and
the revisions of the national history (its revision summary's totals per publication, and
nothing else of it).

It reads the exports back the way Athena does, through their Glue tables, so what it draws is
exactly what a query of the tables would see (in a run, the export's own checks read the same
objects just before, so the dashboard reads nothing again). Its revisions are the totals in
``merged_daily_history``'s last output, which each run keeps up to date from the newest version
(trusted as that asset trusts it: when the history's Glue table records it), so what it reads
does not grow with the versions. The page as published on a past day is drawn by the job of
``as_published_on``, with the same functions.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    IOManager,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
)

from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.defs.history.history_assets import history_state, last_published
from covid_assets.domain.dashboard_data import (
    DashboardData,
    prepare_dashboard_data,
    revised_publications,
)
from covid_assets.domain.dashboard_render import dashboard_html, dashboard_markdown, dashboard_svgs
from covid_assets.domain.history import DAYS_REVISED
from covid_assets.domain.tables import NATIONAL, STATE, ServedTable
from covid_assets.domain.transform import MERGED_COLUMNS
from covid_assets.resources.exports import ExportUnreadableError
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource

DASHBOARD = "dashboard"
DASHBOARD_KEY = "dashboard/index.html"
STATE_COLUMNS = ["date", "state", "cases"]


def read_export(served: ServedTablesResource, table: ServedTable, columns: list[str]) -> tuple:
    """An export's ``columns`` as read through its Glue table, and its location."""
    try:
        return served.export(table).read(columns)
    except ExportUnreadableError as error:
        raise ExportUnreadableError(f"{error}; materialize {table.export_asset} first.") from None


@dataclass(frozen=True)
class DashboardPage:
    """A drawn dashboard, written to S3 unless the object there is already this page."""

    data: DashboardData
    svgs: dict[str, str]
    uri: str
    size: int
    written: bool

    def metadata(self) -> dict[str, Any]:
        """What a materialization or a run says of the page: the charts in Markdown, where the
        page is, and its figures."""
        data, headline = self.data, self.data.headline
        publications = revised_publications(data.revisions)
        return {
            "dashboard": MetadataValue.md(dashboard_markdown(data, self.svgs)),
            "html_page": MetadataValue.path(self.uri),
            "days": len(data.days),
            "first_date": str(data.first_date),
            "last_date": str(data.last_date),
            "cases": headline.cases,
            "deaths": headline.deaths,
            "new_cases": headline.new_cases,
            "new_deaths": headline.new_deaths,
            "recovered_last_reported": str(data.recovered_last_reported or "never"),
            "days_with_negative_new_cases": data.negative_change_days["cases"],
            "days_with_negative_new_deaths": data.negative_change_days["deaths"],
            "states_drawn": len(data.states_weekly.columns) if data.has_state_weeks else 0,
            "revised_publications": len(publications),
            "days_revised_latest_publication": (
                int(publications[DAYS_REVISED].iloc[-1]) if len(publications) else 0
            ),
            "page_bytes": self.size,
            "page_written": self.written,
        }


def write_page(bucket: S3BucketResource, key: str, data: DashboardData) -> DashboardPage:
    """Draw ``data`` and write the page at ``key``, unless it is there already."""
    svgs = dashboard_svgs(data)
    page_html = dashboard_html(data, svgs).encode()
    # A single-part object's ETag is its body's MD5: an unchanged page is not written again.
    written = bucket.etag(key) != f'"{hashlib.md5(page_html).hexdigest()}"'
    if written:
        bucket.put(key, page_html, content_type="text/html; charset=utf-8")
    return DashboardPage(data, svgs, bucket.uri(key), len(page_html), written)


def build_dashboard(tables: Sequence[ServedTable]) -> AssetsDefinition:
    """The dashboard of the national export, with the states' panel when the state table is
    among ``tables``: only then does it read the state export and depend on it."""
    states = STATE in tables
    description = (
        "Charts of cumulative cases, deaths and recovered and of daily new cases and deaths, "
        "drawn from the Athena export (read through its Glue table); the latest totals written "
        "as numbers; the revisions per publication day from the history's revision summary"
    )
    if states:
        description += f", with a small chart of weekly new cases per state ({STATE.export_asset})"

    @asset(
        name=DASHBOARD,
        group_name="reporting",
        deps=[
            NATIONAL.history_asset,
            NATIONAL.export_asset,
            *([STATE.export_asset] if states else []),
        ],
        freshness_policy=served_freshness_policy(),
        description=(
            f"{description}: SVG charts in the materialization and a self-contained page at "
            f"s3://$COVID_S3_BUCKET/{DASHBOARD_KEY}. The page as published on a past day is the "
            "job as_published_on's."
        ),
        kinds={"svg", "html", "s3"},
    )
    def dashboard(
        context: AssetExecutionContext,
        served: ServedTablesResource,
        serving_lock: ServingLockResource,
        io_manager: ResourceParam[IOManager],
    ) -> MaterializeResult:
        serving_lock.hold(context)
        rows, location = read_export(served, NATIONAL, list(MERGED_COLUMNS))
        state_export = read_export(served, STATE, STATE_COLUMNS)[0] if states else None
        history = history_state(
            served.history(NATIONAL),
            last_published(context, io_manager, NATIONAL),
            context.log.warning,
        )
        page = write_page(
            served.bucket,
            DASHBOARD_KEY,
            prepare_dashboard_data(rows, state_export, history.revisions),
        )
        context.log.info(
            "Dashboard of %d days (to %s) %s %s",
            len(rows),
            page.data.last_date,
            "written to" if page.written else "unchanged at",
            page.uri,
        )
        return MaterializeResult(
            metadata={**page.metadata(), "export_location": MetadataValue.path(location)}
        )

    return dashboard
