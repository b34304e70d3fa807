"""The revision summary's plain functions: per publication and place, the days a version
revised and added and its net change (the change of the cumulative count on the latest day
both it and the version before hold); a version loaded out of order; and the per-day
statistics' SQL (run by DuckDB), each against a computation by hand."""

import csv
import pickle
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from covid_assets.defs.history.history_assets import last_output_problem
from covid_assets.domain.hashing import table_sha256
from covid_assets.domain.history import (
    NEWEST_SHA256,
    REVISIONS_SHA256,
    VALID_FROM,
    PublishedTable,
    publication_totals,
    revision_days_columns,
    revision_days_sql,
    revision_summary,
    revision_summary_schema,
    totals_columns,
    version_rows,
    version_summary,
    with_totals,
)
from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.tables import (
    COUNTY,
    NATIONAL,
    STATE,
    ServedTable,
    revision_days_table_of,
    revisions_prefix_of,
    revisions_table_of,
)
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.revision_summaries import publication_time, view_sql
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets_tests.helpers import HISTORY_DIR

pytestmark = pytest.mark.unit

T1, T2, T3 = (pd.Timestamp(f"2021-03-{day} 07:15:03") for day in (16, 17, 18))


def states(*rows: tuple[str, str, int | None, int | None]) -> pd.DataFrame:
    """A state table of (date, state, cases, deaths) rows; a blank count is None."""
    frame = pd.DataFrame(rows, columns=["date", "state", "cases", "deaths"])
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame.insert(2, "fips", frame["state"].map({"Utah": "49", "Texas": "48"}))
    return frame.astype({"cases": "Int64", "deaths": "Int64"})


def summary_of(before: pd.DataFrame | None, after: pd.DataFrame) -> dict[str, tuple]:
    """State -> (days revised, days added, cases net change, deaths net change), None where
    unknown."""
    summary = version_summary(before, after, T2, STATE)
    return {
        row["state"]: tuple(
            None if pd.isna(row[c]) else int(row[c])
            for c in ("days_revised", "days_added", "cases_net_change", "deaths_net_change")
        )
        for _, row in summary.iterrows()
    }


UTAH = [("2021-03-14", "Utah", 10, 1), ("2021-03-15", "Utah", 20, 2)]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(
            None, states(*UTAH), {"Utah": (0, 2, None, None)}, id="a first version adds every day"
        ),
        pytest.param(
            states(*UTAH), states(*UTAH), {"Utah": (0, 0, 0, 0)}, id="the same version again"
        ),
        pytest.param(
            states(*UTAH),
            states(*UTAH, ("2021-03-16", "Utah", 30, 3)),
            {"Utah": (0, 1, 0, 0)},
            id="a new day is added, not revised",
        ),
        pytest.param(
            states(*UTAH),
            states(("2021-03-14", "Utah", 12, 1), ("2021-03-15", "Utah", 25, 2)),
            {"Utah": (2, 0, 5, 0)},
            id="two days revised: the net change is the latest common day's, not the sum",
        ),
        pytest.param(
            states(*UTAH),
            states(("2021-03-14", "Utah", 8, 1), *UTAH[1:], ("2021-03-16", "Utah", 40, 4)),
            {"Utah": (1, 1, 0, 0)},
            id="an earlier day revised alone leaves the net change 0",
        ),
        pytest.param(
            states(*UTAH),
            states(UTAH[0], ("2021-03-15", "Utah", None, 3)),
            {"Utah": (1, 0, None, 1)},
            id="a count unknown on the latest common day has no net change",
        ),
        pytest.param(
            states(*UTAH),
            states(*UTAH, ("2021-03-15", "Texas", 7, 0)),
            {"Texas": (0, 1, None, None), "Utah": (0, 0, 0, 0)},
            id="a new place adds its days and has no net change",
        ),
    ],
)
def test_version_summary_per_place(before, after, expected):
    assert summary_of(before, after) == expected


def test_the_nation_is_one_row_per_publication_in_the_summarys_columns():
    before = pd.DataFrame({"date": [T1.date()], "cases": [5], "deaths": [1], "recovered": [0]})
    after = before.assign(cases=[7])
    summary = version_summary(before, after, T2, NATIONAL)
    assert list(summary.columns) == revision_summary_schema(NATIONAL).names
    assert summary.to_dict("records") == [
        {
            "published": T2,
            "days_revised": 1,
            "days_added": 0,
            "cases_net_change": 2,
            "deaths_net_change": 0,
            "recovered_net_change": 0,
        }
    ]


def test_a_place_carries_its_latest_fips():
    assert version_summary(None, states(*UTAH), T2, STATE)["fips"].tolist() == ["49"]
    assert "fips" in revision_summary_schema(COUNTY).names
    assert revision_summary_schema(COUNTY).names[1:3] == ["state", "county"]


