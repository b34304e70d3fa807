"""Dagster's own floor, for the benchmark (and the smallest run the tests start as a process of its
own): a code location with one asset that does no work, run
with the project's executor. Launched like the daily job, its whole process is what any Dagster
run costs on this machine before the pipeline does anything (interpreter, Dagster, the instance,
one step's bookkeeping)."""

from dagster import Definitions, asset, define_asset_job, in_process_executor

EMPTY_JOB = "empty_job"


@asset
def does_nothing() -> None:
    """No work at all."""


defs = Definitions(
    assets=[does_nothing],
    jobs=[define_asset_job(EMPTY_JOB, selection=[does_nothing])],
    executor=in_process_executor,
)
