"""What the tests share besides fixtures: the emulated account, the real snapshots, small
hand-written sources, and helpers that run the daily job and read back what it wrote."""

import atexit
import datetime as dt
import functools
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pyarrow as pa
import pytest
import requests
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
)

from covid_assets.defs.dashboard.as_published_on import AS_PUBLISHED_ON
from covid_assets.defs.dashboard.dashboard import DASHBOARD_KEY
from covid_assets.domain.history import revision_summary
from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.tables import LEVELS, NATIONAL, TABLES, ServedTable
from covid_assets.resources.exports import read_glue_export
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.settings import SETTINGS
from covid_assets_dev.aws_calls import AwsCall
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.local_stack import EMULATOR_CREDENTIALS, provision
from covid_assets_dev.ticks import TickResult, evaluate
from covid_assets_dev.web_sources import ServedFolder, served_folder

SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SNAPSHOTS_DIR = SHARED_DATA_DIR / "snapshots"
HISTORY_DIR = SHARED_DATA_DIR / "history"
README = Path(__file__).resolve().parents[1] / "README.md"
NATIONAL_HISTORY_DIR = HISTORY_DIR / "nyt-us"
# The NYT commit of each snapshot folder's files (from shared/data/README.md).
SNAPSHOT_COMMITS = {
    "2020-10-09": "d01d5d8",
    "2021-03-14": "19b85a1",
    "2021-03-15": "f7eeb2f",
    "2021-03-16": "d433dc6",
    "2021-03-17": "48a0b6c",
    "2021-03-18": "570171a",
}
# The JHU file replayed with every national version: published before the first NYT version, so
# that each version's publication time is its NYT commit's.
JHU_PUBLISHED = dt.datetime(2020, 4, 1, tzinfo=dt.UTC)
# A merged table: date -> (cases, deaths, recovered).
MergedDays = dict[str, tuple[int, int, int | None]]

LINEAGE = {
    "nyt_raw": set(),
    "jhu_raw": set(),
    "merged_daily_table": {"nyt_raw", "jhu_raw"},
    "merged_daily_history": {"merged_daily_table", "nyt_raw", "jhu_raw"},
    "dynamodb_records": {"merged_daily_history"},
    "athena_export": {"merged_daily_history"},
    "dashboard": {"athena_export", "merged_daily_history"},
}
# What the national pipeline serves: each carries the freshness policy.
SERVED_ASSETS = {"dynamodb_records", "athena_export", "dashboard"}
# The state level's assets, when it is on; the dashboard then draws the states too.
STATE_LINEAGE = {
    "nyt_states_raw": set(),
    "state_daily_table": {"nyt_states_raw", "nyt_raw"},
    "state_daily_history": {"state_daily_table", "nyt_states_raw"},
    "state_dynamodb_records": {"state_daily_history"},
    "state_athena_export": {"state_daily_history"},
    "dashboard": {"athena_export", "merged_daily_history", "state_athena_export"},
}
# The county level's, when it is on (its counties are reconciled with the state file).
COUNTY_LINEAGE = {
    "nyt_counties_raw": set(),
    "county_daily_table": {"nyt_counties_raw", "nyt_states_raw"},
    "county_daily_history": {"county_daily_table", "nyt_counties_raw"},
    "county_dynamodb_records": {"county_daily_history"},
    "county_athena_export": {"county_daily_history"},
}


@dataclass
class EmulatedAws:
    endpoint: str
    region: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint)

    @property
    def table_name(self) -> str:
        return os.environ["COVID_DYNAMODB_TABLE"]

    @property
    def bucket(self) -> str:
        return os.environ["COVID_S3_BUCKET"]


