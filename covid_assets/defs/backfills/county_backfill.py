"""The county history backfill: the job ``county_history_backfill``, launched from the UI, loads
the whole county history once into the county level's DynamoDB items and its export.

The daily county load reads ``us-counties-recent.csv``, NYT's last 30 days; the days before have
left it. The backfill loads the files of its config's ``urls`` in order (by default NYT's four
yearly files, ``us-counties-2020.csv`` … ``us-counties-2023.csv``, which have the same header):
each is downloaded by the project's downloader and checked with the county rules (a bad file
fails the run, naming its file, line and column, before anything of it is written); then its
county-days are written as the daily load writes them: only those the table does not already
hold as they are (read with BatchGetItem, written with the parallel writers), and laid over the
export's partitions, rewriting only the partitions whose content changes. A later file's
county-day replaces an earlier one's. So a run again after a failure writes only what did not get
in, and no item twice (a put replaces the item of its key).

Progress: a log line per chunk of county-days and per file, and, after each file, a
materialization of ``county_dynamodb_records`` and of ``county_athena_export`` with the files
done out of the total and what was written (the Events tab of each asset's page).

The next daily load diffs against the records asset's last load (``level_assets.previous_load``).
The backfill's last materialization records, as that last load, the county-days of the last 30
days it knows are stored: the last load before it, with the backfill's county-days laid over. So
the next daily run still reads and writes only the new and revised county-days. Until then (a
backfill under way or failed), the latest materialization records no loaded table, and the
daily load reads the window's days from DynamoDB instead.
"""

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from dagster import (
    AssetKey,
    AssetMaterialization,
    Config,
    Failure,
    IOManager,
    MetadataValue,
    OpExecutionContext,
    build_output_context,
    job,
    op,
)
from pydantic import Field

from covid_assets.defs.automation.provenance import latest_materialization
from covid_assets.defs.metadata import table_sha256
from covid_assets.defs.serving.dynamodb_records import item_key, plan_writes
from covid_assets.defs.serving.partitioned_export import write_partitioned_export
from covid_assets.defs.tables.level_assets import (
    LATEST_ITEM,
    LOADED_HASH,
    bucket_resource_key,
    glue_resource_key,
    latest_item,
    level_items,
    previous_load,
)
from covid_assets.domain.history import iso, published_time
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import SourceDataError
from covid_assets.domain.tables import COUNTY
from covid_assets.domain.transform import lay_over
from covid_assets.resources.downloads import SourceFileDownloader
from covid_assets.resources.dynamodb import DynamoDBResource

COUNTY_HISTORY_BACKFILL = "county_history_backfill"
NYT_COUNTY_HISTORY_URLS = tuple(
    f"https://raw.githubusercontent.com/nytimes/covid-19-data/master/us-counties-{year}.csv"
    for year in range(2020, 2024)
)
# us-counties-recent.csv holds NYT's last 30 days: the days a next daily load shares with the
# history, and so the days the backfill records as its last load.
WINDOW_DAYS = 30
# County-days read, compared and written at a time: bounds the items held in memory, and is the
# unit of progress in the logs.
CHUNK_ROWS = 50_000


class CountyHistoryBackfillConfig(Config):
    urls: list[str] = Field(
        default_factory=lambda: list(NYT_COUNTY_HISTORY_URLS),
        description=(
            "The county files to load, in order (a later file's county-day replaces an earlier "
            "one's): http(s)://, file:// URLs or local paths, each with the header of "
            "us-counties-recent.csv (date,county,state,fips,cases,deaths)."
        ),
    )


def backfill_run_config(urls: Sequence[str]) -> dict[str, Any]:
    """The run config of a backfill of these files, as the launchpad takes it (in YAML)."""
    return {"ops": {"backfill_county_history": {"config": {"urls": list(urls)}}}}


@dataclass
class WriteCounts:
    """What writing some county-days to DynamoDB did."""

    written: int = 0
    inserted: int = 0  # of those written, the new keys
    unchanged: int = 0
    batch_write_calls: int = 0

    def add(self, other: "WriteCounts") -> None:
        self.written += other.written
        self.inserted += other.inserted
        self.unchanged += other.unchanged
        self.batch_write_calls += other.batch_write_calls


def checked_county_table(
    downloader: SourceFileDownloader, url: str, position: int
) -> tuple[pd.DataFrame, str]:
    """The file's county daily table, downloaded and checked with the county rules and the county
    table's, and when the file was published (its Last-Modified or modification time, else
    now); SourceDataError lists every problem, with its file, line and column."""
    download = downloader.download(url, f"urls[{position}]", label=f"County file {url}")
    published = iso(published_time(download.last_modified) or datetime.now(UTC))
    raw = RawSourceFile.from_bytes(url, download.content)
    if raw.read_problems:
        raise SourceDataError(raw.read_problems)
    table = COUNTY.build_table(raw.table, url)
    problems = [p for rule in COUNTY.table_rules for p in rule.find_problems(table, url)]
    if problems:
        raise SourceDataError(problems)
    return table, published


