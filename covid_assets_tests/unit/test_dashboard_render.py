"""The dashboard's headline figures, charts, revisions' section, states' panel, page and Markdown,
drawn from small hand-written exports and histories."""

import base64
import datetime as dt
import re
from xml.etree import ElementTree

import pytest

from covid_assets.domain.dashboard_data import prepare_dashboard_data
from covid_assets.domain.dashboard_render import (
    COLORS,
    PLOT_BOTTOM,
    PLOT_TOP,
    REVISED_DAYS_TITLE,
    REVISED_TITLES,
    SOURCES,
    STATES_TITLE,
    captions,
    dashboard_charts,
    dashboard_html,
    dashboard_markdown,
    dashboard_svgs,
    date_labels,
    headline_figures,
    revision_figures,
    revisions_charts,
    thousands,
)
from covid_assets_tests.helpers import SVG_IMAGE, export_rows, national_summary, state_rows

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.unit, pytest.mark.xdist_group("unit/test_dashboard_render")]

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def stopped_recovered():
    """Ten days on which JHU stops reporting recoveries after the sixth and cases dip once."""
    return prepare_dashboard_data(
        export_rows(
            cases=[100, 120, 150, 140, 170, 200, 230, 260, 300, 330],
            deaths=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            recovered=[10, 20, 30, 40, 50, 60, 0, 0, 0, 0],
        )
    )


def test_axis_labels_have_thousands_separators():
    assert thousands(29_573_186.0) == "29,573,186"


def test_captions_credit_both_sources():
    [sources, *_] = captions(prepare_dashboard_data(export_rows([1], [0], [1])))
    assert "The New York Times" in sources
    assert "Johns Hopkins University CSSE" in sources


def test_captions_name_the_last_day_of_data(stopped_recovered):
    assert "Last data: 2020-12-19." in captions(stopped_recovered)


def test_captions_say_recovered_is_no_longer_reported_after_the_last_reported_day(
    stopped_recovered,
):
    assert "Recovered: no longer reported after 2020-12-15." in captions(stopped_recovered)


def test_captions_say_nothing_of_recovered_while_it_is_reported():
    data = prepare_dashboard_data(export_rows([1, 2], [0, 0], [1, 2]))
    assert not any("Recovered" in line for line in captions(data))


def chart_series(data, title):
    [chart] = [chart for chart in dashboard_charts(data) if chart.title == title]
    return {series.label: series for series in chart.series}


def drawn(series):
    return [value for value in series.values if value is not None]


def test_recovered_line_stops_on_the_last_reported_day(stopped_recovered):
    series = chart_series(stopped_recovered, "Cumulative cases and recovered")
    recovered = series["Recovered (to 2020-12-15)"].values
    assert recovered[:6] == [10, 20, 30, 40, 50, 60]
    assert recovered[6:] == [None] * 4


def test_recovered_label_has_no_date_while_it_is_reported():
    data = prepare_dashboard_data(export_rows([1, 2], [0, 0], [1, 2]))
    assert "Recovered" in chart_series(data, "Cumulative cases and recovered")


def test_negative_daily_change_is_marked_with_a_dot_in_its_own_colour(stopped_recovered):
    negative = chart_series(stopped_recovered, "Daily new cases")["Negative change (1 day)"]
    assert drawn(negative) == [-10]
    assert (negative.color, negative.dots) == (COLORS["negative"], True)


def test_daily_change_line_is_each_days_change_below_zero_included(stopped_recovered):
    changes = chart_series(stopped_recovered, "Daily new cases")["Daily change"].values
    assert changes == [None, 20, 30, -10, 30, 30, 30, 30, 40, 30]


def test_the_first_day_has_no_daily_change_drawn(stopped_recovered):
    assert chart_series(stopped_recovered, "Daily new deaths")["Daily change"].values[0] is None


def test_a_chart_without_downward_revisions_has_no_negative_series(stopped_recovered):
    assert list(chart_series(stopped_recovered, "Daily new deaths")) == [
        "Daily change",
        "7-day average",
    ]


def test_seven_day_average_starts_on_the_seventh_day_with_a_change(stopped_recovered):
    average = chart_series(stopped_recovered, "Daily new deaths")["7-day average"].values
    assert average[:7] == [None] * 7
    assert average[7] == 1


@pytest.fixture(scope="module")
def svgs(stopped_recovered):
    return dashboard_svgs(stopped_recovered)


