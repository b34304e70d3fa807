"""The CloudFormation templates lint clean, and the data template agrees with the code (the
runtime template's own tests are in test_runtime_template)."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from covid_assets.domain.tables import COUNTY, NATIONAL, STATE
from covid_assets.resources.exports import ExportStore
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.histories import HistoryStore
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.settings import SETTINGS
from covid_assets_dev.stack import (
    OUTPUT_SETTINGS,
    RUNTIME_TEMPLATE_PATH,
    TEMPLATE_PATH,
)

pytestmark = pytest.mark.unit


def template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    decoded, errors = decode(str(path))
    assert not errors, errors
    return decoded


def test_templates_pass_cfn_lint():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE_PATH), str(RUNTIME_TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_mapped_output_exists_and_configures_a_setting():
    outputs = template()["Outputs"]
    assert set(OUTPUT_SETTINGS) <= set(outputs)
    assert set(OUTPUT_SETTINGS.values()) <= set(SETTINGS)


def test_table_is_on_demand_with_point_in_time_recovery_and_encryption():
    table = template()["Resources"]["DailyTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_bucket_is_private_encrypted_versioned_and_refuses_plain_http():
    resources = template()["Resources"]
    bucket = resources["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    [statement] = resources["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def assert_same_table_but_location(in_template: dict, written: dict) -> None:
    """The template's table is the one the export writes, but for the location each export
    moves and the parameters it records."""
    assert in_template["Parameters"].items() <= written["Parameters"].items()
    template_storage = dict(in_template["StorageDescriptor"])
    written_storage = dict(written["StorageDescriptor"])
    del template_storage["Location"], written_storage["Location"]
    assert template_storage == written_storage


def export_store(table) -> ExportStore:
    """The table's export with a made-up Glue table and prefix."""
    return ExportStore(
        table, GlueCatalogResource(database="covid"), S3BucketResource(bucket="b"), "t", "p/"
    )


@pytest.mark.parametrize(
    ("resource", "table"),
    [("GlueTable", NATIONAL), ("GlueStatesTable", STATE)],
    ids=["national", "state"],
)
def test_glue_table_in_the_template_is_the_one_the_export_writes(resource, table):
    in_template = template()["Resources"][resource]["Properties"]["TableInput"]
    written = export_store(table).table_input(1, {}, "s3://bucket/prefix/")
    assert in_template["TableType"] == written["TableType"]
    assert_same_table_but_location(in_template, written)


def test_partitioned_glue_table_in_the_template_is_the_one_the_county_export_writes():
    in_template = template()["Resources"]["GlueCountiesTable"]["Properties"]["TableInput"]
    written = export_store(COUNTY).table_input(1, {})
    assert in_template["PartitionKeys"] == written["PartitionKeys"]
    assert_same_table_but_location(in_template, written)


@pytest.mark.parametrize(
    ("resource", "history", "prefix"),
    [
        ("GlueHistoryTable", NATIONAL, "ExportPrefix"),
        ("GlueStatesHistoryTable", STATE, "StatesExportPrefix"),
        ("GlueCountiesHistoryTable", COUNTY, "CountiesExportPrefix"),
    ],
    ids=["national", "state", "county"],
)
def test_history_glue_table_in_the_template_is_the_one_the_history_writes(
    resource, history, prefix
):
    in_template = template()["Resources"][resource]["Properties"]["TableInput"]
    store = HistoryStore(
        history, GlueCatalogResource(database="covid"), S3BucketResource(bucket="b"), "t", "p/"
    )
    written = store.table_input(rows=1, recorded={})
    assert in_template["PartitionKeys"] == written["PartitionKeys"]
    location_template = in_template["Parameters"].pop("storage.location.template")
    assert location_template == {
        "Fn::Sub": f"s3://${{Bucket}}/history/${{{prefix}}}published_day=${{!published_day}}/"
    }
    assert written["Parameters"].pop("storage.location.template") == (
        "s3://b/p/published_day=${published_day}/"
    )
    assert in_template["StorageDescriptor"]["Location"] == {
        "Fn::Sub": f"s3://${{Bucket}}/history/${{{prefix}}}"
    }
    assert_same_table_but_location(in_template, written)
