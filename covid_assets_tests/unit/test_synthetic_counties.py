"""The benchmark's synthetic county history: the shape of NYT's county files."""

import csv
import itertools

import numpy as np
import pytest

from covid_assets_dev.synthetic_counties import (
    WINDOW_DAYS,
    Counties,
    next_day,
    next_days,
    real_counties,
    synthetic_history,
    write_csv,
)

pytestmark = pytest.mark.unit

COUNTIES = Counties(
    county=["Autauga", "New York City", "Adjuntas"],
    state=["Alabama", "New York", "Puerto Rico"],
    fips=["01001", "", "72001"],
    reports_deaths=np.array([True, True, False]),
)


def window(history, last_day: int) -> dict[tuple[str, str, str], tuple[int, int | None]]:
    rows = history.rows(last_day - WINDOW_DAYS + 1, last_day).to_pylist()
    return {(r["date"], r["county"], r["state"]): (r["cases"], r["deaths"]) for r in rows}


def test_each_county_reports_from_its_first_case_and_its_counts_never_fall():
    rows = synthetic_history(COUNTIES, days=200).rows().to_pylist()
    for county in COUNTIES.county:
        cases = [row["cases"] for row in rows if row["county"] == county]
        assert cases
        assert cases == sorted(cases)


def test_deaths_are_blank_where_the_real_file_leaves_them_blank(tmp_path):
    path = write_csv(synthetic_history(COUNTIES, days=200).rows(), tmp_path / "counties.csv")
    with path.open() as lines:
        rows = list(csv.DictReader(lines))
    assert {row["deaths"] for row in rows if row["state"] == "Puerto Rico"} == {""}
    assert all(row["deaths"].isdigit() for row in rows if row["state"] != "Puerto Rico")
    assert path.read_text().startswith("date,county,state,fips,cases,deaths\n")


def test_the_next_window_has_one_new_day_and_exactly_the_revisions_asked_for():
    history = synthetic_history(COUNTIES, days=200)
    later = next_day(history, revised=4)

    before, after = window(history, history.days - 1), window(later, later.days - 1)

    assert len(after.keys() - before.keys()) == len(COUNTIES)
    revised = [key for key in after.keys() & before.keys() if after[key] != before[key]]
    assert len(revised) == 4
    assert all(after[key][0] == before[key][0] + 1 for key in revised)


def test_the_real_county_list_is_read_with_its_blank_fips_and_deaths(snapshots_dir):
    counties = real_counties(snapshots_dir / "2021-03-18" / "nyt-us-counties-recent.csv")
    assert len(counties) == 3248
    assert "" in counties.fips
    assert not counties.reports_deaths[counties.state.index("Puerto Rico")]


def test_each_next_day_adds_one_day_to_the_one_before_and_revises_as_many_county_days():
    histories = next_days(synthetic_history(COUNTIES, days=200), days=3, revised=4)
    windows = [window(history, history.days - 1) for history in histories]
    assert [history.days for history in histories] == [201, 202, 203]
    for before, after in itertools.pairwise(windows):
        assert len(after.keys() - before.keys()) == len(COUNTIES.county)
        assert sum(after[key] != before[key] for key in after.keys() & before.keys()) == 4
