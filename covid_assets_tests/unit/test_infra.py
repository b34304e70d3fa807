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
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.resources.served_tables import ServedTablesResource
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


def served_tables() -> ServedTablesResource:
    """Every table's stores with a made-up Glue table ("t") and prefix ("p/")."""
    return ServedTablesResource(
        glue=GlueCatalogResource(database="covid"),
        bucket=S3BucketResource(bucket="b"),
        glue_tables={table.name: "t" for table in (NATIONAL, STATE, COUNTY)},
        export_prefixes={table.name: "p/" for table in (NATIONAL, STATE, COUNTY)},
    )


def assert_same_table_by_publication_day(in_template: dict, written: dict, root: str) -> None:
    """The template's table is the one written, partitioned by publication day under
    ``root``/<the table's export prefix>."""
    assert in_template["PartitionKeys"] == written["PartitionKeys"]
    prefix = in_template["StorageDescriptor"]["Location"]["Fn::Sub"].split("${")[-1][:-1]
    location_template = in_template["Parameters"].pop("storage.location.template")
    assert location_template == {
        "Fn::Sub": f"s3://${{Bucket}}/{root}/${{{prefix}}}published_day=${{!published_day}}/"
    }
    assert written["Parameters"].pop("storage.location.template") == (
        f"s3://b/{root}/p/published_day=${{published_day}}/"
    )
    assert_same_table_but_location(in_template, written)


TABLES_IN_TEMPLATE = [("", NATIONAL), ("States", STATE), ("Counties", COUNTY)]


@pytest.mark.parametrize(
    ("resource", "table"), TABLES_IN_TEMPLATE, ids=["national", "state", "county"]
)
def test_history_glue_table_in_the_template_is_the_one_the_history_writes(resource, table):
    in_template = template()["Resources"][f"Glue{resource}HistoryTable"]["Properties"]
    written = served_tables().history(table).table_input(rows=1, recorded={})
    assert_same_table_by_publication_day(in_template["TableInput"], written, "history")


@pytest.mark.parametrize(
    ("resource", "table"), TABLES_IN_TEMPLATE, ids=["national", "state", "county"]
)
def test_revisions_glue_table_in_the_template_is_the_one_the_summary_writes(resource, table):
    in_template = template()["Resources"][f"Glue{resource}RevisionsTable"]["Properties"]
    written = served_tables().history(table).summaries.table_input()
    assert_same_table_by_publication_day(in_template["TableInput"], written, "revisions")
