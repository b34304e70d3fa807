"""The dashboard's figures from small hand-written exports and histories: daily changes, 7-day
averages, where the recovered series stops, the headline figures, the states' weeks, the
revisions per publication day and the national table as published on a day."""

import csv
import datetime as dt

import pandas as pd
import pytest

from covid_assets.domain.dashboard_data import (
    Headline,
    chosen_day,
    daily_changes,
    end_of_day,
    last_reported_recovered_date,
    prepare_dashboard_data,
    published_on,
    recovered_while_reported,
    revisions_by_publication_day,
    trailing_average,
    values_or_none,
    weekly_new_cases,
)
from covid_assets_tests.helpers import export_rows, history_rows, national_summary, state_rows

pytestmark = pytest.mark.unit


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


@pytest.mark.parametrize(
    ("cases", "deaths", "recovered", "expected"),
    [
        pytest.param(
            [100, 120, 150],
            [1, 2, 4],
            [10, 20, 30],
            Headline(dt.date(2020, 12, 12), 150, 4, 30, 2, 30, dt.date(2020, 12, 12)),
            id="recovered reported to the last day",
        ),
        pytest.param(
            [100, 120, 150],
            [1, 2, 4],
            [10, 20, 0],
            Headline(dt.date(2020, 12, 12), 150, 4, 30, 2, 20, dt.date(2020, 12, 11)),
            id="recovered no longer reported on the last day",
        ),
        pytest.param(
            [100, 120, 110],
            [1, 2, 2],
            [0, 0, 0],
            Headline(dt.date(2020, 12, 12), 110, 2, -10, 0, None, None),
            id="cases revised down on the last day, recovered never reported",
        ),
        pytest.param(
            [100],
            [1],
            [10],
            Headline(dt.date(2020, 12, 10), 100, 1, None, None, 10, dt.date(2020, 12, 10)),
            id="one day: no change from a day before",
        ),
    ],
)
def test_headline_is_the_last_day_its_change_and_recovered_as_last_reported(
    cases, deaths, recovered, expected
):
    assert prepare_dashboard_data(export_rows(cases, deaths, recovered)).headline == expected


@pytest.mark.parametrize(
    ("cases_by_state", "weeks"),
    [
        pytest.param(
            {"Utah": [0, *range(7, 105, 7)]},
            {"Utah": [7.0, 7.0]},
            id="two full weeks: the change over each, a day",
        ),
        pytest.param(
            {"Utah": [0, *range(7, 112, 7)]},
            {"Utah": [7.0, 7.0]},
            id="weeks end on the last day: the first day left over is not a week",
        ),
        pytest.param(
            {"Utah": [0, *[70] * 7, *[56] * 7]},
            {"Utah": [10.0, -2.0]},
            id="a total revised downwards gives a negative week",
        ),
        pytest.param(
            {"Utah": [0, *[70] * 6, None, *[140] * 7]},
            {"Utah": [None, None]},
            id="a blank count at a week end leaves both its weeks unknown",
        ),
        pytest.param(
            {"Utah": [0, *[70] * 7, *[140] * 7], "Alaska": [0, *[7] * 7, *[14] * 7]},
            {"Alaska": [1.0, 1.0], "Utah": [10.0, 10.0]},
            id="each state on its own, in alphabetical order",
        ),
    ],
)
def test_weekly_new_cases(cases_by_state, weeks):
    weekly = weekly_new_cases(state_rows(cases_by_state))
    assert {state: values_or_none(weekly[state]) for state in weekly.columns} == weeks
    assert list(weekly.columns) == sorted(cases_by_state)


def test_states_reported_for_less_than_eight_days_have_no_week():
    rows = export_rows([1] * 7, [0] * 7, [0] * 7)
    data = prepare_dashboard_data(rows, state_rows({"Utah": [0] * 7}))
    assert data.states_weekly.empty
    assert not data.has_state_weeks