def test_charts_are_drawn_in_reading_order(svgs):
    assert list(svgs) == [
        "Cumulative cases and recovered",
        "Cumulative deaths",
        "Daily new cases",
        "Daily new deaths",
    ]


def test_every_chart_is_an_svg_document_with_its_titles_and_legend(stopped_recovered, svgs):
    for chart in dashboard_charts(stopped_recovered):
        root = ElementTree.fromstring(svgs[chart.title])
        assert root.tag == SVG + "svg"
        texts = {text.strip() for text in root.itertext()}
        assert {chart.title, chart.y_title, *(series.label for series in chart.series)} <= texts


def axis_labels(svg: str, axis: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    [group] = [g for g in root.iter(SVG + "g") if g.get("class", "").startswith(f"axis {axis}")]
    return [text.text for text in group.iter(SVG + "text")]


def test_axis_ticks_of_small_counts_are_whole_numbers(svgs):
    assert axis_labels(svgs["Daily new deaths"], "y") == ["0", "1"]


def test_a_span_of_days_is_labelled_with_dates(svgs):
    assert axis_labels(svgs["Cumulative deaths"], "x") == [
        "2020-12-10",
        "2020-12-12",
        "2020-12-14",
        "2020-12-16",
        "2020-12-18",
    ]


def series_elements(svg: str, series_index: int, tag: str) -> list[ElementTree.Element]:
    """The elements of ``tag`` pygal draws for a series: its line in the plot, its dots above."""
    root = ElementTree.fromstring(svg)
    return [
        element
        for group in root.iter(SVG + "g")
        if f"serie-{series_index} " in group.get("class", "")
        for element in group.iter(SVG + tag)
    ]


def line_points(svg: str, series_index: int) -> list[tuple[float, float]]:
    """The (x, y) points of a series' line, in SVG units (y grows downwards)."""
    [path] = series_elements(svg, series_index, "path")
    numbers = [float(number) for number in re.findall(r"-?[\d.]+", path.get("d"))]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def test_daily_change_line_ends_on_the_last_days_value_with_no_stroke_to_zero(svgs):
    # A filled area was closed down to the baseline, and its stroke on the last day read as
    # "no new deaths that day". One death a day from the second day: nine points, all level.
    points = line_points(svgs["Daily new deaths"], 0)
    assert len(points) == 9
    assert len({y for _, y in points}) == 1


def test_negative_daily_change_is_a_dot_on_the_lines_lowest_point_and_no_line(svgs):
    lowest = max(line_points(svgs["Daily new cases"], 0), key=lambda point: point[1])
    [dot] = series_elements(svgs["Daily new cases"], 1, "circle")
    assert (float(dot.get("cx")), float(dot.get("cy"))) == pytest.approx(lowest)
    assert series_elements(svgs["Daily new cases"], 1, "path") == []


@pytest.mark.parametrize(
    ("first", "last", "labels", "label_format"),
    [
        pytest.param(
            dt.date(2020, 1, 22),
            dt.date(2021, 3, 14),
            [
                dt.date(year, month, 1)
                for year, month in [(2020, 2), (2020, 5), (2020, 8), (2020, 11), (2021, 2)]
            ],
            "%b %Y",
            id="fourteen months: every third month start",
        ),
        pytest.param(
            dt.date(2020, 3, 1),
            dt.date(2020, 6, 30),
            [dt.date(2020, 3, 1), dt.date(2020, 4, 1), dt.date(2020, 5, 1), dt.date(2020, 6, 1)],
            "%b %Y",
            id="three months: every month start",
        ),
        pytest.param(
            dt.date(2020, 12, 10),
            dt.date(2020, 12, 19),
            [dt.date(2020, 12, day) for day in (10, 12, 14, 16, 18)],
            "%Y-%m-%d",
            id="ten days: every other day",
        ),
        pytest.param(
            dt.date(2020, 12, 10),
            dt.date(2020, 12, 10),
            [dt.date(2020, 12, 10)],
            "%Y-%m-%d",
            id="one day",
        ),
    ],
)
def test_date_labels(first, last, labels, label_format):
    assert date_labels(first, last) == (labels, label_format)


def test_charts_carry_no_script(svgs):
    assert not any("<script" in svg for svg in svgs.values())


def test_html_page_shows_every_chart_inline(stopped_recovered, svgs):
    page = dashboard_html(stopped_recovered, svgs)
    assert all(svg in page for svg in svgs.values())


def test_html_page_loads_nothing_from_elsewhere(stopped_recovered, svgs):
    page = dashboard_html(stopped_recovered, svgs)
    assert "<script" not in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == ["data:,"]


def test_html_page_carries_the_captions(stopped_recovered, svgs):
    page = dashboard_html(stopped_recovered, svgs)
    assert all(line in page for line in captions(stopped_recovered))


def test_markdown_shows_every_chart_as_an_svg_image(stopped_recovered, svgs):
    images = SVG_IMAGE.findall(dashboard_markdown(stopped_recovered, svgs))
    assert [title for title, _ in images] == list(svgs)
    assert [base64.b64decode(data).decode() for _, data in images] == list(svgs.values())


def test_markdown_carries_the_captions(stopped_recovered, svgs):
    markdown = dashboard_markdown(stopped_recovered, svgs)
    assert all(line in markdown for line in captions(stopped_recovered))


def test_headline_figures_are_the_totals_and_the_last_days_changes(stopped_recovered):
    assert headline_figures(stopped_recovered.headline) == [
        ("330", "cases in total to 2020-12-19"),
        ("30", "new cases on 2020-12-19"),
        ("10", "deaths in total to 2020-12-19"),
        ("1", "new deaths on 2020-12-19"),
        ("60", "recovered to 2020-12-15, the last day reported"),
    ]


def test_headline_names_a_fall_of_the_total_a_downward_revision():
    data = prepare_dashboard_data(export_rows([100, 90], [1, 1], [0, 0]))
    assert ("-10", "new cases on 2020-12-11 (a downward revision)") in headline_figures(
        data.headline
    )


def test_headline_of_a_single_day_states_its_totals_and_no_change():
    data = prepare_dashboard_data(export_rows([100], [1], [0]))
    assert headline_figures(data.headline) == [
        ("100", "cases in total to 2020-12-10"),
        ("1", "deaths in total to 2020-12-10"),
    ]


def test_headline_of_recovered_still_reported_names_no_last_reported_day():
    data = prepare_dashboard_data(export_rows([1, 2], [0, 0], [1, 2]))
    assert headline_figures(data.headline)[-1] == ("2", "recovered to 2020-12-11")


def test_html_page_states_the_headline_figures(stopped_recovered, svgs):
    page = dashboard_html(stopped_recovered, svgs)
    assert "<li><strong>30</strong> new cases on 2020-12-19</li>" in page


def test_markdown_states_the_headline_figures(stopped_recovered, svgs):
    markdown = dashboard_markdown(stopped_recovered, svgs)
    assert "- **30** new cases on 2020-12-19" in markdown


def cumulative_at_rates(rates: list[int]) -> list[int | None]:
    """A state's cumulative cases from 0 on the first day, growing by ``rates[w]`` a day in its
    week ``w``."""
    counts = [0]
    for rate in rates:
        counts += [counts[-1] + rate * day for day in range(1, 8)]
    return counts


@pytest.fixture(scope="module")
def with_states():
    """Ten national days, and six weeks of two states; Alaska's count at its third week end is
    blank, so its third and fourth weeks are unknown."""
    alaska = cumulative_at_rates([1] * 6)
    alaska[21] = None
    states = state_rows({"Utah": cumulative_at_rates([10, 10, 20, 40, 20, 10]), "Alaska": alaska})
    return prepare_dashboard_data(export_rows([1] * 10, [0] * 10, [0] * 10), states)


@pytest.fixture(scope="module")
def panel(with_states):
    return ElementTree.fromstring(dashboard_svgs(with_states)[STATES_TITLE])


def state_cells(panel) -> dict[str, ElementTree.Element]:
    cells = [group for group in panel.iter(SVG + "g") if group.get("class") == "state"]
    return {cell.find(SVG + "text").text: cell for cell in cells}


def polylines(cell) -> list[list[tuple[float, float]]]:
    return [
        [tuple(float(n) for n in point.split(",")) for point in line.get("points").split()]
        for line in cell.iter(SVG + "polyline")
    ]


def test_states_panel_comes_after_the_charts_only_with_a_state_export(with_states, svgs):
    assert list(dashboard_svgs(with_states))[-1] == STATES_TITLE
    assert STATES_TITLE not in svgs


def test_states_panel_has_a_cell_per_state_alphabetical_with_its_last_weeks_figure(panel):
    cells = state_cells(panel)
    assert list(cells) == ["Alaska", "Utah"]
    assert [text.text for text in cells["Utah"].findall(SVG + "text")] == ["Utah", "10 a day"]


def test_each_states_chart_has_a_time_axis_from_its_first_to_its_last_week(panel):
    for name, cell in state_cells(panel).items():
        [axis] = [group for group in cell.iter(SVG + "g") if group.get("class") == "axis"]
        assert [text.text for text in axis] == ["2020-12-08", "2021-01-12"], name


def test_each_state_is_drawn_on_its_own_scale_from_zero_to_its_highest_week(panel):
    for name, cell in state_cells(panel).items():
        ys = [y for line in polylines(cell) for _, y in line]
        assert min(ys) == PLOT_TOP, name
        assert float(cell.find(SVG + "line").get("y1")) == PLOT_BOTTOM, name


def test_a_states_line_breaks_where_a_week_is_unknown(panel):
    alaska, utah = state_cells(panel)["Alaska"], state_cells(panel)["Utah"]
    assert [len(line) for line in polylines(alaska)] == [2, 2]
    assert [len(line) for line in polylines(utah)] == [6]


def test_html_page_shows_the_states_panel_across_the_page(with_states):
    page = dashboard_html(with_states, dashboard_svgs(with_states))
    assert f'<figure aria-label="{STATES_TITLE}" class="wide"><svg' in page


def test_captions_say_how_the_states_panel_is_drawn(with_states):
    assert (
        f"{STATES_TITLE}: the average a day of each week to 2021-01-12, each state on its own "
        "scale, with its last week's figure under its name."
    ) in captions(with_states)


def test_captions_say_why_the_national_series_can_end_before_the_states(with_states, svgs):
    note = "The national series has the days both NYT (cases, deaths) and JHU (recovered) report"
    assert any(line.startswith(note) for line in captions(with_states))


def test_states_reported_for_less_than_a_week_have_no_panel_and_a_caption_says_so():
    states = state_rows({"Utah": [0, 1, 2]})
    data = prepare_dashboard_data(export_rows([1] * 3, [0] * 3, [0] * 3), states)
    assert STATES_TITLE not in dashboard_svgs(data)
    assert f"{STATES_TITLE}: drawn once the states' data span a full week." in captions(data)


# Three publication days: the first loads two days, the second revises both and adds one (the
# latest common day, 2020-12-10, up by 1,000 cases and 3 deaths), the third revises that one
# (down by 10 cases) and adds one.
THREE_PUBLICATIONS = [
    ("2020-12-10 14:00", "2020-12-09", 100, 1),
    ("2020-12-10 14:00", "2020-12-10", 120, 2),
    ("2020-12-11 14:00", "2020-12-09", 104, 1),
    ("2020-12-11 14:00", "2020-12-10", 1_120, 5),
    ("2020-12-11 14:00", "2020-12-11", 1_500, 6),
    ("2020-12-12 14:00", "2020-12-11", 1_490, 6),
    ("2020-12-12 14:00", "2020-12-12", 1_600, 7),
]
REVISIONS_CHARTS = [REVISED_DAYS_TITLE, REVISED_TITLES["cases"], REVISED_TITLES["deaths"]]
REVISION_LINES = [
    "Latest publication, 2020-12-12 14:00 UTC: 1 past day revised, 1 day added; net change "
    "-10 cases and +0 deaths.",
    "Since 2020-12-11: 2 publications, 3 past days revised in all.",
]
NO_REVISIONS = "No revisions yet: they are shown once the national history has two publications."


@pytest.fixture(scope="module")
def with_revisions():
    revisions = national_summary(THREE_PUBLICATIONS)
    return prepare_dashboard_data(export_rows([1] * 3, [0] * 3, [0] * 3), None, revisions)


def test_revisions_in_numbers_are_the_latest_publications_then_the_totals(with_revisions):
    assert revision_figures(with_revisions) == REVISION_LINES


def test_revisions_charts_draw_days_revised_and_added_and_net_changes(with_revisions):
    days, cases, deaths = revisions_charts(with_revisions)
    assert [chart.title for chart in (days, cases, deaths)] == REVISIONS_CHARTS
    assert [[series.values for series in chart.series] for chart in (days, cases, deaths)] == [
        [[2, 1], [1, 1]],
        [[1_000, -10]],
        [[3, 0]],
    ]


def test_revisions_charts_are_points_never_lines_across_gaps(with_revisions):
    assert all(series.dots for chart in revisions_charts(with_revisions) for series in chart.series)


def test_revisions_charts_come_after_the_national_charts_with_publication_days_along_x(
    with_revisions,
):
    svgs = dashboard_svgs(with_revisions)
    assert list(svgs)[4:] == REVISIONS_CHARTS
    assert axis_labels(svgs[REVISED_DAYS_TITLE], "x") == ["2020-12-11", "2020-12-12"]


def test_the_revisions_section_comes_before_the_state_panel(with_revisions):
    states = state_rows({"Utah": [0] * 8})
    data = prepare_dashboard_data(
        export_rows([1] * 3, [0] * 3, [0] * 3), states, with_revisions.revisions
    )
    svgs = dashboard_svgs(data)
    assert list(svgs)[-4:] == [*REVISIONS_CHARTS, STATES_TITLE]
    page = dashboard_html(data, svgs)
    assert page.index("</section>") < page.index(f'<figure aria-label="{STATES_TITLE}"')
    markdown = dashboard_markdown(data, svgs)
    assert markdown.index("**Revisions**") < markdown.index(f"![{STATES_TITLE}]")


def test_html_page_has_the_revisions_section_with_its_numbers_beside_its_charts(with_revisions):
    page = dashboard_html(with_revisions, dashboard_svgs(with_revisions))
    section = re.search(r'<section aria-label="Revisions">(.*?)</section>', page, re.DOTALL)
    assert section, "no revisions section"
    assert "<h2>Revisions</h2>" in section.group(1)
    items = re.findall(r"<li>(.*?)</li>", section.group(1))
    assert items == REVISION_LINES
    for title in REVISIONS_CHARTS:
        assert f'<figure aria-label="{title}"><svg' in section.group(1)
    assert SOURCES not in section.group(1)


def test_markdown_has_the_revisions_section_with_its_numbers_before_its_charts(with_revisions):
    svgs = dashboard_svgs(with_revisions)
    markdown = dashboard_markdown(with_revisions, svgs)
    listed = "\n".join(f"- {line}" for line in REVISION_LINES)
    assert f"**Revisions**\n\n{listed}\n" in markdown
    titles = [title for title, _ in SVG_IMAGE.findall(markdown)]
    assert titles[4:] == REVISIONS_CHARTS


def test_the_revisions_section_says_how_the_revisions_are_measured(with_revisions):
    page = dashboard_html(with_revisions, dashboard_svgs(with_revisions))
    assert "the change of the cumulative count on the latest day both versions hold" in page
    assert not any("Revisions" in line for line in captions(with_revisions))


@pytest.mark.parametrize(
    "publications",
    [[], [("2021-03-18 07:00", "2021-03-16", 5, 1)]],
    ids=["no history", "one publication"],
)
def test_with_one_publication_or_none_the_revisions_section_says_no_revisions_yet(publications):
    data = prepare_dashboard_data(
        export_rows([1, 2], [0, 0], [0, 0]), None, national_summary(publications)
    )
    svgs = dashboard_svgs(data)
    assert revision_figures(data) == [NO_REVISIONS]
    assert not set(REVISIONS_CHARTS) & set(svgs)
    assert f"<li>{NO_REVISIONS}</li>" in dashboard_html(data, svgs)
    assert f"- {NO_REVISIONS}" in dashboard_markdown(data, svgs)


def test_without_a_summary_the_revisions_section_says_no_revisions_yet(stopped_recovered, svgs):
    assert revision_figures(stopped_recovered) == [NO_REVISIONS]
    assert f"<li>{NO_REVISIONS}</li>" in dashboard_html(stopped_recovered, svgs)


def test_the_page_drawn_as_published_on_a_day_says_so():
    data = prepare_dashboard_data(
        export_rows([100, 120], [1, 2], [0, 0]), None, None, dt.date(2020, 6, 14)
    )
    svgs = dashboard_svgs(data)
    page = dashboard_html(data, svgs)
    title = "COVID-19 in the United States, as published on 2020-06-14"
    assert f"<title>{title}</title>" in page
    assert f"<h1>{title}</h1>" in page
    assert dashboard_markdown(data, svgs).startswith(f"**{title}**: Daily data from 2020-12-10")
    assert (
        "As published on 2020-06-14: every figure, chart and revision on this page is the "
        "histories' as of the end of that day (UTC), not today's exports."
    ) in captions(data)


def test_the_page_of_the_export_says_nothing_of_a_day_published_on(stopped_recovered, svgs):
    page = dashboard_html(stopped_recovered, svgs)
    assert "<h1>COVID-19 in the United States</h1>" in page
    assert "as published on" not in page
