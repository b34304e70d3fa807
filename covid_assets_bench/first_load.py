"""The first load with every level against the emulator's bare limit: what the run that ``make
run`` starts on a blank emulator (every served table, from the 2021-03-18 snapshot) costs, beside
what the emulator itself needs to take the same items with the same writers, in the same
benchmark run; then the same for the repair a restart of ``make run`` leads to (a blank emulator,
the Dagster instance kept).

The bare limit: the items the first load left in the served table, read back with a Scan
(untimed; the repair writes them all again), written into a fresh table of the same schema on
the same emulator after each run by a loop of
``BatchWriteItem`` calls (25 items each, already in DynamoDB's wire format, UnprocessedItems
resent) with as many threads as the pipeline's writers (``COVID_DYNAMODB_WRITERS``), timed from
the first call to the last answer.
"""

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from covid_assets.domain.sources import JHU, NYT, NYT_COUNTIES, NYT_STATES
from covid_assets.resources.dynamodb import DYNAMODB_BATCH_SIZE, DynamoDBResource
from covid_assets.resources.serving_lock import LOCK_KEY
from covid_assets_bench.county_scale import ProcessFigures
from covid_assets_bench.table import heading, row
from covid_assets_dev.figures import RunFigures, ratio

EVERY_LEVEL_SNAPSHOT = "2021-03-18"
# Each source's file in a snapshot folder: every level on.
SNAPSHOT_FILES = {
    NYT: "nyt-us.csv",
    JHU: "jhu-combined.csv",
    NYT_STATES: "nyt-us-states.csv",
    NYT_COUNTIES: "nyt-us-counties-recent.csv",
}
BARE_TABLE = "covid_bare_limit"
SLOWEST_STEPS = 10


def every_level_sources(snapshot: Path) -> dict[str, str]:
    """The source settings of a run with every level on, each a file of the snapshot."""
    return {
        source.url_setting: (snapshot / name).as_uri() for source, name in SNAPSHOT_FILES.items()
    }


def served_items(table: str) -> list[dict[str, Any]]:
    """Every data item of the served table, as DynamoDB returns them (a paginated Scan), the
    serving lock's left out."""
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return [
        item
        for page in pages
        for item in page["Items"]
        if item["region"] != LOCK_KEY["region"] or item["date"] != LOCK_KEY["date"]
    ]


def bare_write_seconds(items: Sequence[dict[str, Any]], writers: int) -> float:
    """Seconds a bare loop of BatchWriteItem calls with ``writers`` threads takes to write
    ``items`` into a fresh table of the served table's schema (``BARE_TABLE``)."""
    DynamoDBResource(table_name=BARE_TABLE).ensure_table()
    dynamodb = boto3.client("dynamodb")  # thread-safe; one connection pool for the writers

    def write(batch: Sequence[dict[str, Any]]) -> None:
        pending = {BARE_TABLE: [{"PutRequest": {"Item": item}} for item in batch]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]

    batches = [
        items[start : start + DYNAMODB_BATCH_SIZE]
        for start in range(0, len(items), DYNAMODB_BATCH_SIZE)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, batches))
    return time.perf_counter() - started


@dataclass(frozen=True)
class LoadFigures:
    """One run with every level as a whole process, and the bare loop of the same items."""

    process: ProcessFigures  # its AWS calls counted inside it
    run: RunFigures  # its step and run times, from the event log
    bare_items: int
    bare_seconds: float
    writers: int

    @property
    def items_written(self) -> int:
        return self.process.calls["items_written"]

    @property
    def times_bare(self) -> float:
        return ratio(self.process.seconds, self.bare_seconds)


def bare_limit(
    load: tuple[ProcessFigures, RunFigures], items: Sequence[dict[str, Any]]
) -> LoadFigures:
    """The bare limit of ``items`` on the emulator the environment points at."""
    writers = int(os.environ["COVID_DYNAMODB_WRITERS"])
    return LoadFigures(*load, len(items), bare_write_seconds(items, writers), writers)


def print_first_loads(snapshot: Path, first: LoadFigures, repair: LoadFigures) -> None:
    heading(f"first load with every level (snapshot {snapshot.name}) and the bare limit")
    print(
        "  each on a new moto server; the repair with the first load's DAGSTER_HOME, as a "
        "restart of make run leaves them"
    )
    row("", "first load", "repair")
    row("pipeline, as a whole process", "", "")
    row("  seconds", f"{first.process.seconds:.1f}", f"{repair.process.seconds:.1f}")
    row("  run (RUN_START to RUN_SUCCESS)", *(f"{f.run.run_seconds:.1f}" for f in (first, repair)))
    row("  DynamoDB items in write calls", first.items_written, repair.items_written)
    row(
        "  BatchWriteItem calls",
        *(f.process.calls["calls"].get("dynamodb:BatchWriteItem", 0) for f in (first, repair)),
    )
    row("  AWS calls", *(sum(f.process.calls["calls"].values()) for f in (first, repair)))
    row("  peak memory, MB", *(f"{f.process.peak_memory / 2**20:.0f}" for f in (first, repair)))
    row("  items/s", *(f"{f.items_written / f.process.seconds:.0f}" for f in (first, repair)))
    row(f"bare BatchWriteItem loop, {first.writers} writers", "", "")
    row("  items (the first load's, read back)", first.bare_items, repair.bare_items)
    row("  seconds", f"{first.bare_seconds:.1f}", f"{repair.bare_seconds:.1f}")
    row("  items/s", *(f"{f.bare_items / f.bare_seconds:.0f}" for f in (first, repair)))
    row("pipeline/bare, whole process", f"{first.times_bare:.2f}", f"{repair.times_bare:.2f}")
    row("slowest steps, seconds", "", "")
    slowest = sorted(
        first.run.step_seconds,
        key=lambda step: -_seconds(first.run.step_seconds[step]),
    )[:SLOWEST_STEPS]
    for step in slowest:
        row(
            f"  {step}",
            *(f"{_seconds(f.run.step_seconds.get(step)):.1f}" for f in (first, repair)),
        )


def _seconds(measured: float | str | None) -> float:
    """A step's seconds; 0 for a step skipped or not run."""
    return measured if isinstance(measured, float) else 0.0
