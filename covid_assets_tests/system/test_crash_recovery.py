"""A run killed with SIGKILL (an out-of-memory kill, a lost ECS task) at any of its writes leaves
its serving lock behind and Dagster showing it STARTED. The next run takes the lock over once its
lease has lapsed, marks the dead run failed with the reason, and ends with what is served exact,
writing only what the killed run left unwritten.

The killed run runs every asset in a process of its own, as `dagster asset materialize` does (a
fork of this one, which has Dagster imported already), and talks to moto through a proxy that
holds its Nth data write back while the test kills it: exactly N-1 writes landed. The next run
is started by hand in this process. The lease is 2 s: the next run waits about that. Under the
daemon, the sensor's repair of a killed run is tested in the production topology
(``test_topology.py``).
"""

import json
import multiprocessing
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from covid_assets.resources.aws_client import boto3_session
from covid_assets.resources.serving_lock import LOCK_KEY
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.figures import is_data_write, is_write
from covid_assets_dev.local_stack import (
    INSTANCE_CONFIG,
)
from covid_assets_tests.fault_proxy import DYNAMODB_TARGET_PREFIX, FaultProxy, Request
from covid_assets_tests.helpers import (
    JHU_THREE_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    EmulatedAws,
    exported_days,
    run_daily_job,
    s3_keys,
    stored_days,
    use_sources,
)

pytestmark = pytest.mark.system

LEASE_SECONDS = "2"
# From the process's start to its Nth write: Dagster's import and the steps before it.
KILL_SECONDS = 120


def data_write(request: Request) -> bool:
    """Whether a call writes what is served or kept: not a read, an alert or the lock."""
    if request.target.startswith(DYNAMODB_TARGET_PREFIX):
        params = json.loads(request.body)
        key = params.get("Key") or params.get("Item") or {}
        operation = request.target.removeprefix(DYNAMODB_TARGET_PREFIX)
        return is_write(operation) and key.get("region") != LOCK_KEY["region"]
    if request.target:  # Glue (AWSGlue.UpdateTable, ...)
        return is_write(request.target.partition(".")[2])
    # S3 and the query protocols (SNS's Publish, form-encoded).
    return request.method in {"PUT", "POST", "DELETE"} and not request.body.startswith(b"Action=")


class KillAtWrite:
    """A proxy gate that lets ``kill_at - 1`` writes through, then holds the next one back
    (never forwarded) until the test has killed the process that sent it; then lets every
    later call through."""

    def __init__(self, kill_at: int) -> None:
        self.kill_at, self.writes = kill_at, 0
        self.held, self.killed = threading.Event(), threading.Event()
        self.counting = threading.Lock()

    def __call__(self, request: Request) -> bool:
        if not data_write(request):
            return True
        with self.counting:  # parallel writers' calls arrive on threads of their own
            self.writes += 1
            write = self.writes
        if write != self.kill_at:
            return True  # before the kill, or the calls of the runs after it
        self.held.set()
        self.killed.wait(timeout=KILL_SECONDS)
        return False


def three_day_sources(folder: Path) -> tuple[Path, Path]:
    (folder / "us.csv").write_text(NYT_THREE_DAYS)
    (folder / "jhu.csv").write_text(JHU_THREE_DAYS)
    return folder / "us.csv", folder / "jhu.csv"


