"""Draw the dashboard: a PNG of four charts, and a self-contained HTML page around it.

matplotlib's object API (``Figure``, no pyplot): no global state and no GUI backend, so it is
safe inside a Dagster step and on a server without a display.
"""

from __future__ import annotations

import base64
import html
import io

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from covid_assets.dashboard_data import DashboardData

TITLE = "COVID-19 in the United States"
SOURCES = (
    "Sources: The New York Times (cases, deaths; github.com/nytimes/covid-19-data) and "
    "Johns Hopkins University CSSE (recovered; via github.com/datasets/covid-19)."
)
COLORS = {"cases": "#1f77b4", "deaths": "#d62728", "recovered": "#2ca02c", "negative": "#ff7f0e"}
DPI = 100


def thousands(value: float, _position: int | None = None) -> str:
    """An axis label with thousands separators: 29,573,186."""
    return f"{value:,.0f}"


def subtitle(data: DashboardData) -> str:
    return f"Daily data from {data.first_date:%Y-%m-%d} to {data.last_date:%Y-%m-%d}"


def recovered_note(data: DashboardData) -> str | None:
    """What the chart says where the recovered line stops, if it stops before the last day."""
    if data.recovered_last_reported is None:
        return "Recovered: not reported in these data"
    if data.recovered_stopped_early:
        return f"Recovered: no longer reported after {data.recovered_last_reported:%Y-%m-%d}"
    return None


def captions(data: DashboardData) -> list[str]:
    """The lines printed under the charts and on the page."""
    lines = [SOURCES, f"Last data: {data.last_date:%Y-%m-%d}."]
    if note := recovered_note(data):
        lines.append(note + ".")
    return lines


def _style_axes(axes: Axes, title: str) -> None:
    axes.set_title(title, loc="left", fontsize=12, fontweight="bold")
    axes.set_xlabel("Date")
    # People are counted in whole numbers: no tick at 0.5 labelled "0" or "1".
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(thousands))
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.grid(True, axis="y", alpha=0.3)


def _draw_cumulative(axes: Axes, data: DashboardData) -> None:
    days = data.days
    for column in ("cases", "recovered"):
        axes.plot(days["date"], days[column], color=COLORS[column], label=column.capitalize())
    if data.recovered_stopped_early:
        stopped = pd.Timestamp(data.recovered_last_reported)
        axes.axvline(stopped, color=COLORS["recovered"], linestyle=":", linewidth=1)
        axes.annotate(
            "no longer reported\n(JHU stopped counting)",
            xy=(stopped, days.loc[days["date"] == stopped, "recovered"].iloc[0]),
            xytext=(12, 30),
            textcoords="offset points",
            ha="left",
            color=COLORS["recovered"],
            arrowprops={"arrowstyle": "->", "color": COLORS["recovered"]},
        )
    _style_axes(axes, "Cumulative cases and recovered")
    axes.set_ylabel("People (cumulative)")
    axes.legend(loc="upper left")


def _draw_cumulative_deaths(axes: Axes, data: DashboardData) -> None:
    axes.plot(data.days["date"], data.days["deaths"], color=COLORS["deaths"], label="Deaths")
    _style_axes(axes, "Cumulative deaths")
    axes.set_ylabel("People (cumulative)")
    axes.legend(loc="upper left")


def _draw_daily(axes: Axes, data: DashboardData, column: str) -> None:
    """Daily changes as bars (negative ones below zero, in another colour, so a downward
    revision is seen) and the 7-day average as a line."""
    days = data.days
    changes = days[f"new_{column}"]
    # One stepped area per sign rather than a Rectangle per day: the same picture, drawn in a
    # fraction of the time (a bar chart of 400 days took most of the step's second).
    areas = [(changes.clip(lower=0), COLORS[column], "Daily change")]
    if negative := data.negative_change_days[column]:
        label = f"Negative change ({negative} day{'s' if negative > 1 else ''})"
        areas.append((changes.clip(upper=0), COLORS["negative"], label))
    for heights, color, label in areas:
        axes.fill_between(
            days["date"], heights, step="mid", color=color, alpha=0.35, linewidth=0, label=label
        )
    axes.plot(days["date"], days[f"new_{column}_avg"], color=COLORS[column], label="7-day average")
    axes.axhline(0, color="black", linewidth=0.6)
    _style_axes(axes, f"Daily new {column}")
    axes.set_ylabel(f"New {column} per day")
    axes.legend(loc="upper left")


def dashboard_figure(data: DashboardData) -> Figure:
    # Fixed margins instead of a constrained layout, which costs another half second a draw.
    figure = Figure(figsize=(14, 9), dpi=DPI)
    figure.subplots_adjust(
        left=0.085, right=0.985, top=0.885, bottom=0.14, hspace=0.38, wspace=0.24
    )
    figure.suptitle(f"{TITLE}\n{subtitle(data)}", fontsize=15, fontweight="bold")
    (cumulative, deaths), (new_cases, new_deaths) = figure.subplots(2, 2)
    _draw_cumulative(cumulative, data)
    _draw_cumulative_deaths(deaths, data)
    _draw_daily(new_cases, data, "cases")
    _draw_daily(new_deaths, data, "deaths")
    figure.supxlabel("\n".join(captions(data)), fontsize=9, color="#444444")
    return figure


def dashboard_png(data: DashboardData) -> bytes:
    buffer = io.BytesIO()
    dashboard_figure(data).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def dashboard_html(data: DashboardData, png: bytes) -> str:
    """One self-contained page: the chart inline as a data URI, no scripts, no external files,
    and an empty icon so that browsers do not ask the bucket for a /favicon.ico."""
    items = "\n".join(f"    <li>{html.escape(line)}</li>" for line in captions(data))
    title = html.escape(TITLE)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="data:,">
  <style>
    body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px;
           padding: 0 1rem; color: #222; }}
    img {{ width: 100%; height: auto; }}
  </style>
</head>
<body>
  <h1>{title}</h1>
  <p>{html.escape(subtitle(data))}</p>
  <img id="dashboard" alt="{html.escape(TITLE)}: cumulative and daily cases, deaths and
    recovered" src="{png_data_uri(png)}">
  <ul>
{items}
  </ul>
</body>
</html>
"""