def test_weeks_are_named_by_their_last_day():
    weekly = weekly_new_cases(state_rows({"Utah": [0] * 15}))
    assert [day.date() for day in weekly.index] == [dt.date(2020, 12, 8), dt.date(2020, 12, 15)]


def test_a_state_reported_from_a_later_day_has_no_weeks_before_its_first_full_one():
    rows = state_rows({"Utah": [0] * 15})
    late = state_rows({"Alaska": [7] * 8})
    late["date"] += dt.timedelta(days=7)
    weekly = weekly_new_cases(pd.concat([rows, late]))
    assert values_or_none(weekly["Alaska"]) == [None, 0.0]


def test_prepared_data_has_the_states_weeks_only_with_a_state_export():
    rows = export_rows([1] * 8, [0] * 8, [0] * 8)
    assert prepare_dashboard_data(rows).states_weekly is None
    states = state_rows({"Utah": [0] * 8})
    assert values_or_none(prepare_dashboard_data(rows, states).states_weekly["Utah"]) == [0.0]


def revisions_table(rows: list[tuple]) -> dict[str, tuple]:
    """Publication day -> (days revised, days added, cases net change, deaths net change)."""
    revisions = revisions_by_publication_day(national_summary(rows))
    return {
        f"{day:%Y-%m-%d}": tuple(int(value) for value in row) for day, row in revisions.iterrows()
    }


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [("2020-05-01 14:00", "2020-04-30", 10, 1), ("2020-05-01 14:00", "2020-05-01", 20, 2)],
            {},
            id="a first version has no version before it: no revision day",
        ),
        pytest.param(
            [
                ("2020-05-01 14:00", "2020-04-30", 10, 1),
                ("2020-05-02 14:00", "2020-05-01", 20, 2),
            ],
            {"2020-05-02": (0, 1, 0, 0)},
            id="a new day is added, not revised, and changes no count",
        ),
        pytest.param(
            [
                ("2020-05-01 14:00", "2020-04-29", 5, 0),
                ("2020-05-01 14:00", "2020-04-30", 10, 1),
                ("2020-05-02 14:00", "2020-04-29", 7, 1),
                ("2020-05-02 14:00", "2020-04-30", 9, 1),
                ("2020-05-02 14:00", "2020-05-01", 20, 2),
            ],
            {"2020-05-02": (2, 1, -1, 0)},
            id="two days revised: the net change is the latest common day's",
        ),
        pytest.param(
            [
                ("2020-05-01 14:00", "2020-04-30", 10, 1),
                ("2020-05-02 01:00", "2020-04-30", 12, 1),
                ("2020-05-02 19:00", "2020-04-30", 11, 3),
            ],
            {"2020-05-02": (2, 0, 1, 2)},
            id="two publications in a day: summed",
        ),
        pytest.param(
            [
                ("2020-05-01 14:00", "2020-04-30", 10, 1),
                ("2020-05-01 23:59:59.999", "2020-04-30", 15, 1),
                ("2020-05-02 00:00", "2020-04-30", 16, 1),
            ],
            {"2020-05-01": (1, 0, 5, 0), "2020-05-02": (1, 0, 1, 0)},
            id="publication days are UTC days, split at midnight",
        ),
        pytest.param(
            [
                ("2020-05-03 14:00", "2020-04-30", 12, 1),
                ("2020-05-01 14:00", "2020-04-30", 10, 1),
                ("2020-05-02 14:00", "2020-04-30", 10, 4),
            ],
            {"2020-05-02": (1, 0, 0, 3), "2020-05-03": (1, 0, 2, -3)},
            id="rows in any order are taken in publication order",
        ),
    ],
)
def test_revisions_by_publication_day(rows, expected):
    assert revisions_table(rows) == expected


@pytest.mark.parametrize("summary", [None, national_summary([])], ids=["none", "empty"])
def test_no_summary_has_no_publication_day(summary):
    revisions = revisions_by_publication_day(summary)
    assert revisions.empty
    assert list(revisions.columns) == [
        "days_revised",
        "days_added",
        "cases_net_change",
        "deaths_net_change",
    ]


