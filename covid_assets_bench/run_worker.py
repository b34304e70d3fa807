"""A run started as the daemon starts a scheduled one: in a fresh interpreter of its own."""

import sys

from dagster import DagsterInstance
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._grpc.types import ExecuteRunArgs

from covid_assets_dev.local_stack import PROJECT_ROOT


def scheduled_run(instance: DagsterInstance, module: str, job: str) -> ExecuteRunArgs:
    """What the daemon does when the schedule ticks: create the run in the instance (in the
    long-running daemon, so not timed), then have the run launcher start a run worker for it.
    The worker's command is the one the EcsRunLauncher of infra/dagster.yaml.example gives each
    run's new task: ``python -m dagster api execute_run ARGS``, a fresh interpreter that loads
    the definitions and the instance and executes the run."""
    reconstructable_job = ReconstructableRepository(
        ModuleCodePointer(module, "defs", str(PROJECT_ROOT)),
        executable_path=sys.executable,
        entry_point=[sys.executable, "-m", "dagster"],  # this environment's Dagster
    ).get_reconstructable_job(job)
    run = instance.create_run_for_job(
        job_def=reconstructable_job.get_definition(),
        job_code_origin=reconstructable_job.get_python_origin(),
    )
    return ExecuteRunArgs(
        job_origin=reconstructable_job.get_python_origin(),
        run_id=run.run_id,
        instance_ref=instance.get_ref(),
        set_exit_code_on_failure=True,
    )
