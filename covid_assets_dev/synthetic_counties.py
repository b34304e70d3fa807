"""A synthetic full county history at the scale of NYT's, for the county-scale benchmark.

    python -m covid_assets_dev.synthetic_counties RECENT_FILE FOLDER [--days N] [--revised N]

NYT's full county history (``us-counties-2020.csv`` … ``us-counties-2023.csv``) is not in the
shared data, so the benchmark makes one of the same shape: the real county list (names, states,
FIPS codes, blank where NYT leaves them blank) from a real ``us-counties-recent.csv``, each county
reporting from its first case on, with cumulative counts that never fall, deaths blank where the
real file has them blank (Puerto Rico), and one date per row as NYT writes them. The next day's
window is the last 30 days of one more day, with a few county-days inside it revised, as NYT
revises them.
"""

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

COUNTY_COLUMNS = ["date", "county", "state", "fips", "cases", "deaths"]
WINDOW_DAYS = 30
FIRST_DAY = dt.date(2020, 1, 21)
NEXT_DAY_SEED = 2022


@dataclass(frozen=True)
class Counties:
    """The places of a county file: one entry per (county, state, fips)."""

    county: list[str]
    state: list[str]
    fips: list[str]
    reports_deaths: np.ndarray  # False where the real file leaves deaths blank

    def __len__(self) -> int:
        return len(self.county)


def real_counties(recent_file: Path) -> Counties:
    """The counties of a real ``us-counties-recent.csv``, in the order they first appear."""
    table = pa_csv.read_csv(
        recent_file,
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in COUNTY_COLUMNS}
        ),
    )
    places = (
        table.group_by(["county", "state", "fips"], use_threads=False)
        .aggregate([("deaths", "max")])
        .to_pylist()
    )
    return Counties(
        [place["county"] for place in places],
        [place["state"] for place in places],
        [place["fips"] for place in places],
        np.array([bool(place["deaths_max"]) for place in places]),
    )


@dataclass(frozen=True)
class CountyHistory:
    """Cumulative cases and deaths per county and day (counties × days), -1 before a county's
    first report and for deaths it never reports."""

    counties: Counties
    first_day: dt.date
    cases: np.ndarray
    deaths: np.ndarray

    @property
    def days(self) -> int:
        return self.cases.shape[1]

    def rows(self, first: int = 0, last: int | None = None) -> pa.Table:
        """The rows of days ``first`` .. ``last`` (indexes, inclusive) as NYT writes them."""
        last = self.days - 1 if last is None else last
        reported = self.cases[:, first : last + 1] >= 0
        county_index, day_offset = np.nonzero(reported.T)[::-1]
        day_index = day_offset + first
        order = np.lexsort((county_index, day_index))
        county_index, day_index = county_index[order], day_index[order]
        dates = pa.array(
            np.datetime64(self.first_day.isoformat(), "D") + day_index.astype("timedelta64[D]")
        )
        deaths = self.deaths[county_index, day_index]
        return pa.table(
            {
                "date": pc.strftime(dates, format="%Y-%m-%d"),
                "county": pa.array(self.counties.county).take(county_index),
                "state": pa.array(self.counties.state).take(county_index),
                "fips": pa.array(self.counties.fips).take(county_index),
                "cases": pa.array(self.cases[county_index, day_index]),
                "deaths": pa.array(deaths, mask=deaths < 0),
            }
        )


