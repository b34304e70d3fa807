"""The DynamoDB load of every served table, ``dynamodb_records``, ``state_dynamodb_records`` and
``county_dynamodb_records`` (declared in ``domain.tables``), and its check.

A load writes exactly the new and revised items (``load_items``). Its value is the table it
loaded, kept by the IO manager with its hash in the materialization: the next load diffs its
table against it, reads back only the items that differ (BatchGetItem, strongly consistent) and
writes those the table does not already hold as wanted, so a load that failed half-way is
finished without rewriting what it wrote, and a day's reads grow with what changed. Without that
record (a first run, a new instance, an item gone behind the pipeline's back), it reads what is
stored instead (``stored_items``). The backfill loads with the same function.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    IOManager,
    MetadataValue,
    OpExecutionContext,
    Output,
    ResourceParam,
    multi_asset,
)

from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.defs.checks import check_result
from covid_assets.defs.metadata import column_schema, markdown_preview
from covid_assets.defs.provenance import latest_materialization
from covid_assets.defs.step_outputs import stored_output
from covid_assets.domain.hashing import table_sha256
from covid_assets.domain.history import PublishedTable, Revision, largest, largest_revisions
from covid_assets.domain.items import (
    ItemKey,
    by_date_then_region,
    differing,
    item_columns,
    item_key,
    key_text,
    latest_item,
    plan_writes,
    table_items,
)
from covid_assets.domain.progress import ProgressLog
from covid_assets.domain.rules import Problem
from covid_assets.domain.tables import ServedTable
from covid_assets.domain.transform import differing_rows
from covid_assets.resources.dynamodb import DYNAMODB_BATCH_SIZE, DynamoDBResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.sns import SNSResource

RECORDS_CHECK = "table_matches_served_table"
LISTED_VANISHED_KEYS = 100
LOADED_HASH = "loaded_sha256"
LATEST_ITEM = "latest_item"
# Rows mapped to items, read, compared and written at a time: bounds the items held in memory
# (a backfill serves millions of county-days), and the time between two progress reports, since
# a chunk's stored items are read (BatchGetItem) before anything is said of it.
CHUNK_ROWS = 5_000
# Items written (and their batches read back) between two looks at the progress: a chunk's
# writes take long.
WRITE_SLICE = 50 * DYNAMODB_BATCH_SIZE
# How a load read what is stored when the table holds nothing of its level (``level_is_empty``).
NOTHING_STORED = "none of the {} item(s): the level has no item yet (a Query of its index)"
# Items written last that a load's metadata shows.
PREVIEW_ITEMS = 10

Log = Callable[[str], None]


def last_day(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest day."""
    return rows[rows["date"] == rows["date"].max()] if len(rows) else rows


def previous_load(
    context: AssetExecutionContext | OpExecutionContext,
    io_manager: IOManager,
    dynamodb: DynamoDBResource,
    table: ServedTable,
    log: Log,
) -> pd.DataFrame | None:
    """The rows the table's last load recorded (its output), when they can be read back, are
    the ones it recorded, and DynamoDB still holds that load's latest item as it wrote it (one
    GetItem: the record is not trusted over the table); None otherwise."""
    metadata = latest_materialization(context.instance, table.records_asset)[0]
    recorded = metadata.get(LOADED_HASH)
    if recorded is None:
        return None
    problem = dynamodb.item_problem(metadata.get(LATEST_ITEM) or {})
    if problem:
        log(f"{table.records_asset}: {problem}; reading what is stored instead")
        return None
    try:
        rows = stored_output(context, io_manager, table.records_asset)
    except Exception as error:  # whatever the IO manager raises: what is stored is read instead
        log(f"{table.records_asset}: the last load is unreadable: {error}")
        return None
    return rows if table_sha256(rows) == recorded else None


def stored_items(
    dynamodb: DynamoDBResource, table: ServedTable, wanted: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str]:
    """What is stored of the ``wanted`` items, read without a record of the last load, and how
    it was read (a text to format with their number): the nation's region between their first
    and last day (one Query, which also finds the days the table no longer has); a level's by
    key (BatchGetItem, 100 keys a call), so that the read grows with the rows, never with the
    level (the emulator answers a Query of the level index by scanning the whole table)."""
    if not wanted:
        return [], ""
    if table.level is None:
        dates = sorted(item["date"] for item in wanted)
        region = table.region_of({})
        return dynamodb.query_region(
            region, (dates[0], dates[-1])
        ), f"the region {region} (a Query)"
    stored = dynamodb.get_items([item_key(item) for item in wanted])
    return stored, "the {} item(s) of the table (BatchGetItem)"