TEXAS = [("2021-03-14", "Texas", 5, 0), ("2021-03-15", "Texas", 9, 1)]


def totals_of(before: pd.DataFrame | None, after: pd.DataFrame) -> tuple:
    """The totals of a state version's summary: (days revised, days added, cases net change,
    deaths net change), None where unknown."""
    [row] = publication_totals(version_summary(before, after, T2, STATE), STATE).to_dict("records")
    assert list(row) == totals_columns(STATE)
    return tuple(
        None if pd.isna(row[c]) else int(row[c])
        for c in ("days_revised", "days_added", "cases_net_change", "deaths_net_change")
    )


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(
            states(*UTAH, *TEXAS),
            states(
                ("2021-03-14", "Utah", 12, 1),
                ("2021-03-15", "Utah", 25, 2),
                TEXAS[0],
                ("2021-03-15", "Texas", 6, 1),
                ("2021-03-16", "Texas", 10, 2),
            ),
            (3, 1, 2, 0),
            id="the places' days and net changes are summed",
        ),
        pytest.param(
            None,
            states(*UTAH, *TEXAS),
            (0, 4, None, None),
            id="a net change unknown in every place stays unknown",
        ),
        pytest.param(
            states(*UTAH),
            states(("2021-03-14", "Utah", 10, 1), ("2021-03-15", "Utah", 23, 2), *TEXAS),
            (1, 2, 3, 0),
            id="a place whose net change is unknown adds nothing to the others'",
        ),
    ],
)
def test_a_publications_totals_sum_its_places(before, after, expected):
    assert totals_of(before, after) == expected


