"""Sensors: an SNS alert for every failed run that no validation alert has explained yet."""

from dagster import (
    DagsterEventType,
    DefaultSensorStatus,
    RunFailureSensorContext,
    run_failure_sensor,
)
from dagster._utils.error import SerializableErrorInfo

from covid_assets.resources import SNSResource

# A blocking check that fails has already published its own alert with the quarantine location.
CHECK_FAILURE_ERROR = "DagsterAssetCheckFailedError"


def user_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The pipeline's own exception inside Dagster's step-execution wrappers (its own causes,
    such as the OSError behind a failed download, are already in its message)."""
    while error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause
    return error


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
    details = [
        f"step {event.step_key}: {error.cls_name}: {error.message.strip()}"
        for event in unexplained
        for error in [user_error(event.step_failure_data.error)]
    ] or [context.failure_event.message or "the run failed before any step ran"]
    alerts.publish(
        subject=f"covid_assets: run of {run.job_name} failed",
        message=f"Run {run.run_id} of job {run.job_name} failed.\n" + "\n".join(details),
    )
