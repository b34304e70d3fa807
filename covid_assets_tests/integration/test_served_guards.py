"""What would be published is compared with what is served now (the export, read through Glue):
a table that lost served days or whose counts collapsed publishes nothing, is kept in S3 and is
alerted; a small loss of old days only warns. Everything runs against the moto server."""

from dataclasses import dataclass

import pytest

from covid_assets_tests.helpers import (
    FAILING_RUN_SECONDS,
    check_evaluation,
    exported_rows,
    generated_sources,
    glue_export_table,
    run_daily_job,
    s3_keys,
    stored_days,
    takes_less_than,
    without_lines,
)

pytestmark = pytest.mark.integration

NYT_200_DAYS, JHU_200_DAYS = generated_sources(200)  # 2020-03-01 .. 2020-09-16


@dataclass
class Served:
    days: dict[str, tuple[int, int, int]]
    location: str
    export_keys: list[str]


@pytest.fixture
def served(aws, instance, write_sources, alert_inbox) -> Served:
    """200 days loaded and exported by a first run (its load notice already read)."""
    write_sources(NYT_200_DAYS, JHU_200_DAYS)
    assert run_daily_job(instance).success
    alert_inbox.messages()
    location = glue_export_table(aws)["StorageDescriptor"]["Location"]
    return Served(stored_days(aws), location, s3_keys(aws, "athena/"))


# (id, the NYT file of the next run, the check that stops it, words of its first problem)
HELD_BACK = [
    (
        "sources-sharing-no-date",
        NYT_200_DAYS.replace("2020-", "2021-"),
        "sources_share_dates",
        "no date in both sources (NYT 2021-03-01..2021-09-16, JHU US 2020-03-01..2020-09-16)",
    ),
    (
        "a-source-shrunk-to-half-its-days",
        "".join(NYT_200_DAYS.splitlines(keepends=True)[:101]),
        "served_days_kept",
        "found '100 of 200 served days lost (2020-06-09..2020-09-16)', expected at most 1%",
    ),
    (
        "a-count-falling-beyond-the-tolerance",
        NYT_200_DAYS.replace("2020-05-01,62000,620", "2020-05-01,31000,620"),
        "served_counts_kept",
        "column 'cases': found '2020-05-01: 31,000 (served 62,000)', expected at most 10%",
    ),
    (
        "one-recent-served-day-lost",
        without_lines(NYT_200_DAYS, "2020-09-14"),
        "served_days_kept",
        "found '2020-09-14', expected each of the last 7 served days to be kept",
    ),
]


@pytest.mark.parametrize(
    ("nyt_text", "check", "words"),
    [case[1:] for case in HELD_BACK],
    ids=[case[0] for case in HELD_BACK],
)
def test_a_table_falling_short_of_what_is_served_publishes_nothing_is_kept_and_alerted(
    aws, instance, write_sources, alert_inbox, served, nyt_text, check, words
):
    write_sources(nyt_text, JHU_200_DAYS)
    with takes_less_than(FAILING_RUN_SECONDS):
        result = run_daily_job(instance, raise_on_error=False)

    assert not result.success
    evaluation = check_evaluation(result, f"merged_daily_table:{check}")
    assert not evaluation.passed
    assert words in evaluation.description
    # Nothing written: DynamoDB and the export are what they were.
    assert stored_days(aws) == served.days
    assert glue_export_table(aws)["StorageDescriptor"]["Location"] == served.location
    assert s3_keys(aws, "athena/") == served.export_keys
    # What was kept: the table that would have been published, and its failing rows.
    kept = {
        key.rsplit("/", 1)[-1]
        for key in s3_keys(aws, "quarantine/")
        if f"/{result.run_id}/merged_daily_table/" in key
    }
    assert kept == {"merged_daily_table.csv", "failing_rows.csv"}
    # What was said: one alert naming the check and its first problem.
    [(subject, message)] = alert_inbox.messages()
    assert "merged_daily_table failed validation" in subject
    assert f"- {check}:" in message
    assert words in message


def test_losing_one_old_served_day_only_warns_naming_it(aws, instance, write_sources, served):
    write_sources(without_lines(NYT_200_DAYS, "2020-03-10"), JHU_200_DAYS)
    result = run_daily_job(instance)
    warning = check_evaluation(result, "merged_daily_table:no_served_day_lost")
    assert not warning.passed
    assert warning.severity.value == "WARN"
    assert warning.description == (
        "merged_daily_table, column 'date': found '2020-03-10', expected the served day to be kept"
    )
    assert check_evaluation(result, "merged_daily_table:served_days_kept").passed
    assert len(exported_rows(aws)) == 199
    assert stored_days(aws) == served.days  # DynamoDB keeps the day


def test_with_nothing_served_yet_the_checks_against_it_pass_with_a_note(
    aws, instance, write_sources
):
    write_sources(NYT_200_DAYS, JHU_200_DAYS)
    evaluation = check_evaluation(run_daily_job(instance), "merged_daily_table:served_days_kept")
    assert evaluation.passed
    assert evaluation.metadata["served"].value.startswith("nothing served yet")
