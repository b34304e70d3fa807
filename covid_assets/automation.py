"""What starts runs and what watches them: the daily job, its schedule, and the run-failure
alert."""

from dagster import (
    AssetSelection,
    DagsterEvent,
    DagsterEventType,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    ScheduleDefinition,
    define_asset_job,
    run_failure_sensor,
)

from covid_assets.aws import SNSResource
from covid_assets.failures import failure_reason

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

# A blocking check that fails has already published its own alert with the quarantine location.
CHECK_FAILURE_ERROR = "DagsterAssetCheckFailedError"


def step_failure_detail(event: DagsterEvent) -> str:
    """The root cause of the step's failure first, then the step."""
    return f"{failure_reason(event.step_failure_data.error)}, in step {event.step_key}"


@run_failure_sensor(
    name="covid_run_failure_alert",
    description="Publishes an SNS alert naming the job, the failed step and the error.",
    default_status=DefaultSensorStatus.RUNNING,
)
def covid_run_failure_alert(context: RunFailureSensorContext, alerts: SNSResource) -> None:
    step_failures = [
        event
        for event in context.get_step_failure_events()
        if event.event_type == DagsterEventType.STEP_FAILURE
    ]
    unexplained = [
        event
        for event in step_failures
        if event.step_failure_data.error.cls_name != CHECK_FAILURE_ERROR
    ]
    if step_failures and not unexplained:
        context.log.info(
            "Run %s failed validation; its checks already alerted", context.dagster_run.run_id
        )
        return
    run = context.dagster_run
    details = [step_failure_detail(event) for event in unexplained] or [
        context.failure_event.message or "the run failed before any step ran"
    ]
    alerts.publish(
        subject=f"covid_assets: run of {run.job_name} failed",
        message=f"Run {run.run_id} of job {run.job_name} failed.\n" + "\n".join(details),
    )
