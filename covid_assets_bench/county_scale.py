"""The county-scale scenarios (``--county-days N``): over a synthetic county history of N days and
one of 3N days that ends on the same day, each loaded by the county history backfill on a blank
emulator, the next day at county scale as a whole process, side by side with their ratio, beside
the national next day measured in the same run.

The history is synthetic (``synthetic_counties``: the real county list, NYT's shape, split by
year as upstream); NYT's own is 1,100 days (about 3.5 M county-days). Each county has reported by
day 120, so from N = 150 on the next day's window holds every county on each of its 30 days, and
it has the same dates whatever the length: the next day's work is the same.
"""

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dagster import AssetKey, DagsterInstance

from covid_assets.definitions import build_definitions
from covid_assets.defs.backfills.history_backfill import (
    HISTORY_BACKFILL,
    history_backfill_run_config,
)
from covid_assets.defs.provenance import latest_materialization
from covid_assets.domain.tables import COUNTY, STATE
from covid_assets.resources.dynamodb import DYNAMODB_BATCH_SIZE
from covid_assets_bench.table import heading, row
from covid_assets_dev.aws_calls import CallCounts, on_every_aws_call
from covid_assets_dev.local_stack import PROJECT_ROOT
from covid_assets_dev.run_worker import run_worker_command
from covid_assets_dev.synthetic_counties import (
    FIRST_DAY,
    WINDOW_DAYS,
    next_days,
    real_counties,
    synthetic_history,
    write_csv,
    write_history_files,
)
from covid_assets_dev.targets import NextDayCost, Target, exactly

LONGER_HISTORY = 3  # the second history, as a multiple of the first's days
# Every synthetic county has reported by day 120: from 150 days on, the next day's window (30
# days) holds every county on every day, whatever the length of the history: the same work.
SHORTEST_HISTORY_DAYS = 120 + WINDOW_DAYS
REVISED = 65  # county-days of the next window revised, as in a real NYT day
# Consecutive next days timed over each history: one process's time moves by a third with the
# machine's load, the median of three much less.
NEXT_DAYS = 3
PARALLEL_WRITERS = 4
# The project's definitions with a job of the county level alone, whose run worker writes its AWS
# calls to the file CALLS_FILE_SETTING names (county_definitions).
COUNTED_MODULE = "covid_assets_bench.county_definitions"
COUNTY_LEVEL_JOB = "county_level_job"
CALLS_FILE_SETTING = "COVID_BENCH_CALLS_FILE"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def history_days(text: str) -> int:
    """``--county-days``: a number of days, from SHORTEST_HISTORY_DAYS on."""
    days = int(text) if text.isdigit() else 0
    if days < SHORTEST_HISTORY_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a number of days, at least {SHORTEST_HISTORY_DAYS} (the next day's window "
            "then holds every county on every day, whatever the history)"
        )
    return days


@dataclass(frozen=True)
class NextDayFiles:
    window: Path  # the day's us-counties-recent.csv
    states: Path  # the window's state totals: the counties' sums
    new_rows: int  # county-days of the window's new day


@dataclass(frozen=True)
class CountyFiles:
    history: list[Path]  # by year, as upstream
    next_days: list[NextDayFiles]  # NEXT_DAYS consecutive days after the history
    history_rows: int
    window_rows: int
    days: int
    first_day: dt.date


def states_of(window: pa.Table) -> pa.Table:
    """The state file the window's counties add up to (NYT's us-states.csv columns)."""
    sums = window.group_by(["date", "state"], use_threads=False).aggregate(
        [("cases", "sum"), ("deaths", "sum")]
    )
    return pa.table(
        {
            "date": sums["date"],
            "state": sums["state"],
            "fips": pa.array([""] * len(sums)),
            "cases": sums["cases_sum"],
            "deaths": sums["deaths_sum"],
        }
    ).sort_by([("date", "ascending"), ("state", "ascending")])


def county_files(recent_file: Path, folder: Path, days: int, ends_on: dt.date) -> CountyFiles:
    """A synthetic history of ``days`` days up to ``ends_on``, and its NEXT_DAYS next days, each
    one new day and REVISED revisions more. Histories of different lengths that end on the same
    day have next days of the same dates: their exports rewrite the same months (a window
    across a month's end rewrites two per state)."""
    folder.mkdir(parents=True, exist_ok=True)
    first_day = ends_on - dt.timedelta(days=days - 1)
    history = synthetic_history(real_counties(recent_file), days, first_day=first_day)
    next_day_files = []
    for number, later in enumerate(next_days(history, NEXT_DAYS, REVISED), start=1):
        window = later.rows(later.days - WINDOW_DAYS, later.days - 1)
        last_day = pc.max(window["date"]).as_py()
        next_day_files.append(
            NextDayFiles(
                window=write_csv(window, folder / f"us-counties-recent-next-day-{number}.csv"),
                states=write_csv(states_of(window), folder / f"us-states-next-day-{number}.csv"),
                new_rows=pc.sum(pc.equal(window["date"], last_day)).as_py(),
            )
        )
    return CountyFiles(
        history=write_history_files(history, folder),
        next_days=next_day_files,
        history_rows=len(history.rows()),
        window_rows=len(window),
        days=days,
        first_day=first_day,
    )


