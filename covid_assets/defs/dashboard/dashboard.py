"""The dashboard asset: charts of the Athena export, in the Dagster UI and as a page in S3, and
the revisions of the national history.

It reads the export back the way Athena does, through the Glue table (``glue_export``), so what
it draws is exactly what a query of the table would see, with no second copy of the data. Its
revisions' panel, and on request its national charts "as published on" a past day, come from
the national history (``merged_daily_history``), read through its ``HistoryStore``.
"""

import hashlib
from collections.abc import Sequence

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.defs.history.history_assets import NATIONAL_HISTORY, history_resource_keys
from covid_assets.defs.history.history_store import HistoryStore
from covid_assets.defs.serving.athena_export import EXPORT
from covid_assets.defs.tables.level_assets import bucket_resource_key, glue_resource_key
from covid_assets.domain.dashboard_data import (
    chosen_day,
    prepare_dashboard_data,
    published_on,
    revisions_by_publication_day,
)
from covid_assets.domain.dashboard_render import dashboard_html, dashboard_markdown, dashboard_svgs
from covid_assets.domain.tables import STATE, Level
from covid_assets.domain.transform import MERGED_COLUMNS
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.glue_export import ExportUnreadableError, read_glue_export
from covid_assets.resources.s3 import S3BucketResource

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


def read_export(
    glue: GlueCatalogResource, bucket: S3BucketResource, columns: list[str], asset_name: str
) -> tuple[pd.DataFrame, str]:
    """An export's ``columns`` as read through its Glue table, and its location."""
    try:
        glue_export = read_glue_export(glue, bucket)
        return glue_export.to_arrow(columns).to_pandas(), glue_export.location
    except ExportUnreadableError as error:
        raise ExportUnreadableError(f"{error}; materialize {asset_name} first.") from None


def build_dashboard(levels: Sequence[Level]) -> AssetsDefinition:
    """The dashboard of the national export, with the states' panel when the state level is
    among ``levels``: only then does it read the state export (through the level's own Glue
    table and bucket resources) and depend on it."""
    states = STATE in levels
    state_resources = (glue_resource_key(STATE), bucket_resource_key(STATE)) if states else ()
    history_glue_key, history_bucket_key = history_resource_keys(NATIONAL_HISTORY)
    description = (
        "Charts of cumulative cases, deaths and recovered and of daily new cases and deaths, "
        "drawn from the Athena export (read through its Glue table) or, with the run config's "
        f"as_published_on, from {NATIONAL_HISTORY.asset} as of that day; the latest totals "
        "written as numbers; the revisions per publication day (past days revised, and the "
        "total change) from the history"
    )
    if states:
        description += f", with a small chart of weekly new cases per state ({STATE.export_asset})"

    @asset(
        name=DASHBOARD,
        group_name="reporting",
        deps=[EXPORT, NATIONAL_HISTORY.asset, *([STATE.export_asset] if states else [])],
        freshness_policy=served_freshness_policy(),
        description=(
            f"{description}: SVG charts in the materialization and a self-contained page at "
            f"s3://$COVID_S3_BUCKET/{DASHBOARD_KEY} (as published on a day: at "
            f"{as_published_page_key('<day>')})."
        ),
        kinds={"svg", "html", "s3"},
        # Keys of the state level's and the history's own resources, so none can be a typed
        # parameter (Dagster takes resources from one or the other).
        required_resource_keys={
            "bucket",
            "glue",
            "serving_lock",
            history_glue_key,
            history_bucket_key,
            *state_resources,
        },
    )
    def dashboard(context: AssetExecutionContext, config: DashboardConfig) -> MaterializeResult:
        try:
            day = chosen_day(config.as_published_on)
        except ValueError as error:
            raise Failure(f"as_published_on: {error}") from None
        resources = context.resources
        resources.serving_lock.hold(context)
        bucket: S3BucketResource = resources.bucket
        store = HistoryStore(
            NATIONAL_HISTORY,
            getattr(resources, history_glue_key),
            getattr(resources, history_bucket_key),
        )
        history = store.read().rows
        if day is None:
            national, location = read_export(resources.glue, bucket, MERGED_COLUMNS, EXPORT)
            location_key = "export_location"
            page_key = DASHBOARD_KEY
        else:
            try:
                national = published_on(history, day)
            except ValueError as error:
                raise Failure(f"as_published_on {day}: {error}") from None
            location = store.bucket.uri(store.root)
            location_key = "history_location"
            page_key = as_published_page_key(day.isoformat())
        state_export = None
        if states:
            glue_key, bucket_key = state_resources
            state_export, _ = read_export(
                getattr(resources, glue_key),
                getattr(resources, bucket_key),
                STATE_COLUMNS,
                STATE.export_asset,
            )
        revisions = revisions_by_publication_day(history)
        data = prepare_dashboard_data(national, state_export, revisions, day)
        svgs = dashboard_svgs(data)
        page_html = dashboard_html(data, svgs).encode()
        page = bucket.uri(page_key)
        # A single-part object's ETag is its body's MD5: an unchanged page is not written again.
        page_written = bucket.etag(page_key) != f'"{hashlib.md5(page_html).hexdigest()}"'
        if page_written:
            bucket.put(page_key, page_html, content_type="text/html; charset=utf-8")
        context.log.info(
            "Dashboard of %d days (to %s%s) %s %s",
            len(national),
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
                "days": len(national),
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
