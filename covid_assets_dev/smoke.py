"""Smoke test of a deployed system, from outside: given the runtime stack's name
(infra/runtime.yaml), it checks each point below and prints PASS or FAIL with what it saw;
it exits non-zero if any point fails.

    python -m covid_assets_dev.smoke --stack covid-assets-runtime

1. The UI answers only after login: the load balancer's HTTPS listener signs the user in before
   it forwards to the webserver, and an unauthenticated request is sent to the identity provider
   (or refused), never answered by the webserver.
2. The latest day's item is in DynamoDB: the item the last load recorded as its latest.
3. Each Glue table of the data stack points at an existing object.
4. The dashboard page exists.
5. The last run succeeded.

Points 2 and 5 read Dagster's instance (DAGSTER_HOME): deployed, its run storage is the stack's
PostgreSQL, reachable only inside the VPC (set DAGSTER_PG_* as infra/runtime.yaml does).
"""

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from covid_assets.defs.dashboard.dashboard import DASHBOARD_KEY
from covid_assets.defs.provenance import latest_materialization
from covid_assets.defs.serving.dynamodb_records import LATEST_ITEM
from covid_assets.domain.tables import NATIONAL
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.exports import PARQUET_KEY_PARAMETER
from covid_assets.resources.s3 import S3BucketResource

AUTHENTICATE_ACTIONS = ("authenticate-oidc", "authenticate-cognito")
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


@dataclass(frozen=True)
class Point:
    name: str
    passed: bool
    saw: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.saw}"


@dataclass(frozen=True)
class DeployedSystem:
    """The runtime stack, the data stack it imports, and the Dagster instance they run."""

    region: str
    runtime: dict[str, Any]  # logical id -> physical id of the runtime stack's resources
    data_outputs: dict[str, str]
    instance: DagsterInstance

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    @property
    def bucket(self) -> S3BucketResource:
        return S3BucketResource(bucket=self.data_outputs["S3Bucket"], region_name=self.region)


