"""The benchmark keeps working, run as a user runs it: its quick mode runs every scenario against
its own emulator and prints the tables, the baseline ratio and the targets (a measurement, not a
timed test: the figures themselves are not asserted here, so it is given the real snapshots cut
down to what its code paths need); and the run worker it times a run's whole process with runs a
job in a process of its own. (Its figures and targets are tested in unit/test_figures.py.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from covid_assets_dev.empty_job import EMPTY_JOB
from covid_assets_dev.local_stack import PROJECT_ROOT
from covid_assets_dev.real_files import national_file_of, place_file_subset
from covid_assets_dev.run_worker import run_worker_command

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.system, pytest.mark.xdist_group("system/test_benchmark")]

BENCHMARK = [sys.executable, "-m", "covid_assets_bench"]


# The snapshots' days from this one on: the revision of 2021-03-16 (snapshot 2021-03-18) and every
# day the scenarios add, in about a seventh of the rows the baseline writes one by one.
FIRST_DAY = "2021-01-15"


def cut_down(snapshot: Path, folder: Path) -> Path:
    """A copy of one day's snapshot with NYT's national days from FIRST_DAY on and JHU's
    national US rows of every day (the same-day revision merges them with NYT's history)."""
    folder.mkdir()
    nyt, *days = (snapshot / "nyt-us.csv").read_text().splitlines(keepends=True)
    nyt += "".join(line for line in days if line >= FIRST_DAY)
    (folder / "nyt-us.csv").write_text(nyt)
    jhu, *rows = (snapshot / "jhu-combined.csv").read_text().splitlines(keepends=True)
    jhu += "".join(row for row in rows if row.split(",")[1:3] == ["US", ""])
    (folder / "jhu-combined.csv").write_text(jhu)
    return folder


# The first load with every level, on the states of the 2021-03-18 snapshot whose counties add
# up to them, and a national file that is their sum: the path, in a few thousand items.
EVERY_LEVEL_STATES = {"Delaware", "Vermont"}


@pytest.fixture(scope="module")
def benchmark_snapshots(snapshots_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("snapshots")
    for snapshot in sorted(snapshots_dir.iterdir()):
        cut_down(snapshot, folder / snapshot.name)
    return folder


@pytest.fixture(scope="module")
def every_level_snapshot(benchmark_snapshots, snapshots_dir, tmp_path_factory) -> Path:
    real, folder = snapshots_dir / "2021-03-18", tmp_path_factory.mktemp("every-level")
    states = place_file_subset(
        real / "nyt-us-states.csv", EVERY_LEVEL_STATES, folder / "nyt-us-states.csv"
    )
    place_file_subset(
        real / "nyt-us-counties-recent.csv",
        EVERY_LEVEL_STATES,
        folder / "nyt-us-counties-recent.csv",
    )
    national_file_of(states, folder / "nyt-us.csv")
    cut_jhu = benchmark_snapshots / "2021-03-18" / "jhu-combined.csv"
    (folder / "jhu-combined.csv").write_bytes(cut_jhu.read_bytes())
    return folder


# A long run of its own: `pytest -m benchmark`, outside `make test`'s timed suite.
@pytest.mark.benchmark
def test_quick_benchmark_prints_every_scenario_the_baseline_ratio_and_the_targets(
    benchmark_snapshots, every_level_snapshot
):
    finished = subprocess.run(
        [
            *BENCHMARK,
            "--quick",
            *("--snapshots", str(benchmark_snapshots)),
            *("--every-level", "--every-level-snapshot", str(every_level_snapshot)),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # minutes on a busy machine: every scenario, then the every-level load twice
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    output = finished.stdout
    for heading in (
        "import covid_assets.code_location:",
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
        f"=== first load with every level (snapshot {every_level_snapshot.name})",
        "bare BatchWriteItem loop, 4 writers",
        "pipeline/bare, whole process",
        "=== targets",
        "first load with every level: x bare emulator time",
        "repair after restart with every level: x bare emulator time",
        "national next day: seconds above Dagster's empty job",
    ):
        assert heading in output, f"{heading!r} missing from:\n{output}"
    assert output.count("baseline ratio (pipeline/baseline AWS calls): ") == 4
    assert "the pipeline run FAILED" not in output
    assert "the table holds the revision after the run: yes" in output


def test_a_run_worker_executes_its_run_in_a_process_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    finished = subprocess.run(
        run_worker_command("covid_assets_dev.empty_job", EMPTY_JOB),
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    with DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert (run.job_name, run.status) == (EMPTY_JOB, DagsterRunStatus.SUCCESS)
