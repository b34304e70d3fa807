"""The assets of a level below the nation (``levels``), built from its declaration: its served
table and checks, its DynamoDB load and its Athena export.

The load shares the national load's diff (``dynamodb_records.plan_writes``) and the export the
national export's versioned folder and single UpdateTable switch (``athena_export``); what
differs between levels is only what their declaration says.
"""

from collections.abc import Iterator
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    AssetSpec,
    DataVersion,
    IOManager,
    MaterializeResult,
    MetadataValue,
    Output,
    ResourceParam,
    build_input_context,
    multi_asset,
)

from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.defs.automation.provenance import latest_materialization
from covid_assets.defs.checks import check_result, rule_check_specs, selected_results
from covid_assets.defs.history.history_assets import build_history_asset, level_history
from covid_assets.defs.metadata import (
    column_schema,
    daily_table_metadata,
    markdown_preview,
    table_sha256,
)
from covid_assets.defs.serving.athena_export import GLUE_SCHEMA_CHECK, verify_export, write_export
from covid_assets.defs.serving.dynamodb_records import (
    WritePlan,
    item_key,
    plan_writes,
    revisions_text,
)
from covid_assets.defs.serving.partitioned_export import (
    ROWS_CHECK,
    verify_partitioned_export,
    write_partitioned_export,
)
from covid_assets.domain.history import PublishedTable
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import PLACE_COUNT_COLUMNS, Problem, SourceDataError
from covid_assets.domain.tables import Level
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.sns import SNSResource

RECORDS_CHECK = "table_matches_served_table"
EXPORT_ROW_COUNT_CHECK = "row_count_matches_served_table"
LISTED_VANISHED_KEYS = 100
LOADED_HASH = "loaded_sha256"
LATEST_ITEM = "latest_item"


def glue_resource_key(level: Level) -> str:
    """The resource key of the level's Glue table (its own table in the shared database)."""
    return f"{level.name}_glue"


def bucket_resource_key(level: Level) -> str:
    """The resource key of the bucket with the level's export prefix."""
    return f"{level.name}_bucket"


def item_columns(level: Level) -> list[str]:
    return ["region", "date", "level", "place", *level.columns[len(level.key_columns) :]]


def level_items(level: Level, table: pd.DataFrame) -> list[dict[str, Any]]:
    """One DynamoDB item per place and day: its region and ISO date as the key, the level and the
    place's name (for the level index and readers), then every other column that has a value. A
    missing value (a blank count, a blank fips) is no attribute, never 0."""
    values = level.columns[len(level.key_columns) :]
    items = []
    for row in table.to_dict("records"):
        item = {
            "region": level.region_of(row),
            "date": row["date"].isoformat(),
            "level": level.name,
            "place": row[level.place_column],
        }
        for column in values:
            value = row[column]
            if not pd.isna(value):
                item[column] = int(value) if column in PLACE_COUNT_COLUMNS else value
        items.append(item)
    return items


