"""Bad input is stopped by blocking checks: a clear error, nothing loaded, the input kept in S3
for inspection, and an alert on SNS. Everything runs against the moto server over HTTP."""

import csv
import io

import pytest

from covid_assets.domain.tables import STATE
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_tests.helpers import (
    FAILING_RUN_SECONDS,
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    STATES_THREE_DAYS,
    THREE_DAYS,
    check_evaluation,
    glue_export_table,
    run_daily_job,
    s3_keys,
    stored_days,
    takes_less_than,
    use_level_source,
)

pytestmark = pytest.mark.integration

JHU_HEADER = JHU_THREE_DAYS.splitlines()[0]
HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>429 Too Many Requests</title></head>\n"
    "<body><h1>Too Many Requests</h1><p>Please slow down, try again later.</p></body></html>\n"
)

# (id, bad NYT text or None, bad JHU text or None, failing check, words the failure must contain)
BAD_INPUTS = [
    ("empty-file", "", None, "nyt_raw:is_readable_csv", ["us.csv", "readable CSV"]),
    ("header-only", "date,cases,deaths\n", None, "nyt_raw:has_data_rows", ["us.csv", "data row"]),
    (
        "html-error-page",
        None,
        HTML_ERROR_PAGE,
        "jhu_raw:is_readable_csv",
        ["jhu.csv", "readable CSV"],
    ),
    (
        "truncated-last-line",
        NYT_THREE_DAYS.rstrip("\n")[:-2],
        None,
        "nyt_raw:is_readable_csv",
        ["us.csv, line 4", "found '2 fields'", "expected 3 fields"],
    ),
    (
        "row-with-too-many-fields",
        NYT_THREE_DAYS.replace("2020-03-02,20,2", "2020-03-02,20,2,7"),
        None,
        "nyt_raw:is_readable_csv",
        ["us.csv", "line 3", "3 fields"],
    ),
    (
        "every-row-with-an-extra-field",
        "date,cases,deaths\n2020-03-01,10,1,0\n2020-03-02,20,2,0\n",
        None,
        "nyt_raw:is_readable_csv",
        ["us.csv, line 2", "found '4 fields'"],
    ),
    (
        "jhu-truncated-inside-the-us-block",
        None,
        JHU_THREE_DAYS[: JHU_THREE_DAYS.index("2020-03-02,US,,19") + len("2020-03-02,US,,19")],
        "jhu_raw:is_readable_csv",
        ["jhu.csv, line 3", "found '4 fields'", "expected 6 fields"],
    ),
    (
        "row-with-too-few-fields",
        NYT_THREE_DAYS.replace("2020-03-02,20,2", "2020-03-02,20"),
        None,
        "nyt_raw:is_readable_csv",
        ["us.csv, line 3", "found '2 fields'", "expected 3 fields"],
    ),
    (
        "missing-column",
        "date,cases\n2020-03-01,10\n",
        None,
        "nyt_raw:required_columns_present",
        ["us.csv, line 1, column 'deaths'"],
    ),
    (
        "renamed-column",
        None,
        JHU_THREE_DAYS.replace("Recovered", "Recovereds"),
        "jhu_raw:required_columns_present",
        ["jhu.csv, line 1, column 'Recovered'", "Recovereds"],
    ),
    (
        "dates-as-m-d-yy",
        NYT_THREE_DAYS.replace("2020-03-02", "3/2/20"),
        None,
        "nyt_raw:dates_are_iso",
        ["us.csv, line 3, column 'date': found '3/2/20', expected a date as YYYY-MM-DD"],
    ),
    (
        "non-date-string",
        None,
        JHU_THREE_DAYS.replace("2020-03-02,US", "yesterday,US"),
        "jhu_raw:us_dates_are_iso",
        ["jhu.csv, line 3, column 'Date': found 'yesterday'"],
    ),
    (
        "negative-count",
        NYT_THREE_DAYS.replace("2020-03-02,20,2", "2020-03-02,-20,2"),
        None,
        "nyt_raw:counts_are_non_negative_integers",
        ["us.csv, line 3, column 'cases': found '-20', expected a non-negative integer"],
    ),
    (
        "non-numeric-count",
        None,
        JHU_THREE_DAYS.replace("2020-03-02,US,,19,2,0", "2020-03-02,US,,19,n/a,0"),
        "jhu_raw:us_recovered_is_non_negative_integer",
        ["jhu.csv, line 3, column 'Recovered': found 'n/a'"],
    ),
    (
        "duplicate-dates-with-different-values",
        NYT_THREE_DAYS + "2020-03-02,25,2\n",
        None,
        "nyt_raw:dates_are_unique",
        ["us.csv, line 5, column 'date'", "same date is on line 3"],
    ),
    (
        "jhu-without-us-rows",
        None,
        f"{JHU_HEADER}\n2020-03-01,Australia,,5,5,0\n2020-03-01,US,Guam,1,1,0\n",
        "jhu_raw:has_us_rows",
        ["jhu.csv", "Country/Region 'US'"],
    ),
]


