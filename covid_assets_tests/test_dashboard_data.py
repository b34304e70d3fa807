"""The dashboard's figures from small hand-written exports: daily changes, 7-day averages and
where the recovered series stops."""

import datetime as dt

import pandas as pd
import pytest

from covid_assets.dashboard_data import (
    daily_changes,
    last_reported_recovered_date,
    prepare_dashboard_data,
    recovered_while_reported,
    trailing_average,
    values_or_none,
)


def export_rows(cases: list[int], deaths: list[int], recovered: list[int]) -> pd.DataFrame:
    """An export as read back from Parquet: consecutive days from 2020-12-10, dates as dates."""
    start = dt.date(2020, 12, 10)
    return pd.DataFrame(
        {
            "date": [start + dt.timedelta(days=day) for day in range(len(cases))],
            "cases": cases,
            "deaths": deaths,
            "recovered": recovered,
        }
    )


def test_daily_change_is_the_difference_from_the_day_before():
    assert values_or_none(daily_changes(pd.Series([10, 15, 30]))) == [None, 5.0, 15.0]


def test_first_day_has_no_daily_change_rather_than_its_whole_total():
    assert values_or_none(daily_changes(pd.Series([1_000_000, 1_000_010])))[0] is None


def test_a_total_revised_downwards_gives_a_negative_daily_change():
    assert values_or_none(daily_changes(pd.Series([100, 90, 95]))) == [None, -10.0, 5.0]


def test_seven_day_average_is_the_mean_of_the_day_and_the_six_before():
    daily = pd.Series([7.0, 0, 0, 0, 0, 0, 0, 14])
    assert values_or_none(trailing_average(daily)) == [None] * 6 + [1.0, 2.0]


def test_seven_day_average_counts_a_negative_day():
    daily = pd.Series([10.0, 10, 10, 10, 10, 10, -11])
    assert values_or_none(trailing_average(daily))[-1] == pytest.approx(7.0)


def test_last_reported_recovered_day_is_the_one_before_the_trailing_zeros():
    rows = export_rows([1] * 5, [0] * 5, [5, 6, 7, 0, 0])
    assert last_reported_recovered_date(rows["date"], rows["recovered"]) == dt.date(2020, 12, 12)


def test_recovered_still_reported_on_the_last_day_is_drawn_to_the_end():
    rows = export_rows([1] * 3, [0] * 3, [5, 6, 7])
    data = prepare_dashboard_data(rows)
    assert data.recovered_last_reported == data.last_date
    assert values_or_none(data.days["recovered"]) == [5.0, 6.0, 7.0]


def test_recovered_never_reported_has_no_last_reported_day():
    rows = export_rows([1] * 3, [0] * 3, [0, 0, 0])
    assert last_reported_recovered_date(rows["date"], rows["recovered"]) is None


def test_recovered_after_reporting_stopped_is_missing_not_zero():
    rows = export_rows([1] * 4, [0] * 4, [5, 6, 0, 0])
    masked = recovered_while_reported(rows["date"], rows["recovered"], dt.date(2020, 12, 11))
    assert values_or_none(masked) == [5.0, 6.0, None, None]


def test_zeros_before_the_first_recovery_are_kept():
    rows = export_rows([1] * 4, [0] * 4, [0, 0, 3, 4])
    masked = recovered_while_reported(rows["date"], rows["recovered"], dt.date(2020, 12, 13))
    assert values_or_none(masked) == [0.0, 0.0, 3.0, 4.0]


def test_a_dip_in_recovered_before_the_cutoff_is_kept_as_reported():
    rows = export_rows([1] * 4, [0] * 4, [50, 40, 60, 0])
    data = prepare_dashboard_data(rows)
    assert values_or_none(data.days["recovered"]) == [50.0, 40.0, 60.0, None]


def test_prepared_data_is_sorted_by_date_whatever_the_row_order():
    rows = export_rows([10, 20, 30], [1, 2, 3], [1, 2, 3])
    data = prepare_dashboard_data(rows.iloc[::-1])
    assert values_or_none(data.days["new_cases"]) == [None, 10.0, 10.0]
    assert (data.first_date, data.last_date) == (dt.date(2020, 12, 10), dt.date(2020, 12, 12))


def test_prepared_data_counts_the_days_with_a_negative_change():
    rows = export_rows([10, 8, 12, 11], [1, 1, 0, 2], [0, 0, 0, 0])
    assert prepare_dashboard_data(rows).negative_change_days == {"cases": 2, "deaths": 1}


def test_prepared_data_names_the_last_day_recovered_was_reported():
    rows = export_rows([1] * 5, [0] * 5, [3, 4, 5, 0, 0])
    data = prepare_dashboard_data(rows)
    assert data.recovered_last_reported == dt.date(2020, 12, 12)
    assert data.last_date == dt.date(2020, 12, 14)


def test_an_empty_export_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="no rows"):
        prepare_dashboard_data(export_rows([], [], []))