def level_is_empty(dynamodb: DynamoDBResource, table: ServedTable) -> bool:
    """Whether the table holds no item of this level (one Query of the level index, counting
    one item at most), so that a load without a record of the last load has nothing to read:
    a first load, and a repair into a blank table, write without reading. The nation's load
    reads its region in one Query anyway. The index is eventually consistent, but only a run
    holding the serving lock writes a level's items, and this run has written none yet."""
    return table.level is not None and not dynamodb.holds_level(table.level.name)


@dataclass
class LoadResult:
    """What one load did."""

    rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    batch_write_calls: int = 0
    vanished: list[ItemKey] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    written: list[dict[str, Any]] = field(default_factory=list)
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    items_read_back: int = 0
    items_put: int = 0
    read: str = ""

    @property
    def items_written(self) -> int:
        return self.inserted + self.updated


def load_items(
    dynamodb: DynamoDBResource,
    table: ServedTable,
    rows: pd.DataFrame,
    last_load: pd.DataFrame | None,
    published: str,
    log: Log,
    read_back: bool = True,
) -> LoadResult:
    """Write the items of ``rows`` that DynamoDB lacks or holds with other values, stamped with
    their version's publication time, CHUNK_ROWS at a time; with ``read_back``, read the
    last of each batch written back (the check after a load, ``_write``). With ``last_load``,
    only the items that differ from it are read (BatchGetItem); without, what is stored of the
    rows' days (``stored_items``), unless the table holds no item of the level
    (``level_is_empty``). A key of the last load (or of what was read) that the rows lack has
    vanished from the source and is kept, but reported; in a window, one dated before the
    window's first day has only left it."""
    result = LoadResult(len(rows))
    progress = ProgressLog(log)
    done = 0  # rows compared

    def say(items_put: int) -> None:
        progress(
            done,
            f"{table.records_asset}: {done:,} of {len(rows):,} rows compared, "
            f"{items_put:,} item(s) written",
        )

    first_day = rows["date"].min().isoformat() if table.source_is_window and len(rows) else ""
    to_compare, before = rows, None
    if last_load is not None:
        left = last_load
        # Only the rows that differ from the last load's (new or revised) can need writing, and
        # only the last load's rows that differ from these can have vanished or been revised:
        # found by a join, so that items are made of those alone, not of every row twice. A
        # last load of other columns (made before a change of the table's schema) cannot be
        # joined: every row is compared with it item by item.
        if list(last_load.columns) == list(rows.columns):
            to_compare = differing_rows(rows, last_load, table.key_columns)
            left = differing_rows(last_load, rows, table.key_columns)
        before = {item_key(item): item for item in table_items(table, left)}
    same_as_last_load = len(rows) - len(to_compare)
    result.unchanged = same_as_last_load
    wanted_keys: set[ItemKey] = set()
    read_keys: set[ItemKey] = set()
    items_read: dict[str, int] = {}  # how items were read: how many were asked for
    unwritten: list[dict[str, Any]] = []  # carried to the next chunk to fill whole batches
    # Without a last load, nothing is read when the level has no item yet.
    nothing_stored = before is None and len(rows) > 0 and level_is_empty(dynamodb, table)
    for start in range(0, len(to_compare), CHUNK_ROWS):
        chunk = to_compare.iloc[start : start + CHUNK_ROWS]
        wanted = table_items(table, chunk)
        wanted_keys |= {item_key(item) for item in wanted}
        if before is None:
            stored, how = (
                ([], NOTHING_STORED) if nothing_stored else stored_items(dynamodb, table, wanted)
            )
            read_keys |= {item_key(item) for item in stored}
            candidates = wanted
        else:
            candidates = differing(wanted, before)
            stored = dynamodb.get_items([item_key(item) for item in candidates])
            how = "the {} item(s) that differ from the last load (BatchGetItem)"
        if how:
            items_read[how] = items_read.get(how, 0) + len(candidates)
        plan = plan_writes(candidates, stored, published)
        done = same_as_last_load + start + len(chunk)
        say(result.items_put)  # the chunk's read took a while: it is compared
        unchanged = plan.unchanged + len(wanted) - len(candidates)
        result.inserted += len(plan.inserts)
        result.updated += len(plan.updates)
        result.unchanged += unchanged
        pairs = list(zip(plan.revised_from, plan.updates, strict=True))
        chunk_revisions = largest_revisions(pairs, table.count_columns, key_of=_key_of(table))
        result.revisions = largest([*result.revisions, *chunk_revisions])
        unwritten += plan.items_to_write
        last_chunk = start + CHUNK_ROWS >= len(to_compare)
        whole = len(unwritten) - (0 if last_chunk else len(unwritten) % DYNAMODB_BATCH_SIZE)
        _write(dynamodb, unwritten[:whole], result, read_back, say)
        unwritten = unwritten[whole:]
        say(result.items_put)
    known = read_keys if before is None else set(before)
    result.vanished = sorted(
        (key for key in known - wanted_keys if key[1] >= first_day), key=by_date_then_region
    )
    result.read = "; ".join(how.format(count) for how, count in items_read.items()) or "nothing"
    return result


