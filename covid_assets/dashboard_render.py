"""Draw the dashboard: four SVG charts, and the page and the Markdown that show them.

What each chart shows (its series, their colours and labels) is decided by plain functions of
``DashboardData``; pygal only draws it. SVG, because the charts are read in a browser (the
Dagster UI and a page in S3): they stay sharp at any size and their text stays text. pygal,
because it is light: the dashboard is drawn in every run with work, and matplotlib's import and
PNG drawing cost a noticeable share of such a run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pygal
from pygal.style import Style

from covid_assets.dashboard_data import DashboardData, values_or_none

TITLE = "COVID-19 in the United States"
SOURCES = (
    "Sources: The New York Times (cases, deaths; github.com/nytimes/covid-19-data) and "
    "Johns Hopkins University CSSE (recovered; via github.com/datasets/covid-19)."
)
COLORS = {"cases": "#1f77b4", "deaths": "#d62728", "recovered": "#2ca02c", "negative": "#ff7f0e"}
# Daily changes are drawn in a lighter tint, so that their 7-day average stands out on them.
DAILY_COLORS = {"cases": "#9ecae1", "deaths": "#f2a5a5"}
CHART_SIZE = {"width": 700, "height": 400}
AREA_OPACITY = ".5"


@dataclass(frozen=True)
class Series:
    """One line of a chart: a value per day, None where nothing is drawn. An area series is
    filled down to zero."""

    label: str
    values: list[float | None]
    color: str
    area: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    y_title: str
    series: list[Series]


def thousands(value: float) -> str:
    """An axis label with thousands separators: 29,573,186."""
    return f"{value:,.0f}"


def subtitle(data: DashboardData) -> str:
    return f"Daily data from {data.first_date:%Y-%m-%d} to {data.last_date:%Y-%m-%d}"


def recovered_note(data: DashboardData) -> str | None:
    """What the page says where the recovered line stops, if it stops before the last day."""
    if data.recovered_last_reported is None:
        return "Recovered: not reported in these data"
    if data.recovered_stopped_early:
        return f"Recovered: no longer reported after {data.recovered_last_reported:%Y-%m-%d}"
    return None


def captions(data: DashboardData) -> list[str]:
    """The lines printed under the charts."""
    lines = [SOURCES, f"Last data: {data.last_date:%Y-%m-%d}."]
    if note := recovered_note(data):
        lines.append(note + ".")
    return lines


def _daily_chart(data: DashboardData, column: str) -> Chart:
    """Daily changes as an area (negative ones below zero, in another colour, so that a
    downward revision is seen) and their 7-day average as a line."""
    changes = data.days[f"new_{column}"]
    positive = values_or_none(changes.clip(lower=0))
    series = [Series("Daily change", positive, DAILY_COLORS[column], area=True)]
    if negative_days := data.negative_change_days[column]:
        label = f"Negative change ({negative_days} day{'s' if negative_days > 1 else ''})"
        negative = values_or_none(changes.clip(upper=0))
        series.append(Series(label, negative, COLORS["negative"], area=True))
    average = values_or_none(data.days[f"new_{column}_avg"])
    series.append(Series("7-day average", average, COLORS[column]))
    return Chart(f"Daily new {column}", f"New {column} per day", series)


def dashboard_charts(data: DashboardData) -> list[Chart]:
    """The four charts: cumulative cases and recovered, cumulative deaths, and the daily new
    cases and deaths. The recovered line stops on the last day JHU reported it."""
    days = data.days
    recovered = "Recovered"
    if data.recovered_stopped_early:
        recovered += f" (to {data.recovered_last_reported:%Y-%m-%d})"
    return [
        Chart(
            "Cumulative cases and recovered",
            "People (cumulative)",
            [
                Series("Cases", values_or_none(days["cases"]), COLORS["cases"]),
                Series(recovered, values_or_none(days["recovered"]), COLORS["recovered"]),
            ],
        ),
        Chart(
            "Cumulative deaths",
            "People (cumulative)",
            [Series("Deaths", values_or_none(days["deaths"]), COLORS["deaths"])],
        ),
        _daily_chart(data, "cases"),
        _daily_chart(data, "deaths"),
    ]


def _without_scripts(root: Any) -> Any:
    """pygal writes its configuration into a <script> for its optional tooltips; these charts
    have none, and a page that runs no script is simpler to trust."""
    for parent in list(root.iter()):
        for child in [child for child in parent if str(child.tag).endswith("script")]:
            parent.remove(child)
    return root


def date_labels(first: dt.date, last: dt.date) -> tuple[list[dt.date], str]:
    """About six evenly spaced dates to label an axis from ``first`` to ``last``, and their
    format: month starts over a span of months, days over a shorter one."""
    months = (last.year - first.year) * 12 + last.month - first.month
    if months >= 3:
        return list(pd.date_range(first, last, freq=f"{-(-months // 6)}MS").date), "%b %Y"
    days = (last - first).days
    return list(pd.date_range(first, last, freq=f"{max(1, -(-days // 6))}D").date), "%Y-%m-%d"


def chart_svg(chart: Chart, dates: list[dt.date]) -> str:
    """One chart as an SVG document, its series' values over ``dates`` along the bottom."""
    labelled, date_format = date_labels(dates[0], dates[-1])
    drawing = pygal.DateLine(
        **CHART_SIZE,
        title=chart.title,
        y_title=chart.y_title,
        x_labels=labelled,
        x_value_formatter=lambda day: format(day, date_format),
        value_formatter=thousands,
        order_min=0,  # people are counted in whole numbers: no tick at 0.5 labelled "0" or "1"
        style=Style(
            background="white",
            plot_background="white",
            font_family="system-ui, sans-serif",
            colors=tuple(series.color for series in chart.series),
            opacity=AREA_OPACITY,
            opacity_hover=AREA_OPACITY,
            stroke_width="2",
            stroke_opacity="1",
            guide_stroke_color="#dddddd",
            major_guide_stroke_color="#dddddd",
            guide_stroke_dasharray="0",
            major_guide_stroke_dasharray="0",
        ),
        max_scale=8,
        show_dots=False,
        show_x_guides=False,
        include_x_axis=True,
        legend_at_bottom=True,
        truncate_legend=-1,
        js=[],
        disable_xml_declaration=True,
    )
    # pygal scopes each chart's styles by a random id; one derived from the title keeps the ids
    # apart on the page and makes the same data draw the same page, which is then not rewritten.
    drawing.uuid = "chart-" + hashlib.sha256(chart.title.encode()).hexdigest()[:16]
    drawing.add_xml_filter(_without_scripts)
    for series in chart.series:
        # Days without a value are left out, not passed as gaps: pygal closes an area that
        # starts with a gap along a diagonal. None of the series has a gap inside it.
        points = [
            (day, value)
            for day, value in zip(dates, series.values, strict=True)
            if value is not None
        ]
        drawing.add(series.label, points, fill=series.area)
    return drawing.render(is_unicode=True)


