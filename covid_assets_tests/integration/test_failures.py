"""The run-failure sensor, fed real failed runs of the daily job on a test instance."""

import os

import pytest
from dagster import (
    DagsterEventType,
    build_run_status_sensor_context,
)

from covid_assets.defs.automation.triggers import covid_run_failure_alert
from covid_assets.resources.sns import SNSResource
from covid_assets_tests.helpers import (
    FAILING_RUN_SECONDS,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    run_daily_job,
    s3_keys,
    stored_days,
    takes_less_than,
    use_sources,
)

pytestmark = pytest.mark.integration


def evaluate_failure_sensor(instance, result) -> None:
    [failure_event] = [
        event for event in result.all_events if event.event_type == DagsterEventType.RUN_FAILURE
    ]
    context = build_run_status_sensor_context(
        sensor_name=covid_run_failure_alert.name,
        dagster_event=failure_event,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"alerts": SNSResource(topic_arn=os.environ["COVID_SNS_TOPIC_ARN"])},
    ).for_run_failure()
    covid_run_failure_alert(context)


def test_unreachable_source_alerts_with_the_job_the_step_and_the_error(
    aws, instance, alert_inbox, monkeypatch, tmp_path
):
    missing = tmp_path / "missing-us.csv"
    (tmp_path / "jhu.csv").write_text(JHU_THREE_DAYS)
    use_sources(monkeypatch, missing, tmp_path / "jhu.csv")
    result = run_daily_job(instance, raise_on_error=False)
    assert not result.success

    evaluate_failure_sensor(instance, result)

    [(subject, message)] = alert_inbox.messages()
    assert 'the run started by hand ("Materialize all") failed' in subject
    assert "step raw_sources" in message
    assert str(missing) in message
    assert "COVID_NYT_URL" in message


def test_a_missing_source_is_not_retried(aws, instance, monkeypatch, tmp_path):
    (tmp_path / "jhu.csv").write_text(JHU_THREE_DAYS)
    use_sources(monkeypatch, tmp_path / "missing-us.csv", tmp_path / "jhu.csv")
    result = run_daily_job(instance, raise_on_error=False)
    restarts = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_RESTARTED]
    assert restarts == []


@pytest.fixture(params=["unresolvable-host", "refused-port"])
def unreachable_nyt(request, monkeypatch, tmp_path) -> str:
    """The NYT source pointed at a host that cannot be reached (JHU at a good local file)."""
    if request.param == "unresolvable-host":
        url = "http://nonexistent.invalid/us.csv"  # .invalid never resolves
    else:
        url = request.getfixturevalue("refused_url")
    (tmp_path / "jhu.csv").write_text(JHU_THREE_DAYS)
    use_sources(monkeypatch, url, tmp_path / "jhu.csv")
    return url


def test_an_unreachable_source_fails_the_run_at_once_saying_why_first(
    aws, instance, unreachable_nyt
):
    with takes_less_than(FAILING_RUN_SECONDS):
        result = run_daily_job(instance, raise_on_error=False)
    assert not result.success
    assert [e for e in result.all_events if e.event_type == DagsterEventType.STEP_RESTARTED] == []
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message
    assert message.split(": ", 1)[1].startswith("NYT US daily file unreachable: could ")
    assert f"(COVID_NYT_URL={unreachable_nyt}). Offline? See README" in message
    # Nothing written, and nothing kept: nothing was downloaded to keep.
    assert stored_days(aws) == {}
    assert s3_keys(aws, "athena/") == s3_keys(aws, "quarantine/") == []


def test_an_unreachable_source_alerts_with_its_cause_first(
    aws, instance, alert_inbox, unreachable_nyt
):
    result = run_daily_job(instance, raise_on_error=False)

    evaluate_failure_sensor(instance, result)

    [(_, message)] = alert_inbox.messages()
    detail = message.splitlines()[0]
    assert detail.startswith("NYT US daily file unreachable: could ")
    assert detail.endswith("(Failure), in step raw_sources")


def test_validation_failure_is_not_alerted_twice(aws, instance, alert_inbox, write_sources):
    write_sources(NYT_THREE_DAYS.replace("2020-03-02,20,2", "2020-03-02,-1,2"), JHU_THREE_DAYS)
    result = run_daily_job(instance, raise_on_error=False)
    assert len(alert_inbox.messages()) == 1  # the check's own alert, with the quarantine location

    evaluate_failure_sensor(instance, result)

    assert alert_inbox.messages() == []


def test_aws_error_during_the_load_alerts_with_the_step(
    aws, instance, alert_inbox, write_sources, monkeypatch
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    monkeypatch.setenv("COVID_S3_BUCKET", "bucket-that-does-not-exist")
    result = run_daily_job(instance, raise_on_error=False)
    assert not result.success
    alert_inbox.messages()  # the DynamoDB load notice of the same run

    evaluate_failure_sensor(instance, result)

    [(subject, message)] = alert_inbox.messages()
    assert 'the run started by hand ("Materialize all") failed' in subject
    # The first step to write to the bucket: the history's append.
    assert "step merged_daily_history" in message
    assert "NoSuchBucket" in message
