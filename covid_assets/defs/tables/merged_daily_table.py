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
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Output,
    asset,
)

from covid_assets.defs.checks import check_result, rule_check_specs
from covid_assets.defs.metadata import daily_table_metadata
from covid_assets.defs.provenance import versioned_output
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
    CheckedVersion,
    checked_national,
)
from covid_assets.domain.tables import NATIONAL, table_sha256
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
                "COVID_MAX_COUNT_DROP_PERCENT and COVID_COUNT_DROP_FLOOR (a recovered of 0 is no "
                "figure: JHU stopped counting).",
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


def check_results(
    checked: CheckedVersion, quarantine: str | None, served: ServedRows
) -> list[AssetCheckResult]:
    """Every check's result: the blocking ones from their problems, then the warnings. The
    checks against the served export say what they compared with."""

    def served_note(name: str) -> dict | None:
        return {"served": served.note} if name in AGAINST_SERVED else None

    return [
        *(
            check_result(
                MERGED, name, problems, quarantine=quarantine, extra_metadata=served_note(name)
            )
            for name, problems in checked.blocking.items()
        ),
        *(
            check_result(
                MERGED,
                name,
                problems,
                severity=AssetCheckSeverity.WARN,
                extra_metadata=served_note(name),
            )
            for name, problems in checked.warnings.items()
        ),
    ]


@asset(
    name=MERGED,
    group_name="curated",
    description=NATIONAL.description,
    kinds={"pandas"},
    check_specs=MERGED_CHECK_SPECS,
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
    serving_lock.hold(context)
    version = Version(
        tuple(
            source_version(raw, source.asset, datetime.now(UTC))
            for raw, source in zip((nyt_raw, jhu_raw), NATIONAL.sources, strict=True)
        )
    )
    baseline = served_rows(served, version)
    context.log.info("Checks against what is served: %s", baseline.note)
    checked = checked_national(nyt_raw, jhu_raw, baseline.rows, tolerances.tolerances)
    table = checked.table
    context.log.info("Merged %d days", len(table))
    yield versioned_output(table, table_sha256(table), metadata=daily_table_metadata(table))
    location = quarantine.keep_failed_input(
        run_id=context.run.run_id,
        asset_name=MERGED,
        file_name=f"{MERGED}.csv",
        original=table.to_csv(index=False).encode(),
        problems_by_check=checked.blocking,
    )
    yield from check_results(checked, location, baseline)