def dashboard_svgs(data: DashboardData) -> dict[str, str]:
    """Every chart's SVG, by title."""
    dates = [day.date() for day in data.days["date"]]
    return {chart.title: chart_svg(chart, dates) for chart in dashboard_charts(data)}


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def dashboard_markdown(data: DashboardData, svgs: dict[str, str]) -> str:
    """The dashboard as Markdown for the asset's metadata: the charts as inline images."""
    images = "\n\n".join(f"![{title}]({svg_data_uri(svg)})" for title, svg in svgs.items())
    notes = "\n".join(f"- {line}" for line in captions(data))
    return f"**{TITLE}**: {subtitle(data)}\n\n{images}\n\n{notes}"


def dashboard_html(data: DashboardData, svgs: dict[str, str]) -> str:
    """One self-contained page: the charts inline, no scripts, no external files, and an
    empty icon so that browsers do not ask the bucket for a /favicon.ico."""
    figures = "\n".join(
        f'  <figure aria-label="{html.escape(title)}">{svg}</figure>' for title, svg in svgs.items()
    )
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
    body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1440px;
           padding: 0 1rem; color: #222; }}
    main {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr));
           gap: 1rem; }}
    figure {{ margin: 0; }}
  </style>
</head>
<body>
  <h1>{title}</h1>
  <p>{html.escape(subtitle(data))}</p>
  <main>
{figures}
  </main>
  <ul>
{items}
  </ul>
</body>
</html>
"""
