"""What the step of every served table does once its version is made and checked, the nation's
and each level's alike: output the table, keep it in quarantine with an alert when a blocking
check fails, and report the selected checks.

Each table asset can be subset (``can_subset=True``): a run that selects some of its checks
without the table (the UI's Execute) recomputes them from the stored raw files and what is
served, and reports only those. It outputs nothing and writes nothing, so it neither takes the
serving lock, nor quarantines or alerts again: the run that made the table did.
"""

from collections.abc import Callable, Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    Output,
)

from covid_assets.defs.checks import LISTED_PROBLEMS, check_result, selected_results
from covid_assets.defs.metadata import daily_table_metadata
from covid_assets.defs.provenance import versioned_output
from covid_assets.domain.hashing import table_sha256
from covid_assets.domain.rules import format_problems
from covid_assets.domain.table_checks import CheckedVersion
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.serving_lock import ServingLockResource


def hold_lock_to_build(context: AssetExecutionContext, serving_lock: ServingLockResource) -> None:
    """Hold the serving lock when the run builds the table, as every step that writes does;
    checks run alone write nothing, and read what is served as it is."""
    if context.selected_asset_keys:
        serving_lock.hold(context)


def table_and_check_results(
    context: AssetExecutionContext,
    quarantine: QuarantineResource,
    asset: str,
    checked: CheckedVersion,
    extra_metadata: Callable[[str], dict | None] = lambda check: None,
) -> Iterator[Output | AssetCheckResult]:
    """The table (when selected), then the selected checks' results: the blocking ones at
    ERROR, naming the quarantine when they failed, then the warnings. ``extra_metadata`` adds a
    check's own metadata (what it compared with)."""
    location = None
    if context.selected_asset_keys:
        rows = checked.table
        context.log.info("%s: %d rows", asset, len(rows))
        yield versioned_output(
            rows, table_sha256(rows), output_name=asset, metadata=daily_table_metadata(rows)
        )
        location = quarantine.keep_failed_input(
            run_id=context.run.run_id,
            asset_name=asset,
            file_name=f"{asset}.csv",
            original=lambda: rows.to_csv(index=False).encode(),
            problems_by_check=checked.blocking,
        )

    def metadata(check: str) -> dict | None:
        extra = dict(extra_metadata(check) or {})
        if known := checked.known.get(check):
            extra["known_count"] = len(known)
            extra["known"] = MetadataValue.md(format_problems(known, LISTED_PROBLEMS))
        return extra or None

    results = [
        *(
            check_result(asset, name, found, quarantine=location, extra_metadata=metadata(name))
            for name, found in checked.blocking.items()
        ),
        *(
            check_result(
                asset,
                name,
                found,
                severity=AssetCheckSeverity.WARN,
                extra_metadata=metadata(name),
            )
            for name, found in checked.warnings.items()
        ),
    ]
    yield from selected_results(context.selected_asset_check_keys, results)