def build_level_table(level: Level) -> AssetsDefinition:
    """The level's served table from its raw source, checked against its rules and reconciled
    with the level above; a failing blocking check keeps the table in quarantine."""
    rule = level.reconciliation
    check_specs = [
        *rule_check_specs(level.table_asset, level.table_rules),
        AssetCheckSpec(
            rule.check_name,
            asset=level.table_asset,
            blocking=rule.blocking,
            description=rule.description,
        ),
    ]

    @multi_asset(
        name=level.table_asset,
        outs={
            level.table_asset: AssetOut(
                group_name="curated", description=level.description, kinds={"pandas"}
            )
        },
        check_specs=check_specs,
        ins={"raw": AssetIn(level.source.asset), "upstream": AssetIn(rule.against)},
    )
    def level_table(
        context: AssetExecutionContext,
        raw: RawSourceFile,
        upstream: Any,
        quarantine: QuarantineResource,
        serving_lock: ServingLockResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        serving_lock.hold(context)
        if raw.read_problems:
            raise SourceDataError(raw.read_problems)
        table = level.build_table(raw.table, raw.url)
        context.log.info("%s: %d rows", level.table_asset, len(table))
        yield Output(
            table,
            output_name=level.table_asset,
            metadata=daily_table_metadata(table),
            data_version=DataVersion(table_sha256(table)),
        )
        problems = {r.name: r.find_problems(table, level.table_asset) for r in level.table_rules}
        reconciliation = level.reconciliation_problems(table, upstream)
        blocking = {**problems, **({rule.check_name: reconciliation} if rule.blocking else {})}
        location = quarantine.keep_failed_input(
            run_id=context.run.run_id,
            asset_name=level.table_asset,
            file_name=f"{level.table_asset}.csv",
            original=table.to_csv(index=False).encode(),
            problems_by_check=blocking,
        )
        for name, found in problems.items():
            yield check_result(level.table_asset, name, found, quarantine=location)
        yield check_result(
            level.table_asset,
            rule.check_name,
            reconciliation,
            severity=AssetCheckSeverity.ERROR if rule.blocking else AssetCheckSeverity.WARN,
            quarantine=location if rule.blocking else None,
        )

    return level_table


def records_check_result(
    level: Level, table_name: str, mismatched: list[dict[str, Any]], read: int
) -> AssetCheckResult:
    problems = [
        Problem(
            table_name, None, "region, date", " ".join(item_key(item)), f"an item equal to {item}"
        )
        for item in mismatched
    ]
    return check_result(
        level.records_asset, RECORDS_CHECK, problems, extra_metadata={"items_read": read}
    )


def previous_load(
    context: AssetExecutionContext,
    io_manager: IOManager,
    dynamodb: DynamoDBResource,
    level: Level,
) -> pd.DataFrame | None:
    """The table the level's last load wrote in full (its output), when it can be read back, is
    the one that load recorded, and DynamoDB still holds that load's latest item as it wrote it
    (one GetItem: the record is not trusted over the table); None otherwise."""
    metadata = latest_materialization(context.instance, level.records_asset)[0]
    recorded = metadata.get(LOADED_HASH)
    if recorded is None:
        return None
    problem = dynamodb.item_problem(metadata.get(LATEST_ITEM) or {})
    if problem:
        context.log.warning("%s: %s; reading the level instead", level.records_asset, problem)
        return None
    try:
        table = io_manager.load_input(
            build_input_context(asset_key=AssetKey(level.records_asset), instance=context.instance)
        )
    except Exception as error:  # whatever the IO manager raises: the table is read instead
        context.log.warning("%s: the last load is unreadable: %s", level.records_asset, error)
        return None
    return table if table_sha256(table) == recorded else None


def stored_level_items(
    dynamodb: DynamoDBResource, level: Level, table: pd.DataFrame
) -> tuple[list[dict[str, Any]], str]:
    """What the level's items are now, read without a record of the last load. A level whose
    source is a window is read for the window's days only (one Query of the level index per
    day), so the read does not grow with the days that have left the window; any other level
    in full (one Query of the level index)."""
    if not level.source_is_window:
        return dynamodb.query_level(level.name), "the whole level (a Query of the level index)"
    days = sorted({day.isoformat() for day in table["date"]})
    stored = [item for day in days for item in dynamodb.query_level(level.name, day)]
    return stored, f"the window's {len(days)} day(s) (a Query of the level index per day)"


def plan_level_writes(
    dynamodb: DynamoDBResource,
    level: Level,
    table: pd.DataFrame,
    previous: pd.DataFrame | None,
    published: str | None = None,
) -> tuple[WritePlan, str]:
    """What the load must write, and what it read to know. With the last load's table, only the
    items that differ from it (new, revised) can need writing: those keys are read from the table
    (BatchGetItem, consistent) and written unless the table already holds them right, so a
    load that failed half-way is finished without rewriting what it wrote. Without it, the
    level's items are read through the level index (``stored_level_items``).

    A place-day of the last load that the table lacks has vanished from the source and is
    kept, but reported; in a window, one dated before the window's first day has only left
    it, and is not reported. The items to write carry their versions, ``published`` being the
    version's publication time (``dynamodb_records.stamped``)."""
    wanted = level_items(level, table)
    if previous is None:
        stored, read = stored_level_items(dynamodb, level, table)
        return plan_writes(wanted, stored, published), read
    before = {item_key(item): item for item in level_items(level, previous)}
    candidates = [item for item in wanted if before.get(item_key(item)) != item]
    stored = dynamodb.get_items([item_key(item) for item in candidates])
    plan = plan_writes(candidates, stored, published)
    first_day = table["date"].min().isoformat() if level.source_is_window and len(table) else ""
    wanted_keys = {item_key(item) for item in wanted}
    vanished = sorted(
        (key for key in set(before) - wanted_keys if key[1] >= first_day),
        key=lambda key: (key[1], key[0]),
    )
    unchanged = plan.unchanged + len(wanted) - len(candidates)
    read = f"the {len(candidates)} item(s) that differ from the last load (BatchGetItem)"
    return WritePlan(plan.inserts, plan.updates, unchanged, vanished, plan.revised_from), read


def build_level_records(level: Level) -> AssetsDefinition:
    """The level's table in DynamoDB, loaded incrementally: only new and revised place-days are
    read and written (see ``plan_level_writes``). Its value is the table it loaded, which the
    next load diffs against."""
    check = AssetCheckSpec(
        RECORDS_CHECK,
        asset=level.records_asset,
        description=(
            "Every row of the served table is an item with the same values: after a load, the "
            "items written are read back (BatchGetItem, strongly consistent); run alone, every "
            "item of the level is read through the level index and compared."
        ),
    )

    @multi_asset(
        name=level.records_asset,
        outs={
            level.records_asset: AssetOut(
                group_name="serving",
                description=(
                    f"The {level.name} table in DynamoDB, one item per {level.name} and day "
                    f"(partition key region = {level.region_scheme}, sort key date; level = "
                    f"'{level.name}' for the index level-date-index). Each run writes only new "
                    "and revised items; a blank count is no attribute."
                ),
                kinds={"dynamodb"},
                freshness_policy=served_freshness_policy(),
                is_required=False,
            )
        },
        check_specs=[check],
        ins={"published": AssetIn(level.history_asset)},
        can_subset=True,
    )
    def level_records(
        context: AssetExecutionContext,
        published: PublishedTable,
        dynamodb: DynamoDBResource,
        alerts: SNSResource,
        serving_lock: ServingLockResource,
        io_manager: ResourceParam[IOManager],
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        serving_lock.hold(context)
        table = published.table
        if not context.selected_asset_keys:
            stored, _ = stored_level_items(dynamodb, level, table)
            mismatched = plan_writes(level_items(level, table), stored).items_to_write
            yield records_check_result(level, dynamodb.table_name, mismatched, len(stored))
            return
        created = dynamodb.ensure_level_index()
        previous = None if created else previous_load(context, io_manager, dynamodb, level)
        plan, read = plan_level_writes(dynamodb, level, table, previous, published.published)
        batch_calls = dynamodb.put_items(plan.items_to_write)
        summary = (
            f"{len(plan.inserts)} inserted, {len(plan.updates)} updated, {plan.unchanged} unchanged"
        )
        context.log.info(
            "%s (%s level), read %s: %s", dynamodb.table_name, level.name, read, summary
        )
        revisions = plan.largest_revisions(
            PLACE_COUNT_COLUMNS, key_of=lambda item: " ".join(item_key(item))
        )
        if plan.items_to_write:
            alerts.publish(
                subject=(
                    f"covid_assets: {len(plan.items_to_write)} {level.name}-day(s) updated in "
                    f"{dynamodb.table_name}"
                ),
                message=f"Loaded the {level.name} level into {dynamodb.table_name}: {summary}."
                + revisions_text(revisions),
            )
        served_before = (
            latest_materialization(context.instance, level.records_asset)[0].get(
                "dagster/row_count"
            )
            if previous is not None
            else None
        )
        metadata = records_metadata(level, dynamodb, table, plan, batch_calls, served_before)
        metadata |= {
            "read": read,
            "largest_revisions": MetadataValue.json(revisions),
            **published.metadata,
        }
        yield Output(table, output_name=level.records_asset, metadata=metadata)
        if check.key in context.selected_asset_check_keys:
            written = plan.items_to_write
            read_back = dynamodb.get_items([item_key(item) for item in written])
            mismatched = plan_writes(written, read_back).items_to_write
            yield records_check_result(level, dynamodb.table_name, mismatched, len(read_back))

    return level_records


def records_metadata(
    level: Level,
    dynamodb: DynamoDBResource,
    table: pd.DataFrame,
    plan: WritePlan,
    batch_calls: int,
    served_before: int | None,
) -> dict[str, Any]:
    """``served_before``: the level's item count after the last load, when this one follows
    it."""
    columns = item_columns(level)
    written = pd.DataFrame(plan.items_to_write, columns=columns)
    served = len(table) + len(plan.vanished)
    if level.source_is_window and served_before is not None:
        # The place-days that have left the window are served too.
        served = int(served_before) + len(plan.inserts)
    return {
        "table": dynamodb.table_name,
        "level": level.name,
        "dagster/row_count": served,
        "dagster/column_schema": column_schema(columns),
        "inserted": len(plan.inserts),
        "updated": len(plan.updates),
        "unchanged": plan.unchanged,
        "items_written": len(plan.items_to_write),
        "batch_write_calls": batch_calls,
        # Place-days the source no longer has are kept (history is not deleted) but reported.
        "vanished_count": len(plan.vanished),
        "vanished_keys": MetadataValue.json(
            [" ".join(key) for key in plan.vanished[:LISTED_VANISHED_KEYS]]
        ),
        "written_items_preview": markdown_preview(written),
        # The table this load wrote in full: the next load trusts its stored output only if so.
        LOADED_HASH: table_sha256(table),
        # What the next load and a tick read back (one GetItem) to confirm the table still holds
        # this load.
        LATEST_ITEM: MetadataValue.json(latest_item(level_items(level, table))),
    }


def latest_item(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The item of the latest day (of the last place that day), or {} when there is none."""
    return max(items, key=lambda item: (item["date"], item["region"]), default={})


def build_level_export(level: Level) -> AssetsDefinition:
    """The level's table as Parquet under its own prefix and Glue table: one file switched
    atomically the way the national export is, or, for a level with partitions, the
    partitions its table touches (``partitioned_export``)."""
    glue_key, bucket_key = glue_resource_key(level), bucket_resource_key(level)
    partitioned = level.export_partitions is not None
    rows_check = ROWS_CHECK if partitioned else EXPORT_ROW_COUNT_CHECK
    check_specs = [
        AssetCheckSpec(
            GLUE_SCHEMA_CHECK,
            asset=level.export_asset,
            blocking=True,
            description="The Glue table's columns and types are those of the Parquet files.",
        ),
        AssetCheckSpec(
            rows_check,
            asset=level.export_asset,
            blocking=True,
            description=(
                f"Every row of {level.table_asset} is in its partition with the same values."
                if partitioned
                else f"The files at the Glue table's location hold {level.table_asset}'s rows."
            ),
        ),
    ]
    layout = (
        "partitioned by state and month (usps=CA/month=2021-03, registered as Glue "
        "partitions); a run rewrites only the partitions whose rows changed, and keeps the "
        "county-days that left the window"
        if partitioned
        else "one file, switched atomically"
    )

    @multi_asset(
        name=level.export_asset,
        specs=[
            AssetSpec(
                level.export_asset,
                deps=[level.history_asset],
                group_name="serving",
                description=(
                    f"{level.table_asset} as Parquet under s3://$COVID_S3_BUCKET/"
                    f"${level.export_prefix_setting}, registered in Glue as "
                    f"$COVID_GLUE_DATABASE.${level.glue_table_setting} (counts null where "
                    f"unknown), {layout}."
                ),
                kinds={"s3", "parquet", "athena"},
                freshness_policy=served_freshness_policy(),
            )
        ],
        check_specs=check_specs,
        ins={"published": AssetIn(level.history_asset)},
        # Run alone (no asset selected), the checks only read the export back.
        can_subset=True,
        # Keys of the level's own resources, so the resources cannot be typed parameters.
        required_resource_keys={glue_key, bucket_key, "serving_lock"},
    )
    def level_export(
        context: AssetExecutionContext, published: PublishedTable
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        context.resources.serving_lock.hold(context)
        table = published.table
        glue, bucket = getattr(context.resources, glue_key), getattr(context.resources, bucket_key)
        if partitioned:
            if context.selected_asset_keys:
                metadata = write_partitioned_export(context, table, bucket, glue, level)
                yield MaterializeResult(metadata={**metadata, **published.metadata})
            results = verify_partitioned_export(table, bucket, glue, level)
        else:
            if context.selected_asset_keys:
                metadata = write_export(context, table, bucket, glue, level.export_schema)
                yield MaterializeResult(metadata={**metadata, **published.metadata})
            results = verify_export(table, bucket, glue, level.export_asset, rows_check)
        yield from selected_results(context.selected_asset_check_keys, results)

    return level_export


def build_level_assets(level: Level) -> list[AssetsDefinition]:
    """Every asset of the level (its raw source is built with the other sources)."""
    return [
        build_level_table(level),
        build_history_asset(level_history(level)),
        build_level_records(level),
        build_level_export(level),
    ]
