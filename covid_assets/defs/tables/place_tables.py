"""The tables of the levels below the nation, ``state_daily_table`` and ``county_daily_table``
(declared in ``domain.tables``), and their checks: each made from its NYT file, held to its
rules and reconciled with the level above (``domain.table_checks.checked_level``). A failing
blocking check keeps the table in quarantine with an alert, and stops what serves it.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    Output,
    multi_asset,
)

from covid_assets.defs.checks import rule_check_specs
from covid_assets.defs.tables.table_step import hold_lock_to_build, table_and_check_results
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.table_checks import checked_level
from covid_assets.domain.tables import ServedTable
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.serving_lock import ServingLockResource


def build_place_table(table: ServedTable) -> AssetsDefinition:
    """The level's table asset, from its source file and the file of the level above."""
    level = table.level
    rule = level.reconciliation
    [source] = table.sources
    check_specs = [
        *rule_check_specs(table.table_asset, level.table_rules),
        AssetCheckSpec(
            rule.check_name,
            asset=table.table_asset,
            blocking=rule.blocking,
            description=rule.description,
        ),
    ]

    @multi_asset(
        name=table.table_asset,
        outs={
            table.table_asset: AssetOut(
                group_name="curated",
                description=table.description,
                kinds={"pandas"},
                # See merged_daily_table: a run of checks alone yields no table.
                is_required=False,
            )
        },
        check_specs=check_specs,
        ins={"raw": AssetIn(source.asset), "upstream": AssetIn(rule.against.asset)},
        # Its checks run alone too (the UI's Execute), from the stored raw files (``table_step``).
        can_subset=True,
    )
    def place_table(
        context: AssetExecutionContext,
        raw: RawSourceFile,
        upstream: RawSourceFile,
        quarantine: QuarantineResource,
        serving_lock: ServingLockResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        hold_lock_to_build(context, serving_lock)
        checked = checked_level(table, raw, upstream)
        yield from table_and_check_results(context, quarantine, table.table_asset, checked)

    return place_table
