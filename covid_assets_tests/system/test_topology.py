"""The production topology as processes on this machine (``covid_assets_dev.topology``): a code
server over gRPC, the webserver and the daemon, the instance of infra/dagster.yaml.example on a
PostgreSQL server, runs in processes of their own. Runs are launched through the webserver's
GraphQL API, as the UI launches them, and by the daemon's sensor, which also recovers a killed
run with nobody at the keyboard."""

import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from covid_assets_dev.local_stack import PROJECT_ROOT
from covid_assets_dev.postgres import postgres_cluster, postgres_programs
from covid_assets_dev.topology import LOCATION_NAME, Topology, production_topology
from covid_assets_tests.helpers import (
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    THREE_DAYS,
    EmulatedAws,
    blank_emulated_account,
    stored_days,
    use_sources,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.system, pytest.mark.xdist_group("system/test_topology")]

LOGS_DIR = PROJECT_ROOT / "test-artifacts" / "topology"
RUN_SECONDS = 120
LEASE_SECONDS = "3"
# The sensor looks at the sources and what is served at each of its ticks (every 5 s).
SENSOR_INTERVAL_SECONDS = "5"
# A run is killed once it has appended its version to the history, before the export and load.
KILLED_AFTER = "row(s) appended at"
ALL_ASSETS_JOB = "__ASSET_JOB"
REPOSITORY = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__"}
LAUNCH = """mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUNS = """{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"""
SENSOR_RUNS = """{ runsOrError(filter: {tags: [
  {key: "covid_assets/trigger", value: "covid_sources_sensor"}]}) {
  ... on Runs { results { runId } } } }"""
RUN_EVENTS = """query ($runId: ID!) { logsForRun(runId: $runId) {
  ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }"""
RELOAD = """mutation { reloadRepositoryLocation(repositoryLocationName: "covid_assets") {
  __typename ... on WorkspaceLocationEntry { loadStatus } } }"""
JOBS = """query ($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) { ... on Repository { jobs { name } } } }"""
# What the deployed code location becomes after a new release: one job more.
RELEASED_CODE = """
from dagster import Definitions, job, op


@op
def says_it_was_reloaded() -> None:
    pass


@job
def released_after_the_start() -> None:
    says_it_was_reloaded()


defs = Definitions.merge(defs, Definitions(jobs=[released_after_the_start]))
"""


@dataclass
class RunningTopology:
    topology: Topology
    aws: EmulatedAws
    location_file: Path
    sources: Path

    def messages(self, run_id: str) -> list[str]:
        events = self.topology.graphql(RUN_EVENTS, runId=run_id)["logsForRun"]["events"]
        return [event.get("message") or "" for event in events]

    def run_pid(self, run_id: str) -> int:
        """The process the run worker runs in, as the launcher logged it."""
        [started] = [m for m in self.messages(run_id) if m.startswith("Started process for run")]
        return int(re.search(r"pid: (\d+)", started).group(1))

    def statuses(self) -> dict[str, str]:
        runs = self.topology.graphql(RUNS)["runsOrError"]["results"]
        return {run["runId"]: run["status"] for run in runs}

    def sensor_runs(self) -> list[str]:
        """The runs the sensor started, newest first."""
        runs = self.topology.graphql(SENSOR_RUNS)["runsOrError"]["results"]
        return [run["runId"] for run in runs]

    def next_sensor_run(self, after: list[str]) -> str:
        """The first run the sensor starts that is not one of ``after``."""
        deadline = time.monotonic() + RUN_SECONDS
        while not (new := [run for run in self.sensor_runs() if run not in after]):
            assert time.monotonic() < deadline, f"the sensor started no run in {RUN_SECONDS} s"
            time.sleep(0.5)
        return new[-1]

    def launch(self) -> str:
        params = {"selector": {**REPOSITORY, "pipelineName": ALL_ASSETS_JOB}, "mode": "default"}
        launched = self.topology.graphql(LAUNCH, params=params)["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def wait_until_ended(self, run_ids: set[str]) -> dict[str, str]:
        deadline = time.monotonic() + RUN_SECONDS
        while True:
            statuses = {run_id: self.statuses().get(run_id) for run_id in run_ids}
            if all(status in ("SUCCESS", "FAILURE", "CANCELED") for status in statuses.values()):
                return statuses
            assert time.monotonic() < deadline, f"runs not ended in {RUN_SECONDS} s: {statuses}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def running(moto_endpoint, tmp_path_factory) -> Iterator[RunningTopology]:
    programs = postgres_programs()
    if programs is None:
        pytest.skip("PostgreSQL server not installed (make postgres-deps)")
    folder = tmp_path_factory.mktemp("topology")
    (folder / "us.csv").write_text(NYT_THREE_DAYS)
    (folder / "jhu.csv").write_text(JHU_THREE_DAYS)
    # The code location as a file the test can change, as a new release would.
    location_file = folder / "location.py"
    location_file.write_text("from covid_assets.code_location import defs\n")
    home = folder / "dagster_home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as monkeypatch:
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        use_sources(monkeypatch, folder / "us.csv", folder / "jhu.csv")
        monkeypatch.setenv("COVID_SERVING_LOCK_LEASE_SECONDS", LEASE_SECONDS)
        monkeypatch.setenv("COVID_SENSOR_INTERVAL_SECONDS", SENSOR_INTERVAL_SECONDS)
        with (
            postgres_cluster(programs) as postgres,
            production_topology(
                home, postgres, LOGS_DIR, code=("-f", str(location_file))
            ) as topology,
        ):
            yield RunningTopology(topology, aws, location_file, folder)


@pytest.fixture(scope="module")
def two_runs(running) -> dict[str, Any]:
    """The run the sensor starts on a new instance, and a run launched through the webserver
    while it is under way: the pairs of their statuses seen until the first ended, and how they
    ended."""
    deadline = time.monotonic() + RUN_SECONDS
    while not (statuses := running.statuses()) or "STARTED" not in statuses.values():
        assert time.monotonic() < deadline, f"the sensor started no run in {RUN_SECONDS} s"
        time.sleep(0.2)
    [first] = statuses
    second = running.launch()
    seen = set()
    while (statuses := running.statuses())[first] not in ("SUCCESS", "FAILURE", "CANCELED"):
        seen.add((statuses[first], statuses[second]))
        assert time.monotonic() < deadline, f"the first run still {statuses[first]}"
        time.sleep(0.2)
    return {"seen": seen, "ended": running.wait_until_ended({first, second}), "first": first}


def test_a_launch_waits_in_the_queue_while_a_run_is_under_way(two_runs):
    assert ("STARTED", "QUEUED") in two_runs["seen"]
    assert all(second != "STARTED" for _, second in two_runs["seen"])


def test_the_runs_end_with_what_is_served_exact(running, two_runs):
    assert set(two_runs["ended"].values()) == {"SUCCESS"}
    assert stored_days(running.aws) == THREE_DAYS


def test_each_run_is_a_process_of_its_own(running, two_runs):
    servers = {process.pid for process in running.topology.processes.values()}
    assert running.run_pid(two_runs["first"]) not in servers


def test_a_reload_of_the_code_location_takes_effect(running, two_runs):
    def jobs() -> set[str]:
        found = running.topology.graphql(JOBS, selector=REPOSITORY)["repositoryOrError"]["jobs"]
        return {job["name"] for job in found}

    assert "released_after_the_start" not in jobs()
    running.location_file.write_text(running.location_file.read_text() + RELEASED_CODE)
    reloaded = running.topology.graphql(RELOAD)["reloadRepositoryLocation"]
    assert reloaded == {"__typename": "WorkspaceLocationEntry", "loadStatus": "LOADED"}
    assert "released_after_the_start" in jobs()


@pytest.fixture(scope="module")
def killed_and_recovered(running, two_runs) -> dict[str, Any]:
    """A new day published: the run the sensor starts for it killed with SIGKILL in the middle
    (its version in the history, its export and load not done), as a lost task is; then the
    run the sensor starts next, once the killed run's lease has lapsed."""
    before = running.sensor_runs()
    (running.sources / "us.csv").write_text(NYT_FOUR_DAYS)
    (running.sources / "jhu.csv").write_text(JHU_FOUR_DAYS)
    killed = running.next_sensor_run(before)
    deadline = time.monotonic() + RUN_SECONDS
    while not any(KILLED_AFTER in message for message in running.messages(killed)):
        assert time.monotonic() < deadline, f"run {killed} appended nothing"
        time.sleep(0.2)
    os.kill(running.run_pid(killed), signal.SIGKILL)
    repair = running.next_sensor_run([*before, killed])
    return running.wait_until_ended({killed, repair}) | {"killed": killed, "repair": repair}


def test_after_a_run_is_killed_the_sensor_repairs_what_is_served_with_no_one_at_the_keyboard(
    running, killed_and_recovered
):
    killed, repair = killed_and_recovered["killed"], killed_and_recovered["repair"]
    assert killed_and_recovered[killed] == "FAILURE"
    assert killed_and_recovered[repair] == "SUCCESS"
    assert stored_days(running.aws) == {**THREE_DAYS, "2020-03-04": (40, 4, 4)}
