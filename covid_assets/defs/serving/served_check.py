"""The check ``served_as_last_written`` of every serving asset (each table's DynamoDB load and
export, and the dashboard page): what is served is still what the asset's last materialization
wrote. Each is probed as cheaply as a tick can afford: the load's latest item (one BatchGetItem
for every load), the export's Glue table (one GetTables for every export) and the data file it
records (a HeadObject each), the dashboard's page (a HeadObject).

One probe, three users: a run evaluates the check after it served; **Execute** in the UI runs
it alone against what is served now; and a tick of the sensor or the schedule
(``automation.inspection``) that finds something missing reports the check failed on each asset
concerned at once, so that the UI is red before the repair run, and green again after it.
"""

from collections.abc import Collection, Iterator, Sequence

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSpec,
    AssetKey,
    DagsterInstance,
    MetadataValue,
    multi_asset_check,
)

from covid_assets.defs.dashboard.dashboard import DASHBOARD, DASHBOARD_KEY
from covid_assets.defs.provenance import latest_materialization
from covid_assets.defs.serving.dynamodb_records import LATEST_ITEM
from covid_assets.domain.tables import ServedTable
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.settings import enabled_tables

SERVED_CHECK = "served_as_last_written"
NEVER_MATERIALIZED = "never materialized"


def served_assets(tables: Sequence[ServedTable]) -> list[str]:
    """The serving assets of ``tables``: each one's load and export, then the dashboard."""
    return [*(a for t in tables for a in (t.records_asset, t.export_asset)), DASHBOARD]


def served_problems(
    instance: DagsterInstance,
    dynamodb: DynamoDBResource,
    served: ServedTablesResource,
    assets: Collection[str],
) -> dict[str, list[str]]:
    """Why what is served of each of ``assets`` (serving assets of the tables that are on) is
    not what its last materialization wrote, by asset: an empty list when it is. The loads are
    probed together, and so are the exports."""
    tables = enabled_tables()
    problems: dict[str, list[str]] = {asset: [] for asset in assets}
    latest_items = {}
    for table in tables:
        if table.records_asset in problems:
            metadata = latest_materialization(instance, table.records_asset)[0]
            if not metadata:
                problems[table.records_asset].append(NEVER_MATERIALIZED)
            else:
                latest_items[table.records_asset] = metadata.get(LATEST_ITEM) or {}
    found = dynamodb.items_problems(list(latest_items.values()))
    for asset, problem in zip(latest_items, found, strict=True):
        problems[asset] += [problem] if problem else []
    exports = {t: served.export(t) for t in tables if t.export_asset in problems}
    glue_tables = served.glue.get_tables([store.glue_table for store in exports.values()])
    for table, store in exports.items():
        metadata = latest_materialization(instance, table.export_asset)[0]
        if not metadata:
            problems[table.export_asset].append(NEVER_MATERIALIZED)
        elif problem := store.served_problem(
            metadata.get("content_sha256"), glue_tables[store.glue_table]
        ):
            problems[table.export_asset].append(problem)
    if DASHBOARD in problems and served.bucket.etag(DASHBOARD_KEY) is None:
        problems[DASHBOARD].append(f"{served.bucket.uri(DASHBOARD_KEY)} does not exist")
    return problems


def served_check_metadata(problems: Sequence[str]) -> dict:
    return {
        "problem_count": len(problems),
        **(
            {"problems": MetadataValue.md("\n".join(f"- {p}" for p in problems))}
            if problems
            else {}
        ),
    }


def failed_served_check(asset: str, problems: Sequence[str], seen_by: str) -> AssetCheckEvaluation:
    """The check failed on ``asset``, as a tick (``seen_by``) reports it, outside any run."""
    return AssetCheckEvaluation(
        asset_key=AssetKey(asset),
        check_name=SERVED_CHECK,
        passed=False,
        description=f"{'; '.join(problems)} (seen by {seen_by}; the repair run is requested)",
        metadata=served_check_metadata(problems),
    )


def build_served_check(tables: Sequence[ServedTable]) -> AssetChecksDefinition:
    """The check on every serving asset of ``tables``, one step for all of them, after they
    are served (or alone: the selected ones)."""

    @multi_asset_check(
        name=SERVED_CHECK,
        specs=[
            AssetCheckSpec(
                SERVED_CHECK,
                asset=asset,
                description=(
                    "What is served is what the last materialization wrote: the load's latest "
                    "item, the export's Glue table and data file, the dashboard's page. A tick "
                    "that finds it missing fails this check at once, before the repair run."
                ),
            )
            for asset in served_assets(tables)
        ],
        can_subset=True,
    )
    def served_as_last_written(
        context: AssetCheckExecutionContext,
        dynamodb: DynamoDBResource,
        served: ServedTablesResource,
    ) -> Iterator[AssetCheckResult]:
        selected = [key.asset_key.to_user_string() for key in context.selected_asset_check_keys]
        for asset, problems in served_problems(
            context.instance, dynamodb, served, selected
        ).items():
            yield AssetCheckResult(
                asset_key=asset,
                check_name=SERVED_CHECK,
                passed=not problems,
                description="; ".join(problems) or None,
                metadata=served_check_metadata(problems),
            )

    return served_as_last_written
