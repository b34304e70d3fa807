"""ECS whose tasks run on this machine: the emulator's ECS records every task and starts no
container, so each task the run launcher starts is also run here, its container's command as a
local process with the task's environment (as dagster-aws's own tests run ECS against moto).

moto 5.2.5 starts no task whose containers have no memory of their own (Fargate needs only the
task's): a task definition registered here gives each container the task's memory as its soft
limit (``with_container_memory``).

Only what ECS itself does is done here, with a client of its own (so that a recording of the
launcher's calls sees only the launcher's): it reads the task definition to start the process,
and reports the process's state in DescribeTasks. Secrets are not resolved: moto skips the
runtime template's Secrets Manager secret, and the test instance needs no password.
"""

import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class LocalEcsTasks:
    """Stands in for the launcher's ECS client: every call goes to the emulator through that
    client, and RunTask also starts the task's command here."""

    def __init__(
        self, launcher_ecs: Any, ecs: Any, base_environment: Mapping[str, str], logs: Path
    ):
        self._launcher_ecs = launcher_ecs
        self._ecs = ecs
        self._base_environment = dict(base_environment)
        self._logs = logs
        self.processes: dict[str, subprocess.Popen] = {}
        self._containers: dict[str, str] = {}  # task ARN -> the name of its container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._launcher_ecs, name)

    def register_task_definition(self, **kwargs: Any) -> dict[str, Any]:
        return self._launcher_ecs.register_task_definition(**with_container_memory(kwargs))

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        response = self._launcher_ecs.run_task(**kwargs)
        [task] = response["tasks"]
        definition = self._ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
        [container] = definition["taskDefinition"]["containerDefinitions"]
        [override] = kwargs["overrides"]["containerOverrides"]
        assert override["name"] == container["name"], "the launcher overrides another container"
        environment = {
            **self._base_environment,
            **{pair["name"]: pair["value"] for pair in container.get("environment", [])},
            **{pair["name"]: pair["value"] for pair in override.get("environment", [])},
        }
        command = local_command(override.get("command") or container["command"])
        log = self._logs / f"{task['taskArn'].rpartition('/')[2]}.log"
        with log.open("wb") as output:
            self.processes[task["taskArn"]] = subprocess.Popen(
                command, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        self._containers[task["taskArn"]] = container["name"]
        return response

    def describe_tasks(self, **kwargs: Any) -> dict[str, Any]:
        response = self._launcher_ecs.describe_tasks(**kwargs)
        for task in response["tasks"]:
            process = self.processes.get(task["taskArn"])
            if process is None:  # not a run's task (the daemon's own)
                continue
            exit_code = process.poll()
            task["lastStatus"] = "RUNNING" if exit_code is None else "STOPPED"
            task["containers"] = [
                {"name": self._containers[task["taskArn"]], "exitCode": exit_code}
            ]
        return response

    def stop_task(self, **kwargs: Any) -> dict[str, Any]:
        process = self.processes[kwargs["task"]]
        process.terminate()
        process.wait(timeout=30)
        return self._launcher_ecs.stop_task(**kwargs)

    def wait(self, task_arn: str, timeout: float) -> int:
        return self.processes[task_arn].wait(timeout=timeout)


def with_container_memory(definition: dict[str, Any]) -> dict[str, Any]:
    """RegisterTaskDefinition's arguments, each container given the task's memory as its
    reservation where it names none (moto needs one to run the task)."""
    containers = [
        {"memoryReservation": int(definition["memory"]), **container}
        if "memory" not in container and "memoryReservation" not in container
        else container
        for container in definition["containerDefinitions"]
    ]
    return {**definition, "containerDefinitions": containers}


def local_command(command: list[str]) -> list[str]:
    """The container's command with this environment's Dagster executables (the image's PATH)."""
    executable = shutil.which(command[0], path=str(Path(sys.executable).parent))
    assert executable, f"{command[0]} is not installed in this environment"
    return [executable, *command[1:]]


@contextmanager
def task_metadata_endpoint(cluster: str, task_arn: str) -> Iterator[str]:
    """The metadata endpoint ECS gives every task (ECS_CONTAINER_METADATA_URI_V4), answering
    for the given task: the launcher reads its own task there."""
    task = json.dumps({"Cluster": cluster, "TaskARN": task_arn}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = task if self.path.endswith("/task") else b'{"Name": "daemon"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v4"
    finally:
        server.shutdown()
        server.server_close()