def write_county_days(
    context: OpExecutionContext,
    dynamodb: DynamoDBResource,
    table: pd.DataFrame,
    label: str,
    published: str,
) -> WriteCounts:
    """Write the county-days the DynamoDB table does not hold as they are, CHUNK_ROWS at a
    time: the chunk's items are read (BatchGetItem, consistent), and those missing or different
    written (BatchWriteItem), stamped with the file's publication time."""
    counts = WriteCounts()
    for start in range(0, len(table), CHUNK_ROWS):
        items = level_items(COUNTY, table.iloc[start : start + CHUNK_ROWS])
        stored = dynamodb.get_items([item_key(item) for item in items])
        plan = plan_writes(items, stored, published)
        calls = dynamodb.put_items(plan.items_to_write)
        counts.add(WriteCounts(len(plan.items_to_write), len(plan.inserts), plan.unchanged, calls))
        context.log.info(
            "%s: county-days %d to %d of %d: %d written, %d unchanged",
            label,
            start + 1,
            start + len(items),
            len(table),
            len(plan.items_to_write),
            plan.unchanged,
        )
    return counts


def last_days(table: pd.DataFrame) -> pd.DataFrame:
    """The table's rows of its last WINDOW_DAYS days."""
    if table.empty:
        return table
    return table[table["date"] > table["date"].max() - timedelta(days=WINDOW_DAYS)]


def store_last_load(
    context: OpExecutionContext, io_manager: IOManager, table: pd.DataFrame
) -> None:
    """Leave ``table`` as the county records asset's output, where the next daily load reads
    its last load (``level_assets.previous_load``)."""
    output = build_output_context(
        asset_key=AssetKey(COUNTY.records_asset), instance=context.instance
    )
    io_manager.handle_output(output, table)


@op(
    name="backfill_county_history",
    out={},
    description=(
        "Load each county file of the config's urls, in order, into the county level's "
        "DynamoDB items and partitioned export, writing only what differs."
    ),
    # Keys of the county level's own resources, so the resources cannot be typed parameters.
    required_resource_keys={
        "downloader",
        "dynamodb",
        "serving_lock",
        "io_manager",
        glue_resource_key(COUNTY),
        bucket_resource_key(COUNTY),
    },
)
def backfill_county_history(
    context: OpExecutionContext, config: CountyHistoryBackfillConfig
) -> Iterator[AssetMaterialization]:
    resources = context.resources
    resources.serving_lock.hold(context)
    if not config.urls:
        raise Failure("The config lists no urls: nothing to backfill.", allow_retries=False)
    dynamodb, io_manager = resources.dynamodb, resources.io_manager
    glue = getattr(resources, glue_resource_key(COUNTY))
    bucket = getattr(resources, bucket_resource_key(COUNTY))
    created = dynamodb.ensure_level_index()
    # What the last daily load left stored; read before the backfill replaces any of it.
    recent = None if created else previous_load(context, io_manager, dynamodb, COUNTY)
    # The county items served before, as the last load counted them; each new key adds one.
    served_before = (
        0
        if created
        else latest_materialization(context.instance, COUNTY.records_asset)[0].get(
            "dagster/row_count", 0
        )
    )
    total = WriteCounts()
    rows_so_far = 0
    for position, url in enumerate(config.urls):
        started = time.monotonic()
        files_done = f"{position + 1} / {len(config.urls)}"
        label = f"file {files_done} ({url})"
        table, published = checked_county_table(resources.downloader, url, position)
        context.log.info(
            "%s: %d county-days, %s to %s",
            label,
            len(table),
            table["date"].min(),
            table["date"].max(),
        )
        counts = write_county_days(context, dynamodb, table, label, published)
        total.add(counts)
        rows_so_far += len(table)
        export = write_partitioned_export(context, table, bucket, glue, COUNTY)
        recent = last_days(lay_over(recent, last_days(table), COUNTY.key_columns))
        progress = {
            "backfill_file": url,
            "files_done": files_done,
            "rows": len(table),
            "first_date": str(table["date"].min()),
            "last_date": str(table["date"].max()),
            "seconds": round(time.monotonic() - started, 1),
        }
        last_load = {}
        if position == len(config.urls) - 1:
            store_last_load(context, io_manager, recent)
            last_day = recent[recent["date"] == recent["date"].max()]
            last_load = {
                LOADED_HASH: table_sha256(recent),
                # What the next load and a tick read back to confirm the table holds this load.
                LATEST_ITEM: MetadataValue.json(latest_item(level_items(COUNTY, last_day))),
                "last_load_rows": len(recent),
            }
        yield AssetMaterialization(
            COUNTY.records_asset,
            description=f"County history backfill, {label}",
            metadata={
                **progress,
                "items_written": counts.written,
                "unchanged": counts.unchanged,
                "batch_write_calls": counts.batch_write_calls,
                "rows_so_far": rows_so_far,
                "dagster/row_count": int(served_before) + total.inserted,
                "items_written_so_far": total.written,
                **last_load,
            },
        )
        yield AssetMaterialization(
            COUNTY.export_asset,
            description=f"County history backfill, {label}",
            metadata={**export, **progress},
        )
        context.log.info(
            "%s done: %d items written, %d unchanged, export %s; %d county-days and %d items "
            "written so far",
            label,
            counts.written,
            counts.unchanged,
            export["status"],
            rows_so_far,
            total.written,
        )


@job(
    name=COUNTY_HISTORY_BACKFILL,
    description=(
        "Load the full county history once (by default NYT's us-counties-2020.csv … "
        "us-counties-2023.csv; or any list of files in the config's urls) into the county "
        "level's DynamoDB items and export. Holds the serving lock; writes only what differs, "
        "so it can be run again after a failure."
    ),
)
def county_history_backfill() -> None:
    backfill_county_history()
