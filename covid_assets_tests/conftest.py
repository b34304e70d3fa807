"""Shared fixtures: a moto server over HTTP, an emulated AWS account reset for every test, the
real source snapshots, and a helper that runs the daily job the way the schedule does."""

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    DagsterInstance,
    ExecuteInProcessResult,
    instance_for_test,
)

from covid_assets.definitions import build_definitions
from covid_assets.local_stack import EMULATOR_CREDENTIALS, moto_server, provision
from covid_assets.settings import SETTINGS

SNAPSHOTS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "snapshots"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


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


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> EmulatedAws:
    """A blank emulated account with the stack of infra/covid_assets.yaml deployed, and the
    environment pointing every boto3 client of the pipeline at it (configured from the stack's
    outputs). The emulator skips the template's Glue resources: the pipeline creates them."""
    return blank_emulated_account(moto_endpoint, monkeypatch)


@pytest.fixture(scope="session")
def snapshots_dir() -> Path:
    if not SNAPSHOTS_DIR.is_dir():
        pytest.skip(
            f"real source snapshots not found at {SNAPSHOTS_DIR} (see shared/data/README.md)"
        )
    return SNAPSHOTS_DIR


def use_sources(monkeypatch: pytest.MonkeyPatch, nyt: Path | str, jhu: Path | str) -> None:
    monkeypatch.setenv("COVID_NYT_URL", str(nyt))
    monkeypatch.setenv("COVID_JHU_URL", str(jhu))


def use_snapshot(monkeypatch: pytest.MonkeyPatch, snapshots_dir: Path, day: str) -> None:
    folder = snapshots_dir / day
    use_sources(monkeypatch, (folder / "nyt-us.csv").as_uri(), folder / "jhu-combined.csv")


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def run_daily_job(instance: DagsterInstance, raise_on_error: bool = True) -> ExecuteInProcessResult:
    """Run the scheduled job with the settings the environment holds now."""
    job = build_definitions().resolve_job_def("covid_daily_job")
    return job.execute_in_process(instance=instance, raise_on_error=raise_on_error)


def stored_days(aws: EmulatedAws) -> dict[str, tuple[int, int, int]]:
    """The DynamoDB table's items as date → (cases, deaths, recovered), read with a Scan."""
    pages = aws.client("dynamodb").get_paginator("scan").paginate(TableName=aws.table_name)
    return {
        item["date"]["S"]: tuple(
            int(item[column]["N"]) for column in ("cases", "deaths", "recovered")
        )
        for page in pages
        for item in page["Items"]
    }


def glue_export_table(aws: EmulatedAws) -> dict[str, Any]:
    return aws.client("glue").get_table(
        DatabaseName=os.environ["COVID_GLUE_DATABASE"], Name=os.environ["COVID_GLUE_TABLE"]
    )["Table"]


def exported_rows(aws: EmulatedAws) -> pa.Table:
    """Every Parquet file at the Glue table's location, read the way Athena would."""
    location = glue_export_table(aws)["StorageDescriptor"]["Location"]
    folder = location.removeprefix(f"s3://{aws.bucket}/")
    s3 = aws.client("s3")
    return pa.concat_tables(
        pq.read_table(io.BytesIO(s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()))
        for key in s3_keys(aws, folder)
    )


def materialized_assets(result: ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def observed_status(result: ExecuteInProcessResult) -> dict[str, str]:
    """asset -> the status the run observed it in (the sources, on a day nothing changed)."""
    return {
        event.asset_key.to_user_string(): event.asset_observation_data.asset_observation.metadata[
            "status"
        ].value
        for event in result.get_asset_observation_events()
    }


def check_evaluation(result: ExecuteInProcessResult, check: str) -> AssetCheckEvaluation:
    """The run's one evaluation of a check named "asset:check"."""
    key = AssetCheckKey.from_user_string(check)
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == key]
    return evaluation


def materialization_metadata(result: ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    [materialization] = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in materialization.metadata.items()}


# Small hand-written sources: three good days, and the US row of JHU beside a trap ("Australia").
NYT_THREE_DAYS = "date,cases,deaths\n2020-03-01,10,1\n2020-03-02,20,2\n2020-03-03,30,3\n"
JHU_THREE_DAYS = (
    "Date,Country/Region,Province/State,Confirmed,Recovered,Deaths\n"
    "2020-03-01,US,,9,1,0\n2020-03-02,US,,19,2,0\n2020-03-03,US,,29,,0\n"
    "2020-03-01,Australia,,5,5,0\n"
)
# The same and one more day, as the next day's files would be.
NYT_FOUR_DAYS = NYT_THREE_DAYS + "2020-03-04,40,4\n"
JHU_FOUR_DAYS = JHU_THREE_DAYS + "2020-03-04,US,,39,4,0\n"
THREE_DAYS = {
    "2020-03-01": (10, 1, 1),
    "2020-03-02": (20, 2, 2),
    "2020-03-03": (30, 3, 0),
}


@pytest.fixture
def write_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write NYT and JHU texts to files and point the pipeline at them."""

    def write(nyt_text: str | bytes, jhu_text: str | bytes) -> None:
        for name, text in (("us.csv", nyt_text), ("jhu.csv", jhu_text)):
            (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        use_sources(monkeypatch, (tmp_path / "us.csv").as_uri(), tmp_path / "jhu.csv")

    return write


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


@pytest.fixture
def alert_inbox(aws: EmulatedAws) -> AlertInbox:
    sqs = aws.client("sqs")
    queue_url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.client("sns").subscribe(
        TopicArn=os.environ["COVID_SNS_TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn
    )
    return AlertInbox(sqs, queue_url)


def s3_keys(aws: EmulatedAws, prefix: str = "") -> list[str]:
    pages = (
        aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=aws.bucket, Prefix=prefix)
    )
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def blank_emulated_account(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> EmulatedAws:
    """Reset the emulator, set the environment (credentials, endpoint, every setting at its
    default) so that boto3 clients use it, and deploy the stack the pipeline expects."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    for name, value in {**EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)
    for setting in SETTINGS.values():
        monkeypatch.setenv(setting.name, setting.default)
    for name, value in provision().items():
        monkeypatch.setenv(name, value)
    return EmulatedAws(endpoint, os.environ["AWS_DEFAULT_REGION"])
