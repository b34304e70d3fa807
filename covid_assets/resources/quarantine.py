"""Keep data that failed validation in S3 for inspection, and say so on SNS."""

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from covid_assets.domain.rules import Problem, format_problems
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.sns import SNSResource

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


def alert_text(asset_name: str, run_id: str, failed_checks: dict[str, list[Problem]]) -> str:
    reasons = "\n".join(
        f"- {check}:\n{format_problems(problems, limit=1, bullet='  - ')}"
        for check, problems in failed_checks.items()
    )
    return (
        f"Asset {asset_name} failed {len(failed_checks)} blocking check(s) in run {run_id}:\n"
        f"{reasons}\n\nNothing downstream was written."
    )


class QuarantineResource(ConfigurableResource):
    """Where input that failed a blocking check goes: its file and its failing rows are kept in
    the bucket, and the alert topic is told why and where."""

    bucket: S3BucketResource = Field(description="The bucket that keeps quarantined input.")
    alerts: SNSResource = Field(description="The topic that receives validation alerts.")

    def keep_failed_input(
        self,
        *,
        run_id: str,
        asset_name: str,
        file_name: str,
        original: Callable[[], bytes],
        problems_by_check: dict[str, list[Problem]],
    ) -> str | None:
        """When a check found problems: write the original input (made by ``original``, which
        is called only then: a table's CSV is a pass over every row) and its failing rows under
        ``quarantine/<date>/<run id>/<asset>/``, publish an alert, and return the folder's URI.
        With no problems, do nothing and return None."""
        failed_checks = {check: found for check, found in problems_by_check.items() if found}
        if not failed_checks:
            return None
        content = original()
        folder = f"{QUARANTINE_ROOT}{datetime.now(UTC):%Y-%m-%d}/{run_id}/{asset_name}/"
        self.bucket.put(folder + file_name, content, content_type="text/csv")
        self.bucket.put(
            folder + FAILING_ROWS_FILE,
            failing_rows_csv(failed_checks, content),
            content_type="text/csv",
        )
        location = self.bucket.uri(folder)
        get_dagster_logger().error("%s failed validation; input kept at %s", asset_name, location)
        self.alerts.publish(
            subject=f"covid_assets: {asset_name} failed validation; nothing was loaded",
            message=(
                f"{alert_text(asset_name, run_id, failed_checks)} The input and its failing rows "
                f"are kept at {location}"
            ),
        )
        return location
