"""The dashboard's figures, computed from the exported daily table.

Plain pandas, nothing else: this module knows nothing of Dagster, AWS or charts, so every rule
here is unit-tested with hand-written DataFrames. The input is the export as read back: one row
per day with the cumulative ``date``, ``cases``, ``deaths`` and ``recovered``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

DAILY_COLUMNS = ("cases", "deaths")
AVERAGE_DAYS = 7


def values_or_none(series: pd.Series) -> list[float | None]:
    """A series as plain floats, None where it has no value (NaN)."""
    return [None if math.isnan(value) else value for value in series.astype("float64")]


def daily_changes(cumulative: pd.Series) -> pd.Series:
    """The change from the day before. The first day has none (NaN, not its whole total), and a
    total revised downwards gives a negative change, kept as such."""
    return cumulative.astype("float64").diff()


def trailing_average(daily: pd.Series, days: int = AVERAGE_DAYS) -> pd.Series:
    """The mean of each day and the ``days - 1`` before it; NaN until a full window exists."""
    return daily.rolling(days, min_periods=days).mean()


def last_reported_recovered_date(dates: pd.Series, recovered: pd.Series) -> dt.date | None:
    """The last day JHU reported recoveries: the day before the trailing run of zeros (JHU put
    0 for every day from 2020-12-14 on when it stopped counting). None if it never reported."""
    reported = recovered.to_numpy() > 0
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


@dataclass(frozen=True)
class DashboardData:
    """Everything the charts draw: one row per day in ``days``, and the facts the captions name."""

    days: pd.DataFrame
    first_date: dt.date
    last_date: dt.date
    recovered_last_reported: dt.date | None
    negative_change_days: dict[str, int]

    @property
    def recovered_stopped_early(self) -> bool:
        """Whether recoveries stopped being reported before the last day of the data."""
        return (
            self.recovered_last_reported is not None
            and self.recovered_last_reported < self.last_date
        )


def prepare_dashboard_data(export: pd.DataFrame) -> DashboardData:
    """From the export's cumulative rows (any order) to the dashboard's figures: ``date`` as
    datetime64, the cumulative counts (recovered cut where reporting stopped), and for cases and
    deaths the daily change (``new_cases``) and its trailing average (``new_cases_avg``)."""
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
    )