def blank_emulated_account(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> EmulatedAws:
    """Reset the emulator, set the environment (credentials, endpoint, every setting at its
    default) so that boto3 clients use it, and deploy the stack the pipeline expects."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    for name, value in {**EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    for setting in SETTINGS.values():
        monkeypatch.setenv(setting.name, setting.default)
    # The levels' sources default to upstream URLs: off unless a test turns its level on, so
    # the suite stays offline and each test pays only for the levels it is about.
    for level in LEVELS:
        monkeypatch.setenv(level.source.url_setting, "")
    for name, value in provision().items():
        monkeypatch.setenv(name, value)
    return EmulatedAws(endpoint, os.environ["AWS_DEFAULT_REGION"])


def use_sources(monkeypatch: pytest.MonkeyPatch, nyt: Path | str, jhu: Path | str) -> None:
    monkeypatch.setenv("COVID_NYT_URL", str(nyt))
    monkeypatch.setenv("COVID_JHU_URL", str(jhu))


def every_level_at_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every level on, its source at its upstream default (nothing is fetched until a run)."""
    for level in LEVELS:
        monkeypatch.delenv(level.source.url_setting, raising=False)


def use_level_source(monkeypatch: pytest.MonkeyPatch, level: ServedTable, path: Path | str) -> None:
    """Turn the level on, its source read from ``path``."""
    monkeypatch.setenv(level.source.url_setting, str(path))


@functools.cache
def published_snapshot(snapshots_dir: Path, day: str) -> Path:
    """A copy of one day's snapshot folder whose files were modified (published) at noon UTC
    that day, as a run at 12:15 saw them: a local file is published when it was modified, and
    the shared copies' own times say only when they were copied. One copy per process."""
    folder = Path(tempfile.mkdtemp(prefix=f"snapshot-{day}-"))
    atexit.register(shutil.rmtree, folder, True)
    noon = dt.datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    for original in (snapshots_dir / day).iterdir():
        shutil.copyfile(original, folder / original.name)
        os.utime(folder / original.name, (noon, noon))
    return folder


def published_at(moment: dt.datetime, *files: Path) -> None:
    """Date the files' publication (a local file is published when it was last modified)."""
    for file in files:
        os.utime(file, (moment.timestamp(), moment.timestamp()))


def snapshot_sources(snapshots_dir: Path, day: str) -> dict[str, str]:
    """The settings that point the sources at one day's real snapshot, published that day."""
    folder = published_snapshot(snapshots_dir, day)
    return {
        "COVID_NYT_URL": (folder / "nyt-us.csv").as_uri(),
        "COVID_JHU_URL": str(folder / "jhu-combined.csv"),
    }


def keys_read(calls: list[AwsCall]) -> int:
    """The keys the calls' BatchGetItem calls asked for."""
    return sum(
        len(keys["Keys"])
        for call in calls
        if call.operation == "BatchGetItem"
        for keys in call.params["RequestItems"].values()
    )


def use_snapshot(monkeypatch: pytest.MonkeyPatch, snapshots_dir: Path, day: str) -> None:
    for name, value in snapshot_sources(snapshots_dir, day).items():
        monkeypatch.setenv(name, value)


# A run stopped by bad input or an unreachable source ends at its first failing step, with no
# retries and no wait: well within this, where retries with backoff would take minutes.
FAILING_RUN_SECONDS = 30


@contextmanager
def takes_less_than(seconds: float) -> Iterator[None]:
    """Fail the test when the block takes ``seconds`` or more (wall time)."""
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"took {elapsed:.1f} s, not under {seconds} s"


def run_daily_job(instance: DagsterInstance, raise_on_error: bool = True) -> ExecuteInProcessResult:
    """Run every asset, as "Materialize all" does, with the settings the environment holds now."""
    job = current_definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, raise_on_error=raise_on_error)


def run_assets(instance: DagsterInstance, assets: list[str]) -> ExecuteInProcessResult:
    """Run these assets and their checks only, with the settings the environment holds now."""
    job = current_definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=[AssetKey(asset) for asset in assets]
    )


