"""Asset checks. Each rule of ``contracts`` is a check of the same name beside its asset in the UI.

Every check is one of the ``check_specs`` of the asset it checks and runs in that asset's step,
on what the step holds (the downloaded file, the merged table, what the load read and wrote), so
a run has no step of checks and reads nothing back from the IO manager for them. This module
holds the specs, the rule checks' results and the decorator of the assets built from the merged
table; the export and the load verify what they wrote in their own modules.

Checks on the raw sources and the merged table are blocking: a failure stops everything
downstream (DynamoDB and the export are not touched), keeps the offending input in S3 and
publishes an alert. The export's checks are blocking too: the dashboard is not drawn from an
export whose Glue table does not match its files.
"""

from collections.abc import Callable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pandas as pd
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetsDefinition,
    AssetSpec,
    MetadataValue,
    multi_asset,
)

from covid_assets.contracts import (
    CUMULATIVE_TOTALS_RULE,
    MERGED_BLOCKING_RULES,
    Problem,
    Rule,
    common_dates_mismatch,
    find_problems,
)
from covid_assets.quarantine import quarantine_and_alert
from covid_assets.resources import S3BucketResource, SNSResource

if TYPE_CHECKING:  # sources runs these checks in its own step, so it imports this module
    from covid_assets.sources import RawSourceFile

LISTED_PROBLEMS = 20
ROW_COUNT_CHECK = "row_count_matches_common_dates"


def check_result(
    asset: str,
    check_name: str,
    problems: Sequence[Problem],
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
    quarantine: str | None = None,
    extra_metadata: dict | None = None,
) -> AssetCheckResult:
    """A check's result, with the problems listed so the UI explains a failure on its own."""
    metadata: dict = {"problem_count": len(problems), **(extra_metadata or {})}
    if problems:
        listed = "\n".join(f"- {problem}" for problem in problems[:LISTED_PROBLEMS])
        more = len(problems) - LISTED_PROBLEMS
        metadata["problems"] = MetadataValue.md(
            listed + (f"\n- ... and {more} more" if more > 0 else "")
        )
    if quarantine:
        metadata["quarantine"] = MetadataValue.path(quarantine)
    return AssetCheckResult(
        asset_key=asset,
        check_name=check_name,
        passed=not problems,
        severity=severity,
        description=str(problems[0]) if problems else None,
        metadata=metadata,
    )


READABLE_CHECK = "is_readable_csv"


def raw_source_check_specs(asset_name: str, rules: Sequence[Rule]) -> list[AssetCheckSpec]:
    """Blocking checks on a raw source: the file is a readable CSV, then one check per rule."""
    return [
        AssetCheckSpec(
            READABLE_CHECK,
            asset=asset_name,
            blocking=True,
            description="UTF-8 CSV with a header line; no row has more fields than the header.",
        ),
        *(
            AssetCheckSpec(rule.name, asset=asset_name, blocking=True, description=rule.description)
            for rule in rules
        ),
    ]


def raw_source_check_results(
    asset_name: str,
    rules: Sequence[Rule],
    raw: "RawSourceFile",
    *,
    run_id: str,
    bucket: S3BucketResource,
    alerts: SNSResource,
) -> list[AssetCheckResult]:
    """The raw source's checks, evaluated together on one read. A check that cannot run
    (unreadable file, missing columns) fails and says what must pass first. On any failure the
    file is kept in quarantine and an alert is published."""
    if raw.table is None:
        found, gate = {READABLE_CHECK: raw.read_problems}, READABLE_CHECK
    else:
        found, gate = (
            {READABLE_CHECK: [], **find_problems(raw.table, rules, raw.url)},
            rules[0].name,
        )
    quarantine = quarantine_and_alert(
        bucket=bucket,
        alerts=alerts,
        run_id=run_id,
        asset_name=asset_name,
        file_name=PurePosixPath(urlparse(raw.url).path).name or f"{asset_name}.csv",
        original=raw.content,
        problems_by_check=found,
    )
    not_checked = [Problem(raw.url, None, None, None, f"{gate} to pass before this can be checked")]
    return [
        check_result(asset_name, name, found.get(name, not_checked), quarantine=quarantine)
        for name in (READABLE_CHECK, *(rule.name for rule in rules))
    ]


