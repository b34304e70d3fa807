"""The asset ``merged_daily_table`` and its checks: NYT cases and deaths joined with JHU US
recoveries by date. Also the decorator of the serving assets, which are built from it.

Its blocking checks (the table's shape, one row per date the sources share) stop everything
downstream when they fail, and keep the table in quarantine with an alert.
"""

from collections.abc import Callable, Iterator, Sequence

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

from covid_assets.checks import check_result, rule_check_specs
from covid_assets.contracts import (
    CUMULATIVE_TOTALS_RULE,
    MERGED_BLOCKING_RULES,
    Problem,
    SourceDataError,
    common_dates_mismatch,
)
from covid_assets.metadata import daily_table_metadata, table_sha256
from covid_assets.quarantine import QuarantineResource
from covid_assets.reading import RawSourceFile
from covid_assets.transform import merge_daily

MERGED = "merged_daily_table"
ROW_COUNT_CHECK = "row_count_matches_common_dates"

MERGED_CHECK_SPECS = [
    *rule_check_specs(MERGED, MERGED_BLOCKING_RULES),
    AssetCheckSpec(
        ROW_COUNT_CHECK,
        asset=MERGED,
        blocking=True,
        description="One row for each date present in both sources.",
    ),
    *rule_check_specs(MERGED, [CUMULATIVE_TOTALS_RULE], blocking=False),
]


def blocking_problems(
    table: pd.DataFrame, nyt_raw: RawSourceFile, jhu_raw: RawSourceFile
) -> dict[str, list[Problem]]:
    """The problems of each blocking check: the table's rules, and its row count against the
    dates the sources share."""
    found = {rule.name: rule.find_problems(table, MERGED) for rule in MERGED_BLOCKING_RULES}
    found[ROW_COUNT_CHECK] = common_dates_mismatch(table, nyt_raw.table, jhu_raw.table, MERGED)
    return found


def merged_check_results(
    table: pd.DataFrame, blocking: dict[str, list[Problem]], quarantine: str | None
) -> list[AssetCheckResult]:
    """Every check's result: the blocking ones from their problems, then the warning."""
    return [
        *(
            check_result(MERGED, name, problems, quarantine=quarantine)
            for name, problems in blocking.items()
        ),
        check_result(
            MERGED,
            CUMULATIVE_TOTALS_RULE.name,
            CUMULATIVE_TOTALS_RULE.find_problems(table, MERGED),
            severity=AssetCheckSeverity.WARN,
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
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    unreadable = nyt_raw.read_problems + jhu_raw.read_problems
    if unreadable:
        raise SourceDataError(unreadable)
    table = merge_daily(nyt_raw.table, jhu_raw.table, nyt_raw.url, jhu_raw.url)
    context.log.info("Merged %d days", len(table))
    yield Output(
        table, metadata=daily_table_metadata(table), data_version=DataVersion(table_sha256(table))
    )
    blocking = blocking_problems(table, nyt_raw, jhu_raw)
    location = quarantine.keep_failed_input(
        run_id=context.run.run_id,
        asset_name=MERGED,
        file_name=f"{MERGED}.csv",
        original=table.to_csv(index=False).encode(),
        problems_by_check=blocking,
    )
    yield from merged_check_results(table, blocking, location)


def serving_asset(
    name: str, description: str, kinds: set[str], check_specs: Sequence[AssetCheckSpec]
) -> Callable[[Callable], AssetsDefinition]:
    """The decorator of a serving asset built from the merged table (its input), whose checks run
    in its step and can also run alone, from the UI's "Execute checks": the step is subsettable,
    and with no asset selected the function only checks."""
    return multi_asset(
        specs=[
            AssetSpec(
                name, deps=[MERGED], group_name="serving", description=description, kinds=kinds
            )
        ],
        check_specs=check_specs,
        ins={MERGED: AssetIn()},
        can_subset=True,
    )
