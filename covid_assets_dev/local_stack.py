"""Run the pipeline on this machine against moto server, a local AWS emulator.

    python -m covid_assets_dev.local_stack dev          # emulator + Dagster UI and daemon
    python -m covid_assets_dev.local_stack materialize  # emulator + one headless run of the job

The tests start their emulator with the same ``moto_server`` helper.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from covid_assets.settings import SETTINGS
from covid_assets_dev.stack import create_stack, settings_from_outputs, stack_parameters

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_HOST = "127.0.0.1"
LOCAL_STACK_NAME = "covid-assets"

# moto accepts any credentials; setting dummy ones keeps boto3 from looking for real ones.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCAL_HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def moto_server(port: int | None = None, startup_seconds: float = 30) -> Iterator[str]:
    """Start ``moto_server`` on 127.0.0.1 and yield its endpoint URL; stop it on exit."""
    port = port or free_port()
    endpoint = f"http://{LOCAL_HOST}:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", LOCAL_HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        # An emulator holding millions of items (the county benchmark) takes longer to wind
        # down than a test can wait: it is killed.
        stop_process_group(server, 10)


def stop_process_group(process: subprocess.Popen, seconds: float) -> None:
    """SIGTERM to the process's session, SIGKILL if it has not ended within ``seconds``."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def setting(name: str) -> str:
    return os.environ.get(name, SETTINGS[name].default)


def provision() -> dict[str, str]:
    """Deploy infra/covid_assets.yaml into the account the environment points boto3 at (the
    emulator), named after the current settings, and return the settings its outputs give.

    moto's CloudFormation skips AWS::Glue::*: the pipeline creates its Glue database and table
    when they are missing, as it would anywhere."""
    names = {name: setting(name) for name in SETTINGS}
    outputs = create_stack(LOCAL_STACK_NAME, stack_parameters(names), names["AWS_DEFAULT_REGION"])
    return settings_from_outputs(outputs)


# Run logs keep INFO and above: Dagster's DEBUG lines (the IO manager's "Loading file from ...")
# tell a user nothing, and each is one more write to the event log of every run.
INSTANCE_CONFIG = """\
# Written by `make run` at every start (covid_assets_dev/local_stack.py): edit it there.
telemetry:
  enabled: false
python_logs:
  python_log_level: INFO
# Runs write what is served: the run queue launches one at a time, so the sensor, the schedule
# and a click never interleave their loads and export switches. Every run of the location is
# tagged with it; a limit by tag, unlike max_concurrent_runs, does not make the queue daemon
# log "1 runs are currently in progress" every 5 s while nothing waits.
concurrency:
  runs:
    tag_concurrency_limits:
      - key: dagster/code_location
        value: covid_assets
        limit: 1
# The daemon marks failed a run that does not start, or does not stop when cancelled, within 3
# minutes. The default run launcher cannot tell whether a started run's process lives (no worker
# health check, no resume): a run killed outright is ended by its serving lock's lapsed lease.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 60
"""


def prepare_dagster_home() -> Path:
    """A DAGSTER_HOME inside the project, so run history survives restarts; its instance
    configuration is this version's."""
    home = Path(os.environ.get("DAGSTER_HOME", PROJECT_ROOT / ".dagster_home"))
    (home / ".nux").mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    return home


def dagster_command(*arguments: str) -> list[str]:
    """``dagster ARGUMENTS`` with this environment's Dagster."""
    executable = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    return [executable, *arguments]


def dg_command(*arguments: str) -> list[str]:
    """``dg ARGUMENTS`` with this environment's dg (``dev`` starts the webserver and the daemon;
    ``dagster dev`` does the same, and prints at every start that dg supersedes it)."""
    executable = shutil.which("dg", path=str(Path(sys.executable).parent))
    return [executable or "dg", *arguments]


def dg_environment() -> dict[str, str]:
    """What dg needs besides the environment: the virtual environment to run the project in
    (it warns at every command when the active one is not the project's)."""
    return {"VIRTUAL_ENV": sys.prefix}


def dagster_daemon_command(*arguments: str) -> list[str]:
    """``dagster-daemon ARGUMENTS`` with this environment's Dagster (``run -w workspace.yaml``
    runs the schedules, the sensors, the run queue and the freshness evaluation)."""
    executable = shutil.which("dagster-daemon", path=str(Path(sys.executable).parent))
    return [executable or "dagster-daemon", *arguments]


def run_until_stopped(command: list[str]) -> int:
    """Run the command in the foreground; a SIGTERM to this launcher is passed on, so that the
    Dagster processes shut down cleanly before the emulator is stopped."""
    # A launcher started in the background inherits an ignored SIGINT, which Dagster would pass
    # on to its own processes and then map SIGTERM to; restore the default first.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    child = subprocess.Popen(command, cwd=PROJECT_ROOT)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signal.SIGTERM))
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue  # Ctrl-C reached the child too; wait for it to finish shutting down


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["dev", "materialize"])
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "5055")))
    parser.add_argument("--ui-port", type=int, default=int(os.environ.get("DAGSTER_PORT", "3000")))
    arguments = parser.parse_args()

    os.environ["DAGSTER_HOME"] = str(prepare_dagster_home())
    with moto_server(arguments.moto_port) as endpoint:
        os.environ.update(EMULATOR_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
        os.environ.setdefault("AWS_DEFAULT_REGION", SETTINGS["AWS_DEFAULT_REGION"].default)
        os.environ.update(provision())
        print(f"moto server (local AWS) at {endpoint}; DAGSTER_HOME={os.environ['DAGSTER_HOME']}")
        if arguments.command == "dev":
            os.environ.update(dg_environment())
            # The daemon's INFO lines (each sensor's every tick, the run queue's every pass)
            # are what the UI's Automation and Runs pages show; the terminal keeps the runs'
            # logs and every warning and error.
            command = dg_command(
                "dev", "-h", LOCAL_HOST, "-p", str(arguments.ui_port), "--log-level", "warning"
            )
            ui = f"http://{LOCAL_HOST}:{arguments.ui_port}"
            print(f"Dagster UI on {ui} in about 15 s", flush=True)
        else:
            command = dagster_command(
                "asset", "materialize", "--select", "*", "-m", "covid_assets.code_location"
            )
        sys.exit(run_until_stopped(command))


if __name__ == "__main__":
    main()