# Three versions: the 1st's two days, the 2nd revising 2020-04-30 and adding a day, the 3rd (the
# next day, just after midnight) revising 2020-05-01.
THREE_VERSIONS = [
    ("2020-05-01 14:00", "2020-04-29", 5, 0),
    ("2020-05-01 14:00", "2020-04-30", 10, 1),
    ("2020-05-01 22:00", "2020-04-30", 11, 1),
    ("2020-05-01 22:00", "2020-05-01", 20, 2),
    ("2020-05-02 00:30", "2020-05-01", 19, 2),
]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(
            dt.date(2020, 5, 1),
            {"2020-04-29": 5, "2020-04-30": 11, "2020-05-01": 20},
            id="the day's last version, every date at its latest value by then",
        ),
        pytest.param(
            dt.date(2020, 5, 2),
            {"2020-04-29": 5, "2020-04-30": 11, "2020-05-01": 19},
            id="a later day: the versions to its end",
        ),
        pytest.param(
            dt.date(2020, 6, 1),
            {"2020-04-29": 5, "2020-04-30": 11, "2020-05-01": 19},
            id="a day after the last version: the last version",
        ),
    ],
)
def test_the_table_as_published_on_a_day_is_the_history_at_its_end(day, expected):
    table = published_on(history_rows(THREE_VERSIONS), day)
    assert list(table.columns) == ["date", "cases", "deaths", "recovered"]
    assert {
        f"{date}": cases for date, cases in zip(table["date"], table["cases"], strict=True)
    } == expected


def test_a_day_before_the_first_version_has_nothing_published():
    with pytest.raises(ValueError, match="no version published by the end of 2020-04-30"):
        published_on(history_rows(THREE_VERSIONS), dt.date(2020, 4, 30))


def test_a_days_end_is_its_last_millisecond():
    assert end_of_day(dt.date(2020, 6, 14)) == pd.Timestamp("2020-06-14 23:59:59.999")


@pytest.mark.parametrize(
    ("text", "day"),
    [
        pytest.param("", None, id="empty: not chosen"),
        pytest.param("  ", None, id="blank: not chosen"),
        pytest.param("2020-06-14", dt.date(2020, 6, 14), id="an ISO day"),
        pytest.param(" 2020-06-14 ", dt.date(2020, 6, 14), id="spaces around it"),
    ],
)
def test_chosen_day(text, day):
    assert chosen_day(text) == day


@pytest.mark.parametrize("text", ["14/06/2020", "2020-06-31", "yesterday"])
def test_a_chosen_day_not_in_iso_form_is_refused_with_an_example(text):
    with pytest.raises(ValueError, match="is not a day in ISO form, like 2020-06-14"):
        chosen_day(text)


def test_prepared_data_hands_on_the_revisions_and_the_day_published_on():
    revisions = national_summary(THREE_VERSIONS)
    data = prepare_dashboard_data(export_rows([1], [0], [0]), None, revisions, dt.date(2020, 5, 1))
    assert data.revisions is revisions
    assert data.as_published_on == dt.date(2020, 5, 1)


def test_states_weeks_of_the_real_file_are_the_change_over_each_week(snapshots_dir):
    """Each state's last week, from NYT's states file read with the csv module: its cases on the
    last day less those seven days before, a day."""
    path = snapshots_dir / "2021-03-18" / "nyt-us-states.csv"
    with path.open(newline="") as states_file:
        rows = list(csv.DictReader(states_file))
    cases = {(row["state"], row["date"]): int(row["cases"]) for row in rows}
    states = sorted({row["state"] for row in rows})
    expected = [(cases[s, "2021-03-17"] - cases[s, "2021-03-10"]) / 7 for s in states]
    weekly = weekly_new_cases(pd.read_csv(path))
    assert (weekly.index[-1].date(), list(weekly.columns)) == (dt.date(2021, 3, 17), states)
    assert list(weekly.iloc[-1]) == pytest.approx(expected)
    assert len(states) == 55
