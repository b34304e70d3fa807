"""The dashboard's figures, computed from the exported daily table and the national history.

Plain pandas, nothing else: this module knows nothing of Dagster, AWS or charts, so every rule
here is unit-tested with hand-written DataFrames. The input is the export as read back: one row
per day with the cumulative ``date``, ``cases``, ``deaths`` and ``recovered``, and, when the state
level is on, the state export: one row per state and day with the cumulative ``cases`` (null where
unknown). The national history (``merged_daily_history``) has the export's columns and
``valid_from``, the UTC publication time of the version that first carried a row's values; its
revision summary has a row per publication (``history.version_summary``; the nation has one
place, so the totals per publication the history hands on, ``history.publication_totals``, are
the summary itself).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

from covid_assets.domain.history import DAYS_ADDED, DAYS_REVISED, PUBLISHED, as_of
from covid_assets.domain.transform import MERGED_COLUMNS

DAILY_COLUMNS = ("cases", "deaths")
AVERAGE_DAYS = 7
WEEK_DAYS = 7
REVISIONS_COLUMNS = [
    DAYS_REVISED,
    DAYS_ADDED,
    *(f"{column}_net_change" for column in DAILY_COLUMNS),
]


def values_or_none(series: pd.Series) -> list[float | None]:
    """A series as plain floats, None where it has no value (NaN)."""
    return [None if math.isnan(value) else value for value in series.astype("float64")]


def whole_or_none(value: float) -> int | None:
    """A count as an int, None where it has no value (NaN)."""
    return None if math.isnan(value) else int(value)


def daily_changes(cumulative: pd.Series) -> pd.Series:
    """The change from the day before. The first day has none (NaN, not its whole total), and a
    total revised downwards gives a negative change, kept as such."""
    return cumulative.astype("float64").diff()


def trailing_average(daily: pd.Series, days: int = AVERAGE_DAYS) -> pd.Series:
    """The mean of each day and the ``days - 1`` before it; NaN until a full window exists."""
    return daily.rolling(days, min_periods=days).mean()


def last_reported_recovered_date(dates: pd.Series, recovered: pd.Series) -> dt.date | None:
    """The last day JHU reported recoveries: the day before the trailing run of days without a
    figure (null from 2020-12-14 on, when JHU stopped counting; 0 in an export written before
    that was read as null). None if it never reported."""
    reported = recovered.astype("float64").to_numpy() > 0
    if not reported.any():
        return None
    return pd.Timestamp(dates.iloc[reported.nonzero()[0][-1]]).date()


def recovered_while_reported(
    dates: pd.Series, recovered: pd.Series, last_reported: dt.date | None
) -> pd.Series:
    """Recovered as reported, and NaN after the last reported day, so that a chart stops the line
    there instead of drawing a fall to zero. Zeros before the first recovery are kept."""
    if last_reported is None:
        return pd.Series(float("nan"), index=recovered.index)
    after = pd.to_datetime(dates) > pd.Timestamp(last_reported)
    return recovered.astype("float64").mask(after)


def weekly_new_cases(states: pd.DataFrame) -> pd.DataFrame:
    """Each state's average of daily new cases over the weeks that end on the last day of the
    data and every seventh day before it: a row per week (by its last day, oldest first), a column
    per state (alphabetical). A week is the change of the cumulative count between two week ends,
    divided by seven, so a week whose first or last count is unknown (a blank cell, a day with no
    row, a state not reported yet) is NaN, and a total revised downwards gives a negative week."""
    cumulative = states.assign(date=pd.to_datetime(states["date"])).pivot(
        index="date", columns="state", values="cases"
    )
    days = pd.date_range(cumulative.index.min(), cumulative.index.max())
    week_ends = days[::-1][::WEEK_DAYS][::-1]
    weekly = cumulative.astype("float64").reindex(week_ends).diff() / WEEK_DAYS
    weekly = weekly.iloc[1:].sort_index(axis="columns")
    weekly.columns.name = None
    return weekly


def revised_publications(summary: pd.DataFrame | None) -> pd.DataFrame:
    """The publications of the national revision summary (``history.version_summary``) that
    had a version before them, oldest first: the first one revised nothing, it added every
    day."""
    if summary is None or summary.empty:
        return pd.DataFrame(columns=[PUBLISHED, *REVISIONS_COLUMNS])
    return summary.sort_values(PUBLISHED, kind="stable", ignore_index=True).iloc[1:]


def revisions_by_publication_day(summary: pd.DataFrame | None) -> pd.DataFrame:
    """Per publication day (UTC, a row per day with a publication after the first, oldest
    first): its publications' days revised and added, and for cases and deaths their net
    changes (``cases_net_change``), each summed over the day's publications; a net change
    unknown in all of them stays unknown (NaN)."""
    publications = revised_publications(summary)
    days = pd.to_datetime(publications[PUBLISHED]).dt.floor("D").rename("published_day")
    per_day = publications[REVISIONS_COLUMNS].astype("float64").groupby(days).sum(min_count=1)
    return per_day.reindex(columns=REVISIONS_COLUMNS)


def chosen_day(text: str) -> dt.date | None:
    """A day chosen in the run config (ISO, ``2020-06-14``), None when left empty."""
    day = text.strip()
    if not day:
        return None
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"{text!r} is not a day in ISO form, like 2020-06-14") from None


def end_of_day(day: dt.date) -> pd.Timestamp:
    """The last moment of a UTC day that the history can hold (it keeps milliseconds)."""
    return pd.Timestamp(day) + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)


def published_on(history: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The national table as published by the end of ``day`` (UTC): per date, the history's row
    with the greatest ``valid_from`` not after then, in the export's columns. Refused when no
    version had been published by then."""
    table = as_of(history, end_of_day(day), ["date"])
    if table.empty:
        raise ValueError(f"the history has no version published by the end of {day:%Y-%m-%d}")
    return table[list(MERGED_COLUMNS)]