MERGED = "merged_daily_table"
MERGED_CHECK_SPECS = [
    *(
        AssetCheckSpec(rule.name, asset=MERGED, blocking=True, description=rule.description)
        for rule in MERGED_BLOCKING_RULES
    ),
    AssetCheckSpec(
        ROW_COUNT_CHECK,
        asset=MERGED,
        blocking=True,
        description="One row for each date present in both sources.",
    ),
    AssetCheckSpec(
        CUMULATIVE_TOTALS_RULE.name, asset=MERGED, description=CUMULATIVE_TOTALS_RULE.description
    ),
]


def merged_daily_table_check_results(
    merged_daily_table: pd.DataFrame,
    nyt_raw: "RawSourceFile",
    jhu_raw: "RawSourceFile",
    *,
    run_id: str,
    bucket: S3BucketResource,
    alerts: SNSResource,
) -> list[AssetCheckResult]:
    """The merged table's rules and its row count against the dates the sources share; the
    blocking ones keep the table in quarantine and alert when they fail."""
    found = {
        rule.name: rule.find_problems(merged_daily_table, MERGED) for rule in MERGED_BLOCKING_RULES
    }
    found[ROW_COUNT_CHECK] = common_dates_mismatch(
        merged_daily_table, nyt_raw.table, jhu_raw.table, MERGED
    )
    quarantine = quarantine_and_alert(
        bucket=bucket,
        alerts=alerts,
        run_id=run_id,
        asset_name=MERGED,
        file_name="merged_daily_table.csv",
        original=merged_daily_table.to_csv(index=False).encode(),
        problems_by_check=found,
    )
    return [
        *(
            check_result(MERGED, name, problems, quarantine=quarantine)
            for name, problems in found.items()
        ),
        check_result(
            MERGED,
            CUMULATIVE_TOTALS_RULE.name,
            CUMULATIVE_TOTALS_RULE.find_problems(merged_daily_table, MERGED),
            severity=AssetCheckSeverity.WARN,
        ),
    ]


DYNAMODB_TABLE_CHECK = AssetCheckSpec(
    "table_matches_merged_table",
    asset="dynamodb_records",
    description=(
        "Every merged day is in the table with the same values: after a load, the days it "
        "wrote are read back (the others were just read and compared); run alone, every item "
        "is read and compared."
    ),
)


def dynamodb_table_check_result(
    table_name: str, mismatched: Sequence[dict], vanished_dates: list[str], days_read: int
) -> AssetCheckResult:
    """``mismatched``: the merged days the table does not hold with the same values."""
    problems = [
        Problem(table_name, None, "date", item["date"], f"an item equal to {item}")
        for item in mismatched
    ]
    # Days gone from the sources are kept on purpose; they are shown, not counted as errors.
    return check_result(
        DYNAMODB_TABLE_CHECK.asset_key.to_user_string(),
        DYNAMODB_TABLE_CHECK.name,
        problems,
        extra_metadata={
            "kept_vanished_dates": MetadataValue.json(vanished_dates),
            "days_read": days_read,
        },
    )


def merged_table_asset_with_checks(
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


def selected_results(
    selected: set[AssetCheckKey], results: Sequence[AssetCheckResult]
) -> Iterator[AssetCheckResult]:
    """The results of the checks the run selected (a run may select some checks of a step)."""
    for result in results:
        if AssetCheckKey(result.asset_key, result.check_name) in selected:
            yield result


EXPORT = "athena_export"
GLUE_SCHEMA_CHECK = "glue_columns_match_parquet_schema"
EXPORT_ROW_COUNT_CHECK = "row_count_matches_merged_table"
EXPORT_CHECK_SPECS = [
    AssetCheckSpec(
        GLUE_SCHEMA_CHECK,
        asset=EXPORT,
        blocking=True,
        description="The Glue table's columns and types are those of the Parquet files.",
    ),
    AssetCheckSpec(
        EXPORT_ROW_COUNT_CHECK,
        asset=EXPORT,
        blocking=True,
        description="The files at the Glue table's location hold the merged table's rows.",
    ),
]
