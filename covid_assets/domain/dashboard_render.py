"""Draw the dashboard: the headline figures, four SVG charts, the revisions' section (the latest
publication's revisions in numbers beside three charts of points per publication day), the
states' panel, and the page and the Markdown that show them.

What each chart shows (its series, their colours and labels) is decided by plain functions of
``DashboardData``; pygal only draws it. SVG, because the charts are read in a browser (the
Dagster UI and a page in S3): they stay sharp at any size and their text stays text. pygal,
because it is light: the dashboard is drawn in every run with work, and matplotlib's import and
PNG drawing cost a noticeable share of such a run. The states' small charts are drawn directly
as one SVG: pygal writes a stylesheet of about 10 KB into every chart, which for 55 small ones
would be most of the page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import math
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import pandas as pd
import pygal
from pygal.style import Style

from covid_assets.domain.dashboard_data import (
    DAILY_COLUMNS,
    DashboardData,
    Headline,
    revised_publications,
    revisions_by_publication_day,
    values_or_none,
)
from covid_assets.domain.history import DAYS_ADDED, DAYS_REVISED, PUBLISHED

TITLE = "COVID-19 in the United States"
SOURCES = (
    "Sources: The New York Times (cases, deaths; github.com/nytimes/covid-19-data) and "
    "Johns Hopkins University CSSE (recovered; via github.com/datasets/covid-19)."
)
COLORS = {"cases": "#1f77b4", "deaths": "#d62728", "recovered": "#2ca02c", "negative": "#ff7f0e"}
# Daily changes are drawn thin and in a lighter tint, so that their 7-day average stands out.
DAILY_COLORS = {"cases": "#9ecae1", "deaths": "#f2a5a5"}
CHART_SIZE = {"width": 700, "height": 400}
FONT = "system-ui, sans-serif"
STATES_TITLE = "Daily new cases by state"
# The states' panel: small charts in rows of PANEL_COLUMNS, each a cell of CELL_SIZE, its line
# drawn between PLOT_TOP and PLOT_BOTTOM, above the time axis's first and last weeks. Six columns
# are about as wide as the Dagster UI's Markdown dialog, so that the text is not shrunk there.
PANEL_COLUMNS = 6
PANEL_TITLE_HEIGHT = 36
CELL_SIZE = (170, 104)
PLOT_TOP = 32
PAD = 6
AXIS_HEIGHT = 16
PLOT_BOTTOM = CELL_SIZE[1] - AXIS_HEIGHT
# The states' panel spans the page's grid, at its own size or less.
WIDE = ' class="wide"'
REVISIONS_TITLE = "Revisions"
REVISED_DAYS_TITLE = "Days revised and added per publication day"
REVISED_TITLES = {column: f"Net change of {column} per publication day" for column in DAILY_COLUMNS}
NO_REVISIONS = "No revisions yet: they are shown once the national history has two publications."
REVISIONS_NOTE = (
    "Each publication of the national history against the version before it: the past days "
    "whose values it changed, the days it added, and the net change, the change of the "
    "cumulative count on the latest day both versions hold (how many cases or deaths it added "
    "or removed). A day's publications are summed, one point per publication day."
)


@dataclass(frozen=True)
class Series:
    """One series of a chart: a value per day, None where nothing is drawn. A line of ``width``,
    or with ``dots`` a dot on each day that has a value (for days far apart, which a line would
    join)."""

    label: str
    values: list[float | None]
    color: str
    width: float = 2
    dots: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    y_title: str
    series: list[Series]


def thousands(value: float) -> str:
    """An axis label with thousands separators: 29,573,186."""
    return f"{value:,.0f}"


def page_title(data: DashboardData) -> str:
    if data.as_published_on is None:
        return TITLE
    return f"{TITLE}, as published on {data.as_published_on:%Y-%m-%d}"


def subtitle(data: DashboardData) -> str:
    return f"Daily data from {data.first_date:%Y-%m-%d} to {data.last_date:%Y-%m-%d}"


def has_revisions(data: DashboardData) -> bool:
    """Whether there are revisions to draw: a publication after the history's first."""
    return not revised_publications(data.revisions).empty