def run_checks_only(instance: DagsterInstance, *checks: str) -> dict[str, AssetCheckEvaluation]:
    """Evaluate some checks again, in a run of their own (the UI's Execute), against the last
    materializations; their evaluations by name."""
    keys = {AssetCheckKey.from_user_string(check) for check in checks}
    job = current_definitions().resolve_implicit_global_asset_job_def()
    only_checks = job.get_subset(asset_selection=set(), asset_check_selection=keys)
    result = only_checks.execute_in_process(instance=instance, raise_on_error=False)
    return {e.asset_check_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def stored_days(aws: EmulatedAws) -> dict[str, tuple[int | None, ...]]:
    """The DynamoDB table's national items (region US) as date → (cases, deaths, recovered),
    read with a Scan; None where an item has no such attribute (no figure)."""
    pages = aws.client("dynamodb").get_paginator("scan").paginate(TableName=aws.table_name)
    return {
        item["date"]["S"]: tuple(
            int(item[column]["N"]) if column in item else None
            for column in ("cases", "deaths", "recovered")
        )
        for page in pages
        for item in page["Items"]
        if item["region"]["S"] == "US"
    }


def glue_export_table(aws: EmulatedAws) -> dict[str, Any]:
    return aws.client("glue").get_table(
        DatabaseName=os.environ["COVID_GLUE_DATABASE"], Name=os.environ["COVID_GLUE_TABLE"]
    )["Table"]


def served_tables(aws: EmulatedAws) -> ServedTablesResource:
    """Where the served tables are, as the environment names them now (outside a run: every
    call reads)."""
    return ServedTablesResource(
        glue=GlueCatalogResource(
            database=os.environ["COVID_GLUE_DATABASE"], region_name=aws.region
        ),
        bucket=S3BucketResource(bucket=aws.bucket, region_name=aws.region),
        glue_tables={t.name: os.environ[t.glue_table_setting] for t in TABLES},
        export_prefixes={t.name: os.environ[t.export_prefix_setting] for t in TABLES},
    )


def exported_rows(aws: EmulatedAws) -> pa.Table:
    """Every Parquet file at the Glue table's location, read the way Athena would."""
    glue = GlueCatalogResource(database=os.environ["COVID_GLUE_DATABASE"], region_name=aws.region)
    bucket = S3BucketResource(bucket=aws.bucket, region_name=aws.region)
    return read_glue_export(glue, bucket, os.environ["COVID_GLUE_TABLE"]).to_arrow()


def exported_days(aws: EmulatedAws) -> dict[str, tuple[int | None, ...]]:
    """The national export's rows as date -> (cases, deaths, recovered), None where null."""
    return {
        row["date"].isoformat(): (row["cases"], row["deaths"], row["recovered"])
        for row in exported_rows(aws).to_pylist()
    }


def stored_item_versions(aws: EmulatedAws, region: str, date: str) -> dict[str, Any]:
    """What one DynamoDB item records of its versions: first_published, last_revised,
    revisions."""
    item = aws.client("dynamodb").get_item(
        TableName=aws.table_name, Key={"region": {"S": region}, "date": {"S": date}}
    )["Item"]
    return {
        "first_published": item["first_published"]["S"],
        "last_revised": item["last_revised"]["S"],
        "revisions": int(item["revisions"]["N"]),
    }


def s3_keys(aws: EmulatedAws, prefix: str = "") -> list[str]:
    pages = (
        aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=aws.bucket, Prefix=prefix)
    )
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def materialized_assets(result: ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def check_evaluation(result: ExecuteInProcessResult, check: str) -> AssetCheckEvaluation:
    """The run's one evaluation of a check named "asset:check"."""
    key = AssetCheckKey.from_user_string(check)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == key]
    return evaluation


