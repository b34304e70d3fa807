"""The production topology as processes on this machine (``covid_assets_dev.topology``): a code
server over gRPC, the webserver and the daemon, the instance of infra/dagster.yaml.example on a
PostgreSQL server, runs in processes of their own. Runs are launched through the webserver's
GraphQL API, as the UI launches them."""

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
    JHU_THREE_DAYS,
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
ALL_ASSETS_JOB = "__ASSET_JOB"
REPOSITORY = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__"}
LAUNCH = """mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUNS = """{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"""
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

    def statuses(self) -> dict[str, str]:
        runs = self.topology.graphql(RUNS)["runsOrError"]["results"]
        return {run["runId"]: run["status"] for run in runs}

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
        with (
            postgres_cluster(programs) as postgres,
            production_topology(
                home, postgres, LOGS_DIR, code=("-f", str(location_file))
            ) as topology,
        ):
            yield RunningTopology(topology, aws, location_file)


@pytest.fixture(scope="module")
def first_run(running) -> dict[str, Any]:
    """The run the sensor starts on a new instance, once it has ended."""
    deadline = time.monotonic() + RUN_SECONDS
    while not (statuses := running.statuses()):
        assert time.monotonic() < deadline, f"the sensor started no run in {RUN_SECONDS} s"
        time.sleep(0.5)
    return running.wait_until_ended(set(statuses))


@pytest.fixture(scope="module")
def two_launches(running, first_run) -> dict[str, Any]:
    """Two runs launched through the webserver one after the other: what their statuses were
    while the first was under way, and how they ended."""
    first, second = running.launch(), running.launch()
    seen = set()
    deadline = time.monotonic() + RUN_SECONDS
    while (statuses := running.statuses())[first] not in ("SUCCESS", "FAILURE", "CANCELED"):
        seen.add((statuses[first], statuses[second]))
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return {"seen": seen, "ended": running.wait_until_ended({first, second}), "first": first}


def test_the_sensors_first_run_on_the_topology_serves_the_table(running, first_run):
    assert list(first_run.values()) == ["SUCCESS"]
    assert stored_days(running.aws) == THREE_DAYS


def test_a_second_launch_waits_in_the_queue_while_the_first_runs(two_launches):
    assert ("STARTED", "QUEUED") in two_launches["seen"]
    assert all(second != "STARTED" for _, second in two_launches["seen"])


def test_launched_runs_end_with_what_is_served_exact(running, two_launches):
    assert set(two_launches["ended"].values()) == {"SUCCESS"}
    assert stored_days(running.aws) == THREE_DAYS


def test_each_run_is_a_process_of_its_own(running, two_launches):
    events = running.topology.graphql(RUN_EVENTS, runId=two_launches["first"])["logsForRun"]
    messages = [event.get("message") or "" for event in events["events"]]
    [started] = [message for message in messages if message.startswith("Started process for run")]
    pids = {str(process.pid) for process in running.topology.processes.values()}
    assert not any(f"pid: {pid})" in started for pid in pids)


def test_a_reload_of_the_code_location_takes_effect(running, two_launches):
    def jobs() -> set[str]:
        found = running.topology.graphql(JOBS, selector=REPOSITORY)["repositoryOrError"]["jobs"]
        return {job["name"] for job in found}

    assert "released_after_the_start" not in jobs()
    running.location_file.write_text(running.location_file.read_text() + RELEASED_CODE)
    reloaded = running.topology.graphql(RELOAD)["reloadRepositoryLocation"]
    assert reloaded == {"__typename": "WorkspaceLocationEntry", "loadStatus": "LOADED"}
    assert "released_after_the_start" in jobs()
