"""Dagster's floor for the pipeline's shape, for the benchmark: the project's definitions as its
settings turn them on, imported and resolved as the daily run's are, with every asset and check
in the same steps, each step reporting its assets materialized and its checks passed and doing
nothing else. Launched like the daily job, its process costs the imports, the definitions and
Dagster's bookkeeping of the pipeline's steps and checks (their events in the instance); the
daily run's process minus it is the project's own work. ``defs_without_checks`` is the same
pipeline with no check at all (nor the step of checks alone): the rung between the empty job and
the idle pipeline, which parts the cost of the steps (and the imports) from that of the checks."""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetExecutionContext,
    AssetsDefinition,
    Definitions,
    MaterializeResult,
    in_process_executor,
    multi_asset,
    multi_asset_check,
)

from covid_assets.definitions import defs as project_defs


def passed(context: AssetExecutionContext | AssetCheckExecutionContext) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=True)
        for key in context.selected_asset_check_keys
    ]


def idle_asset(asset: AssetsDefinition, with_checks: bool) -> AssetsDefinition:
    """A step of ``asset``'s assets (and checks, ``with_checks``) that only reports them."""

    @multi_asset(
        name=asset.node_def.name,
        specs=list(asset.specs),
        check_specs=list(asset.check_specs) if with_checks else [],
        can_subset=True,
    )
    def reports_only(
        context: AssetExecutionContext,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        for key in context.selected_asset_keys:
            yield MaterializeResult(asset_key=key)
        yield from passed(context)

    return reports_only


def idle_checks(checks: AssetChecksDefinition) -> AssetChecksDefinition:
    """A step of ``checks`` that only reports them passed."""

    @multi_asset_check(name=checks.node_def.name, specs=list(checks.check_specs), can_subset=True)
    def reports_only(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        yield from passed(context)

    return reports_only


def idle_definitions(with_checks: bool) -> Definitions:
    """The project's steps and assets, and ``with_checks`` its checks, all idle."""
    checks = (project_defs.asset_checks or []) if with_checks else []
    return Definitions(
        assets=[idle_asset(asset, with_checks) for asset in project_defs.assets or []],
        asset_checks=[idle_checks(definition) for definition in checks],
        executor=in_process_executor,
    )


defs = idle_definitions(with_checks=True)
defs_without_checks = idle_definitions(with_checks=False)
