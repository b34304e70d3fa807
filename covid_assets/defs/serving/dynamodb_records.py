"""The asset ``dynamodb_records`` and its check: the merged table loaded incrementally, one item
per region and day.

The load diffs the merged table against what the table really holds (one paginated Query), so
it writes only new or revised days, never rewrites a day that is already right, and finishes
whatever an interrupted run left undone. Its check then reads back the days it wrote.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
)

from covid_assets.defs.checks import check_result
from covid_assets.defs.metadata import column_schema, markdown_preview
from covid_assets.defs.tables.merged_daily_table import serving_asset
from covid_assets.domain.history import PublishedTable, largest_revisions
from covid_assets.domain.rules import COUNT_COLUMNS, Problem
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.sns import SNSResource

DYNAMODB_RECORDS = "dynamodb_records"

REGION = "US"

ITEM_COLUMNS = ["region", "date", *COUNT_COLUMNS]
# What an item records of the versions that carried it (see ``stamped``).
PROVENANCE = ("first_published", "last_revised", "revisions")


ItemKey = tuple[str, str]


def item_key(item: dict[str, Any]) -> ItemKey:
    """An item's key in the table: (region, date)."""
    return item["region"], item["date"]


@dataclass(frozen=True)
class WritePlan:
    """What one load must write: items for new keys, items for revised ones (and the stored
    items they revise), and the rest."""

    inserts: list[dict[str, Any]]
    updates: list[dict[str, Any]]
    unchanged: int
    vanished: list[ItemKey]
    revised_from: list[dict[str, Any]] = field(default_factory=list)

    @property
    def items_to_write(self) -> list[dict[str, Any]]:
        return self.inserts + self.updates

    @property
    def vanished_dates(self) -> list[str]:
        return [date for _, date in self.vanished]

    def largest_revisions(self, fields: Sequence[str], key_of: Callable[[dict], str]) -> list[str]:
        """The largest changes of the revised items (up to five), as ``key field: old → new``."""
        pairs = list(zip(self.revised_from, self.updates, strict=True))
        return [str(revision) for revision in largest_revisions(pairs, fields, key_of)]


def to_items(merged_daily_table: pd.DataFrame, region: str = REGION) -> list[dict[str, Any]]:
    """One DynamoDB item per day: ``date`` as an ISO string, counts as plain ints."""
    return [
        {
            "region": region,
            "date": row.date.isoformat(),
            **{column: int(getattr(row, column)) for column in COUNT_COLUMNS},
        }
        for row in merged_daily_table.itertuples(index=False)
    ]


def values_of(item: dict[str, Any]) -> dict[str, Any]:
    """An item without the attributes that record its versions (PROVENANCE)."""
    return {name: value for name, value in item.items() if name not in PROVENANCE}


def stamped(item: dict[str, Any], stored: dict[str, Any] | None, published: str) -> dict[str, Any]:
    """The item with its versions recorded: first published when its key first appeared, last
    revised when its values last changed (both the publication times of those versions), and
    how many times they changed. An item stored before versions were recorded keeps no first
    publication time: it is not known."""
    if stored is None:
        return {**item, "first_published": published, "last_revised": published, "revisions": 0}
    first = {"first_published": stored["first_published"]} if "first_published" in stored else {}
    revisions = int(stored.get("revisions", 0)) + 1
    return {**item, **first, "last_revised": published, "revisions": revisions}


def plan_writes(
    wanted_items: list[dict[str, Any]],
    stored_items: list[dict[str, Any]],
    published: str | None = None,
) -> WritePlan:
    """Compare the wanted items with the stored ones by key (region, date). A stored item whose
    values differ (a count changed, or one gained or lost) is rewritten whole; stored keys that
    are no longer wanted are left alone. With ``published`` (the version's publication time),
    the items to write carry their versions (``stamped``)."""
    stored_by_key = {item_key(item): item for item in stored_items}
    inserts, updates, revised_from, unchanged = [], [], [], 0
    for item in wanted_items:
        stored = stored_by_key.get(item_key(item))
        if stored is None:
            inserts.append(item if published is None else stamped(item, None, published))
        elif values_of(stored) != values_of(item):
            updates.append(item if published is None else stamped(item, stored, published))
            revised_from.append(stored)
        else:
            unchanged += 1
    wanted_keys = {item_key(item) for item in wanted_items}
    vanished = sorted(set(stored_by_key) - wanted_keys, key=lambda key: (key[1], key[0]))
    return WritePlan(inserts, updates, unchanged, vanished, revised_from)


DYNAMODB_TABLE_CHECK = AssetCheckSpec(
    "table_matches_merged_table",
    asset=DYNAMODB_RECORDS,
    description=(
        "Every merged day is in the table with the same values: after a load, the days it "
        "wrote are read back (the others were just read and compared); run alone, every item "
        "is read and compared."
    ),
)


