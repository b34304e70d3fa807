"""The history's plain functions: what a version appends, the table "as of" a time, the largest
revisions, publication times, and the as-of SQL (run by DuckDB)."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from covid_assets.domain.history import (
    VALID_FROM,
    Revision,
    as_of,
    as_of_sql,
    changed_rows,
    largest_revisions,
    published_time,
    version_rows,
)
from covid_assets.domain.tables import NATIONAL, history_prefix_of, history_table_of

pytestmark = pytest.mark.unit

KEYS = ("date", "state")
T1, T2, T3 = (pd.Timestamp(f"2021-03-{day} 07:15:03") for day in (16, 17, 18))


def table(*rows: tuple[str, str, int | None]) -> pd.DataFrame:
    """A small level table: (date, state, cases) rows, cases a nullable integer."""
    frame = pd.DataFrame(rows, columns=["date", "state", "cases"])
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["cases"] = frame["cases"].astype("Int64")
    return frame


def history_of(*versions: tuple[pd.Timestamp, pd.DataFrame]) -> pd.DataFrame:
    """The history that versions appended in turn leave."""
    history = table().assign(**{VALID_FROM: pd.Series(dtype="datetime64[ms]")})
    times: list[pd.Timestamp] = []
    for published, version in versions:
        added = version_rows(history, version, published, times, KEYS)
        history = pd.concat([history, added], ignore_index=True)
        times.append(published)
    return history


def as_of_cases(history: pd.DataFrame, moment: pd.Timestamp) -> list[tuple]:
    rows = as_of(history, moment, KEYS)
    return [
        (str(r.date), r.state, None if pd.isna(r.cases) else int(r.cases))
        for r in rows.itertuples()
    ]


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        pytest.param(
            None, table(("2021-03-16", "Iowa", 5)), [("2021-03-16", "Iowa", 5)], id="first"
        ),
        pytest.param(
            table(("2021-03-16", "Iowa", 5)),
            table(("2021-03-16", "Iowa", 5), ("2021-03-17", "Iowa", 7)),
            [("2021-03-17", "Iowa", 7)],
            id="new-key",
        ),
        pytest.param(
            table(("2021-03-16", "Iowa", 5)),
            table(("2021-03-16", "Iowa", 6)),
            [("2021-03-16", "Iowa", 6)],
            id="revised",
        ),
        pytest.param(
            table(("2021-03-16", "Iowa", None)),
            table(("2021-03-16", "Iowa", None)),
            [],
            id="blank-stays-blank",
        ),
        pytest.param(
            table(("2021-03-16", "Iowa", None)),
            table(("2021-03-16", "Iowa", 3)),
            [("2021-03-16", "Iowa", 3)],
            id="blank-filled",
        ),
        pytest.param(
            table(("2021-03-16", "Iowa", 3)),
            table(("2021-03-16", "Iowa", None)),
            [("2021-03-16", "Iowa", None)],
            id="value-blanked",
        ),
    ],
)
def test_a_version_appends_its_new_and_changed_rows_only(before, after, changed):
    rows = changed_rows(before, after, KEYS)
    assert [
        (str(r.date), r.state, None if pd.isna(r.cases) else int(r.cases))
        for r in rows.itertuples()
    ] == changed


def test_as_of_a_time_gives_each_keys_latest_row_not_after_it():
    history = history_of(
        (T1, table(("2021-03-15", "Iowa", 5))),
        (T2, table(("2021-03-15", "Iowa", 6), ("2021-03-16", "Iowa", 8))),
        (T3, table(("2021-03-15", "Iowa", 6), ("2021-03-16", "Iowa", 9))),
    )
    assert as_of_cases(history, T1 - pd.Timedelta(seconds=1)) == []
    assert as_of_cases(history, T1) == [("2021-03-15", "Iowa", 5)]
    assert as_of_cases(history, T2 + pd.Timedelta(hours=1)) == [
        ("2021-03-15", "Iowa", 6),
        ("2021-03-16", "Iowa", 8),
    ]
    assert as_of_cases(history, T3) == [("2021-03-15", "Iowa", 6), ("2021-03-16", "Iowa", 9)]
    assert len(history) == 4  # 1 new; 1 revised and 1 new; 1 revised


def test_a_version_loaded_late_leaves_every_version_as_of_its_own_time():
    first = table(("2021-03-15", "Iowa", 5), ("2021-03-15", "Ohio", 1))
    middle = table(("2021-03-15", "Iowa", 7), ("2021-03-15", "Ohio", 1), ("2021-03-16", "Ohio", 2))
    last = table(("2021-03-15", "Iowa", 5), ("2021-03-15", "Ohio", 1), ("2021-03-16", "Ohio", 3))
    history = history_of((T1, first), (T3, last), (T2, middle))
    for moment, version in ((T1, first), (T2, middle), (T3, last)):
        expected = [(str(r.date), r.state, int(r.cases)) for r in version.itertuples()]
        assert as_of_cases(history, moment) == expected


def test_a_stale_copy_of_a_version_in_the_history_adds_nothing():
    first, last = table(("2021-03-15", "Iowa", 5)), table(("2021-03-15", "Iowa", 6))
    history = history_of((T1, first), (T3, last))
    assert version_rows(history, first, T1, [T1, T3], KEYS).empty


def test_largest_revisions_come_first_at_most_five():
    pairs = [
        (
            {"date": f"2021-03-{day:02}", "cases": 100, "deaths": 10},
            {"date": f"2021-03-{day:02}", "cases": 100 + day, "deaths": 10},
        )
        for day in range(1, 8)
    ]
    pairs.append(
        ({"date": "2021-03-09", "deaths": 3}, {"date": "2021-03-09", "deaths": 3, "cases": 4})
    )
    revisions = largest_revisions(pairs, ["cases", "deaths"], key_of=lambda item: item["date"])
    assert [str(revision) for revision in revisions] == [
        "2021-03-09 cases: blank → 4",
        "2021-03-07 cases: 100 → 107",
        "2021-03-06 cases: 100 → 106",
        "2021-03-05 cases: 100 → 105",
        "2021-03-04 cases: 100 → 104",
    ]


def test_a_revision_reads_day_field_old_and_new_with_separators():
    assert str(Revision("2021-03-16", "cases", 29_573_180, 29_573_186)) == (
        "2021-03-16 cases: 29,573,180 → 29,573,186"
    )


@pytest.mark.parametrize(
    ("last_modified", "published"),
    [
        ("Wed, 17 Mar 2021 07:15:03 GMT", dt.datetime(2021, 3, 17, 7, 15, 3, tzinfo=dt.UTC)),
        (
            "2021-03-17T07:15:03.250000+00:00",
            dt.datetime(2021, 3, 17, 7, 15, 3, 250000, tzinfo=dt.UTC),
        ),
        (None, None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_publication_time_is_read_from_an_http_date_or_an_iso_time(last_modified, published):
    assert published_time(last_modified) == published


@pytest.mark.parametrize(
    ("served", "history"),
    [
        (NATIONAL.history_asset, "merged_daily_history"),
        (history_table_of("us_states_daily"), "us_states_daily_history"),
        (history_prefix_of("athena/us_daily/"), "history/athena/us_daily/"),
        (history_prefix_of("/athena/us_daily"), "history/athena/us_daily/"),
    ],
)
def test_a_history_is_named_after_its_served_table(served, history):
    assert served == history


def test_the_as_of_sql_gives_what_as_of_gives():
    history = history_of(
        (T1, table(("2021-03-15", "Iowa", 5), ("2021-03-15", "Ohio", None))),
        (T2, table(("2021-03-15", "Iowa", 6), ("2021-03-15", "Ohio", 2))),
    )
    for moment in (T1, T2 - pd.Timedelta(seconds=1), T2):
        sql = as_of_sql("history", KEYS, ["cases"], f"{moment}")
        with duckdb.connect() as connection:
            connection.register("history", history)
            found = connection.sql(sql).df()
        expected = as_of(history, moment, KEYS)
        assert found[["date", "state", "cases"]].astype(str).values.tolist() == (
            expected[["date", "state", "cases"]].astype(str).values.tolist()
        )
