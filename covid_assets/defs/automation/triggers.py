"""What starts runs and what watches them: the sensor ``covid_sources_sensor`` and the schedule
``covid_daily_schedule`` start a run of every asset only when a source changed or what is served
needs repair (``inspection``), else skip their tick with the reason; ``covid_run_failure_alert``
alerts on a failed run no validation alert has explained. Both triggers target every asset
(``AssetSelection.all()``), as "Materialize all" does, so the UI shows their target and lists
every run alike: by the assets it materializes. Each tick logs what it saw and decided.
"""

import json
import os
import time
import uuid
from datetime import UTC, datetime

from dagster import (
    AssetSelection,
    DagsterEvent,
    DagsterEventType,
    DagsterRun,
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
    run_failure_sensor,
    schedule,
    sensor,
)

from covid_assets.defs.automation.failures import failure_reason
from covid_assets.defs.automation.inspection import Inspection, inspect_world
from covid_assets.resources.downloads import SourceFileDownloader
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.sns import SNSResource

# Dagster's implicit job of every asset: "Materialize all" runs it, and so does the sensor (its
# asset selection is every asset); the schedule's target makes an anonymous job of its own.
ALL_ASSETS_JOB = "__ASSET_JOB"
SCHEDULE_NAME = "covid_daily_schedule"
SENSOR_NAME = "covid_sources_sensor"
# The name of the schedule or sensor that started a run; a run started by hand has none.
TRIGGER_TAG = "covid_assets/trigger"
REASON_TAG = "covid_assets/reason"
# A run already queued or under way will pick up what a tick sees; a second one would only wait.
ACTIVE_RUN_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


TickContext = SensorEvaluationContext | ScheduleEvaluationContext
# The sensor ticks this often, and inspects every COVID_SENSOR_INTERVAL_SECONDS; a new code-server
# process (a restart of `make run`, a reload) inspects at its first tick: Dagster's own cadence
# carries over from the previous process, whose last tick may be a whole interval ago.
TICK_SECONDS = 15
# This process, as the sensor's cursor records it (a process id alone can be reused).
THIS_PROCESS = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


def run_request(context: TickContext, trigger: str, inspection: Inspection) -> RunRequest:
    """A run of every asset (the trigger's target), tagged with the trigger and its reason."""
    reason = inspection.reason
    context.log.info("A run of every asset is requested: %s", reason)
    return RunRequest(
        asset_selection=sorted(AssetSelection.all().resolve(context.repository_def.asset_graph)),
        tags={TRIGGER_TAG: trigger, REASON_TAG: reason[:4000]},
    )


# What a tick saw, and that it skipped, is in its logs (the UI's View logs) at DEBUG: the
# terminal of `make run` prints a tick's INFO lines, and the daemon prints each skip already.


def skipped(context: TickContext, reason: str) -> str:
    """The tick's skip reason, logged."""
    context.log.debug("Skipped: %s", reason)
    return reason


def log_inspection(context: TickContext, inspection: Inspection) -> None:
    """What the tick saw of each source and of what is served."""
    for look in inspection.looks:
        context.log.debug(
            "%s: %s (%s)",
            look.source.name,
            "a new file" if look.changed else "unchanged",
            look.download.last_modified or look.stored.last_modified or "no publication time",
        )
    for asset, problems in inspection.served.items():
        context.log.debug("%s: %s", asset, "; ".join(problems) or "served as last written")


def active_run_id(
    context: TickContext, serving_lock: ServingLockResource, trigger: str
) -> str | None:
    """The run queued or under way, if any. A run whose serving lock's lease has lapsed has
    died (killed with its process): it is marked failed first, or it would hold back every tick
    and the run queue for ever."""
    runs = context.instance.get_runs(RunsFilter(statuses=ACTIVE_RUN_STATUSES), limit=1)
    if runs and serving_lock.end_dead_run(context.instance, by=f"a tick of {trigger}"):
        runs = context.instance.get_runs(RunsFilter(statuses=ACTIVE_RUN_STATUSES), limit=1)
    return runs[0].run_id if runs else None


def under_way(run_id: str) -> str:
    return f"run {run_id} is already under way"


def inspect_for(
    context: TickContext,
    downloader: SourceFileDownloader,
    dynamodb: DynamoDBResource,
    served: ServedTablesResource,
) -> Inspection:
    return inspect_world(context.instance, context.repository_def, downloader, dynamodb, served)


