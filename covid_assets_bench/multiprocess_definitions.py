"""The project's definitions plus the daily job under Dagster's default multiprocess executor
(each step in its own subprocess), so the benchmark can measure the layout the project rejected:
``dagster job execute -m covid_assets_bench.multiprocess_definitions -j MULTIPROCESS_JOB``."""

from dagster import AssetSelection, Definitions, define_asset_job, multiprocess_executor

from covid_assets.code_location import defs as project_defs

MULTIPROCESS_JOB = "covid_daily_job_multiprocess"

defs = Definitions.merge(
    project_defs,
    Definitions(
        jobs=[
            define_asset_job(
                MULTIPROCESS_JOB, selection=AssetSelection.all(), executor_def=multiprocess_executor
            )
        ]
    ),
)
