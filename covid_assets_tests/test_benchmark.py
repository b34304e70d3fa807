"""The benchmark keeps working: its quick mode runs every scenario against its own emulator and
prints the tables, the baseline ratio and the targets (a measurement, not a timed test: the
figures themselves are not asserted here); and it counts writes and judges targets rightly."""

import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from covid_assets_bench.aws_calls import AwsCall
from covid_assets_bench.benchmark import median_ratio, scheduled_run
from covid_assets_bench.empty_job import EMPTY_JOB
from covid_assets_bench.figures import RunFigures, figures_from_calls
from covid_assets_bench.targets import process_targets, scenario_targets, tick_targets

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_prints_every_scenario_the_baseline_ratio_and_the_targets(snapshots_dir):
    finished = subprocess.run(
        [sys.executable, "-m", "covid_assets_bench", "--quick", "--snapshots", str(snapshots_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    output = finished.stdout
    for heading in (
        "import covid_assets.definitions:",
        "=== full load (snapshot 2021-03-14)",
        "=== next day (snapshot 2021-03-15)",
        "=== revision day (snapshot 2021-03-18)",
        "=== no-change day, run by hand (snapshot 2021-03-18)",
        "=== no-change day: the schedule's tick (snapshot 2021-03-18)",
        "=== same-day revision: NYT 2020-05-07 then 2020-05-08",
        "AWS API calls",
        "DynamoDB items in write calls",
        "history appended: Parquet objects",
        "bytes downloaded",
        "wall time, seconds",
        "=== targets",
    ):
        assert heading in output, f"{heading!r} missing from:\n{output}"
    assert output.count("baseline ratio (pipeline/baseline AWS calls): ") == 4
    assert "the pipeline run FAILED" not in output
    assert "the table holds the revision after the run: yes" in output


def figures(calls: list[AwsCall]) -> RunFigures:
    return figures_from_calls(calls, seconds=1.0)


def test_items_written_counts_every_request_of_a_batch_across_tables():
    batch = AwsCall(
        "dynamodb",
        "BatchWriteItem",
        {"RequestItems": {"a": [{"PutRequest": {}}] * 25, "b": [{"DeleteRequest": {}}] * 2}},
    )
    put = AwsCall("dynamodb", "PutItem", {"TableName": "a"})
    query = AwsCall("dynamodb", "Query", {"TableName": "a"})

    assert figures([batch, put, query]).dynamodb_items_written == 28


def test_write_calls_are_those_that_change_state_and_only_of_their_service():
    run = figures(
        [
            AwsCall("glue", "CreateDatabase", {}),
            AwsCall("glue", "UpdateTable", {}),
            AwsCall("glue", "GetTable", {}),
            AwsCall("s3", "ListObjectsV2", {}),
            AwsCall("s3", "GetObject", {}),
            AwsCall("sns", "Publish", {}),
        ]
    )

    assert (run.write_calls("glue"), run.write_calls("s3"), run.write_calls("sns")) == (2, 0, 0)


def test_full_load_target_wants_one_write_call_per_25_rows():
    one_call_per_batch = figures([AwsCall("dynamodb", "BatchWriteItem", {"RequestItems": {}})] * 17)
    no_calls = figures([])

    [full_load] = [
        target
        for target in scenario_targets(one_call_per_batch, no_calls, no_calls, 417)
        if target.what.startswith("full load")
    ]

    assert (full_load.wanted, full_load.verdict) == ("17", "PASS")


def test_a_quiet_tick_passes_with_four_reads_and_misses_with_a_write_or_a_download():
    reads = [AwsCall("dynamodb", "GetItem", {}), AwsCall("glue", "GetTable", {})] + [
        AwsCall("s3", "HeadObject", {})
    ] * 2
    baseline = figures([AwsCall("dynamodb", "PutItem", {})] * 421)

    quiet = tick_targets(figures(reads), [304, 304], 0, baseline)
    writing = tick_targets(
        figures([*reads, AwsCall("s3", "PutObject", {})]), [200, 304], 0, baseline
    )

    assert {t.what: t.verdict for t in quiet if t.verdict != "PASS"} == {
        "no-change day, tick: seconds of evaluation": "MISS"  # figures() times every call 1 s
    }
    missed = {t.what for t in writing if t.verdict == "MISS"}
    assert {
        "no-change day, tick: write calls",
        "no-change day, tick: requests answered 200",
        "no-change day, tick: conditional requests answered 304",
    } <= missed


def test_whole_process_targets_are_skipped_when_not_measured_and_missed_above_one_and_a_half():
    skipped = process_targets(None, None)
    measured = process_targets(next_day=1.5, no_change=1.55)

    assert [t.verdict for t in skipped] == ["SKIP", "SKIP"]
    assert [t.verdict for t in measured] == ["PASS", "MISS"]


def test_a_scheduled_run_is_executed_by_a_run_worker_of_its_own(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        worker = scheduled_run(instance, "covid_assets_bench.empty_job", EMPTY_JOB)
        finished = subprocess.run(
            worker.get_command_args(), cwd=PROJECT_ROOT, capture_output=True, text=True
        )

        assert finished.returncode == 0, finished.stderr[-3000:]
        run = instance.get_run_by_id(worker.run_id)
        assert (run.job_name, run.status) == (EMPTY_JOB, DagsterRunStatus.SUCCESS)


def test_whole_process_ratio_is_the_median_of_back_to_back_pairs():
    assert median_ratio([(3.0, 2.0), (6.0, 2.0), (2.0, 2.0)]) == 1.5