def _write(
    dynamodb: DynamoDBResource,
    items: list[dict[str, Any]],
    result: LoadResult,
    read_back: bool,
    progress: Callable[[int], None],
) -> None:
    """Write ``items`` and, with ``read_back``, read the last item of each of their batches
    back (the check after a load), WRITE_SLICE at a time, saying how many are written.

    One item a batch, not every item: DynamoDB acknowledges each item of a BatchWriteItem (what
    it leaves unprocessed is resent), so what the read can find is a batch acknowledged but not
    stored, or items made wrong, which every batch's items are alike in. Reading every item back
    would cost a first load more than its writes on the emulator, where a read costs several
    writes. The check run alone still compares every stored item."""
    for start in range(0, len(items), WRITE_SLICE):
        part = items[start : start + WRITE_SLICE]
        result.batch_write_calls += dynamodb.put_items(part)
        result.written = (result.written + part)[-PREVIEW_ITEMS:]
        if read_back:
            sample = last_of_each_batch(part)
            back = dynamodb.get_items([item_key(item) for item in sample])
            result.items_read_back += len(back)
            result.mismatched += plan_writes(sample, back).items_to_write
        result.items_put += len(part)
        progress(result.items_put)


def last_of_each_batch(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last item of each BatchWriteItem batch ``put_items`` makes of ``items``."""
    ends = range(DYNAMODB_BATCH_SIZE, len(items) + DYNAMODB_BATCH_SIZE, DYNAMODB_BATCH_SIZE)
    return [items[min(end, len(items)) - 1] for end in ends]


def _key_of(table: ServedTable) -> Callable[[dict[str, Any]], str]:
    """How a revised item is named in a notice."""
    return lambda item: key_text(table, item_key(item))


def revisions_text(revisions: Sequence[Revision]) -> str:
    """The notice's list of the largest revisions, or nothing when there are none."""
    if not revisions:
        return ""
    return "\nLargest revisions:\n" + "\n".join(f"- {revision}" for revision in revisions)


def notify(
    alerts: SNSResource,
    dynamodb: DynamoDBResource,
    table: ServedTable,
    load: LoadResult,
    latest_date: str,
) -> None:
    """The load notice on SNS, when the load wrote anything (a run by hand on a quiet day
    announces nothing)."""
    if not load.items_written:
        return
    alerts.publish(
        subject=(
            f"covid_assets: {load.items_written} {table.unit}(s) updated in {dynamodb.table_name}"
        ),
        message=(
            f"Loaded the {table.name} table into {dynamodb.table_name}: {summary(load)}. "
            f"Latest date: {latest_date}." + revisions_text(load.revisions)
        ),
    )


def summary(load: LoadResult) -> str:
    return f"{load.inserted} inserted, {load.updated} updated, {load.unchanged} unchanged"


def load_metadata(
    dynamodb: DynamoDBResource,
    table: ServedTable,
    rows: pd.DataFrame,
    load: LoadResult,
    served_before: int | None,
) -> dict[str, Any]:
    """The load's materialization metadata, the same for every table. ``served_before``: the
    table's item count after the last load, when this one follows it (a window's items that
    left it are served too)."""
    columns = item_columns(table)
    served = load.rows + len(load.vanished)
    if table.source_is_window and served_before is not None:
        served = int(served_before) + load.inserted
    last_load = table.latest_window(rows)
    return {
        "table": dynamodb.table_name,
        "served_table": table.name,
        "dagster/row_count": served,
        "dagster/column_schema": column_schema(columns),
        "inserted": load.inserted,
        "updated": load.updated,
        "unchanged": load.unchanged,
        "items_written": load.items_written,
        "batch_write_calls": load.batch_write_calls,
        "latest_date": str(rows["date"].max()) if len(rows) else "none",
        "read": load.read,
        # Keys the source no longer has are kept (history is not deleted) but reported.
        "vanished_count": len(load.vanished),
        "vanished_keys": MetadataValue.json(
            [key_text(table, key) for key in load.vanished[:LISTED_VANISHED_KEYS]]
        ),
        "largest_revisions": MetadataValue.json([str(r) for r in load.revisions]),
        "written_items_preview": markdown_preview(pd.DataFrame(load.written, columns=columns)),
        # The rows this load leaves as its last load: the next load trusts its stored output
        # only if it is these.
        LOADED_HASH: table_sha256(last_load),
        # What the next load and a tick read back (one GetItem) to confirm the table still
        # holds this load.
        LATEST_ITEM: MetadataValue.json(latest_item(table_items(table, last_day(last_load)))),
    }


def records_check_result(
    table: ServedTable, dynamodb: DynamoDBResource, mismatched: Sequence[dict], read: int
) -> AssetCheckResult:
    """``mismatched``: the items the table does not hold with these values."""
    problems = [
        Problem(
            dynamodb.table_name,
            None,
            "date" if table.level is None else "region, date",
            key_text(table, item_key(item)),
            f"an item equal to {item}",
        )
        for item in mismatched
    ]
    return check_result(
        table.records_asset, RECORDS_CHECK, problems, extra_metadata={"items_read": read}
    )


def compare_stored(
    dynamodb: DynamoDBResource, table: ServedTable, rows: pd.DataFrame
) -> AssetCheckResult:
    """The check run alone: every stored item of the table's days against the table."""
    wanted = table_items(table, rows)
    stored, _ = stored_items(dynamodb, table, wanted)
    mismatched = plan_writes(wanted, stored).items_to_write
    return records_check_result(table, dynamodb, mismatched, len(stored))


def build_records_asset(table: ServedTable) -> AssetsDefinition:
    """The table's DynamoDB load and its check."""
    check = AssetCheckSpec(
        RECORDS_CHECK,
        asset=table.records_asset,
        description=(
            f"Every row of {table.table_asset} is an item with the same values: after a load, "
            "the last item of every batch written is read back (BatchGetItem, strongly "
            "consistent); run alone, every stored item of the table's days is read and compared."
        ),
    )
    index = f"; level = '{table.level.name}' for the index level-date-index" if table.level else ""

    @multi_asset(
        name=table.records_asset,
        outs={
            table.records_asset: AssetOut(
                group_name="serving",
                description=(
                    f"{table.table_asset} in DynamoDB, one item per {table.unit} (partition key "
                    f"region = {table.region_scheme}, sort key date{index}). Each run writes "
                    "only new and revised items; a blank count is no attribute."
                ),
                kinds={"dynamodb"},
                freshness_policy=served_freshness_policy(),
                is_required=False,
            )
        },
        check_specs=[check],
        ins={"published": AssetIn(table.history_asset)},
        # Run alone (no asset selected, from the UI's "Execute"), the check compares every item.
        can_subset=True,
    )
    def records(
        context: AssetExecutionContext,
        published: PublishedTable,
        dynamodb: DynamoDBResource,
        alerts: SNSResource,
        serving_lock: ServingLockResource,
        io_manager: ResourceParam[IOManager],
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        serving_lock.hold(context)
        rows = published.table
        if not context.selected_asset_keys:
            yield compare_stored(dynamodb, table, rows)
            return
        created = dynamodb.ensure_table()
        previous = (
            None
            if created or table.load_reads_stored
            else previous_load(context, io_manager, dynamodb, table, context.log.warning)
        )
        checked = check.key in context.selected_asset_check_keys
        load = load_items(
            dynamodb, table, rows, previous, published.published, context.log.info, checked
        )
        context.log.info(
            "%s (%s table), read %s: %s", dynamodb.table_name, table.name, load.read, summary(load)
        )
        notify(alerts, dynamodb, table, load, str(rows["date"].max()) if len(rows) else "none")
        served_before = (
            latest_materialization(context.instance, table.records_asset)[0].get(
                "dagster/row_count"
            )
            if previous is not None
            else None
        )
        metadata = load_metadata(dynamodb, table, rows, load, served_before) | published.metadata
        yield Output(table.latest_window(rows), output_name=table.records_asset, metadata=metadata)
        if checked:
            yield records_check_result(table, dynamodb, load.mismatched, load.items_read_back)

    return records