def table_check_result(
    table_name: str, mismatched: Sequence[dict], vanished_dates: list[str], days_read: int
) -> AssetCheckResult:
    """``mismatched``: the merged days the table does not hold with the same values."""
    problems = [
        Problem(table_name, None, "date", item["date"], f"an item equal to {item}")
        for item in mismatched
    ]
    # Days gone from the sources are kept on purpose; they are shown, not counted as errors.
    return check_result(
        DYNAMODB_RECORDS,
        DYNAMODB_TABLE_CHECK.name,
        problems,
        extra_metadata={
            "kept_vanished_dates": MetadataValue.json(vanished_dates),
            "days_read": days_read,
        },
    )


@serving_asset(
    DYNAMODB_RECORDS,
    description=(
        "The merged table in DynamoDB, one item per day (partition key region = 'US', sort key "
        "date). Each run writes only new and revised days."
    ),
    kinds={"dynamodb"},
    # Run alone, the check compares every item.
    check_specs=[DYNAMODB_TABLE_CHECK],
)
def dynamodb_records(
    context: AssetExecutionContext,
    merged_daily_history: PublishedTable,
    dynamodb: DynamoDBResource,
    alerts: SNSResource,
    serving_lock: ServingLockResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    serving_lock.hold(context)
    if not context.selected_asset_keys:
        yield compare_every_item(dynamodb, to_items(merged_daily_history.table))
        return
    plan, metadata = load_national_items(context, dynamodb, merged_daily_history)
    if plan.items_to_write:
        alerts.publish(
            subject=(
                f"covid_assets: {len(plan.items_to_write)} day(s) updated in {dynamodb.table_name}"
            ),
            message=(
                f"Loaded {dynamodb.table_name}: {len(plan.inserts)} inserted, "
                f"{len(plan.updates)} updated, {plan.unchanged} unchanged. "
                f"Latest date: {metadata['latest_date']}."
                + revisions_text(metadata["largest_revisions"].value)
            ),
        )
    yield MaterializeResult(metadata=metadata)
    if DYNAMODB_TABLE_CHECK.key in context.selected_asset_check_keys:
        yield verify_written(dynamodb, plan)


def load_national_items(
    context: AssetExecutionContext | OpExecutionContext,
    dynamodb: DynamoDBResource,
    published: PublishedTable,
) -> tuple[WritePlan, dict[str, Any]]:
    """Write the days of ``published``'s table that the region lacks or holds with other values
    (diffed against one Query of the region), stamped with its publication time; the plan and
    the load's metadata. A run that writes nothing announces nothing (a run launched by hand on
    a quiet day), so the notice is the caller's."""
    if dynamodb.ensure_table():
        context.log.info("Created DynamoDB table %s", dynamodb.table_name)
    table = published.table
    wanted = to_items(table)
    plan = plan_writes(wanted, dynamodb.query_region(REGION), published.published)
    batch_calls = dynamodb.put_items(plan.items_to_write)
    context.log.info(
        "%s: %d inserted, %d updated, %d unchanged",
        dynamodb.table_name,
        len(plan.inserts),
        len(plan.updates),
        plan.unchanged,
    )
    revisions = plan.largest_revisions(COUNT_COLUMNS, key_of=lambda item: item["date"])
    written = pd.DataFrame(plan.items_to_write, columns=ITEM_COLUMNS)
    return plan, {
        "table": dynamodb.table_name,
        "dagster/row_count": len(table) + len(plan.vanished_dates),
        "dagster/column_schema": column_schema(ITEM_COLUMNS),
        "inserted": len(plan.inserts),
        "updated": len(plan.updates),
        "unchanged": plan.unchanged,
        "items_written": len(plan.items_to_write),
        "batch_write_calls": batch_calls,
        "latest_date": str(table["date"].max()) if len(table) else "none",
        **published.metadata,
        "largest_revisions": MetadataValue.json(revisions),
        # What a tick reads back (one GetItem) to confirm the table still serves this load.
        "latest_item": MetadataValue.json(wanted[-1] if wanted else {}),
        # Days the sources no longer have are kept (history is not deleted) but reported.
        "vanished_dates": MetadataValue.json(plan.vanished_dates),
        "written_items_preview": markdown_preview(written),
    }


def revisions_text(revisions: Sequence[str]) -> str:
    """The notice's list of the largest revisions, or nothing when there are none."""
    if not revisions:
        return ""
    return "\nLargest revisions:\n" + "\n".join(f"- {revision}" for revision in revisions)


def compare_every_item(
    dynamodb: DynamoDBResource, wanted: list[dict[str, Any]]
) -> AssetCheckResult:
    """The check run alone: every stored item of the region against the merged table."""
    stored = dynamodb.query_region(REGION)
    plan = plan_writes(wanted, stored)
    return table_check_result(
        dynamodb.table_name, plan.items_to_write, plan.vanished_dates, len(stored)
    )


def verify_written(dynamodb: DynamoDBResource, plan: WritePlan) -> AssetCheckResult:
    """The check after a load. The days it left alone were compared with the table moments ago;
    the days it wrote are read back, with one Query from the first to the last (on a usual day,
    the one new day)."""
    written = plan.items_to_write
    dates = sorted(item["date"] for item in written)
    read_back = dynamodb.query_region(REGION, (dates[0], dates[-1])) if written else []
    return table_check_result(
        dynamodb.table_name,
        plan_writes(written, read_back).items_to_write,
        plan.vanished_dates,
        len(read_back),
    )
