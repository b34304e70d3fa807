"""The county-scale scenarios (``--county-scale small|full``): the county history backfill's
throughput with parallel writers and with one, and a next day at county scale over the table the
backfill loaded, beside the national next day measured in the same run.

The history is synthetic (``synthetic_counties``: the real county list, NYT's shape), ``full``
of NYT's length (1,100 days, about 3.5 M county-days, four yearly files), ``small`` of 130 days
(about 0.2 M county-days, one file): each county has reported by day 120, so the next day's
window has a new day for every county either way.
"""

import json
import math
import os
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
    WINDOW_DAYS,
    next_day,
    real_counties,
    synthetic_history,
    write_csv,
    write_history_files,
)
from covid_assets_dev.targets import Target, exactly

SCALES = {"small": 130, "full": 1100}  # days of synthetic history
REVISED = 65  # county-days of the next window revised, as in a real NYT day
PARALLEL_WRITERS = 4
NEXT_DAY_SECONDS_LIMIT = 60.0
NEXT_DAY_MEMORY_LIMIT = 2 * 1024**3
# The job of the county level alone, and where its run worker writes its AWS calls
# (county_definitions).
COUNTY_LEVEL_JOB = "county_level_job"
CALLS_FILE_SETTING = "COVID_BENCH_CALLS_FILE"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass(frozen=True)
class CountyFiles:
    history: list[Path]  # by year, as upstream
    next_window: Path  # the next day's us-counties-recent.csv
    states: Path  # the next window's state totals: the counties' sums
    history_rows: int
    new_rows: int  # county-days of the window's new day


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


def county_files(recent_file: Path, folder: Path, days: int) -> CountyFiles:
    folder.mkdir(parents=True, exist_ok=True)
    history = synthetic_history(real_counties(recent_file), days)
    later = next_day(history, REVISED)
    window = later.rows(later.days - WINDOW_DAYS, later.days - 1)
    last_day = pc.max(window["date"]).as_py()
    return CountyFiles(
        history=write_history_files(history, folder),
        next_window=write_csv(window, folder / "us-counties-recent-next-day.csv"),
        states=write_csv(states_of(window), folder / "us-states-next-day.csv"),
        history_rows=len(history.rows()),
        new_rows=pc.sum(pc.equal(window["date"], last_day)).as_py(),
    )


def use_county_files(files: CountyFiles) -> None:
    """Turn the state and county levels on, their daily sources the next day's files."""
    os.environ[STATE.source.url_setting] = files.states.as_uri()
    os.environ[COUNTY.source.url_setting] = files.next_window.as_uri()


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


def county_next_day_process(workdir: Path) -> ProcessFigures:
    """The county level's next day as a whole process, its AWS calls counted inside it."""
    calls_file = workdir / "county-next-day-calls.json"
    seconds, memory = measured_run(
        "covid_assets_bench.county_definitions",
        COUNTY_LEVEL_JOB,
        **{CALLS_FILE_SETTING: str(calls_file)},
    )
    with DagsterInstance.get() as instance:
        records = latest_materialization(instance, COUNTY.records_asset)[0]
    return ProcessFigures(seconds, memory, json.loads(calls_file.read_text()), records)


def print_backfills(
    files: CountyFiles, one: BackfillFigures, parallel: BackfillFigures, every: BackfillFigures
) -> None:
    heading(
        f"county history backfill ({files.history_rows} county-days, {len(files.history)} file(s))"
    )
    row("", "1 writer", f"{parallel.writers} writers")
    row("  first file: items written", one.items_written, parallel.items_written)
    row("  first file: seconds", f"{one.seconds:.1f}", f"{parallel.seconds:.1f}")
    row("  first file: items/s", f"{one.items_per_second:.0f}", f"{parallel.items_per_second:.0f}")
    row("  every file: items written", "", every.items_written)
    row("  every file: BatchWriteItem calls", "", every.calls.calls[("dynamodb", "BatchWriteItem")])
    row("  every file: BatchGetItem calls", "", every.calls.calls[("dynamodb", "BatchGetItem")])
    row("  every file: run seconds", "", f"{every.seconds:.1f}")
    row("  every file: items/s", "", f"{every.items_per_second:.0f}")
    print(
        f"  parallel/one writer, first file items/s: "
        f"{parallel.items_per_second / one.items_per_second:.2f}"
    )


def print_next_days(files: CountyFiles, county: ProcessFigures, national: ProcessFigures) -> None:
    heading("next day at county scale, as a whole process")
    row("", "county", "national")
    row("  whole process, seconds", f"{county.seconds:.2f}", f"{national.seconds:.2f}")
    row(
        "  peak memory, MB",
        f"{county.peak_memory / 2**20:.0f}",
        f"{national.peak_memory / 2**20:.0f}",
    )
    print(f"  county/national whole process: {county.seconds / national.seconds:.2f}")
    print(f"  window: {files.new_rows} new county-days, {REVISED} revised")
    calls = county.calls
    for name in sorted(calls["calls"]):
        row(f"  {name}", calls["calls"][name])
    row("  DynamoDB items in write calls", calls["items_written"])
    row("  DynamoDB keys read (BatchGetItem)", calls["keys_read"])
    row("  Query/Scan of a whole level", sum(calls["level_queries"].values()))
    print(f"  the county load read {county.records['read']}")


def next_day_targets(files: CountyFiles, county: ProcessFigures) -> list[Target]:
    changed = files.new_rows + REVISED
    calls = county.calls
    return [
        exactly("county next day: DynamoDB items in write calls", changed, calls["items_written"]),
        exactly(
            f"county next day: BatchWriteItem calls (ceil({changed}/{DYNAMODB_BATCH_SIZE}))",
            math.ceil(changed / DYNAMODB_BATCH_SIZE),
            calls["calls"].get("dynamodb:BatchWriteItem", 0),
        ),
        # The load reads the keys that differ from its last load; its check reads them back.
        exactly(
            "county next day: DynamoDB keys read (load + check)", 2 * changed, calls["keys_read"]
        ),
        exactly(
            "county next day: Query/Scan of a whole level", 0, sum(calls["level_queries"].values())
        ),
        Target(
            "county next day: whole process, seconds",
            f"<= {NEXT_DAY_SECONDS_LIMIT:.0f}",
            f"{county.seconds:.1f}",
            county.seconds <= NEXT_DAY_SECONDS_LIMIT,
        ),
        Target(
            "county next day: peak memory, MB",
            f"<= {NEXT_DAY_MEMORY_LIMIT // 2**20}",
            str(county.peak_memory // 2**20),
            county.peak_memory <= NEXT_DAY_MEMORY_LIMIT,
        ),
    ]