def synthetic_history(
    counties: Counties, days: int, seed: int = 2021, first_day: dt.date = FIRST_DAY
) -> CountyHistory:
    """``days`` days of cumulative counts from ``first_day`` for every county: each starts on a day
    of the first 120, grows with a county size drawn once, and deaths follow cases at 1–2%."""
    random = np.random.default_rng(seed)
    size = random.lognormal(mean=3.0, sigma=1.2, size=(len(counties), 1))
    start = random.integers(0, 120, size=(len(counties), 1))
    day = np.arange(days)[None, :]
    daily_cases = random.poisson(size * (1 + np.sin(day / 58.0) ** 2), size=(len(counties), days))
    cases = np.cumsum(np.where(day >= start, daily_cases, 0), axis=1)
    fatality = random.uniform(0.01, 0.02, size=(len(counties), 1))
    deaths = np.floor(cases * fatality).astype(np.int64)
    cases = np.where(day >= start, cases, -1)
    deaths = np.where((day >= start) & counties.reports_deaths[:, None], deaths, -1)
    return CountyHistory(counties, first_day, cases, deaths)


def next_day(history: CountyHistory, revised: int, seed: int = NEXT_DAY_SEED) -> CountyHistory:
    """The history one day longer, each county growing as over its last week, with ``revised``
    county-days inside the new 30-day window (before its last day) raised by one, as a later
    NYT file revises them; only days whose next day is higher are chosen, so totals never fall."""
    random = np.random.default_rng(seed)
    last_week = history.cases[:, -1] - history.cases[:, -8]
    reporting = history.cases[:, -1] >= 0
    new_cases = np.where(reporting, history.cases[:, -1] + random.poisson(last_week / 7), -1)
    cases = np.column_stack([history.cases, new_cases])
    new_deaths = np.where(history.deaths[:, -1] >= 0, history.deaths[:, -1], -1)
    deaths = np.column_stack([history.deaths, new_deaths])
    window_first = cases.shape[1] - WINDOW_DAYS
    window = cases[:, window_first:]
    revisable = np.argwhere((window[:, :-1] >= 0) & (window[:, 1:] > window[:, :-1]))
    for county, offset in revisable[random.choice(len(revisable), revised, replace=False)]:
        cases[county, window_first + offset] += 1
    return CountyHistory(history.counties, history.first_day, cases, deaths)


def next_days(history: CountyHistory, days: int, revised: int) -> list[CountyHistory]:
    """The history one, two, ... ``days`` days longer, each day ``next_day`` of the one before
    (a seed of its own each)."""
    later, histories = history, []
    for number in range(days):
        later = next_day(later, revised, seed=NEXT_DAY_SEED + number)
        histories.append(later)
    return histories


def write_csv(table: pa.Table, path: Path) -> Path:
    """Write rows as NYT does: an unquoted header, no quotes, blank for missing deaths."""
    with path.open("wb") as output:
        output.write((",".join(table.column_names) + "\n").encode())
        pa_csv.write_csv(
            table,
            output,
            write_options=pa_csv.WriteOptions(quoting_style="none", include_header=False),
        )
    return path


def write_history_files(history: CountyHistory, folder: Path) -> list[Path]:
    """The history split by year as NYT splits it upstream (``us-counties-<year>.csv``)."""
    rows = history.rows()
    years = pc.utf8_slice_codeunits(rows["date"], 0, 4)
    paths = []
    for year in sorted(set(years.to_pylist())):
        paths.append(
            write_csv(rows.filter(pc.equal(years, year)), folder / f"us-counties-{year}.csv")
        )
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recent_file", type=Path, help="a real us-counties-recent.csv")
    parser.add_argument("folder", type=Path, help="where to write the files")
    parser.add_argument("--days", type=int, default=1100, help="days of history (default 1100)")
    parser.add_argument("--revised", type=int, default=65, help="revisions in the next window")
    arguments = parser.parse_args()
    arguments.folder.mkdir(parents=True, exist_ok=True)
    history = synthetic_history(real_counties(arguments.recent_file), arguments.days)
    for path in write_history_files(history, arguments.folder):
        print(path)
    later = next_day(history, arguments.revised)
    window = later.rows(later.days - WINDOW_DAYS, later.days - 1)
    print(write_csv(window, arguments.folder / "us-counties-recent-next-day.csv"))


if __name__ == "__main__":
    main()
