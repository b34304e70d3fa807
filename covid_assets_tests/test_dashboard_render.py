"""The dashboard's charts, page and Markdown, drawn from small hand-written exports."""

import base64
import datetime as dt
import re
from xml.etree import ElementTree

import pytest

from covid_assets.dashboard_data import prepare_dashboard_data
from covid_assets.dashboard_render import (
    COLORS,
    captions,
    dashboard_charts,
    dashboard_html,
    dashboard_markdown,
    dashboard_svgs,
    date_labels,
    thousands,
)
from covid_assets_tests.test_dashboard_data import export_rows

SVG = "{http://www.w3.org/2000/svg}"
SVG_IMAGE = re.compile(r"!\[([^\]]+)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)")


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


def test_negative_daily_change_is_drawn_below_zero_in_its_own_colour(stopped_recovered):
    negative = chart_series(stopped_recovered, "Daily new cases")["Negative change (1 day)"]
    assert min(drawn(negative)) == -10
    assert max(drawn(negative)) == 0
    assert (negative.color, negative.area) == (COLORS["negative"], True)


def test_positive_daily_changes_stay_above_zero(stopped_recovered):
    positive = chart_series(stopped_recovered, "Daily new cases")["Daily change"]
    assert (min(drawn(positive)), max(drawn(positive))) == (0, 40)


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


def area_outline(svg: str, series_index: int) -> list[tuple[float, float]]:
    """The (x, y) corners of an area series' path, in SVG units (y grows downwards)."""
    root = ElementTree.fromstring(svg)
    [path] = [
        path
        for group in root.iter(SVG + "g")
        if f"serie-{series_index} " in group.get("class", "")
        for path in group.findall(SVG + "path")
    ]
    numbers = [float(number) for number in re.findall(r"-?[\d.]+", path.get("d"))]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def test_an_area_is_closed_along_its_baseline_from_its_first_drawn_day(svgs):
    # Day one has no daily change: the area starts on day two, straight up from the baseline.
    outline = area_outline(svgs["Daily new deaths"], 0)
    (start_x, baseline), (first_x, _), *_, (last_x, end_y) = outline
    assert (start_x, end_y) == (first_x, baseline)
    assert last_x > first_x


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