# Both sources publish overnight (US time); 12:15 UTC is the original system's run time. The
# schedule is the daily guarantee that everything was looked at, even if the sensor is off.
@schedule(
    name=SCHEDULE_NAME,
    target=AssetSelection.all(),
    cron_schedule="15 12 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Once a day: a run if a source changed or what is served needs repair.",
)
def covid_daily_schedule(
    context: ScheduleEvaluationContext,
    downloader: SourceFileDownloader,
    dynamodb: DynamoDBResource,
    served: ServedTablesResource,
    serving_lock: ServingLockResource,
) -> RunRequest | SkipReason:
    running = active_run_id(context, serving_lock, SCHEDULE_NAME)
    if running:
        return SkipReason(skipped(context, under_way(running)))
    inspection = inspect_for(context, downloader, dynamodb, served)
    log_inspection(context, inspection)
    # The schedule records what it saw on every tick (a daily trace), the sensor only when it
    # asks for a run.
    events = (
        inspection.asset_events(SCHEDULE_NAME)
        if inspection.needs_run
        else inspection.observations()
    )
    for event in events:
        context.instance.report_runless_asset_event(event)
    if inspection.needs_run:
        return run_request(context, SCHEDULE_NAME, inspection)
    return SkipReason(skipped(context, inspection.skip_reason))


def inspected_cursor(at: float) -> str:
    """The sensor's cursor: when this process last inspected."""
    return json.dumps({"inspected_at": at, "process": THIS_PROCESS})


def next_inspection(cursor: str | None, interval_seconds: int, now: float) -> float | None:
    """When this process inspects next, after the inspection the cursor records; None when
    that is now (no inspection recorded, or one by another process)."""
    last = json.loads(cursor) if cursor else {}
    if last.get("process") != THIS_PROCESS:
        return None
    due = last["inspected_at"] + interval_seconds
    # The daemon's ticks come about every minimum interval, a little early or late: a look due
    # within half a tick is taken now rather than a whole tick late.
    slack = min(interval_seconds, TICK_SECONDS) / 2
    return due if due - slack > now else None


def build_sources_sensor(interval_seconds: int) -> SensorDefinition:
    """The sensor that starts a run when a source publishes, looking every ``interval_seconds``."""

    @sensor(
        name=SENSOR_NAME,
        asset_selection=AssetSelection.all(),
        minimum_interval_seconds=min(interval_seconds, TICK_SECONDS),
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
        served: ServedTablesResource,
        serving_lock: ServingLockResource,
    ) -> SensorResult:
        now = time.time()
        due = next_inspection(context.cursor, interval_seconds, now)
        if due is not None:
            return SensorResult(
                skip_reason=skipped(
                    context,
                    f"next look at the sources and what is served at "
                    f"{datetime.fromtimestamp(due, UTC):%H:%M:%S} UTC (every {interval_seconds} s)",
                )
            )
        running = active_run_id(context, serving_lock, SENSOR_NAME)
        if running:
            # The cursor stays: the first tick after the run inspects.
            return SensorResult(skip_reason=skipped(context, under_way(running)))
        cursor = inspected_cursor(now)
        inspection = inspect_for(context, downloader, dynamodb, served)
        log_inspection(context, inspection)
        if not inspection.needs_run:
            # A quiet tick leaves no event behind: the sources' last observations still hold.
            return SensorResult(skip_reason=skipped(context, inspection.skip_reason), cursor=cursor)
        return SensorResult(
            run_requests=[run_request(context, SENSOR_NAME, inspection)],
            asset_events=inspection.asset_events(SENSOR_NAME),
            cursor=cursor,
        )

    return covid_sources_sensor


# A blocking check that fails has already published its own alert with the quarantine location.
CHECK_FAILURE_ERROR = "DagsterAssetCheckFailedError"


def step_failure_detail(event: DagsterEvent) -> str:
    """The root cause of the step's failure first, then the step."""
    return f"{failure_reason(event.step_failure_data.error)}, in step {event.step_key}"


@run_failure_sensor(
    name="covid_run_failure_alert",
    description="Publishes an SNS alert: the cause first, then the failed step and the run.",
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
    # The cause leads, in the subject and the message; the run and what started it come after.
    alerts.publish(
        subject=f"covid_assets: {run_label(run)} failed: {details[0]}",
        message="\n".join(details) + f"\n\nRun {run.run_id}, {run_label(run)}, failed.",
    )


def run_label(run: DagsterRun) -> str:
    """A run as a user knows it: by what started it."""
    trigger = run.tags.get(TRIGGER_TAG)
    return (
        f"the run {trigger} started" if trigger else 'the run started by hand ("Materialize all")'
    )