def materialization_metadata(result: ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The plain metadata values of the run's one materialization of ``asset``."""
    [materialization] = [
        event.step_materialization_data.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey(asset)
    ]
    return {key: value.value for key, value in materialization.metadata.items()}


# Small hand-written sources: three good days, and the US row of JHU beside a trap ("Australia").
NYT_THREE_DAYS = "date,cases,deaths\n2020-03-01,10,1\n2020-03-02,20,2\n2020-03-03,30,3\n"
JHU_THREE_DAYS = (
    "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n"
    "2020-03-01,US,,9,1,0\n2020-03-02,US,,19,2,0\n2020-03-03,US,,29,,0\n"
    "2020-03-01,Australia,,5,5,0\n"
)
# Two states whose counts add up to NYT_THREE_DAYS's national totals.
STATES_THREE_DAYS = (
    "date,state,fips,cases,deaths\n"
    "2020-03-01,Washington,53,7,1\n2020-03-01,Puerto Rico,72,3,0\n"
    "2020-03-02,Washington,53,14,2\n2020-03-02,Puerto Rico,72,6,0\n"
    "2020-03-03,Washington,53,21,3\n2020-03-03,Puerto Rico,72,9,0\n"
)
# Counties that add up to STATES_THREE_DAYS (Washington's Unknown has no fips; Puerto Rico's
# deaths are blank, as upstream).
COUNTIES_THREE_DAYS = (
    "date,county,state,fips,cases,deaths\n"
    "2020-03-01,King,Washington,53033,5,1\n2020-03-01,Unknown,Washington,,2,0\n"
    "2020-03-01,San Juan,Puerto Rico,72127,3,\n"
    "2020-03-02,King,Washington,53033,10,2\n2020-03-02,Unknown,Washington,,4,0\n"
    "2020-03-02,San Juan,Puerto Rico,72127,6,\n"
    "2020-03-03,King,Washington,53033,15,3\n2020-03-03,Unknown,Washington,,6,0\n"
    "2020-03-03,San Juan,Puerto Rico,72127,9,\n"
)
# The same and one more day, as the next day's files would be.
NYT_FOUR_DAYS = NYT_THREE_DAYS + "2020-03-04,40,4\n"
JHU_FOUR_DAYS = JHU_THREE_DAYS + "2020-03-04,US,,39,4,0\n"
THREE_DAYS = {
    "2020-03-01": (10, 1, 1),
    "2020-03-02": (20, 2, 2),
    "2020-03-03": (30, 3, None),  # JHU's Recovered is blank: no figure
}


def generated_sources(days: int, first: dt.date = dt.date(2020, 3, 1)) -> tuple[str, str]:
    """NYT and JHU texts of ``days`` consecutive days from ``first``, with counts that grow:
    day i has 1,000 * (i + 1) cases, 10 * (i + 1) deaths and 100 * (i + 1) recovered."""
    dates = [(first + dt.timedelta(days=day)).isoformat() for day in range(days)]
    nyt = "".join(f"{date},{1000 * n},{10 * n}\n" for n, date in enumerate(dates, start=1))
    jhu = "".join(f"{date},US,,{1000 * n},{100 * n},{10 * n}\n" for n, date in enumerate(dates, 1))
    return f"{NYT_THREE_DAYS.splitlines()[0]}\n{nyt}", f"{JHU_THREE_DAYS.splitlines()[0]}\n{jhu}"


def without_lines(text: str, *starts: str) -> str:
    """``text`` without the lines that start with any of ``starts`` (e.g. a date)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(starts))


@dataclass
class AlertInbox:
    """An SQS queue subscribed to the pipeline's SNS topic: what a person would receive."""

    sqs: Any
    queue_url: str

    def messages(self) -> list[tuple[str, str]]:
        """(subject, message) of everything published since the last call."""
        received = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            for message in batch:
                envelope = json.loads(message["Body"])
                received.append((envelope.get("Subject", ""), envelope["Message"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return received


def subscribed_alert_inbox(aws: EmulatedAws) -> AlertInbox:
    """An SQS queue subscribed to the pipeline's SNS topic (COVID_SNS_TOPIC_ARN), to read what
    the pipeline publishes from then on."""
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.client("sns").subscribe(
        TopicArn=os.environ["COVID_SNS_TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn
    )
    return AlertInbox(sqs, queue_url)


# Two modification times a day apart, for files served over HTTP.
DAY_ONE, DAY_TWO = 1_600_000_000, 1_600_086_400


@contextmanager
def web_sources_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedFolder]:
    """Serve ``folder`` on 127.0.0.1 and point the pipeline's sources at us.csv and jhu.csv."""
    with served_folder(folder) as served:
        use_sources(monkeypatch, f"{served.url}/us.csv", f"{served.url}/jhu.csv")
        yield served


def load_three_days_served(web_sources: ServedFolder, instance: DagsterInstance) -> None:
    """Serve the three-day sources, published on DAY_ONE, and load them with one run; then
    forget the answers that run got."""
    web_sources.write("us.csv", NYT_THREE_DAYS, DAY_ONE)
    web_sources.write("jhu.csv", JHU_THREE_DAYS, DAY_ONE)
    run_daily_job(instance)
    web_sources.answers.clear()


@dataclass
class ServedAccount:
    """A blank emulated account, a new instance and the sources served over HTTP, for a module
    fixture that runs a scenario once and hands its tests what it saw."""

    aws: EmulatedAws
    instance: DagsterInstance
    web: ServedFolder
    monkeypatch: pytest.MonkeyPatch


@contextmanager
def three_days_served(moto_endpoint: str, folder: Path) -> Iterator[ServedAccount]:
    """The ``served`` state of a test, for a module fixture: on a blank account and a new
    instance, the three-day sources served from ``folder`` and loaded by one run."""
    with pytest.MonkeyPatch.context() as monkeypatch, DagsterInstance.ephemeral() as instance:
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        with web_sources_in(folder, monkeypatch) as web:
            load_three_days_served(web, instance)
            yield ServedAccount(aws, instance, web, monkeypatch)


def stored_output_path(instance: DagsterInstance, asset: str) -> Path:
    """Where Dagster's default IO manager keeps the asset's latest output."""
    return Path(instance.storage_directory()) / AssetKey(asset).path[-1]


def sensor_tick(instance: DagsterInstance) -> TickResult:
    """One evaluation of covid_sources_sensor, as the daemon makes it."""
    return evaluate(instance, "covid_sources_sensor")[0]


def schedule_tick(instance: DagsterInstance) -> TickResult:
    """One evaluation of covid_daily_schedule, as the daemon makes it at 12:15 UTC."""
    return evaluate(instance, "covid_daily_schedule")[0]


def freshness_alert_tick(instance: DagsterInstance, cursor: str | None) -> tuple[str, str | None]:
    """One evaluation of covid_freshness_alert from ``cursor``: its skip reason and new cursor."""
    tick, _ = evaluate(instance, "covid_freshness_alert", cursor)
    return tick.skip_reason, tick.cursor


NYT_HEADER = "date,cases,deaths"


JHU_HEADER = "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths"


def raw_table(*lines: str) -> pd.DataFrame:
    """A raw table as the reading module reads one: text cells, indexed by line number."""
    return read_csv_text("\n".join(lines).encode())


def nyt(*rows: str) -> pd.DataFrame:
    return raw_table(NYT_HEADER, *rows)


def jhu(*rows: str) -> pd.DataFrame:
    return raw_table(JHU_HEADER, *rows)


def export_rows(cases: list[int], deaths: list[int], recovered: list[int | None]) -> pd.DataFrame:
    """An export as read back from Parquet: consecutive days from 2020-12-10, dates as dates."""
    start = dt.date(2020, 12, 10)
    return pd.DataFrame(
        {
            "date": [start + dt.timedelta(days=day) for day in range(len(cases))],
            "cases": cases,
            "deaths": deaths,
            "recovered": recovered,
        }
    )


def state_rows(cases_by_state: dict[str, list[int | None]]) -> pd.DataFrame:
    """A state export as read back: consecutive days from 2020-12-01 for each state, in the
    order given (a None is a blank count)."""
    start = dt.date(2020, 12, 1)
    return pd.DataFrame(
        [
            {"date": start + dt.timedelta(days=day), "state": state, "cases": cases}
            for state, counts in cases_by_state.items()
            for day, cases in enumerate(counts)
        ]
    )


def history_rows(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """A national history as read back: (valid_from, date, cases, deaths) per row, in any order,
    counts as nullable integers as the history's Parquet has them, recovered 0."""
    return pd.DataFrame(
        {
            "date": [dt.date.fromisoformat(date) for _, date, _, _ in rows],
            "cases": pd.array([cases for *_, cases, _ in rows], dtype="Int64"),
            "deaths": pd.array([deaths for *_, deaths in rows], dtype="Int64"),
            "recovered": pd.array([0] * len(rows), dtype="Int64"),
            "valid_from": pd.to_datetime(
                [valid_from for valid_from, *_ in rows], format="ISO8601"
            ).as_unit("ms"),
            "nyt_sha256": "0" * 64,
        }
    )


def national_summary(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """The revision summary of a national history given as ``history_rows`` takes it."""
    history = history_rows(rows)
    return revision_summary(history, sorted(history["valid_from"].unique()), NATIONAL)


SVG_IMAGE = re.compile(r"!\[([^\]]+)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)")


def run_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    return [entry.user_message for entry in instance.all_logs(run_id)]


def freshness_states(instance: DagsterInstance, assets: Iterable[str]) -> dict[str, str]:
    """Each asset's freshness state as Dagster's freshness daemon last recorded it (``PASS``,
    ``FAIL``, ``UNKNOWN``...); an asset it has not evaluated yet is left out."""
    records = instance.get_freshness_state_records([AssetKey(name) for name in assets])
    return {key.to_user_string(): record.freshness_state.value for key, record in records.items()}


def dashboard_page(aws: EmulatedAws, key: str = DASHBOARD_KEY) -> tuple[str, str]:
    """A dashboard page in the bucket, and its content type."""
    page = aws.client("s3").get_object(Bucket=aws.bucket, Key=key)
    return page["Body"].read().decode(), page["ContentType"]


def draw_as_published_on(
    instance: DagsterInstance, day: str
) -> tuple[ExecuteInProcessResult, dict[str, Any] | None]:
    """A run of the job as_published_on, and the metadata of its page (None if it failed)."""
    result = (
        current_definitions()
        .resolve_job_def(AS_PUBLISHED_ON)
        .execute_in_process(
            run_config={"ops": {"draw_as_published_on": {"config": {"day": day}}}},
            instance=instance,
            raise_on_error=False,
        )
    )
    outputs = [event for event in result.all_events if event.is_successful_output]
    if not outputs:
        return result, None
    return result, {
        name: value.value for name, value in outputs[0].step_output_data.metadata.items()
    }
