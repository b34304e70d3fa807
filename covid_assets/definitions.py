"""The code location ``covid_assets``: every asset (each with its checks), job, schedule, sensor
and resource of the project."""

import gc

# Python's collector is off while the project's libraries are imported and the definitions are
# built (frozen and switched back on at the end of this module): that makes about a million
# objects that all live as long as the process, and the collections on the way (two full ones,
# some 300 younger ones) walked them again, about 0.13 s of a run worker's start (README,
# Benchmark).
gc.disable()

import atexit
import os

from dagster import (
    Definitions,
    in_process_executor,
    load_assets_from_modules,
)
from dagster_aws.s3 import S3PickleIOManager, S3Resource

from covid_assets import dashboard, export, loading, merged, sources
from covid_assets.resources import (
    DynamoDBResource,
    GlueCatalogResource,
    S3BucketResource,
    SNSResource,
    SourceDownloader,
)
from covid_assets.schedules import covid_daily_job, covid_daily_schedule
from covid_assets.sensors import covid_run_failure_alert
from covid_assets.settings import configured, configured_int


def build_definitions() -> Definitions:
    """Resolve the settings and assemble the definitions. Settings that are set in the
    environment become EnvVars (read at launch); the rest take their local defaults."""
    region = configured("AWS_DEFAULT_REGION")
    return Definitions(
        assets=load_assets_from_modules([sources, merged, loading, export, dashboard]),
        jobs=[covid_daily_job],
        schedules=[covid_daily_schedule],
        sensors=[covid_run_failure_alert],
        resources={
            "sources": SourceDownloader(
                nyt_url=configured("COVID_NYT_URL"),
                jhu_url=configured("COVID_JHU_URL"),
                timeout_seconds=configured_int("COVID_HTTP_TIMEOUT_SECONDS"),
                retries=configured_int("COVID_HTTP_RETRIES"),
                max_bytes=configured_int("COVID_DOWNLOAD_MAX_BYTES"),
            ),
            "dynamodb": DynamoDBResource(
                table_name=configured("COVID_DYNAMODB_TABLE"), region_name=region
            ),
            "bucket": S3BucketResource(
                bucket=configured("COVID_S3_BUCKET"),
                export_prefix=configured("COVID_S3_PREFIX"),
                region_name=region,
            ),
            "glue": GlueCatalogResource(
                database=configured("COVID_GLUE_DATABASE"),
                table_name=configured("COVID_GLUE_TABLE"),
                region_name=region,
            ),
            "alerts": SNSResource(topic_arn=configured("COVID_SNS_TOPIC_ARN"), region_name=region),
            **step_output_io_manager(region),
        },
        # Five small steps: running them in one process saves a subprocess start (~3.5 s on
        # two cores) per step, and the steps are sequential anyway.
        executor=in_process_executor,
    )


def step_output_io_manager(region: str) -> dict[str, S3PickleIOManager]:
    """Where steps leave their outputs for the next ones. By default Dagster's files under
    DAGSTER_HOME; with COVID_IO_S3_PREFIX set, S3. Where each run is a task of its own (ECS), a
    retry from the failed step or one asset materialized from the UI runs in a new task, which
    must read what the earlier tasks wrote."""
    if not os.environ.get("COVID_IO_S3_PREFIX"):
        return {}
    io_manager = S3PickleIOManager(
        s3_resource=S3Resource(region_name=region),
        s3_bucket=configured("COVID_S3_BUCKET"),
        s3_prefix=configured("COVID_IO_S3_PREFIX"),
    )
    return {"io_manager": io_manager}


defs = build_definitions()

# Every object alive once the definitions are built (Dagster, pandas, boto3, the definitions)
# lives as long as the process. Frozen, they are left out of Python's full garbage collections,
# which would otherwise walk them all several times during a run and once more at exit: about
# 0.6 s of a scheduled run on two cores (README, Benchmark). At exit, what the run left alive is
# frozen too: Python promises no finalizer then, and nothing here relies on one.
gc.freeze()
gc.enable()
atexit.register(gc.freeze)