def history_end(days: int) -> dt.date:
    """The last day of the shorter history, which starts on NYT's first day; the longer one
    ends on it too."""
    return FIRST_DAY + dt.timedelta(days=days - 1)


def use_county_files(day: NextDayFiles) -> None:
    """Turn the state and county levels on, their daily sources a next day's files, published
    now: a local file's publication time is its modification time, and each next day must be
    newer than the history and the day before it (all were written before the backfill)."""
    for path in (day.states, day.window):
        os.utime(path)
    os.environ[STATE.source.url_setting] = day.states.as_uri()
    os.environ[COUNTY.source.url_setting] = day.window.as_uri()


@contextmanager
def counted_calls() -> Iterator[CallCounts]:
    counts = CallCounts()
    with on_every_aws_call(counts.count):
        yield counts


@dataclass(frozen=True)
class BackfillFigures:
    writers: int
    files: int
    seconds: float
    items_written: int  # by the serving of the newest version, which loads every county-day
    calls: CallCounts

    @property
    def items_per_second(self) -> float:
        return self.items_written / self.seconds


def backfill(instance: DagsterInstance, files: list[Path], writers: int) -> BackfillFigures:
    """The backfill job of the county table over ``files`` (each a version, published at its
    modification time) in this process with ``writers`` parallel writers, its calls counted."""
    os.environ["COVID_DYNAMODB_WRITERS"] = str(writers)
    job = build_definitions().resolve_job_def(HISTORY_BACKFILL)
    config = history_backfill_run_config("county", files=[f.as_uri() for f in files])
    with counted_calls() as calls:
        started = time.perf_counter()
        result = job.execute_in_process(run_config={**config, **QUIET_LOGS}, instance=instance)
        seconds = time.perf_counter() - started
    [records] = [
        {key: value.value for key, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey(COUNTY.records_asset)
    ]
    return BackfillFigures(writers, len(files), seconds, records["items_written"], calls)


@dataclass(frozen=True)
class ProcessFigures:
    seconds: float
    peak_memory: int  # bytes: the largest resident set of the process
    calls: dict[str, Any] | None = None  # CallCounts.as_json of the process, when counted
    records: dict[str, Any] | None = None  # the county load's materialization metadata


def measured_process(command: list[str], environment: dict[str, str]) -> tuple[float, int]:
    """Seconds from launch to exit of a whole process, and its peak resident memory in bytes
    (``peak_memory``)."""
    with tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        launcher = [sys.executable, "-m", "covid_assets_bench.peak_memory", str(peak_file)]
        started = time.perf_counter()
        finished = subprocess.run(
            [*launcher, *command], cwd=PROJECT_ROOT, env=environment, capture_output=True
        )
        seconds = time.perf_counter() - started
        if finished.returncode != 0:
            raise RuntimeError(f"{command} failed:\n{finished.stderr[-3000:].decode()}")
        return seconds, int(peak_file.read_text())


def measured_run(module: str, job: str, **settings: str) -> tuple[float, int]:
    """``measured_process`` of a run of ``job`` in a process of its own, as a run launcher starts
    one (``run_worker_command``), with these settings added to its environment."""
    return measured_process(run_worker_command(module, job), {**os.environ, **settings})


def counted_run(module: str, job: str, calls_file: Path, **settings: str) -> ProcessFigures:
    """``measured_run`` of a job of ``module`` (``COUNTED_MODULE``: the project's definitions),
    its AWS calls counted inside the process and written to ``calls_file``."""
    seconds, memory = measured_run(module, job, **settings, **{CALLS_FILE_SETTING: str(calls_file)})
    return ProcessFigures(seconds, memory, json.loads(calls_file.read_text()))


def county_next_day_process(calls_file: Path) -> ProcessFigures:
    """The county level's next day as a whole process, its AWS calls counted inside it (and
    written to ``calls_file``)."""
    run = counted_run(COUNTED_MODULE, COUNTY_LEVEL_JOB, calls_file)
    with DagsterInstance.get() as instance:
        records = latest_materialization(instance, COUNTY.records_asset)[0]
    return dataclasses.replace(run, records=records)


@dataclass(frozen=True)
class CountyHistoryFigures:
    """One history length: its files, the backfill that loaded it on a blank emulator, and the
    next days over it, one after the other."""

    files: CountyFiles
    backfill: BackfillFigures
    next_days: list[ProcessFigures]

    @property
    def next_day(self) -> ProcessFigures:
        """The first next day, right after the backfill: the one whose calls are printed."""
        return self.next_days[0]

    @property
    def cost(self) -> NextDayCost:
        """The median next day's time and peak memory."""
        return NextDayCost(
            self.files.days,
            statistics.median(day.seconds for day in self.next_days),
            statistics.median(day.peak_memory for day in self.next_days) / 2**20,
        )


def print_backfills(histories: list[CountyHistoryFigures]) -> None:
    heading(
        f"county history backfill: each history on a blank emulator, {PARALLEL_WRITERS} writers"
    )
    row("", *(f"{history.files.days} days" for history in histories))
    row("  first day", *(history.files.first_day.isoformat() for history in histories))
    row("  files (years)", *(len(history.files.history) for history in histories))
    row("  county-days", *(history.files.history_rows for history in histories))
    row("  items written", *(history.backfill.items_written for history in histories))
    row(
        "  BatchWriteItem calls",
        *(history.backfill.calls.calls[("dynamodb", "BatchWriteItem")] for history in histories),
    )
    row(
        "  BatchGetItem calls",
        *(history.backfill.calls.calls[("dynamodb", "BatchGetItem")] for history in histories),
    )
    row("  run seconds", *(f"{history.backfill.seconds:.1f}" for history in histories))
    row("  items/s", *(f"{history.backfill.items_per_second:.0f}" for history in histories))


def print_next_days(histories: list[CountyHistoryFigures], national: ProcessFigures) -> None:
    short, long = histories
    heading("next day at county scale, as a whole process, over two history lengths")
    print(f"  {NEXT_DAYS} next days one after the other over each history: medians")
    row("", f"{short.files.days} days", f"{long.files.days} days", "ratio")
    row(
        "  whole process, seconds",
        f"{short.cost.seconds:.2f}",
        f"{long.cost.seconds:.2f}",
        f"{long.cost.seconds / short.cost.seconds:.2f}",
    )
    for number in range(NEXT_DAYS):
        row(
            f"    next day {number + 1}",
            *(f"{history.next_days[number].seconds:.2f}" for history in histories),
        )
    row(
        "  peak memory, MB",
        f"{short.cost.peak_mb:.0f}",
        f"{long.cost.peak_mb:.0f}",
        f"{long.cost.peak_mb / short.cost.peak_mb:.2f}",
    )
    for number in range(NEXT_DAYS):
        row(
            f"    next day {number + 1}",
            *(f"{history.next_days[number].peak_memory / 2**20:.0f}" for history in histories),
        )
    print("  the first next day (right after the backfill):")
    row("  window: rows", short.files.window_rows, long.files.window_rows)
    row(
        "  window: new county-days",
        *(history.files.next_days[0].new_rows for history in histories),
    )
    row("  window: revised county-days", REVISED, REVISED)
    calls = [history.next_day.calls for history in histories]
    for name in sorted(set(calls[0]["calls"]) | set(calls[1]["calls"])):
        row(f"  {name}", *(counted["calls"].get(name, 0) for counted in calls))
    row("  DynamoDB items in write calls", *(counted["items_written"] for counted in calls))
    row("  DynamoDB keys read (BatchGetItem)", *(counted["keys_read"] for counted in calls))
    row(
        "  Query/Scan of a whole level",
        *(sum(counted["level_queries"].values()) for counted in calls),
    )
    for history in histories:
        print(
            f"  {history.files.days} days: the county load read {history.next_day.records['read']}"
        )
    print(
        f"  national next day (2021-03-15 after 2021-03-14, blank account): "
        f"{national.seconds:.2f} s, {national.peak_memory / 2**20:.0f} MB; "
        f"county (median)/national: {short.cost.seconds / national.seconds:.2f} and "
        f"{long.cost.seconds / national.seconds:.2f}"
    )


def next_day_targets(history: CountyHistoryFigures) -> list[Target]:
    """What the county next day over ``history`` must read and write: the window's changes."""
    files, calls = history.files, history.next_day.calls
    changed = files.next_days[0].new_rows + REVISED
    batches = math.ceil(changed / DYNAMODB_BATCH_SIZE)
    what = f"county next day ({files.days} days)"
    return [
        exactly(f"{what}: DynamoDB items in write calls", changed, calls["items_written"]),
        exactly(
            f"{what}: BatchWriteItem calls",
            batches,
            calls["calls"].get("dynamodb:BatchWriteItem", 0),
        ),
        # The load reads the keys that differ from its last load; its check reads back the last
        # item of each batch; the run's served_as_last_written probes the last item written.
        exactly(f"{what}: DynamoDB keys read", changed + batches + 1, calls["keys_read"]),
        exactly(f"{what}: Query/Scan of a whole level", 0, sum(calls["level_queries"].values())),
    ]