def test_the_nations_totals_are_its_summary():
    before = pd.DataFrame(
        {"date": [T1.date(), T2.date()], "cases": [5, 6], "deaths": [1, 1], "recovered": [0, 0]}
    ).astype({"cases": "Int64", "deaths": "Int64", "recovered": "Int64"})
    summary = pd.concat(
        [
            version_summary(None, before, T1, NATIONAL),
            version_summary(before, before.assign(cases=[7, 9]), T2, NATIONAL),
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(publication_totals(summary, NATIONAL), summary)


def test_totals_take_a_publications_totals_again_in_place_of_its_old_ones():
    first = version_summary(None, states(*UTAH), T1, STATE)
    second = version_summary(states(*UTAH), states(*UTAH), T2, STATE)
    redone = version_summary(None, states(UTAH[0]), T1, STATE)
    totals = publication_totals(pd.concat([first, second], ignore_index=True), STATE)
    totals = with_totals(totals, publication_totals(redone, STATE))
    assert totals["published"].tolist() == [T1, T2]
    assert totals["days_added"].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("totals", "problem"),
    [
        pytest.param(True, None, id="its totals, as recorded, are trusted"),
        pytest.param(
            False,
            "the last output's revisions are not the revision summary's totals",
            id="an older output's summary per place is not",
        ),
    ],
)
def test_a_last_output_is_trusted_only_with_the_revision_summarys_totals(totals, problem):
    """Older code handed on, and recorded the hash of, the whole summary: a history whose last
    output is one is read from its files, as for any output not the recorded one."""
    table = states(*UTAH, *TEXAS)
    revisions = version_summary(None, table, T1, STATE)
    if totals:
        revisions = publication_totals(revisions, STATE)
    recorded = {NEWEST_SHA256: table_sha256(table), REVISIONS_SHA256: table_sha256(revisions)}
    last = PublishedTable(table, "2021-03-16T07:15:03.000Z", revisions=revisions)
    assert last_output_problem(last, recorded, STATE) == problem


V1 = states(*UTAH)
V2 = states(("2021-03-14", "Utah", 11, 1), ("2021-03-15", "Utah", 21, 2))
V3 = states(
    ("2021-03-14", "Utah", 11, 1), ("2021-03-15", "Utah", 22, 2), ("2021-03-16", "Utah", 30, 3)
)


def history_of(*versions: tuple[pd.Timestamp, pd.DataFrame]) -> tuple[pd.DataFrame, list]:
    """The history and version times that versions appended in turn (in any order) leave."""
    keys = list(STATE.key_columns)
    history = V1.head(0).assign(**{VALID_FROM: pd.Series(dtype="datetime64[ms]")})
    times: list[pd.Timestamp] = []
    for published, version in versions:
        rows = version_rows(history, version, published, times, keys)
        history = pd.concat([history, rows], ignore_index=True)
        times = sorted({*times, published})
    return history, times


def test_a_history_gives_the_summary_of_its_versions_in_order():
    history, times = history_of((T1, V1), (T2, V2), (T3, V3))
    expected = pd.concat(
        [
            version_summary(None, V1, T1, STATE),
            version_summary(V1, V2, T2, STATE),
            version_summary(V2, V3, T3, STATE),
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(revision_summary(history, times, STATE), expected)


def test_a_version_loaded_out_of_order_leaves_the_totals_of_the_versions_in_order():
    """V2 comes after V3: its own rows and V3's are recomputed, and their totals replace V3's,
    as append_version does."""
    history, times = history_of((T1, V1), (T3, V3))
    totals = publication_totals(revision_summary(history, times, STATE), STATE)
    history, times = history_of((T1, V1), (T3, V3), (T2, V2))
    redone = revision_summary(history, times, STATE, [T2, T3])
    in_order = revision_summary(*history_of((T1, V1), (T2, V2), (T3, V3)), STATE)
    pd.testing.assert_frame_equal(
        with_totals(totals, publication_totals(redone, STATE)),
        publication_totals(in_order, STATE),
    )
    assert redone["published"].tolist() == [T2, T3]


def days_statistics(history: pd.DataFrame) -> dict[tuple, tuple]:
    """The per-day SQL's rows, by (date, state)."""
    with duckdb.connect() as connection:
        connection.register("history", history)
        result = connection.sql(revision_days_sql("history", STATE)).df()
    assert list(result.columns) == revision_days_columns(STATE)
    return {
        (str(row["date"])[:10], row["state"]): tuple(
            None if pd.isna(row[c]) else int(row[c]) for c in result.columns[2:]
        )
        for _, row in result.iterrows()
    }


def test_per_day_statistics_count_revisions_lags_and_when_the_value_settled():
    """2021-03-14's cases: 10 (lag 2), 11 (3), 12 (4) then 30 (lag 5): 3 revisions at lags 3 to
    5; within 20% of 30 only from lag 5; spread 20. Its deaths, 1 then 2, 2, 2: near from lag
    3. 2021-03-16 appears once: no revision, its lags unknown."""
    publications = [pd.Timestamp(f"2021-03-{day} 07:00") for day in (16, 17, 18, 19)]
    versions = [
        states(("2021-03-14", "Utah", 10, 1)),
        states(("2021-03-14", "Utah", 11, 2)),
        states(("2021-03-14", "Utah", 12, 2), ("2021-03-16", "Utah", 5, None)),
        states(("2021-03-14", "Utah", 30, 2), ("2021-03-16", "Utah", 5, None)),
    ]
    history, _ = history_of(*zip(publications, versions, strict=True))
    assert days_statistics(history) == {
        # revisions, min_lag, max_lag, cases near, cases spread, deaths near, deaths spread
        ("2021-03-14", "Utah"): (3, 3, 5, 5, 20, 3, 1),
        ("2021-03-16", "Utah"): (0, None, None, 2, 0, None, None),
    }


def manifest(folder: Path) -> list[dict[str, str]]:
    if not (folder / "MANIFEST.csv").is_file():
        pytest.skip(f"the real NYT history is not at {folder} (see shared/data/README.md)")
    with (folder / "MANIFEST.csv").open(newline="") as listing:
        return list(csv.DictReader(listing))


def published(entry: dict[str, str]) -> pd.Timestamp:
    return pd.Timestamp(entry["committed_utc"].removesuffix("Z"))


def csv_summary(
    folder: Path, places: list[str], values: list[str], counts: list[str]
) -> list[tuple]:
    """The summary computed with the csv module alone: per version (in commit order) and place,
    the days whose values differ from the version before, the days it lacked, and per count
    the change on the latest day both hold."""
    rows, before = [], {}
    for entry in manifest(folder):
        with (folder / f"{entry['run_day']}.csv").open(newline="") as version_file:
            version: dict[tuple, dict[str, dict]] = {}
            lines = csv.reader(version_file)
            header = next(lines)
            date = header.index("date")
            place_at = [header.index(column) for column in places]
            value_at = {column: header.index(column) for column in values}
            for row in lines:
                cells = {column: row[at] or None for column, at in value_at.items()}
                version.setdefault(tuple(row[at] for at in place_at), {})[row[date]] = cells
        for place, days in sorted(version.items()):
            old = before.get(place, {})
            common = [day for day in days if day in old]
            latest = max(common, default=None)
            nets = [
                None
                if latest is None or days[latest][c] is None or old[latest][c] is None
                else int(days[latest][c]) - int(old[latest][c])
                for c in counts
            ]
            revised = sum(days[day] != old[day] for day in common)
            rows.append((published(entry), *place, revised, len(days) - len(common), *nets))
        before = version
    return rows


def domain_summary(folder: Path, table: ServedTable, build: Callable, columns: list[str]) -> list:
    """The summary as the history asset makes it: each version's table, in commit order,
    against the one before (``version_summary``)."""
    summaries, before = [], None
    for entry in manifest(folder):
        version = build(folder / f"{entry['run_day']}.csv")
        summaries.append(version_summary(before, version, published(entry), table))
        before = version
    summary = pd.concat(summaries, ignore_index=True)[columns]
    return [
        tuple(None if pd.isna(value) else value for value in row)
        for row in summary.itertuples(index=False)
    ]


def national_version(path: Path) -> pd.DataFrame:
    """NYT's national file as the national table has it, recovered unknown (JHU is no part of
    what NYT revised)."""
    types = {"date": pa.date32(), "cases": pa.int64(), "deaths": pa.int64()}
    version = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types))
    counts = version.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return counts.assign(recovered=pd.array([None] * len(counts), dtype="Int64"))


def state_version(path: Path) -> pd.DataFrame:
    return STATE.level.build_table(read_csv_text(path.read_bytes()), str(path))


def test_the_national_summary_is_that_of_the_csv_files_of_the_real_history():
    folder = HISTORY_DIR / "nyt-us"
    expected = csv_summary(folder, [], ["cases", "deaths"], ["cases", "deaths"])
    columns = ["published", "days_revised", "days_added", "cases_net_change", "deaths_net_change"]
    summary = domain_summary(folder, NATIONAL, national_version, columns)
    assert len(summary) == 276
    assert summary == expected
    [october_25] = [row for row in summary if str(row[0]).startswith("2020-10-25")]
    assert october_25[1:2] + october_25[3:4] == (19, 23_840)


def test_the_states_summary_is_that_of_the_csv_files_of_the_real_history():
    folder = HISTORY_DIR / "nyt-us-states"
    expected = csv_summary(folder, ["state"], ["fips", "cases", "deaths"], ["cases", "deaths"])
    columns = [
        "published",
        "state",
        "days_revised",
        "days_added",
        "cases_net_change",
        "deaths_net_change",
    ]
    summary = domain_summary(folder, STATE, state_version, columns)
    assert len(summary) == 7 * 55
    assert summary == expected


@pytest.mark.parametrize(
    ("named", "name"),
    [
        (revisions_table_of("us_states_daily"), "us_states_daily_revisions"),
        (revision_days_table_of("us_states_daily"), "us_states_daily_revision_days"),
        (revisions_prefix_of("athena/us_daily/"), "revisions/athena/us_daily/"),
        (revisions_prefix_of("/athena/us_daily"), "revisions/athena/us_daily/"),
    ],
)
def test_a_summary_is_named_after_its_served_table(named, name):
    assert named == name


SUMMARIES = (
    ServedTablesResource(
        glue=GlueCatalogResource(database="covid"),
        bucket=S3BucketResource(bucket="b"),
        glue_tables={"state": "states"},
        export_prefixes={"state": "athena/states/"},
    )
    .history(STATE)
    .summaries
)


def test_a_summary_objects_name_is_its_publication_in_its_days_partition():
    published = pd.Timestamp("2021-03-17 07:15:03.123")
    key = SUMMARIES.object_key(published)
    assert key == "revisions/athena/states/published_day=2021-03-17/20210317T071503123Z.parquet"
    assert publication_time(key) == published


def test_the_per_day_statistics_are_an_athena_view_of_the_historys_sql():
    view = SUMMARIES.view_input()
    assert (view["Name"], view["TableType"]) == ("states_revision_days", "VIRTUAL_VIEW")
    assert view_sql(view) == revision_days_sql('"covid"."states_history"', STATE)
    columns = [column["Name"] for column in view["StorageDescriptor"]["Columns"]]
    assert columns == revision_days_columns(STATE)


def utah_and_texas_summary() -> pd.DataFrame:
    return version_summary(
        states(*UTAH), states(*UTAH, ("2021-03-15", "Texas", 7, None)), T2, STATE
    )


def test_a_tables_hash_survives_a_round_trip():
    summary = utah_and_texas_summary()
    assert table_sha256(pickle.loads(pickle.dumps(summary))) == table_sha256(summary)


@pytest.mark.parametrize(
    "change",
    [
        lambda frame: frame.assign(days_added=frame["days_added"] + 1),
        lambda frame: frame.rename(columns={"days_added": "days_new"}),
        lambda frame: frame.iloc[::-1],
    ],
    ids=["a value", "a column's name", "the row order"],
)
def test_a_tables_hash_changes_with(change):
    summary = utah_and_texas_summary()
    assert table_sha256(change(summary)) != table_sha256(summary)