def deployed_system(stack: str, region: str, instance: DagsterInstance) -> DeployedSystem:
    cloudformation = boto3.client("cloudformation", region_name=region)
    [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    resources = {
        resource["LogicalResourceId"]: resource.get("PhysicalResourceId")
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
        for resource in page["StackResourceSummaries"]
    }
    [data] = cloudformation.describe_stacks(StackName=parameters["DataStackName"])["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in data["Outputs"]}
    return DeployedSystem(region, resources, outputs, instance)


def signs_in_first(status: int, location: str, authorization_endpoint: str | None) -> bool:
    """Whether an unauthenticated request was answered by the sign-in, not by the webserver:
    redirected to the identity provider's authorization endpoint (any HTTPS one when the
    listener's is not known), or refused."""
    if status == 401:
        return True
    return status == 302 and location.startswith(authorization_endpoint or "https://")


def ui_needs_login(system: DeployedSystem, ui_url: str | None) -> Point:
    name = "the UI answers only after login"
    elbv2 = system.client("elbv2")
    [listener] = elbv2.describe_listeners(ListenerArns=[system.runtime["HttpsListener"]])[
        "Listeners"
    ]
    actions = [action["Type"] for action in listener["DefaultActions"]]
    if len(actions) < 2 or actions[0] not in AUTHENTICATE_ACTIONS or actions[-1] != "forward":
        return Point(name, False, f"HTTPS listener's actions are {actions}, not sign-in first")
    saw = f"HTTPS listener: {' then '.join(actions)}"
    if ui_url == "":
        return Point(name, True, f"{saw} (no request sent)")
    if ui_url is None:
        [balancer] = elbv2.describe_load_balancers(LoadBalancerArns=[listener["LoadBalancerArn"]])[
            "LoadBalancers"
        ]
        ui_url = f"https://{balancer['DNSName']}/"
    # The certificate names the UI's host, not the load balancer's: only where it is sent.
    response = requests.get(ui_url, allow_redirects=False, timeout=15, verify=False)
    location = response.headers.get("Location", "")
    endpoint = (
        listener["DefaultActions"][0].get("AuthenticateOidcConfig", {}).get("AuthorizationEndpoint")
    )
    passed = signs_in_first(response.status_code, location, endpoint)
    answer = f"{response.status_code} {location}".rstrip()
    return Point(name, passed, f"{saw}; GET {ui_url} answered {answer}")


def latest_item_stored(system: DeployedSystem) -> Point:
    name = "the latest day's item is in DynamoDB"
    metadata = latest_materialization(system.instance, NATIONAL.records_asset)[0]
    latest = metadata.get(LATEST_ITEM)
    if not latest:
        return Point(name, False, f"{NATIONAL.records_asset} records no latest item")
    dynamodb = DynamoDBResource(
        table_name=system.data_outputs["DynamoDbTable"], region_name=system.region
    )
    problem = dynamodb.item_problem(latest)
    where = f"{latest['region']} {latest['date']}"
    return Point(name, problem is None, problem or f"item {where} as loaded")


def glue_tables_point_at_objects(system: DeployedSystem) -> Point:
    name = "each Glue table points at an existing object"
    glue, s3 = system.client("glue"), system.client("s3")
    pages = glue.get_paginator("get_tables").paginate(
        DatabaseName=system.data_outputs["GlueDatabase"]
    )
    # Views (the revisions' per-day statistics) hold a query, not files.
    tables = [
        table
        for page in pages
        for table in page["TableList"]
        if table.get("TableType") != "VIRTUAL_VIEW"
    ]
    if not tables:
        return Point(name, False, f"Glue database {system.data_outputs['GlueDatabase']} is empty")
    problems, seen = [], []
    for table in tables:
        bucket, _, prefix = (
            table["StorageDescriptor"]["Location"].removeprefix("s3://").partition("/")
        )
        key = table.get("Parameters", {}).get(PARQUET_KEY_PARAMETER)
        if key:  # the export records its one file
            found = system.bucket.etag(key) is not None
            where = f"s3://{bucket}/{key}"
        else:  # partitioned, or a history: any file under the location
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
            found = listed["KeyCount"] > 0
            where = f"s3://{bucket}/{prefix}"
        (seen if found else problems).append(f"{table['Name']} -> {where}")
    if problems:
        return Point(name, False, "no object at " + ", ".join(problems))
    return Point(name, True, ", ".join(seen))


def dashboard_exists(system: DeployedSystem) -> Point:
    bucket = system.bucket
    found = bucket.etag(DASHBOARD_KEY) is not None
    return Point(
        "the dashboard page exists",
        found,
        f"{bucket.uri(DASHBOARD_KEY)} {'exists' if found else 'does not exist'}",
    )


def last_run_succeeded(system: DeployedSystem) -> Point:
    name = "the last run succeeded"
    runs = system.instance.get_runs(RunsFilter(statuses=FINISHED), limit=1)
    if not runs:
        return Point(name, False, "no run has finished")
    [run] = runs
    return Point(
        name,
        run.status == DagsterRunStatus.SUCCESS,
        f"run {run.run_id} of {run.job_name}: {run.status.value}",
    )


def smoke(system: DeployedSystem, ui_url: str | None = None) -> list[Point]:
    """Every point; the UI is requested at ``ui_url`` (None: the load balancer's own name;
    "": not requested)."""
    checks: list[Callable[[DeployedSystem], Point]] = [
        latest_item_stored,
        glue_tables_point_at_objects,
        dashboard_exists,
        last_run_succeeded,
    ]
    return [ui_needs_login(system, ui_url), *(check(system) for check in checks)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", required=True, help="name of the runtime stack")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument(
        "--ui-url",
        help="where to request the UI without signing in (default: https://<the load "
        "balancer's DNS name>/; the UI's own host name where its certificate names it)",
    )
    parser.add_argument(
        "--no-ui-request",
        action="store_true",
        help="check the listener only, send no request to the UI",
    )
    arguments = parser.parse_args(argv)
    ui_url = "" if arguments.no_ui_request else arguments.ui_url
    with DagsterInstance.get() as instance:
        system = deployed_system(arguments.stack, arguments.region, instance)
        points = smoke(system, ui_url)
    for point in points:
        print(point)
    return 0 if all(point.passed for point in points) else 1


if __name__ == "__main__":
    sys.exit(main())
