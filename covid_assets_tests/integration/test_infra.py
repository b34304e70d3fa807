"""A stack deployed from the CloudFormation template into the emulator: its table is the one the
pipeline would create, and its outputs alone configure a pipeline that runs."""

import pytest

from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets_dev.stack import (
    create_stack,
    settings_from_outputs,
    stack_parameters,
)
from covid_assets_tests.helpers import (
    glue_export_table,
    run_daily_job,
    stored_days,
    use_snapshot,
)

pytestmark = pytest.mark.integration


def test_stack_table_has_the_key_schema_the_pipeline_creates(aws):
    created_by_code = "covid_daily_created_by_code"
    DynamoDBResource(table_name=created_by_code, region_name=aws.region).ensure_table()
    dynamodb = aws.client("dynamodb")
    from_stack = dynamodb.describe_table(TableName=aws.table_name)["Table"]
    from_code = dynamodb.describe_table(TableName=created_by_code)["Table"]
    for field in ("KeySchema", "AttributeDefinitions"):
        assert from_stack[field] == from_code[field]
    assert from_stack["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_daily_job_runs_against_a_stack_configured_only_by_its_outputs(
    aws, instance, snapshots_dir, monkeypatch
):
    names = {
        "COVID_DYNAMODB_TABLE": "covid_daily_from_stack",
        "COVID_S3_BUCKET": "covid-assets-from-stack",
        "COVID_S3_PREFIX": "exports/us/",
        "COVID_GLUE_DATABASE": "covid_from_stack",
        "COVID_GLUE_TABLE": "daily_from_stack",
    }
    outputs = create_stack(
        "covid-assets-renamed",
        {**stack_parameters(names), "TopicName": "covid-alerts-renamed"},
        aws.region,
    )
    for name in names:
        monkeypatch.delenv(name)
    for name, value in settings_from_outputs(outputs).items():
        monkeypatch.setenv(name, value)
    use_snapshot(monkeypatch, snapshots_dir, "2021-03-18")

    assert run_daily_job(instance).success
    assert len(stored_days(aws)) == 420
    location = glue_export_table(aws)["StorageDescriptor"]["Location"]
    assert location.startswith("s3://covid-assets-from-stack/exports/us/")
