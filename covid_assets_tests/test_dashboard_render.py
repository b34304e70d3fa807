"""The dashboard's PNG and HTML page, drawn from small hand-written exports."""

import math
import re

import pytest
from matplotlib.colors import to_hex

from covid_assets.dashboard_data import prepare_dashboard_data
from covid_assets.dashboard_render import (
    COLORS,
    captions,
    dashboard_figure,
    dashboard_html,
    dashboard_png,
    png_data_uri,
    thousands,
)
from covid_assets_tests.test_dashboard_data import export_rows

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def charts(data):
    return {axes.get_title(loc="left"): axes for axes in dashboard_figure(data).axes}


def test_recovered_line_stops_on_the_last_reported_day(stopped_recovered):
    lines = charts(stopped_recovered)["Cumulative cases and recovered"].lines
    drawn = next(line for line in lines if line.get_label() == "Recovered").get_ydata()
    assert list(drawn[:6]) == [10, 20, 30, 40, 50, 60]
    assert all(math.isnan(value) for value in drawn[6:])


def test_negative_daily_change_is_drawn_below_zero_in_its_own_colour(stopped_recovered):
    areas = charts(stopped_recovered)["Daily new cases"].collections
    [negative] = [area for area in areas if area.get_label().startswith("Negative change")]
    assert negative.get_label() == "Negative change (1 day)"
    assert min(vertex[1] for path in negative.get_paths() for vertex in path.vertices) == -10
    assert to_hex(negative.get_facecolor()[0]) == COLORS["negative"]


def test_positive_daily_changes_stay_above_zero(stopped_recovered):
    areas = charts(stopped_recovered)["Daily new cases"].collections
    [positive] = [area for area in areas if area.get_label() == "Daily change"]
    heights = [vertex[1] for path in positive.get_paths() for vertex in path.vertices]
    assert min(heights) == 0
    assert max(heights) == 40


def test_dashboard_is_a_png(stopped_recovered):
    assert dashboard_png(stopped_recovered).startswith(PNG_SIGNATURE)


def test_html_page_shows_the_png_inline(stopped_recovered):
    png = dashboard_png(stopped_recovered)
    assert f'src="{png_data_uri(png)}"' in dashboard_html(stopped_recovered, png)


def test_html_page_loads_nothing_from_elsewhere(stopped_recovered):
    page = dashboard_html(stopped_recovered, b"png")
    assert "<script" not in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == ["data:,", png_data_uri(b"png")]


def test_html_page_carries_the_captions(stopped_recovered):
    page = dashboard_html(stopped_recovered, b"png")
    assert all(line in page for line in captions(stopped_recovered))