@pytest.fixture
def dagster_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A DAGSTER_HOME shared by the killed run's process and the next run. In memory where
    there is /dev/shm: the instance's SQLite storage on disk would double each run's time."""
    home = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # The instance exists before the run process stamps its storage.
    DagsterInstance.get().dispose()
    yield home
    shutil.rmtree(home, ignore_errors=True)


def run_every_asset(aws_endpoint: str) -> None:
    """A run of every asset in this (forked) process, as `dagster asset materialize` runs it:
    in process, on the instance of DAGSTER_HOME."""
    os.environ["AWS_ENDPOINT_URL"] = aws_endpoint
    boto3_session.cache_clear()  # no client of the parent's
    with DagsterInstance.get() as instance:
        run_daily_job(instance)


def killed_run(aws: EmulatedAws, kill_at: int) -> str:
    """Start a run of every asset in a process of its own and kill it with SIGKILL at its
    ``kill_at``-th data write; the id of the run. The process is a fork of this one, which has
    Dagster and the definitions imported already (a new interpreter would take seconds)."""
    proxy = FaultProxy(aws.endpoint)
    gate = proxy.gate = KillAtWrite(kill_at)
    process = multiprocessing.get_context("fork").Process(target=run_every_asset, args=(proxy.url,))
    try:
        process.start()
        held = gate.held.wait(timeout=KILL_SECONDS)
        process.kill()
        process.join(timeout=30)
        assert held, f"no write {kill_at} within {KILL_SECONDS} s (exit code {process.exitcode})"
    finally:
        gate.killed.set()
        proxy.close()
    with DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.status == DagsterRunStatus.STARTED  # as Dagster leaves a killed run
    return run.run_id


# A run's data writes on a blank account, in order: the history's version and its revision
# summary (their objects, then the Glue tables of the history, the summary and the per-day view:
# each update finds no table, so the database and the table are created), the export (the
# same), the items, the dashboard page. A part cut short is done again whole (a history version
# under the same key; an export in a new folder, the half-written one removed); a part done is
# not written again.
GLUE_TABLE_CREATED = [("glue", "UpdateTable"), ("glue", "CreateDatabase"), ("glue", "CreateTable")]
CLEAN_RUN_WRITES = [
    ("s3", "PutObject"),  # 1: the history's version
    ("s3", "PutObject"),  # 2: its revision summary
    *GLUE_TABLE_CREATED * 3,
    ("s3", "PutObject"),  # 12: the export
    *GLUE_TABLE_CREATED,
    ("dynamodb", "BatchWriteItem"),  # 16: the items
    ("s3", "PutObject"),  # 17: the dashboard
]
HALF_WRITTEN_REMOVED = ("s3", "DeleteObjects")
# Each kill point: the write the run is killed at, and the first write the next run makes.
KILL_POINTS = {
    "history_object_written": (2, 1),
    "export_object_written": (13, 12),
}


@pytest.mark.parametrize(("kill_at", "redone_from"), KILL_POINTS.values(), ids=KILL_POINTS)
def test_after_a_run_is_killed_the_next_run_serves_exactly_and_writes_only_what_was_cut_short(
    aws, monkeypatch, tmp_path, dagster_home, kill_at, redone_from
):
    use_sources(monkeypatch, *three_day_sources(tmp_path))
    monkeypatch.setenv("COVID_SERVING_LOCK_LEASE_SECONDS", LEASE_SECONDS)
    killed = killed_run(aws, kill_at)

    with DagsterInstance.get() as instance, recorded_calls() as calls:
        recovery = run_daily_job(instance)
        dead_run = instance.get_run_by_id(killed)
        [failure] = instance.all_logs(killed, of_type=DagsterEventType.RUN_FAILURE)

    assert dead_run.status == DagsterRunStatus.FAILURE
    assert failure.message.startswith(f"Marked failed by run {recovery.run_id}: this run's ")
    writes = [(call.service, call.operation) for call in calls if is_data_write(call)]
    # The half-written export's objects are removed (DeleteObjects) once the new one is in.
    assert [write for write in writes if write != HALF_WRITTEN_REMOVED] == (
        CLEAN_RUN_WRITES[redone_from - 1 :]
    )
    assert stored_days(aws) == THREE_DAYS
    assert exported_days(aws) == THREE_DAYS
    # Nothing half-written is left: one history version, one export folder.
    export_prefix = os.environ["COVID_S3_PREFIX"]
    assert len(s3_keys(aws, f"history/{export_prefix}")) == 1
    assert len({key.rsplit("/", 2)[-2] for key in s3_keys(aws, export_prefix)}) == 1
    assert "dashboard/index.html" in s3_keys(aws, "dashboard/")
