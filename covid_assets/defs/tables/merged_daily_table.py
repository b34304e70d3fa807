"""The asset ``merged_daily_table`` and its checks: NYT cases and deaths joined with JHU US
recoveries by date (``domain.table_checks.checked_national``).

Its blocking checks (the table's shape, one row per date the sources share, and what it would
publish against what is served now) stop everything downstream when they fail, and keep the
table in quarantine with an alert. What is served is the export as users query it, read through
its Glue table; a version older than the newest in the history is not compared, since it will
not be served.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    Output,
    multi_asset,
)

from covid_assets.defs.checks import rule_check_specs
from covid_assets.defs.tables.table_step import hold_lock_to_build, table_and_check_results
from covid_assets.domain.history import Version, source_version, stale_reason
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import (
    CUMULATIVE_TOTALS_RULE,
    MERGED_BLOCKING_RULES,
    MERGED_COLUMNS,
)
from covid_assets.domain.table_checks import (
    AGAINST_SERVED,
    COMMON_DATES_CHECK,
    LOST_DAYS_WARNING,
    ROW_COUNT_CHECK,
    SERVED_COUNTS_CHECK,
    SERVED_DAYS_CHECK,
    checked_national,
)
from covid_assets.domain.tables import NATIONAL
from covid_assets.resources.exports import ExportUnreadableError
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.tolerances import ServedTolerancesResource

MERGED = NATIONAL.table_asset

MERGED_CHECK_SPECS = [
    *rule_check_specs(MERGED, MERGED_BLOCKING_RULES),
    *(
        AssetCheckSpec(name, asset=MERGED, blocking=True, description=description)
        for name, description in (
            (ROW_COUNT_CHECK, "One row for each date present in both sources."),
            (COMMON_DATES_CHECK, "The sources share at least one date: the table is not empty."),
            (
                SERVED_DAYS_CHECK,
                "Against the served export: at most COVID_MAX_LOST_DAYS_PERCENT of its days, and "
                "none of its last COVID_PROTECTED_RECENT_DAYS days, are missing.",
            ),
            (
                SERVED_COUNTS_CHECK,
                "Against the served export: no count falls below the served one by more than "
                "COVID_MAX_COUNT_DROP_PERCENT and COVID_COUNT_DROP_FLOOR (a null on either side "
                "is no figure: not compared).",
            ),
        )
    ),
    *rule_check_specs(MERGED, [CUMULATIVE_TOTALS_RULE], blocking=False),
    AssetCheckSpec(
        LOST_DAYS_WARNING,
        asset=MERGED,
        blocking=False,
        description="Lists the served days the table no longer has (a warning within the "
        "tolerance: DynamoDB keeps them, the export drops them).",
    ),
]


@dataclass(frozen=True)
class ServedRows:
    """The served export's rows (None when nothing is served yet, or when the version will not
    be served), and where they come from or why there are none."""

    rows: pd.DataFrame | None
    note: str


def served_rows(served: ServedTablesResource, version: Version) -> ServedRows:
    """What a new table of ``version`` is compared with: the export as a query of its Glue
    table reads it; nothing when the version is older than the newest one in the history."""
    older = stale_reason(served.history(NATIONAL).current(), version)
    if older is not None:
        return ServedRows(None, f"not compared: {older}, so it will not be served")
    try:
        rows, location = served.export(NATIONAL).read(MERGED_COLUMNS)
    except ExportUnreadableError as error:
        return ServedRows(None, f"nothing served yet ({error}): nothing to compare with")
    return ServedRows(rows, f"compared with the {len(rows)} days served at {location}")


@multi_asset(
    name=MERGED,
    outs={
        MERGED: AssetOut(
            group_name="curated",
            description=NATIONAL.description,
            kinds={"pandas"},
            # A run of checks alone (the UI's Execute) yields no table. Dagster 1.13 still
            # expects the output of a subsettable asset that is not selected when a run selects
            # one of its checks (dagster-io/dagster#33648) unless it is not required; a run that
            # selects the table always yields it.
            is_required=False,
        )
    },
    ins={source.asset: AssetIn(source.asset) for source in NATIONAL.sources},
    check_specs=MERGED_CHECK_SPECS,
    # Its checks run alone too (the UI's Execute), from the stored raw files (``table_step``).
    can_subset=True,
)
def merged_daily_table(
    context: AssetExecutionContext,
    nyt_raw: RawSourceFile,
    jhu_raw: RawSourceFile,
    quarantine: QuarantineResource,
    served: ServedTablesResource,
    tolerances: ServedTolerancesResource,
    serving_lock: ServingLockResource,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    hold_lock_to_build(context, serving_lock)
    version = Version(
        tuple(
            source_version(raw, source.asset, datetime.now(UTC))
            for raw, source in zip((nyt_raw, jhu_raw), NATIONAL.sources, strict=True)
        )
    )
    baseline = served_rows(served, version)
    context.log.info("Checks against what is served: %s", baseline.note)
    checked = checked_national(nyt_raw, jhu_raw, baseline.rows, tolerances.tolerances)
    yield from table_and_check_results(
        context,
        quarantine,
        MERGED,
        checked,
        lambda check: {"served": baseline.note} if check in AGAINST_SERVED else None,
    )
