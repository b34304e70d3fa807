"""The tables of the levels below the nation, ``state_daily_table`` and ``county_daily_table``
(declared in ``domain.tables``), and their checks: each made from its NYT file, held to its
rules and reconciled with the level above (``domain.table_checks.checked_level``). A failing
blocking check keeps the table in quarantine with an alert, and stops what serves it.
"""

from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    Output,
    multi_asset,
)

from covid_assets.defs.checks import check_result, rule_check_specs
from covid_assets.defs.metadata import daily_table_metadata
from covid_assets.defs.provenance import versioned_output
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.table_checks import checked_level
from covid_assets.domain.tables import ServedTable, table_sha256
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
                group_name="curated", description=table.description, kinds={"pandas"}
            )
        },
        check_specs=check_specs,
        ins={"raw": AssetIn(source.asset), "upstream": AssetIn(rule.against.asset)},
    )
    def place_table(
        context: AssetExecutionContext,
        raw: RawSourceFile,
        upstream: RawSourceFile,
        quarantine: QuarantineResource,
        serving_lock: ServingLockResource,
    ) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
        serving_lock.hold(context)
        checked = checked_level(table, raw, upstream)
        rows = checked.table
        context.log.info("%s: %d rows", table.table_asset, len(rows))
        yield versioned_output(
            rows,
            table_sha256(rows),
            output_name=table.table_asset,
            metadata=daily_table_metadata(rows),
        )
        location = quarantine.keep_failed_input(
            run_id=context.run.run_id,
            asset_name=table.table_asset,
            file_name=f"{table.table_asset}.csv",
            original=rows.to_csv(index=False).encode(),
            problems_by_check=checked.blocking,
        )
        for name, found in checked.blocking.items():
            yield check_result(table.table_asset, name, found, quarantine=location)
        for name, found in checked.warnings.items():
            yield check_result(table.table_asset, name, found, severity=AssetCheckSeverity.WARN)

    return place_table
