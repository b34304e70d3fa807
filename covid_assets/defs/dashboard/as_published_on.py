"""The job ``as_published_on``: the dashboard as it would have been drawn at the end of a past
day (UTC), every part of it from the histories as of then (the national charts and totals, the
states' panel and the revisions), written to ``dashboard/as-published-on/<day>.html``.

A job of its own, not a run of the ``dashboard`` asset with a config: a page of the past is no
materialization of today's dashboard, so it leaves the daily dashboard's lineage, its health and
the sensor's view of what was built from the current files as they are, and its failure is its
own run's.
"""

import datetime as dt
from collections.abc import Iterator, Sequence

from dagster import (
    Config,
    Failure,
    JobDefinition,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    job,
    op,
)
from pydantic import Field

from covid_assets.defs.dashboard.dashboard import STATE_COLUMNS, write_page
from covid_assets.domain.dashboard_data import (
    chosen_day,
    end_of_day,
    prepare_dashboard_data,
    published_on,
)
from covid_assets.domain.tables import NATIONAL, STATE, ServedTable
from covid_assets.resources.served_tables import ServedTablesResource

AS_PUBLISHED_ON = "as_published_on"


def as_published_page_key(day: dt.date) -> str:
    """Where the page as published on ``day`` is written: beside today's page, which it does
    not replace."""
    return f"dashboard/as-published-on/{day:%Y-%m-%d}.html"


class AsPublishedOnConfig(Config):
    day: str = Field(
        description=(
            "A day (ISO, e.g. 2020-06-14): the dashboard as published by the end of that day "
            "(UTC), from the histories as of then."
        ),
    )


def build_as_published_on_job(tables: Sequence[ServedTable]) -> JobDefinition:
    """The job, with the states' panel when the state table is among ``tables``."""
    states = STATE in tables

    @op(
        name="draw_as_published_on",
        out=Out(Nothing),
        description="Draw the dashboard from the histories as of the end of the day, and write "
        "its page beside today's.",
    )
    def draw_as_published_on(
        context: OpExecutionContext, config: AsPublishedOnConfig, served: ServedTablesResource
    ) -> Iterator[Output]:
        try:
            day = chosen_day(config.day)
        except ValueError as error:
            raise Failure(f"day: {error}", allow_retries=False) from None
        if day is None:
            raise Failure(
                "day: empty; give a day in ISO form, like 2020-06-14", allow_retries=False
            )
        until = end_of_day(day)
        national_history = served.history(NATIONAL)
        national = national_history.read(until)
        try:
            rows = published_on(national.rows, day)
        except ValueError as error:
            raise Failure(f"day {day}: {error}", allow_retries=False) from None
        revisions = national_history.summaries.read(until)
        state_rows = served.history(STATE).as_of(until)[STATE_COLUMNS] if states else None
        data = prepare_dashboard_data(
            rows,
            None if state_rows is None or state_rows.empty else state_rows,
            revisions,
            day,
        )
        page = write_page(served.bucket, as_published_page_key(day), data)
        context.log.info(
            "Dashboard as published on %s (%d days, to %s) %s %s",
            day,
            len(rows),
            data.last_date,
            "written to" if page.written else "unchanged at",
            page.uri,
        )
        yield Output(
            None,
            metadata={
                **page.metadata(),
                "as_published_on": day.isoformat(),
                "history_location": MetadataValue.path(served.bucket.uri(national_history.root)),
            },
        )

    @job(
        name=AS_PUBLISHED_ON,
        description=(
            "The dashboard as published on a past day (config: day), from the histories: the "
            "national charts and totals, the states and the revisions as of the end of that "
            "day, at s3://$COVID_S3_BUCKET/dashboard/as-published-on/{day}.html."
        ),
    )
    def as_published_on() -> None:
        draw_as_published_on()

    return as_published_on