@dataclass(frozen=True)
class Headline:
    """The latest figures, as the page states them in numbers: the totals on the last day, its
    change from the day before (None on a first day), and recovered on the last day it was
    reported (None if never)."""

    day: dt.date
    cases: int
    deaths: int
    new_cases: int | None
    new_deaths: int | None
    recovered: int | None
    recovered_day: dt.date | None


def headline(days: pd.DataFrame, recovered_last_reported: dt.date | None) -> Headline:
    """The headline of prepared ``days`` (sorted, with their daily changes and recovered cut
    where reporting stopped)."""
    last = days.iloc[-1]
    recovered = None
    if recovered_last_reported is not None:
        reported_day = days["date"] == pd.Timestamp(recovered_last_reported)
        recovered = int(days.loc[reported_day, "recovered"].iloc[0])
    return Headline(
        day=last["date"].date(),
        cases=int(last["cases"]),
        deaths=int(last["deaths"]),
        new_cases=whole_or_none(last["new_cases"]),
        new_deaths=whole_or_none(last["new_deaths"]),
        recovered=recovered,
        recovered_day=recovered_last_reported,
    )


@dataclass(frozen=True)
class DashboardData:
    """Everything the charts draw: one row per day in ``days``, the facts the captions name, the
    headline figures, the states' weeks (None when the state level is off), the national
    revision summary (None or empty: no history yet), and the day the national figures are as
    published on (None: the export, as served now)."""

    days: pd.DataFrame
    first_date: dt.date
    last_date: dt.date
    recovered_last_reported: dt.date | None
    negative_change_days: dict[str, int]
    headline: Headline
    states_weekly: pd.DataFrame | None = None
    revisions: pd.DataFrame | None = None
    as_published_on: dt.date | None = None

    @property
    def has_state_weeks(self) -> bool:
        """Whether there are states' weeks to draw: a state export spanning a full week."""
        return self.states_weekly is not None and not self.states_weekly.empty

    @property
    def recovered_stopped_early(self) -> bool:
        """Whether recoveries stopped being reported before the last day of the data."""
        return (
            self.recovered_last_reported is not None
            and self.recovered_last_reported < self.last_date
        )


def prepare_dashboard_data(
    export: pd.DataFrame,
    states: pd.DataFrame | None = None,
    revisions: pd.DataFrame | None = None,
    as_published_on: dt.date | None = None,
) -> DashboardData:
    """From the export's cumulative rows (any order) to the dashboard's figures: ``date`` as
    datetime64, the cumulative counts (recovered cut where reporting stopped), and for cases and
    deaths the daily change (``new_cases``) and its trailing average (``new_cases_avg``); from the
    state export, if given, each state's weekly new cases. ``revisions`` (the national
    revision summary) and ``as_published_on`` (the day ``export`` is the national
    table as published on) are handed on as they are."""
    if export.empty:
        raise ValueError("the export has no rows: there is nothing to draw")
    table = export.sort_values("date", ignore_index=True)
    days = pd.DataFrame({"date": pd.to_datetime(table["date"])})
    for column in DAILY_COLUMNS:
        days[column] = table[column].astype("float64")
        days[f"new_{column}"] = daily_changes(table[column])
        days[f"new_{column}_avg"] = trailing_average(days[f"new_{column}"])
    last_reported = last_reported_recovered_date(days["date"], table["recovered"])
    days["recovered"] = recovered_while_reported(days["date"], table["recovered"], last_reported)
    return DashboardData(
        days=days,
        first_date=days["date"].iloc[0].date(),
        last_date=days["date"].iloc[-1].date(),
        recovered_last_reported=last_reported,
        negative_change_days={
            column: int((days[f"new_{column}"] < 0).sum()) for column in DAILY_COLUMNS
        },
        headline=headline(days, last_reported),
        states_weekly=None if states is None else weekly_new_cases(states),
        revisions=revisions,
        as_published_on=as_published_on,
    )
