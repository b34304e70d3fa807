"""The merged daily table asset: NYT cases and deaths joined with JHU US recoveries by date."""

from collections.abc import Iterator

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, DataVersion, Output, asset

from covid_assets.checks import MERGED_CHECK_SPECS, merged_daily_table_check_results
from covid_assets.contracts import SourceDataError
from covid_assets.metadata import daily_table_metadata, table_sha256
from covid_assets.resources import S3BucketResource, SNSResource
from covid_assets.sources import RawSourceFile
from covid_assets.transform import merge_daily


@asset(
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
    bucket: S3BucketResource,
    alerts: SNSResource,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    unreadable = nyt_raw.read_problems + jhu_raw.read_problems
    if unreadable:
        raise SourceDataError(unreadable)
    table = merge_daily(nyt_raw.table, jhu_raw.table, nyt_raw.url, jhu_raw.url)
    context.log.info("Merged %d days", len(table))
    yield Output(
        table, metadata=daily_table_metadata(table), data_version=DataVersion(table_sha256(table))
    )
    yield from merged_daily_table_check_results(
        table, nyt_raw, jhu_raw, run_id=context.run.run_id, bucket=bucket, alerts=alerts
    )
