"""The root cause of a failed step, found inside the errors Dagster wraps around it, on real
step failures of small jobs."""

import pytest
from dagster import DagsterEventType, DagsterRun, DefaultSensorStatus, Failure, RetryPolicy, job, op

from covid_assets.definitions import defs
from covid_assets.defs.automation.failures import failure_reason, root_cause
from covid_assets.defs.automation.triggers import TRIGGER_TAG, run_label
from covid_assets.resources.downloads import SourceUnavailableError

pytestmark = pytest.mark.unit


def step_failure_error(error: Exception, retry_policy: RetryPolicy | None = None):
    @op(retry_policy=retry_policy)
    def failing_step() -> None:
        raise error

    @job
    def failing_job() -> None:
        failing_step()

    result = failing_job.execute_in_process(raise_on_error=False)
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    return failure.step_failure_data.error


TIMED_OUT = SourceUnavailableError("Could not download http://x/us.csv: timed out", True)


def test_the_cause_behind_spent_retries_is_the_root_cause():
    error = step_failure_error(TIMED_OUT, RetryPolicy(max_retries=1))
    assert error.cls_name == "RetryRequestedFromPolicy"
    assert root_cause(error).cls_name == "SourceUnavailableError"
    assert failure_reason(error) == (
        "Could not download http://x/us.csv: timed out (SourceUnavailableError)"
    )


def test_the_cause_inside_dagsters_step_error_is_the_root_cause():
    error = step_failure_error(TIMED_OUT)
    assert failure_reason(error) == (
        "Could not download http://x/us.csv: timed out (SourceUnavailableError)"
    )


def test_a_failure_raised_by_the_step_is_its_own_root_cause():
    error = step_failure_error(Failure("NYT US daily file unreachable: could not resolve x"))
    assert failure_reason(error) == "NYT US daily file unreachable: could not resolve x (Failure)"


def test_failure_sensor_is_running_by_default():
    sensor = defs.resolve_sensor_def("covid_run_failure_alert")
    assert sensor.default_status == DefaultSensorStatus.RUNNING


@pytest.mark.parametrize(
    ("tags", "label"),
    [
        ({}, 'the run started by hand ("Materialize all")'),
        ({TRIGGER_TAG: "covid_sources_sensor"}, "the run covid_sources_sensor started"),
        ({TRIGGER_TAG: "covid_daily_schedule"}, "the run covid_daily_schedule started"),
    ],
)
def test_the_alert_names_the_run_by_what_started_it(tags, label):
    assert run_label(DagsterRun(job_name="__ASSET_JOB", run_id="r1", tags=tags)) == label
