"""The code location ``covid_assets``: every asset (each with its checks), job, schedule, sensor
and resource of the project, assembled into one ``Definitions``. What each is lives in its
module under ``defs/``; the served tables and sources they are built from are declared in
``domain/``."""

import os

from dagster import (
    AssetsDefinition,
    ConfigurableIOManager,
    Definitions,
    FilesystemIOManager,
    in_process_executor,
)
from dagster_aws.s3 import S3PickleIOManager, S3Resource

from covid_assets.defs.automation.freshness import covid_freshness_alert
from covid_assets.defs.automation.triggers import (
    build_sources_sensor,
    covid_daily_schedule,
    covid_run_failure_alert,
)
from covid_assets.defs.backfills.history_backfill import history_backfill
from covid_assets.defs.dashboard.as_published_on import build_as_published_on_job
from covid_assets.defs.dashboard.dashboard import build_dashboard
from covid_assets.defs.history.history_assets import build_history_asset
from covid_assets.defs.metadata import with_code_references
from covid_assets.defs.serving.athena_export import build_export_asset
from covid_assets.defs.serving.dynamodb_records import build_records_asset
from covid_assets.defs.serving.served_check import build_served_check
from covid_assets.defs.sources.raw_sources import build_raw_sources
from covid_assets.defs.tables.merged_daily_table import merged_daily_table
from covid_assets.defs.tables.place_tables import build_place_table
from covid_assets.domain.tables import ServedTable
from covid_assets.resources.downloads import SourceFileDownloader
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.sns import SNSResource
from covid_assets.resources.tolerances import ServedTolerancesResource
from covid_assets.settings import (
    configured,
    configured_int,
    enabled_sources,
    enabled_tables,
    value,
)


def table_assets(table: ServedTable) -> list[AssetsDefinition]:
    """A served table's assets: its table (the nation's is its own asset, a level's is built
    from its declaration), then its history, DynamoDB load and export, one path for all."""
    return [
        merged_daily_table if table.level is None else build_place_table(table),
        build_history_asset(table),
        build_records_asset(table),
        build_export_asset(table),
    ]


def build_definitions() -> Definitions:
    """Resolve the settings and assemble the definitions. Settings that are set in the
    environment become EnvVars (read at launch); the rest take their local defaults. A level
    whose source URL is set to the empty string is left out: its source and assets are not
    defined, so no run or tick fetches or writes anything of it."""
    sources, tables = enabled_sources(), enabled_tables()
    region = configured("AWS_DEFAULT_REGION")
    bucket = S3BucketResource(bucket=configured("COVID_S3_BUCKET"), region_name=region)
    alerts = SNSResource(topic_arn=configured("COVID_SNS_TOPIC_ARN"), region_name=region)
    dynamodb = DynamoDBResource(
        table_name=configured("COVID_DYNAMODB_TABLE"),
        max_parallel_writers=configured_int("COVID_DYNAMODB_WRITERS"),
        region_name=region,
    )
    assets = [
        build_raw_sources(sources),
        *(asset for table in tables for asset in table_assets(table)),
        build_dashboard(tables),
    ]
    return Definitions(
        assets=[with_code_references(asset) for asset in assets],
        # Whether what is served is what was written, on every serving asset at once.
        asset_checks=[build_served_check(tables)],
        # Launched by hand: the backfill of an archive of versions of any served table, and the
        # dashboard as published on a past day.
        jobs=[history_backfill, build_as_published_on_job(tables)],
        schedules=[covid_daily_schedule],
        sensors=[
            build_sources_sensor(int(value("COVID_SENSOR_INTERVAL_SECONDS"))),
            covid_run_failure_alert,
            covid_freshness_alert,
        ],
        resources={
            "downloader": SourceFileDownloader(
                urls={source.asset: configured(source.url_setting) for source in sources},
                timeout_seconds=configured_int("COVID_HTTP_TIMEOUT_SECONDS"),
                retries=configured_int("COVID_HTTP_RETRIES"),
                max_bytes=configured_int("COVID_DOWNLOAD_MAX_BYTES"),
            ),
            "dynamodb": dynamodb,
            "alerts": alerts,
            "served": ServedTablesResource(
                glue=GlueCatalogResource(
                    database=configured("COVID_GLUE_DATABASE"), region_name=region
                ),
                bucket=bucket,
                glue_tables={table.name: configured(table.glue_table_setting) for table in tables},
                export_prefixes={
                    table.name: configured(table.export_prefix_setting) for table in tables
                },
            ),
            "quarantine": QuarantineResource(bucket=bucket, alerts=alerts),
            "tolerances": ServedTolerancesResource(
                max_lost_days_percent=configured_int("COVID_MAX_LOST_DAYS_PERCENT"),
                protected_recent_days=configured_int("COVID_PROTECTED_RECENT_DAYS"),
                max_count_drop_percent=configured_int("COVID_MAX_COUNT_DROP_PERCENT"),
                count_drop_floor=configured_int("COVID_COUNT_DROP_FLOOR"),
            ),
            # Every step holds it, so that two runs never interleave (see serving_lock).
            "serving_lock": ServingLockResource(
                dynamodb=dynamodb,
                wait_seconds=configured_int("COVID_SERVING_LOCK_WAIT_SECONDS"),
                lease_seconds=configured_int("COVID_SERVING_LOCK_LEASE_SECONDS"),
            ),
            **step_output_io_manager(region),
        },
        # The steps are small and run one after another, so a subprocess per step (Dagster's
        # default) would cost more than the steps themselves. In one process, a run's resources
        # are also set up and torn down once: the serving lock is held until its last step, and
        # what a step read of what is served is not read again by the next.
        executor=in_process_executor,
    )


def step_output_io_manager(region: str) -> dict[str, ConfigurableIOManager]:
    """Where steps leave their outputs for the next ones. By default files under DAGSTER_HOME;
    with COVID_IO_S3_PREFIX set, S3. Where each run is a task of its own (ECS), a retry from the
    failed step or one asset materialized from the UI runs in a new task, which must read what
    the earlier tasks wrote. Named even by default, so that the backfill's op (which leaves the
    outputs the next daily run reads) stores where the assets do, also in a run in process
    (which would swap Dagster's implicit default for memory)."""
    if not os.environ.get("COVID_IO_S3_PREFIX"):
        return {"io_manager": FilesystemIOManager()}
    io_manager = S3PickleIOManager(
        s3_resource=S3Resource(region_name=region),
        s3_bucket=configured("COVID_S3_BUCKET"),
        s3_prefix=configured("COVID_IO_S3_PREFIX"),
    )
    return {"io_manager": io_manager}


defs = build_definitions()
