"""The asset ``merged_daily_table`` and its checks: NYT cases and deaths joined with JHU US
recoveries by date. Also the decorator of the serving assets, which are built from it.

Its blocking checks (the table's shape, one row per date the sources share, and what it would
publish against what is served now) stop everything downstream when they fail, and keep the
table in quarantine with an alert.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AssetSpec,
    DataVersion,
    Output,
    asset,
    multi_asset,
)

from covid_assets.defs.automation.freshness import served_freshness_policy
from covid_assets.defs.checks import check_result, rule_check_specs
from covid_assets.defs.metadata import daily_table_metadata, table_sha256
from covid_assets.domain.history import Version, history_asset_of, source_version
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import (
    CUMULATIVE_TOTALS_RULE,
    MERGED_BLOCKING_RULES,
    Problem,
    SourceDataError,
    common_dates_mismatch,
    lost_served_days,
    no_common_dates,
    served_counts_dropped,
    served_days_lost_beyond_tolerance,
)
from covid_assets.domain.sources import JHU, NYT
from covid_assets.domain.transform import merge_daily
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.served import ServedExportResource, ServedTable
from covid_assets.resources.serving_lock import ServingLockResource

MERGED = "merged_daily_table"
MERGED_HISTORY = history_asset_of(MERGED)
ROW_COUNT_CHECK = "row_count_matches_common_dates"
COMMON_DATES_CHECK = "sources_share_dates"
SERVED_DAYS_CHECK = "served_days_kept"
SERVED_COUNTS_CHECK = "served_counts_kept"
LOST_DAYS_WARNING = "no_served_day_lost"

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


def blocking_problems(
    table: pd.DataFrame,
    nyt_raw: RawSourceFile,
    jhu_raw: RawSourceFile,
    served: ServedTable,
    served_export: ServedExportResource,
) -> dict[str, list[Problem]]:
    """The problems of each blocking check: the table's rules, its row count against the dates
    the sources share, and what it would publish against what is served (nothing to compare
    with on a first run)."""
    found = {rule.name: rule.find_problems(table, MERGED) for rule in MERGED_BLOCKING_RULES}
    found[ROW_COUNT_CHECK] = common_dates_mismatch(table, nyt_raw.table, jhu_raw.table, MERGED)
    found[COMMON_DATES_CHECK] = no_common_dates(nyt_raw.table, jhu_raw.table, MERGED)
    found[SERVED_DAYS_CHECK] = found[SERVED_COUNTS_CHECK] = []
    if served.rows is not None:
        tolerances = served_export.tolerances
        found[SERVED_DAYS_CHECK] = served_days_lost_beyond_tolerance(
            table, served.rows, tolerances, MERGED
        )
        found[SERVED_COUNTS_CHECK] = served_counts_dropped(table, served.rows, tolerances, MERGED)
    return found


def merged_check_results(
    table: pd.DataFrame,
    blocking: dict[str, list[Problem]],
    quarantine: str | None,
    served: ServedTable,
) -> list[AssetCheckResult]:
    """Every check's result: the blocking ones from their problems, then the warnings. The
    checks against the served export say what they compared with."""
    warnings = {
        CUMULATIVE_TOTALS_RULE.name: CUMULATIVE_TOTALS_RULE.find_problems(table, MERGED),
        LOST_DAYS_WARNING: []
        if served.rows is None
        else lost_served_days(table, served.rows, MERGED),
    }

    def served_note(name: str) -> dict | None:
        compared = (SERVED_DAYS_CHECK, SERVED_COUNTS_CHECK, LOST_DAYS_WARNING)
        return {"served": served.note} if name in compared else None

    return [
        *(
            check_result(
                MERGED, name, problems, quarantine=quarantine, extra_metadata=served_note(name)
            )
            for name, problems in blocking.items()
        ),
        *(
            check_result(
                MERGED,
                name,
                problems,
                severity=AssetCheckSeverity.WARN,
                extra_metadata=served_note(name),
            )
            for name, problems in warnings.items()
        ),
    ]


@asset(
    name=MERGED,
    group_name="curated",
    description=(
        "One row per day present in both sources: date, cases and deaths (NYT), recovered "
        "(JHU US, 0 where blank), counts as int64, sorted by date."
    ),
    kinds={"pandas"},
    check_specs=MERGED_CHECK_SPECS,
)
def merged_daily_table(
    context: AssetExecutionContext,
    nyt_raw: RawSourceFile,
    jhu_raw: RawSourceFile,
    quarantine: QuarantineResource,
    served_export: ServedExportResource,
    serving_lock: ServingLockResource,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    serving_lock.hold(context)
    unreadable = nyt_raw.read_problems + jhu_raw.read_problems
    if unreadable:
        raise SourceDataError(unreadable)
    table = merge_daily(nyt_raw.table, jhu_raw.table, nyt_raw.url, jhu_raw.url)
    context.log.info("Merged %d days", len(table))
    yield Output(
        table, metadata=daily_table_metadata(table), data_version=DataVersion(table_sha256(table))
    )
    version = Version(
        tuple(
            source_version(raw, source.asset, datetime.now(UTC))
            for raw, source in ((nyt_raw, NYT), (jhu_raw, JHU))
        )
    )
    served = served_export.read(version)
    context.log.info("Checks against what is served: %s", served.note)
    blocking = blocking_problems(table, nyt_raw, jhu_raw, served, served_export)
    location = quarantine.keep_failed_input(
        run_id=context.run.run_id,
        asset_name=MERGED,
        file_name=f"{MERGED}.csv",
        original=table.to_csv(index=False).encode(),
        problems_by_check=blocking,
    )
    yield from merged_check_results(table, blocking, location, served)


def serving_asset(
    name: str, description: str, kinds: set[str], check_specs: Sequence[AssetCheckSpec]
) -> Callable[[Callable], AssetsDefinition]:
    """The decorator of a serving asset built from the merged table's newest version (its input,
    from the history), whose checks run in its step and can also run alone, from the UI's
    "Execute checks": the step is subsettable, and with no asset selected the function only
    checks."""
    return multi_asset(
        specs=[
            AssetSpec(
                name,
                deps=[MERGED_HISTORY],
                group_name="serving",
                description=description,
                kinds=kinds,
                freshness_policy=served_freshness_policy(),
            )
        ],
        check_specs=check_specs,
        ins={MERGED_HISTORY: AssetIn()},
        can_subset=True,
    )
