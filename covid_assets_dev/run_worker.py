"""A run in a fresh interpreter of its own, started through Dagster's public command line.

A deployed run launcher starts each run in a new process (with the ``EcsRunLauncher`` of
``infra/dagster.yaml.example``, a new task): a fresh interpreter that loads Dagster, the instance
and the definitions, executes the run and exits. ``dagster job execute`` is that process, started
by hand: it also creates the run in the instance, which the daemon does before launching a
worker. Creating a run stores a planned event for each of its assets and checks, so that part
of the process grows with the job's checks: a scheduled run pays it in the daemon instead."""

import sys

from covid_assets_dev.local_stack import PROJECT_ROOT


def run_worker_command(module: str, job: str, attribute: str = "defs") -> list[str]:
    """The command that runs ``job`` of the definitions ``attribute`` of ``module`` in a process
    of its own, with this environment's Dagster, on the instance at ``DAGSTER_HOME``; it exits
    non-zero when the run fails. Used by the benchmark to time a run's whole process."""
    return [
        *(sys.executable, "-m", "dagster", "job", "execute"),
        *("--working-directory", str(PROJECT_ROOT), "-m", module, "-a", attribute, "-j", job),
    ]
