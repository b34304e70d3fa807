"""Every setting of the pipeline: its environment variable, its local default and what it does.

The README's configuration table lists exactly these (a test keeps the two in step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagster import EnvVar

from covid_assets.domain.sources import NATIONAL_SOURCES, SOURCES, Source
from covid_assets.domain.tables import LEVELS, NATIONAL, TABLES, ServedTable


def _when_off(source: Source) -> str:
    """What turns a source off, for its setting's description."""
    if source in NATIONAL_SOURCES:
        return ""
    levels = [table for table in LEVELS if source in table.sources]
    if not levels:
        return " Empty: it is not fetched."
    against = levels[0].level.reconciliation.against
    above = [other for other in LEVELS if against in other.sources]
    also = f" It is off too while the {above[0].name} level is." if above else ""
    return f" Empty: the {levels[0].name} level is off.{also}"


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    description: str


SETTINGS: dict[str, Setting] = {
    setting.name: setting
    for setting in (
        *(
            Setting(
                source.url_setting,
                source.default_url,
                f"{source.label}: http(s)://, file:// or a local path.{_when_off(source)}",
            )
            for source in SOURCES
        ),
        Setting(
            "COVID_HTTP_TIMEOUT_SECONDS",
            "30",
            "Connect and read timeout of one download attempt, in seconds.",
        ),
        Setting(
            "COVID_HTTP_RETRIES",
            "4",
            "Retries of a download after a timeout, a dropped connection, HTTP 429 or 5xx "
            "(exponential backoff with jitter); a host that does not resolve or refuses the "
            "connection, and other 4xx, fail at once.",
        ),
        Setting(
            "COVID_DOWNLOAD_MAX_BYTES",
            str(64 * 1024 * 1024),
            "Largest source file accepted, in bytes.",
        ),
        Setting(
            "COVID_SENSOR_INTERVAL_SECONDS",
            "300",
            "How often the sensor covid_sources_sensor asks the sources for a newer file and "
            "checks what is served, in seconds.",
        ),
        Setting(
            "COVID_FRESHNESS_HOURS",
            "36",
            "What is served is marked stale (and one SNS alert sent) when no run has built it "
            "for this many hours: no source change loaded and no repair made.",
        ),
        Setting("COVID_DYNAMODB_TABLE", "covid_daily", "DynamoDB table of the daily records."),
        Setting(
            "COVID_DYNAMODB_WRITERS",
            "4",
            "BatchWriteItem calls (25 items each), and BatchGetItem calls, in flight at once in "
            "a large write or read, such as a first load or a backfill; 1 sends one after another.",
        ),
        Setting(
            "COVID_S3_BUCKET",
            "covid-assets-local",
            "S3 bucket of the exports, their histories, quarantined inputs and the dashboard.",
        ),
        Setting(
            "COVID_IO_S3_PREFIX",
            "",
            "Key prefix in the bucket where each step leaves its outputs for the next "
            "(dagster-aws's S3 pickle IO manager). Empty: files under DAGSTER_HOME, readable only "
            "on the machine that wrote them; set it where runs are separate tasks (ECS).",
        ),
        Setting(
            "COVID_GLUE_DATABASE",
            "covid",
            "Glue Data Catalog database of the exports and their histories.",
        ),
        *(
            setting
            for table in TABLES
            for setting in (
                Setting(
                    table.glue_table_setting,
                    table.glue_table_default,
                    f"Glue table (Athena table) of the {table.name} export; its history's is "
                    "the same name with _history.",
                ),
                Setting(
                    table.export_prefix_setting,
                    table.export_prefix_default,
                    f"Key prefix of the {table.name} export inside the bucket; its history's "
                    "is history/ and the same prefix.",
                ),
            )
        ),
        Setting(
            "COVID_SNS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:covid-assets-alerts",
            "SNS topic for validation alerts, run-failure alerts and load notices "
            "(the default is the local emulator's topic).",
        ),
        Setting(
            "COVID_MAX_LOST_DAYS_PERCENT",
            "1",
            "Served days (in the export) a new merged table may lose, in whole percent of them; "
            "more blocks the load, fewer are a warning listing them.",
        ),
        Setting(
            "COVID_PROTECTED_RECENT_DAYS",
            "7",
            "The last served days of which a new merged table may lose none.",
        ),
        Setting(
            "COVID_MAX_COUNT_DROP_PERCENT",
            "10",
            "How far a day's cases, deaths or recovered may fall below the served value, in "
            "whole percent of it (real revisions: up to 4.5%).",
        ),
        Setting(
            "COVID_COUNT_DROP_FLOOR",
            "10",
            "A fall of a served count by this many or fewer is always allowed (small counts are "
            "revised from 1 to 0).",
        ),
        Setting(
            "COVID_SERVING_LOCK_WAIT_SECONDS",
            "300",
            "How long a run waits while another run under way holds the serving lock (it builds "
            "and writes what is served), before failing, in seconds; longer than the lease.",
        ),
        Setting(
            "COVID_SERVING_LOCK_LEASE_SECONDS",
            "60",
            "The serving lock's lease: its run renews it every third of this; a lock not renewed "
            "for this long is taken over and its run marked failed, in seconds.",
        ),
        Setting(
            "AWS_DEFAULT_REGION",
            "us-east-1",
            "AWS region of every client (the standard boto3 variable).",
        ),
    )
}


def configured(name: str) -> str:
    """The value to give a resource field: ``EnvVar(name)`` when the variable is set, so that
    Dagster resolves it at launch and shows it as an environment variable in the UI; otherwise
    the local default, so a fresh clone runs with nothing set."""
    return EnvVar(name) if name in os.environ else SETTINGS[name].default


def configured_int(name: str) -> int:
    """``configured`` for a whole number."""
    return EnvVar.int(name) if name in os.environ else int(SETTINGS[name].default)


def value(name: str) -> str:
    """The setting's value now, for what is fixed when the definitions are built (a sensor's
    interval) rather than resolved at launch."""
    return os.environ.get(name) or SETTINGS[name].default


def is_on(source: Source) -> bool:
    """Whether the source's URL setting leaves it on: the national sources always are; any
    other is unless the setting is the empty string (which turns its level off)."""
    return source in NATIONAL_SOURCES or os.environ.get(source.url_setting) != ""


def enabled_tables() -> tuple[ServedTable, ...]:
    """The served tables that are on: the nation's always; a level's when its source's setting
    is not empty and the level it is reconciled with is on too (the counties are held to the
    states)."""
    available = set(NATIONAL.sources)
    tables = [NATIONAL]
    for table in LEVELS:
        if all(is_on(source) for source in table.sources) and (
            table.level.reconciliation.against in available
        ):
            tables.append(table)
            available |= set(table.sources)
    return tuple(tables)


def enabled_sources() -> tuple[Source, ...]:
    """The sources that are fetched: a table's sources when the table is on, any other when
    its setting leaves it on."""
    of_tables = {source for table in TABLES for source in table.sources}
    on = {source for table in enabled_tables() for source in table.sources}
    return tuple(
        source for source in SOURCES if source in on or (source not in of_tables and is_on(source))
    )
