"""Asset checks. Each rule of ``contracts`` is a check of the same name beside its asset in the UI.

Checks on the raw sources and the merged table are blocking: a failure stops everything
downstream (DynamoDB and the export are not touched), keeps the offending input in S3 and
publishes an alert. The checks after the load verify what DynamoDB and S3 really hold.
"""

from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetsDefinition,
    MetadataValue,
    multi_asset_check,
)

from covid_assets.contracts import (
    CUMULATIVE_TOTALS_RULE,
    JHU_RULES,
    MERGED_BLOCKING_RULES,
    NYT_RULES,
    Problem,
    Rule,
    common_dates_mismatch,
    find_problems,
)
from covid_assets.export import exported_files, glue_columns
from covid_assets.loading import REGION, plan_writes, to_items
from covid_assets.quarantine import quarantine_and_alert
from covid_assets.resources import (
    DynamoDBResource,
    GlueCatalogResource,
    S3BucketResource,
    SNSResource,
)
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


def raw_source_checks(asset_name: str, rules: Sequence[Rule]) -> AssetsDefinition:
    """Blocking checks on a raw source, evaluated together on one read: the file is a readable
    CSV, then one check per rule. A check that cannot run (unreadable file, missing columns)
    fails and says what must pass first."""

    @multi_asset_check(
        name=f"{asset_name}_checks",
        specs=[
            AssetCheckSpec(
                READABLE_CHECK,
                asset=asset_name,
                blocking=True,
                description="UTF-8 CSV with a header line; no row has more fields than the header.",
            ),
            *(
                AssetCheckSpec(
                    rule.name, asset=asset_name, blocking=True, description=rule.description
                )
                for rule in rules
            ),
        ],
        ins={"raw": AssetIn(key=asset_name)},
    )
    def _checks(
        context: AssetCheckExecutionContext,
        raw: RawSourceFile,
        bucket: S3BucketResource,
        alerts: SNSResource,
    ) -> Iterator[AssetCheckResult]:
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
            run_id=context.run.run_id,
            asset_name=asset_name,
            file_name=PurePosixPath(urlparse(raw.url).path).name or f"{asset_name}.csv",
            original=raw.content,
            problems_by_check=found,
        )
        not_checked = [
            Problem(raw.url, None, None, None, f"{gate} to pass before this can be checked")
        ]
        for name in (READABLE_CHECK, *(rule.name for rule in rules)):
            yield check_result(
                asset_name, name, found.get(name, not_checked), quarantine=quarantine
            )

    return _checks


nyt_raw_checks = raw_source_checks("nyt_raw", NYT_RULES)
jhu_raw_checks = raw_source_checks("jhu_raw", JHU_RULES)


@multi_asset_check(
    name="merged_daily_table_checks",
    specs=[
        *(
            AssetCheckSpec(
                rule.name, asset="merged_daily_table", blocking=True, description=rule.description
            )
            for rule in MERGED_BLOCKING_RULES
        ),
        AssetCheckSpec(
            ROW_COUNT_CHECK,
            asset="merged_daily_table",
            additional_deps=["nyt_raw", "jhu_raw"],
            blocking=True,
            description="One row for each date present in both sources.",
        ),
        AssetCheckSpec(
            CUMULATIVE_TOTALS_RULE.name,
            asset="merged_daily_table",
            description=CUMULATIVE_TOTALS_RULE.description,
        ),
    ],
    ins={"merged_daily_table": AssetIn(), "nyt_raw": AssetIn(), "jhu_raw": AssetIn()},
)
def merged_daily_table_checks(
    context: AssetCheckExecutionContext,
    merged_daily_table: pd.DataFrame,
    nyt_raw: RawSourceFile,
    jhu_raw: RawSourceFile,
    bucket: S3BucketResource,
    alerts: SNSResource,
) -> Iterator[AssetCheckResult]:
    source = "merged_daily_table"
    found = {
        rule.name: rule.find_problems(merged_daily_table, source) for rule in MERGED_BLOCKING_RULES
    }
    found[ROW_COUNT_CHECK] = common_dates_mismatch(
        merged_daily_table, nyt_raw.table, jhu_raw.table, source
    )
    quarantine = quarantine_and_alert(
        bucket=bucket,
        alerts=alerts,
        run_id=context.run.run_id,
        asset_name=source,
        file_name="merged_daily_table.csv",
        original=merged_daily_table.to_csv(index=False).encode(),
        problems_by_check=found,
    )
    for name, problems in found.items():
        yield check_result(source, name, problems, quarantine=quarantine)
    yield check_result(
        source,
        CUMULATIVE_TOTALS_RULE.name,
        CUMULATIVE_TOTALS_RULE.find_problems(merged_daily_table, source),
        severity=AssetCheckSeverity.WARN,
    )


