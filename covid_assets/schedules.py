"""The daily job and its schedule."""

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

covid_daily_job = define_asset_job(
    "covid_daily_job",
    selection=AssetSelection.all(),
    description="Download both sources, merge them, load DynamoDB and refresh the Athena export.",
)

covid_daily_schedule = ScheduleDefinition(
    name="covid_daily_schedule",
    job=covid_daily_job,
    # Both sources publish overnight (US time); 12:15 UTC is the original system's run time.
    cron_schedule="15 12 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
