"""The code location ``covid_assets``: every asset (each with its checks), schedule, sensor
and resource of the project, assembled into one ``Definitions``."""

import gc

# Python's collector is off while the project's libraries are imported and the definitions are
# built, and switched back on, after a freeze, at the end of this module. Everything made on the
# way lives as long as the process, so a collection then would only walk it again, and a run
# worker starts by importing this module.
gc.disable()

import atexit
import os

from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    Definitions,
    FilesystemIOManager,
    in_process_executor,
    load_assets_from_modules,
)
from dagster_aws.s3 import S3PickleIOManager, S3Resource

from covid_assets.defs.automation.freshness import covid_freshness_alert
from covid_assets.defs.automation.triggers import (
    build_sources_sensor,
    covid_daily_schedule,
    covid_run_failure_alert,
)
from covid_assets.defs.backfills.county_backfill import county_history_backfill
from covid_assets.defs.backfills.history_backfill import build_history_backfill
from covid_assets.defs.dashboard.dashboard import build_dashboard
from covid_assets.defs.history.history_assets import (
    NATIONAL_HISTORY,
    build_history_asset,
    history_resource_keys,
    history_resources,
    level_history,
)
from covid_assets.defs.serving import athena_export, dynamodb_records
from covid_assets.defs.sources.raw_sources import build_raw_sources
from covid_assets.defs.tables import merged_daily_table
from covid_assets.defs.tables.level_assets import (
    bucket_resource_key,
    build_level_assets,
    glue_resource_key,
)
from covid_assets.domain.tables import COUNTY, Level
from covid_assets.resources.downloads import SourceFileDownloader
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.served import ServedExportResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.sns import SNSResource
from covid_assets.settings import (
    configured,
    configured_int,
    enabled_levels,
    enabled_sources,
    value,
)


def build_definitions() -> Definitions:
    """Resolve the settings and assemble the definitions. Settings that are set in the
    environment become EnvVars (read at launch); the rest take their local defaults. A level
    whose source URL is set to the empty string is left out: its source and assets are not
    defined, so no run or tick fetches or writes anything of it."""
    sources, levels = enabled_sources(), enabled_levels()
    region = configured("AWS_DEFAULT_REGION")
    bucket = S3BucketResource(
        bucket=configured("COVID_S3_BUCKET"),
        export_prefix=configured("COVID_S3_PREFIX"),
        region_name=region,
    )
    alerts = SNSResource(topic_arn=configured("COVID_SNS_TOPIC_ARN"), region_name=region)
    dynamodb = DynamoDBResource(
        table_name=configured("COVID_DYNAMODB_TABLE"),
        max_parallel_writers=configured_int("COVID_DYNAMODB_WRITERS"),
        region_name=region,
    )
    glue = GlueCatalogResource(
        database=configured("COVID_GLUE_DATABASE"),
        table_name=configured("COVID_GLUE_TABLE"),
        region_name=region,
    )
    national_history = history_resources(NATIONAL_HISTORY, region)
    return Definitions(
        assets=[
            build_raw_sources(sources),
            *load_assets_from_modules([merged_daily_table, dynamodb_records, athena_export]),
            build_history_asset(NATIONAL_HISTORY),
            *(asset for level in levels for asset in build_level_assets(level)),
            build_dashboard(levels),
        ],
        # The backfills, launched by hand from the UI: the served tables' histories from an
        # archive of versions, and the county history when the county level is on.
        jobs=[
            build_history_backfill(levels),
            *([county_history_backfill] if COUNTY in levels else []),
        ],
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
            "bucket": bucket,
            "glue": glue,
            "alerts": alerts,
            "quarantine": QuarantineResource(bucket=bucket, alerts=alerts),
            "served_export": ServedExportResource(
                glue=glue,
                history=national_history[history_resource_keys(NATIONAL_HISTORY)[0]],
                bucket=bucket,
                max_lost_days_percent=configured_int("COVID_MAX_LOST_DAYS_PERCENT"),
                protected_recent_days=configured_int("COVID_PROTECTED_RECENT_DAYS"),
                max_count_drop_percent=configured_int("COVID_MAX_COUNT_DROP_PERCENT"),
                count_drop_floor=configured_int("COVID_COUNT_DROP_FLOOR"),
            ),
            # Every step holds it, so that two runs never interleave (see serving_lock).
            "serving_lock": ServingLockResource(
                dynamodb=dynamodb, wait_seconds=configured_int("COVID_SERVING_LOCK_WAIT_SECONDS")
            ),
            **national_history,
            **{key: res for level in levels for key, res in level_resources(level, region).items()},
            **step_output_io_manager(region),
        },
        # The steps are small and run one after another, so a subprocess per step (Dagster's
        # default) would cost more than the steps themselves. In one process, a run's resources
        # are also torn down once, after its last step: the serving lock is held until then.
        executor=in_process_executor,
    )


def level_resources(level: Level, region: str) -> dict[str, ConfigurableResource]:
    """A level's own Glue tables and prefixes (its export's and its history's), beside the
    shared resources."""
    return {
        **history_resources(level_history(level), region),
        glue_resource_key(level): GlueCatalogResource(
            database=configured("COVID_GLUE_DATABASE"),
            table_name=configured(level.glue_table_setting),
            region_name=region,
        ),
        bucket_resource_key(level): S3BucketResource(
            bucket=configured("COVID_S3_BUCKET"),
            export_prefix=configured(level.export_prefix_setting),
            region_name=region,
        ),
    }


def step_output_io_manager(region: str) -> dict[str, ConfigurableIOManager]:
    """Where steps leave their outputs for the next ones. By default files under DAGSTER_HOME;
    with COVID_IO_S3_PREFIX set, S3. Where each run is a task of its own (ECS), a retry from the
    failed step or one asset materialized from the UI runs in a new task, which must read what
    the earlier tasks wrote. Named even by default, so that a job of ops (the county backfill,
    which leaves the county load's last load) stores where the assets do, also in a run in
    process (which would swap Dagster's implicit default for memory)."""
    if not os.environ.get("COVID_IO_S3_PREFIX"):
        return {"io_manager": FilesystemIOManager()}
    io_manager = S3PickleIOManager(
        s3_resource=S3Resource(region_name=region),
        s3_bucket=configured("COVID_S3_BUCKET"),
        s3_prefix=configured("COVID_IO_S3_PREFIX"),
    )
    return {"io_manager": io_manager}


defs = build_definitions()

# Everything alive once the definitions are built lives as long as the process. Frozen, it is
# left out of the full collections a run would otherwise make, and at exit what the run left
# alive is frozen too: Python promises no finalizer then, and nothing here relies on one.
gc.freeze()
gc.enable()
atexit.register(gc.freeze)