@pytest.mark.parametrize(
    ("nyt_text", "jhu_text", "check", "words"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_rejected_with_a_clear_error_kept_in_s3_and_alerted_loading_nothing(
    aws, instance, write_sources, alert_inbox, tmp_path, nyt_text, jhu_text, check, words
):
    write_sources(nyt_text if nyt_text is not None else NYT_THREE_DAYS, jhu_text or JHU_THREE_DAYS)
    with takes_less_than(FAILING_RUN_SECONDS):
        result = run_daily_job(instance, raise_on_error=False)
    asset, check_name = check.split(":")

    # A clear error: the failing check names the file, the place and what was expected.
    assert not result.success
    evaluation = check_evaluation(result, check)
    assert not evaluation.passed
    for word in words:
        assert word in evaluation.description

    # Nothing loaded.
    assert stored_days(aws) == {}
    assert s3_keys(aws, "athena/") == []

    # The input as downloaded, and its failing rows, kept under quarantine/<date>/<run id>/<asset>/.
    [original] = [
        key for key in s3_keys(aws, "quarantine/") if key.endswith(("/us.csv", "/jhu.csv"))
    ]
    folder = original.rsplit("/", 1)[0]
    assert folder.split("/")[2:] == [result.run_id, asset]
    s3 = aws.client("s3")
    source_file = tmp_path / original.rsplit("/", 1)[-1]
    assert s3.get_object(Bucket=aws.bucket, Key=original)["Body"].read() == source_file.read_bytes()
    failing_rows = s3.get_object(Bucket=aws.bucket, Key=f"{folder}/failing_rows.csv")["Body"]
    assert check_name in {
        row["check"] for row in csv.DictReader(io.StringIO(failing_rows.read().decode()))
    }

    # One alert naming the asset, the check and the quarantine location.
    [(subject, message)] = alert_inbox.messages()
    assert asset in subject
    assert check_name in message
    assert f"s3://{aws.bucket}/{folder}/" in message


@pytest.mark.parametrize(
    ("nyt_text", "jhu_text"),
    [
        (NYT_THREE_DAYS.replace("\n", "\r\n"), JHU_THREE_DAYS.replace("\n", "\r\n")),
        (NYT_THREE_DAYS.rstrip("\n"), JHU_THREE_DAYS.rstrip("\n")),
    ],
    ids=["crlf-line-endings", "no-trailing-newline"],
)
def test_valid_variants_of_the_format_load(aws, instance, write_sources, nyt_text, jhu_text):
    write_sources(nyt_text, jhu_text)
    assert run_daily_job(instance).success
    assert stored_days(aws) == THREE_DAYS


def test_bad_input_leaves_what_an_earlier_run_loaded_untouched(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    table_before, export_before = stored_days(aws), s3_keys(aws, "athena/")
    glue_before = glue_export_table(aws)["StorageDescriptor"]
    write_sources(NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,-30,3"), JHU_THREE_DAYS)
    assert not run_daily_job(instance, raise_on_error=False).success
    assert stored_days(aws) == table_before
    assert s3_keys(aws, "athena/") == export_before
    assert glue_export_table(aws)["StorageDescriptor"] == glue_before


def test_a_good_run_after_a_bad_one_loads_everything(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,x,3"), JHU_THREE_DAYS)
    run_daily_job(instance, raise_on_error=False)
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    assert run_daily_job(instance).success
    assert stored_days(aws) == THREE_DAYS


def test_every_check_passes_on_good_data(aws, instance, write_sources, tmp_path, monkeypatch):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    (tmp_path / "us-states.csv").write_text(STATES_THREE_DAYS)
    use_level_source(monkeypatch, STATE, tmp_path / "us-states.csv")
    evaluations = run_daily_job(instance).get_asset_check_evaluations()
    every_check = current_definitions().resolve_asset_graph().asset_check_keys
    assert {e.asset_check_key for e in evaluations} == every_check
    assert [e.check_name for e in evaluations if not e.passed] == []


def test_decreasing_totals_warn_with_the_dates_but_still_load(aws, instance, write_sources):
    write_sources(NYT_THREE_DAYS.replace("2020-03-03,30,3", "2020-03-03,15,3"), JHU_THREE_DAYS)
    result = run_daily_job(instance)
    warning = check_evaluation(result, "merged_daily_table:cumulative_totals_never_decrease")
    assert not warning.passed
    assert warning.severity.value == "WARN"
    assert "2020-03-03: 15" in warning.description
    assert stored_days(aws)["2020-03-03"] == (15, 3, None)


def test_successful_load_sends_a_notice_with_the_counts_and_latest_date(
    aws, instance, write_sources, alert_inbox
):
    write_sources(NYT_THREE_DAYS, JHU_THREE_DAYS)
    run_daily_job(instance)
    [(subject, message)] = alert_inbox.messages()
    assert "3 day(s) updated" in subject
    assert "3 inserted, 0 updated, 0 unchanged" in message
    assert "Latest date: 2020-03-03" in message
