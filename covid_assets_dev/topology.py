"""The production topology on this machine, as processes: a PostgreSQL server (Debian's) for the
instance's storage, a code server (``dagster code-server start``) serving the code location over
gRPC, the webserver and the daemon loading it from a gRPC workspace, and the instance of
``infra/dagster.yaml.example`` (its run queue, run retries and run monitoring), with runs in
processes of their own (the default run launcher, in place of the example's ECS one), all against
moto server.

    python -m covid_assets_dev.topology    # or `make topology`: the UI on http://127.0.0.1:3000

The system tests start the same processes with ``production_topology``.
"""

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests
import yaml

from covid_assets.settings import SETTINGS
from covid_assets_dev.local_stack import (
    EMULATOR_CREDENTIALS,
    LOCAL_HOST,
    PROJECT_ROOT,
    dagster_command,
    dagster_daemon_command,
    free_port,
    moto_server,
    provision,
    stop_process_group,
)
from covid_assets_dev.postgres import PostgresCluster, postgres_cluster, postgres_programs

PRODUCTION_EXAMPLE = PROJECT_ROOT / "infra" / "dagster.yaml.example"
LOCATION_NAME = "covid_assets"
# The code location as deployed: the module every run worker imports too.
CODE_LOCATION = ("-m", "covid_assets.code_location")
STARTUP_SECONDS = 120
LOCATION_STATUS = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"


def production_instance_config(example: Path = PRODUCTION_EXAMPLE) -> dict[str, Any]:
    """The example's instance, launching each run as a process of its own on this machine
    rather than as an ECS task (there is no ECS here): everything else as deployed."""
    config = yaml.safe_load(example.read_text())
    del config["run_launcher"]
    return config


def write_instance(home: Path, postgres_port: int) -> None:
    config = production_instance_config()
    config["storage"]["postgres"]["postgres_db"]["port"] = postgres_port
    (home / ".nux").mkdir(parents=True, exist_ok=True)
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def grpc_workspace(path: Path, port: int) -> Path:
    """A workspace that loads the code location from the code server, as the webserver and the
    daemon of a deployment do."""
    server = {"host": LOCAL_HOST, "port": port, "location_name": LOCATION_NAME}
    path.write_text(yaml.safe_dump({"load_from": [{"grpc_server": server}]}))
    return path


@dataclass(frozen=True)
class Topology:
    """The running topology: the webserver's URL and the processes' ids."""

    url: str
    processes: dict[str, subprocess.Popen]

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        if "errors" in body:
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def location_loaded(self) -> bool:
        try:
            entries = self.graphql(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        except (requests.RequestException, RuntimeError, KeyError):
            return False
        return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)


def _start(command: Sequence[str], environment: dict[str, str], log: IO[str]) -> subprocess.Popen:
    return subprocess.Popen(
        list(command),
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextmanager
def production_topology(
    home: Path,
    postgres: PostgresCluster,
    logs: Path,
    web_port: int | None = None,
    code: Sequence[str] = CODE_LOCATION,
) -> Iterator[Topology]:
    """Start the code server, the webserver and the daemon on an instance of the production
    example in ``home``, its storage a new database of ``postgres``; each process logs to a file
    in ``logs``. Their environment (AWS endpoint, settings) is this process's, as a deployment's
    tasks share theirs. ``code`` says where the code server loads the code location from."""
    environment = {**os.environ, **postgres.instance_environment(), "DAGSTER_HOME": str(home)}
    write_instance(home, postgres.port)
    code_port, web_port = free_port(), web_port or free_port()
    workspace = grpc_workspace(home / "workspace.yaml", code_port)
    url = f"http://{LOCAL_HOST}:{web_port}"
    commands = {
        "code-server": dagster_command(
            "code-server",
            "start",
            "-h",
            LOCAL_HOST,
            "-p",
            str(code_port),
            *code,
            "--location-name",
            LOCATION_NAME,
        ),
        "webserver": [
            str(Path(sys.executable).parent / "dagster-webserver"),
            *("-w", str(workspace), "-h", LOCAL_HOST, "-p", str(web_port)),
        ],
        "daemon": dagster_daemon_command("run", "-w", str(workspace)),
    }
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        processes = {}
        for name, command in commands.items():
            log = stack.enter_context((logs / f"{name}.log").open("w"))
            processes[name] = _start(command, environment, log)
            stack.callback(stop_process_group, processes[name], 20)
        topology = Topology(url, processes)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not topology.location_loaded():
            for name, process in processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: see {logs / f'{name}.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the code location did not load in {STARTUP_SECONDS} s")
            time.sleep(0.5)
        yield topology


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--ui-port", type=int, default=int(os.environ.get("DAGSTER_PORT", "3000")))
    arguments = parser.parse_args()
    programs = postgres_programs()
    if programs is None:
        raise SystemExit("PostgreSQL server not installed: make postgres-deps")
    home = PROJECT_ROOT / ".local" / "topology"
    home.mkdir(parents=True, exist_ok=True)
    with moto_server() as endpoint, postgres_cluster(programs) as postgres:
        os.environ.update(EMULATOR_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
        os.environ.setdefault("AWS_DEFAULT_REGION", SETTINGS["AWS_DEFAULT_REGION"].default)
        os.environ.update(provision())
        with production_topology(home, postgres, home / "logs", arguments.ui_port) as topology:
            print(f"Production topology: the UI at {topology.url}; logs in {home / 'logs'}")
            try:
                while all(process.poll() is None for process in topology.processes.values()):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
