"""The dashboard asset: charts of the Athena exports, in the Dagster UI and as a page in S3, and
the revisions of the national history.

It reads the exports back the way Athena does, through their Glue tables, so what it draws is
exactly what a query of the tables would see (in a run, the export's own checks read the same
objects just before, so the dashboard reads nothing again). Its revisions come from
``merged_daily_history``'s last output, which each run keeps up to date from the newest version
(trusted as that asset trusts it: when the history's Glue table records it), so what it reads
does not grow with the versions. On request, its national charts are drawn "as published on" a
past day, from the history itself.
"""

import hashlib
from collections.abc import Sequence

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    IOManager,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    asset,
)
from pydantic import Field

from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.defs.history.history_assets import history_state, last_published
from covid_assets.domain.dashboard_data import (
    chosen_day,
    prepare_dashboard_data,
    published_on,
    revisions_by_publication_day,
)
from covid_assets.domain.dashboard_render import dashboard_html, dashboard_markdown, dashboard_svgs
from covid_assets.domain.tables import NATIONAL, STATE, ServedTable
from covid_assets.domain.transform import MERGED_COLUMNS
from covid_assets.resources.exports import ExportUnreadableError
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource

DASHBOARD = "dashboard"
DASHBOARD_KEY = "dashboard/index.html"
STATE_COLUMNS = ["date", "state", "cases"]


def as_published_page_key(day: str) -> str:
    """Where a page "as published on" a day is written: beside the page of today's export,
    which it does not replace."""
    return f"dashboard/as-published-on/{day}.html"


class DashboardConfig(Config):
    as_published_on: str = Field(
        default="",
        description=(
            "A day (ISO, e.g. 2020-06-14): draw the national charts and figures as published on "
            "that day, from merged_daily_history as of the end of the day (UTC), instead of from "
            "the export, and write the page to dashboard/as-published-on/<day>.html. Empty (the "
            "default): today's export, at dashboard/index.html."
        ),
    )


def read_export(served: ServedTablesResource, table: ServedTable, columns: list[str]) -> tuple:
    """An export's ``columns`` as read through its Glue table, and its location."""
    try:
        return served.export(table).read(columns)
    except ExportUnreadableError as error:
        raise ExportUnreadableError(f"{error}; materialize {table.export_asset} first.") from None


def build_dashboard(tables: Sequence[ServedTable]) -> AssetsDefinition:
    """The dashboard of the national export, with the states' panel when the state table is
    among ``tables``: only then does it read the state export and depend on it."""
    states = STATE in tables
    description = (
        "Charts of cumulative cases, deaths and recovered and of daily new cases and deaths, "
        "drawn from the Athena export (read through its Glue table) or, with the run config's "
        f"as_published_on, from {NATIONAL.history_asset} as of that day; the latest totals "
        "written as numbers; the revisions per publication day (past days revised, and the "
        "total change) from the history"
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
            f"s3://$COVID_S3_BUCKET/{DASHBOARD_KEY} (as published on a day: at "
            f"{as_published_page_key('<day>')})."
        ),
        kinds={"svg", "html", "s3"},
    )
    def dashboard(
        context: AssetExecutionContext,
        config: DashboardConfig,
        served: ServedTablesResource,
        serving_lock: ServingLockResource,
        io_manager: ResourceParam[IOManager],
    ) -> MaterializeResult:
        try:
            day = chosen_day(config.as_published_on)
        except ValueError as error:
            raise Failure(f"as_published_on: {error}") from None
        serving_lock.hold(context)
        bucket = served.bucket
        if day is None:
            rows, location = read_export(served, NATIONAL, list(MERGED_COLUMNS))
            location_key = "export_location"
            page_key = DASHBOARD_KEY
        else:
            store = served.history(NATIONAL)
            try:
                rows = published_on(store.read().rows, day)
            except ValueError as error:
                raise Failure(f"as_published_on {day}: {error}") from None
            location = bucket.uri(store.root)
            location_key = "history_location"
            page_key = as_published_page_key(day.isoformat())
        state_export = read_export(served, STATE, STATE_COLUMNS)[0] if states else None
        history = history_state(
            served.history(NATIONAL),
            last_published(context.instance, io_manager, NATIONAL),
            context.log.warning,
        )
        revisions = revisions_by_publication_day(history.revisions)
        data = prepare_dashboard_data(rows, state_export, revisions, day)
        svgs = dashboard_svgs(data)
        page_html = dashboard_html(data, svgs).encode()
        page = bucket.uri(page_key)
        # A single-part object's ETag is its body's MD5: an unchanged page is not written again.
        page_written = bucket.etag(page_key) != f'"{hashlib.md5(page_html).hexdigest()}"'
        if page_written:
            bucket.put(page_key, page_html, content_type="text/html; charset=utf-8")
        context.log.info(
            "Dashboard of %d days (to %s%s) %s %s",
            len(rows),
            data.last_date,
            f", as published on {day}" if day else "",
            "written to" if page_written else "unchanged at",
            page,
        )
        headline = data.headline
        return MaterializeResult(
            metadata={
                "dashboard": MetadataValue.md(dashboard_markdown(data, svgs)),
                "html_page": MetadataValue.path(page),
                "as_published_on": day.isoformat() if day else "",
                location_key: MetadataValue.path(location),
                "days": len(rows),
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
                "publication_days": len(revisions),
                "revised_days_last_publication_day": (
                    int(revisions["revised_days"].iloc[-1]) if len(revisions) else 0
                ),
                "page_bytes": len(page_html),
                "page_written": page_written,
            }
        )

    return dashboard
