"""Keep data that failed validation in S3 for inspection, and say so on SNS."""

import csv
import io
from datetime import UTC, datetime

from dagster import get_dagster_logger

from covid_assets.contracts import Problem
from covid_assets.resources import S3BucketResource, SNSResource

QUARANTINE_ROOT = "quarantine/"
FAILING_ROWS_FILE = "failing_rows.csv"
FAILING_ROWS_COLUMNS = ("check", "line", "column", "value", "expected", "row")


def failing_rows_csv(failed_checks: dict[str, list[Problem]], original: bytes) -> bytes:
    """One CSV row per problem: which check, where, what was found and expected, and the
    offending line of the original file as it was."""
    original_lines = original.decode("utf-8", errors="replace").splitlines()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FAILING_ROWS_COLUMNS)
    for check, problems in failed_checks.items():
        for problem in problems:
            line = problem.line
            row = original_lines[line - 1] if line and line <= len(original_lines) else ""
            writer.writerow(
                [
                    check,
                    line or "",
                    problem.column or "",
                    problem.value or "",
                    problem.expected,
                    row,
                ]
            )
    return buffer.getvalue().encode()


def quarantine_and_alert(
    *,
    bucket: S3BucketResource,
    alerts: SNSResource,
    run_id: str,
    asset_name: str,
    file_name: str,
    original: bytes,
    problems_by_check: dict[str, list[Problem]],
) -> str | None:
    """When a check found problems: write the original input and its failing rows under
    ``quarantine/<date>/<run id>/<asset>/``, publish an alert, and return the folder's URI."""
    failed_checks = {check: found for check, found in problems_by_check.items() if found}
    if not failed_checks:
        return None
    folder = f"{QUARANTINE_ROOT}{datetime.now(UTC):%Y-%m-%d}/{run_id}/{asset_name}/"
    bucket.put(folder + file_name, original, content_type="text/csv")
    bucket.put(
        folder + FAILING_ROWS_FILE,
        failing_rows_csv(failed_checks, original),
        content_type="text/csv",
    )
    location = bucket.uri(folder)
    get_dagster_logger().error("%s failed validation; input kept at %s", asset_name, location)
    reasons = "\n".join(
        f"- {check}: {problems[0]}"
        + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        for check, problems in failed_checks.items()
    )
    alerts.publish(
        subject=f"covid_assets: {asset_name} failed validation; nothing was loaded",
        message=(
            f"Asset {asset_name} failed {len(failed_checks)} blocking check(s) in run {run_id}:\n"
            f"{reasons}\n\nNothing downstream was written. The input and its failing rows are "
            f"kept at {location}"
        ),
    )
    return location