@multi_asset_check(
    name="dynamodb_records_checks",
    specs=[
        AssetCheckSpec(
            "table_matches_merged_table",
            asset="dynamodb_records",
            additional_deps=["merged_daily_table"],
            description="After the load, the table holds every merged day with the same values.",
        )
    ],
    ins={"merged_daily_table": AssetIn()},
)
def dynamodb_records_checks(
    merged_daily_table: pd.DataFrame, dynamodb: DynamoDBResource
) -> Iterator[AssetCheckResult]:
    plan = plan_writes(to_items(merged_daily_table), dynamodb.query_region(REGION))
    problems = [
        Problem(dynamodb.table_name, None, "date", item["date"], f"an item equal to {item}")
        for item in plan.items_to_write
    ]
    # Days gone from the sources are kept on purpose; they are shown, not counted as errors.
    yield check_result(
        "dynamodb_records",
        "table_matches_merged_table",
        problems,
        extra_metadata={"kept_vanished_dates": MetadataValue.json(plan.vanished_dates)},
    )


@multi_asset_check(
    name="athena_export_checks",
    specs=[
        AssetCheckSpec(
            "glue_columns_match_parquet_schema",
            asset="athena_export",
            additional_deps=["merged_daily_table"],
            blocking=True,
            description="The Glue table's columns and types are those of the Parquet files.",
        ),
        AssetCheckSpec(
            "row_count_matches_merged_table",
            asset="athena_export",
            additional_deps=["merged_daily_table"],
            blocking=True,
            description="The files at the Glue table's location hold the merged table's rows.",
        ),
    ],
    ins={"merged_daily_table": AssetIn()},
)
def athena_export_checks(
    merged_daily_table: pd.DataFrame, bucket: S3BucketResource, glue: GlueCatalogResource
) -> Iterator[AssetCheckResult]:
    table_name = f"{glue.database}.{glue.table_name}"
    table = glue.get_table()
    if table is None:
        missing = [Problem(table_name, None, None, None, "the Glue table to exist")]
        yield check_result("athena_export", "glue_columns_match_parquet_schema", missing)
        yield check_result("athena_export", "row_count_matches_merged_table", missing)
        return
    location = table["StorageDescriptor"]["Location"]
    catalog_columns = table["StorageDescriptor"]["Columns"]
    schema_problems, rows = [], 0
    for key, content in exported_files(bucket, location):
        footer = pq.read_metadata(pa.BufferReader(content))
        rows += footer.num_rows
        file_columns = glue_columns(footer.schema.to_arrow_schema())
        if file_columns != catalog_columns:
            schema_problems.append(
                Problem(bucket.uri(key), None, None, str(file_columns), f"Glue's {catalog_columns}")
            )
    count_problems = (
        []
        if rows == len(merged_daily_table)
        else [Problem(location, None, None, f"{rows} rows", f"{len(merged_daily_table)} rows")]
    )
    yield check_result("athena_export", "glue_columns_match_parquet_schema", schema_problems)
    yield check_result("athena_export", "row_count_matches_merged_table", count_problems)