def _days(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _net(value: object, noun: str) -> str:
    if pd.isna(value):
        return f"unknown {noun}"
    return f"{int(value):+,} {noun}"


def revision_figures(data: DashboardData) -> list[str]:
    """The revisions in numbers: the latest publication's days revised and added and net
    changes, then how many past days the publications revised in all; "No revisions yet" when
    the history has one publication or none."""
    if not has_revisions(data):
        return [NO_REVISIONS]
    publications = revised_publications(data.revisions)
    latest = publications.iloc[-1]
    nets = " and ".join(_net(latest[f"{c}_net_change"], c) for c in DAILY_COLUMNS)
    first = pd.Timestamp(publications[PUBLISHED].iloc[0])
    revised = int(publications[DAYS_REVISED].sum())
    return [
        f"Latest publication, {pd.Timestamp(latest[PUBLISHED]):%Y-%m-%d %H:%M} UTC: "
        f"{_days(int(latest[DAYS_REVISED]), 'past day')} revised, "
        f"{_days(int(latest[DAYS_ADDED]), 'day')} added; net change {nets}.",
        f"Since {first:%Y-%m-%d}: {_days(len(publications), 'publication')}, "
        f"{_days(revised, 'past day')} revised in all.",
    ]


def recovered_note(data: DashboardData) -> str | None:
    """What the page says where the recovered line stops, if it stops before the last day."""
    if data.recovered_last_reported is None:
        return "Recovered: not reported in these data"
    if data.recovered_stopped_early:
        return f"Recovered: no longer reported after {data.recovered_last_reported:%Y-%m-%d}"
    return None


def last_week_end(data: DashboardData) -> dt.date:
    """The last day of the states' last week."""
    return data.states_weekly.index[-1].date()


def captions(data: DashboardData) -> list[str]:
    """The lines printed under the charts."""
    lines = [SOURCES, f"Last data: {data.last_date:%Y-%m-%d}."]
    if data.as_published_on is not None:
        lines.append(
            f"As published on {data.as_published_on:%Y-%m-%d}: every figure, chart and "
            "revision on this page is the histories' as of the end of that day (UTC), not "
            "today's exports."
        )
    if note := recovered_note(data):
        lines.append(note + ".")
    if data.states_weekly is not None:
        lines.append(
            "The national series has the days both NYT (cases, deaths) and JHU (recovered) "
            "report, so it can end a day before the states'."
        )
    if data.has_state_weeks:
        lines.append(
            f"{STATES_TITLE}: the average a day of each week to {last_week_end(data):%Y-%m-%d}, "
            "each state on its own scale, with its last week's figure under its name."
        )
    elif data.states_weekly is not None:
        lines.append(f"{STATES_TITLE}: drawn once the states' data span a full week.")
    return lines


def _change(value: int, noun: str, day: dt.date) -> tuple[str, str]:
    label = f"new {noun} on {day:%Y-%m-%d}"
    if value < 0:
        label += " (a downward revision)"
    return thousands(value), label


def headline_figures(headline: Headline) -> list[tuple[str, str]]:
    """The latest figures as (number, what it counts): the totals, the last day's changes
    (none on a first day) and recovered where it was last reported (nothing if never)."""
    day = f"{headline.day:%Y-%m-%d}"
    figures = [(thousands(headline.cases), f"cases in total to {day}")]
    if headline.new_cases is not None:
        figures.append(_change(headline.new_cases, "cases", headline.day))
    figures.append((thousands(headline.deaths), f"deaths in total to {day}"))
    if headline.new_deaths is not None:
        figures.append(_change(headline.new_deaths, "deaths", headline.day))
    if headline.recovered is not None:
        last_reported = f"{headline.recovered_day:%Y-%m-%d}"
        note = ", the last day reported" if headline.recovered_day < headline.day else ""
        figures.append((thousands(headline.recovered), f"recovered to {last_reported}{note}"))
    return figures


def _daily_chart(data: DashboardData, column: str) -> Chart:
    """Daily changes as a thin line that ends on the last day's value (an area closed down to
    zero would end in a stroke that reads as no change on that day), negative ones marked with
    dots in another colour so that a downward revision is seen, and their 7-day average."""
    changes = data.days[f"new_{column}"]
    series = [Series("Daily change", values_or_none(changes), DAILY_COLORS[column], width=1)]
    if negative_days := data.negative_change_days[column]:
        label = f"Negative change ({negative_days} day{'s' if negative_days > 1 else ''})"
        negative = values_or_none(changes.where(changes < 0))
        series.append(Series(label, negative, COLORS["negative"], dots=True))
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


def revisions_charts(data: DashboardData) -> list[Chart]:
    """The revisions' charts, a point per publication day (days far apart are not joined):
    the days revised and added, and the net change of cases and of deaths, each on its own
    chart (deaths are far fewer: on the cases' scale they would lie on zero)."""
    per_day = revisions_by_publication_day(data.revisions)

    def points(label: str, column: str, color: str) -> Series:
        return Series(label, values_or_none(per_day[column]), color, dots=True)

    return [
        Chart(
            REVISED_DAYS_TITLE,
            "Days",
            [
                points("Past days revised", DAYS_REVISED, COLORS["negative"]),
                points("Days added", DAYS_ADDED, COLORS["recovered"]),
            ],
        ),
        *(
            Chart(
                REVISED_TITLES[column],
                f"{column.title()} added or removed",
                [points(f"Net change of {column}", f"{column}_net_change", COLORS[column])],
            )
            for column in DAILY_COLUMNS
        ),
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
            font_family=FONT,
            colors=tuple(series.color for series in chart.series),
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
        # Days without a value are left out, not passed as gaps: no line has a gap inside it,
        # and the dots are not joined.
        points = [
            (day, value)
            for day, value in zip(dates, series.values, strict=True)
            if value is not None
        ]
        if series.dots:
            drawing.add(series.label, points, stroke=False, show_dots=True, dots_size=3)
        else:
            drawing.add(series.label, points, stroke_style={"width": series.width})
    return drawing.render(is_unicode=True)


def _node(parent: Element, tag: str, text: str | None = None, **attributes: object) -> Element:
    """An SVG element under ``parent``; attribute names are written with "-" for "_" and
    without a trailing "_" (``font_size`` is font-size, ``class_`` is class)."""
    node = SubElement(
        parent, tag, {name.rstrip("_").replace("_", "-"): str(v) for name, v in attributes.items()}
    )
    node.text = text
    return node


def _runs(values: list[float | None]) -> list[list[tuple[int, float]]]:
    """The (position, value) of each run of consecutive values, split where one is missing."""
    runs: list[list[tuple[int, float]]] = [[]]
    for position, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append((position, value))
    return [run for run in runs if run]


def _state_cell(
    panel: Element, state: str, weeks: list[float | None], week_ends: list[dt.date]
) -> None:
    """One state's small chart, at the panel's current origin: its name, its last week's
    figure, a baseline at zero, its weeks as a line scaled from its lowest week (or zero) to its
    highest, and under it the time axis: its first and last weeks' ends."""
    width, _ = CELL_SIZE
    week_end = week_ends[-1]
    known = [value for value in weeks if value is not None]
    last = "unknown" if weeks[-1] is None else f"{thousands(weeks[-1])} a day"
    _node(panel, "title", f"{state}: {last} in the week to {week_end:%Y-%m-%d}")
    _node(panel, "text", state, x=PAD, y=13, font_size=11, font_weight=600)
    _node(panel, "text", last, x=PAD, y=26, font_size=10, fill="#555")
    low = min([0.0, *known])
    high = max([low + 1, *known])
    bottom = PLOT_BOTTOM

    def x(position: int) -> str:
        return f"{PAD + position * (width - 2 * PAD) / max(1, len(weeks) - 1):.1f}"

    def y(value: float) -> str:
        return f"{bottom - (value - low) / (high - low) * (bottom - PLOT_TOP):.1f}"

    zero = y(0)
    _node(panel, "line", x1=PAD, x2=width - PAD, y1=zero, y2=zero, stroke="#ddd")
    _, date_format = date_labels(week_ends[0], week_end)
    axis = _node(panel, "g", class_="axis", font_size=9, fill="#777")
    for anchor, x_at, day in (("start", PAD, week_ends[0]), ("end", width - PAD, week_end)):
        _node(axis, "text", f"{day:{date_format}}", x=x_at, y=CELL_SIZE[1] - 3, text_anchor=anchor)
    for run in _runs(weeks):
        _node(
            panel,
            "polyline",
            points=" ".join(f"{x(position)},{y(value)}" for position, value in run),
            fill="none",
            stroke=COLORS["cases"],
            stroke_width=1.5,
            stroke_linejoin="round",
        )


def states_panel_svg(data: DashboardData) -> str:
    """The states' small charts as one SVG under its title: a cell per state, alphabetical, in
    rows."""
    weekly = data.states_weekly
    week_end = last_week_end(data)
    week_ends = [day.date() for day in weekly.index]
    width, height = CELL_SIZE
    rows = math.ceil(len(weekly.columns) / PANEL_COLUMNS)
    size = {"width": PANEL_COLUMNS * width, "height": PANEL_TITLE_HEIGHT + rows * height}
    root = Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "viewBox": f"0 0 {size['width']} {size['height']}",
            **{name: str(value) for name, value in size.items()},
            "role": "img",
            "font-family": FONT,
        },
    )
    title = f"{STATES_TITLE}: the average a day of each week to {week_end:%Y-%m-%d}"
    _node(root, "title", title)
    _node(root, "rect", fill="white", **size)
    _node(root, "text", title, x=size["width"] // 2, y=22, font_size=16, text_anchor="middle")
    for index, state in enumerate(weekly.columns):
        row, column = divmod(index, PANEL_COLUMNS)
        origin = f"translate({column * width} {PANEL_TITLE_HEIGHT + row * height})"
        cell = _node(root, "g", class_="state", transform=origin)
        _state_cell(cell, state, values_or_none(weekly[state]), week_ends)
    return tostring(root, encoding="unicode")


def dashboard_svgs(data: DashboardData) -> dict[str, str]:
    """Every chart's SVG, by title: the national charts, the revisions' charts when there is a
    history, and the states' panel last when there are states."""
    dates = [day.date() for day in data.days["date"]]
    svgs = {chart.title: chart_svg(chart, dates) for chart in dashboard_charts(data)}
    if has_revisions(data):
        per_day = revisions_by_publication_day(data.revisions)
        publication_days = [day.date() for day in per_day.index]
        for chart in revisions_charts(data):
            svgs[chart.title] = chart_svg(chart, publication_days)
    if data.has_state_weeks:
        svgs[STATES_TITLE] = states_panel_svg(data)
    return svgs


def svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def revision_chart_titles(data: DashboardData) -> list[str]:
    return [chart.title for chart in revisions_charts(data)] if has_revisions(data) else []


def dashboard_markdown(data: DashboardData, svgs: dict[str, str]) -> str:
    """The dashboard as Markdown for the asset's metadata: the headline figures, the national
    charts as inline images, the revisions (numbers, then charts), the states' panel, the
    notes."""
    figures = "\n".join(
        f"- **{number}** {label}" for number, label in headline_figures(data.headline)
    )
    revision_titles = revision_chart_titles(data)

    def images(titles: list[str]) -> str:
        return "\n\n".join(f"![{title}]({svg_data_uri(svgs[title])})" for title in titles)

    national = [title for title in svgs if title not in revision_titles and title != STATES_TITLE]
    revisions = "\n".join(f"- {line}" for line in revision_figures(data))
    if revision_titles:
        revisions += f"\n\n{REVISIONS_NOTE}\n\n{images(revision_titles)}"
    states = f"\n\n{images([STATES_TITLE])}" if STATES_TITLE in svgs else ""
    notes = "\n".join(f"- {line}" for line in captions(data))
    return (
        f"**{page_title(data)}**: {subtitle(data)}\n\n{figures}\n\n{images(national)}\n\n"
        f"**{REVISIONS_TITLE}**\n\n{revisions}{states}\n\n{notes}"
    )


def dashboard_html(data: DashboardData, svgs: dict[str, str]) -> str:
    """One self-contained page: the charts inline, no scripts, no external files, and an
    empty icon so that browsers do not ask the bucket for a /favicon.ico."""
    revision_titles = revision_chart_titles(data)

    def figures(titles: list[str]) -> str:
        return "\n".join(
            f'  <figure aria-label="{html.escape(title)}"{WIDE if title == STATES_TITLE else ""}>'
            f"{svgs[title]}</figure>"
            for title in titles
        )

    national = [title for title in svgs if title not in revision_titles and title != STATES_TITLE]
    states = figures([STATES_TITLE]) if STATES_TITLE in svgs else ""
    note = f"\n  <p>{html.escape(REVISIONS_NOTE)}</p>" if revision_titles else ""
    totals = "\n".join(
        f"    <li><strong>{html.escape(number)}</strong> {html.escape(label)}</li>"
        for number, label in headline_figures(data.headline)
    )
    revisions = "\n".join(f"    <li>{html.escape(line)}</li>" for line in revision_figures(data))
    items = "\n".join(f"    <li>{html.escape(line)}</li>" for line in captions(data))
    title = html.escape(page_title(data))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="data:,">
  <style>
    body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1440px;
           padding: 0 1rem; color: #222; overflow-wrap: anywhere; }}
    main, .charts {{ display: grid; gap: 1rem;
           grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); }}
    figure {{ margin: 0; min-width: 0; }}
    figure.wide {{ grid-column: 1 / -1; }}
    figure svg {{ max-width: 100%; height: auto; }}
    .totals {{ display: flex; flex-wrap: wrap; gap: .5rem 2rem; list-style: none; padding: 0; }}
    .totals strong {{ display: block; font-size: 1.5rem; }}
  </style>
</head>
<body>
  <h1>{title}</h1>
  <p>{html.escape(subtitle(data))}</p>
  <ul class="totals">
{totals}
  </ul>
  <main>
{figures(national)}
  </main>
  <section aria-label="{REVISIONS_TITLE}">
  <h2>{REVISIONS_TITLE}</h2>
  <ul class="revisions">
{revisions}
  </ul>{note}
  <div class="charts">
{figures(revision_titles)}
  </div>
  </section>
  <div class="charts">
{states}
  </div>
  <ul>
{items}
  </ul>
</body>
</html>
"""
