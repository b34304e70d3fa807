"""What starts runs and what watches them.

A run starts because something needs doing: the sensor ``covid_sources_sensor`` looks every few
minutes, and the schedule ``covid_daily_schedule`` once a day at 12:15 UTC, at each source's
newest file and at what is served (``inspection``). Either launches ``covid_daily_job`` only when a
source changed or what is served needs repair, with the reason in the tick and the run's tags;
otherwise its tick is skipped with the reason, and no run is made. A run launched by hand always
does the work it is asked for, at the cost of what changed. ``covid_run_failure_alert`` alerts on
any failed run that no validation alert has explained.
"""

from dagster import (
    AssetSelection,
    DagsterEvent,
    DagsterEventType,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
    schedule,
    sensor,
)

from covid_assets.aws import DynamoDBResource, GlueCatalogResource, S3BucketResource, SNSResource
from covid_assets.downloads import SourceFileDownloader
from covid_assets.failures import failure_reason
from covid_assets.inspection import Inspection, inspect_world

covid_daily_job = define_asset_job(
    "covid_daily_job",
    selection=AssetSelection.all(),
    description="Download both sources, merge them, load DynamoDB and refresh the Athena export.",
)

TRIGGER_TAG = "covid_assets/trigger"
REASON_TAG = "covid_assets/reason"
# A run already queued or under way will pick up what a tick sees; a second one would only wait.
ACTIVE_RUN_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def run_request(trigger: str, inspection: Inspection) -> RunRequest:
    return RunRequest(tags={TRIGGER_TAG: trigger, REASON_TAG: inspection.reason[:4000]})


def active_run_id(context: SensorEvaluationContext | ScheduleEvaluationContext) -> str | None:
    runs = context.instance.get_runs(
        RunsFilter(job_name=covid_daily_job.name, statuses=ACTIVE_RUN_STATUSES), limit=1
    )
    return runs[0].run_id if runs else None


def inspect_for(
    context: SensorEvaluationContext | ScheduleEvaluationContext,
    downloader: SourceFileDownloader,
    dynamodb: DynamoDBResource,
    glue: GlueCatalogResource,
    bucket: S3BucketResource,
) -> Inspection:
    job = context.repository_def.get_job(covid_daily_job.name)
    return inspect_world(context.instance, job, downloader, dynamodb, glue, bucket)


# Both sources publish overnight (US time); 12:15 UTC is the original system's run time. The
# schedule is the daily guarantee that everything was looked at, even if the sensor is off.
@schedule(
    name="covid_daily_schedule",
    job=covid_daily_job,
    cron_schedule="15 12 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Once a day: a run if a source changed or what is served needs repair.",
)
def covid_daily_schedule(
    context: ScheduleEvaluationContext,
    downloader: SourceFileDownloader,
    dynamodb: DynamoDBResource,
    glue: GlueCatalogResource,
    bucket: S3BucketResource,
) -> RunRequest | SkipReason:
    running = active_run_id(context)
    if running:
        return SkipReason(f"run {running} of {covid_daily_job.name} is already under way")
    inspection = inspect_for(context, downloader, dynamodb, glue, bucket)
    for observation in inspection.observations():
        context.instance.report_runless_asset_event(observation)
    if inspection.needs_run:
        return run_request("schedule", inspection)
    return SkipReason(inspection.skip_reason)


def build_sources_sensor(interval_seconds: int) -> SensorDefinition:
    """The sensor that starts a run when a source publishes, looking every ``interval_seconds``."""

    @sensor(
        name="covid_sources_sensor",
        job=covid_daily_job,
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Asks each source for a newer file and checks what is served; starts a run only "
            "when a source changed or what is served needs repair."
        ),
    )
    def covid_sources_sensor(
        context: SensorEvaluationContext,
        downloader: SourceFileDownloader,
        dynamodb: DynamoDBResource,
        glue: GlueCatalogResource,
        bucket: S3BucketResource,
    ) -> SensorResult:
        running = active_run_id(context)
        if running:
            return SensorResult(
                skip_reason=f"run {running} of {covid_daily_job.name} is already under way"
            )
        inspection = inspect_for(context, downloader, dynamodb, glue, bucket)
        if not inspection.needs_run:
            # A quiet tick leaves no event behind: the sources' last observations still hold.
            return SensorResult(skip_reason=inspection.skip_reason)
        return SensorResult(
            run_requests=[run_request("sensor", inspection)],
            asset_events=inspection.observations(),
        )

    return covid_sources_sensor


IMPLICIT_ASSET_JOB = "__ASSET_JOB"
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
    # The cause leads, in the subject and the message; the run and its job come after.
    alerts.publish(
        subject=f"covid_assets: {job_label(run.job_name)} failed: {details[0]}",
        message="\n".join(details) + f"\n\nRun {run.run_id} of {job_label(run.job_name)} failed.",
    )


def job_label(job_name: str) -> str:
    """A job as a user knows it: the UI's "Materialize all" runs Dagster's implicit asset job."""
    if job_name == IMPLICIT_ASSET_JOB:
        return f'"Materialize all" ({IMPLICIT_ASSET_JOB})'
    return f"job {job_name}"
