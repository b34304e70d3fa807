"""The runtime stack (infra/runtime.yaml) deployed into the emulator beside the data stack, and a
run launched as the deployed daemon launches it: the EcsRunLauncher of infra/dagster.yaml.example,
configured by the environment the template gives the daemon's task, starts the run as an ECS task
of the emulator, which runs here as a process (local_ecs.py). The run serves the real 2021-03-18
snapshot; the daemon's role is held to the calls the launcher made; the smoke command passes
against the result, and fails naming the point when an item or an object is removed.

moto 5.2.5 creates every resource of the template but the Secrets Manager secret (skipped, and
the references to it left unresolved); it keeps neither the services' network configuration nor
the task definitions' network mode and roles (the daemon's task is started from a copy). The run
storage is SQLite here (PostgreSQL is tested in system/test_production_instance.py); the launcher
and everything else is the example's.
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import yaml
from cfnlint.decode import decode
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, instance_for_test

from covid_assets.code_location import defs
from covid_assets.defs.automation.triggers import ALL_ASSETS_JOB
from covid_assets.defs.dashboard.dashboard import DASHBOARD_KEY
from covid_assets.resources.exports import PARQUET_KEY_PARAMETER
from covid_assets_dev.launcher_workspace import code_location_workspace
from covid_assets_dev.local_stack import LOCAL_HOST, PROJECT_ROOT
from covid_assets_dev.smoke import main
from covid_assets_dev.stack import RUNTIME_TEMPLATE_PATH, create_stack
from covid_assets_tests.helpers import (
    LINEAGE,
    SNAPSHOTS_DIR,
    EmulatedAws,
    blank_emulated_account,
    glue_export_table,
    run_messages,
    stored_days,
    use_snapshot,
)
from covid_assets_tests.iam import Arns, Request, policy_gaps, recorded_requests
from covid_assets_tests.local_ecs import (
    LocalEcsTasks,
    task_metadata_endpoint,
    with_container_memory,
)

# Its tests share one deployment and run: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("integration/test_runtime")]

RUNTIME_STACK = "covid-assets-runtime"
EXAMPLE = PROJECT_ROOT / "infra" / "dagster.yaml.example"
RUN_SECONDS = 120
OIDC_PROVIDER = "https://login.example.org"


@dataclass
class LaunchedRuns:
    aws: EmulatedAws
    account: str
    instance: DagsterInstance
    resources: dict[str, str]  # the runtime stack's logical id -> physical id
    data_outputs: dict[str, str]
    served_run_id: str
    terminated_run_id: str
    health: dict[str, str]  # run id -> the launcher's health check after it ended
    run_task_definition: dict[str, Any]
    run_task: dict[str, Any]
    daemon_task: dict[str, Any]
    requests: list[Request]


def deploy_runtime(aws: EmulatedAws) -> tuple[dict[str, str], list[str]]:
    """The runtime stack in the emulator's default VPC, with a certificate from its ACM and a
    made-up identity provider: its resources by logical id, and its private subnets."""
    ec2 = aws.client("ec2")
    subnets = [subnet["SubnetId"] for subnet in ec2.describe_subnets()["Subnets"]][:2]
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    certificate = aws.client("acm").request_certificate(DomainName="covid.example.org")
    provider = OIDC_PROVIDER
    create_stack(
        RUNTIME_STACK,
        {
            "VpcId": vpc["VpcId"],
            "PublicSubnetIds": ",".join(subnets),
            "PrivateSubnetIds": ",".join(subnets),
            "CertificateArn": certificate["CertificateArn"],
            "OidcIssuer": provider,
            "OidcAuthorizationEndpoint": f"{provider}/authorize",
            "OidcTokenEndpoint": f"{provider}/token",
            "OidcUserInfoEndpoint": f"{provider}/userinfo",
            "OidcClientId": "covid-assets-ui",
            "OidcClientSecret": "not-a-secret",
        },
        aws.region,
        RUNTIME_TEMPLATE_PATH,
    )
    pages = aws.client("cloudformation").get_paginator("list_stack_resources")
    resources = {
        resource["LogicalResourceId"]: resource.get("PhysicalResourceId", "")
        for page in pages.paginate(StackName=RUNTIME_STACK)
        for resource in page["StackResourceSummaries"]
    }
    return resources, subnets


def start_daemon_task(
    aws: EmulatedAws, resources: dict[str, str], subnets: list[str]
) -> dict[str, Any]:
    """The daemon service's task, as ECS starts it: its container, in its subnets and security
    group. moto's CloudFormation keeps neither the service's network configuration nor the
    task definition's network mode (awsvpc), so the task is run from a copy that has it."""
    ecs = aws.client("ecs")
    cluster = resources["Cluster"]
    [service] = ecs.describe_services(cluster=cluster, services=[resources["DaemonService"]])[
        "services"
    ]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    runnable = ecs.register_task_definition(
        **with_container_memory(
            {
                "family": definition["taskDefinition"]["family"],
                "containerDefinitions": definition["taskDefinition"]["containerDefinitions"],
                "memory": definition["taskDefinition"]["memory"],
                "networkMode": "awsvpc",
            }
        )
    )
    [task] = ecs.run_task(
        cluster=cluster,
        taskDefinition=runnable["taskDefinition"]["taskDefinitionArn"],
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": [resources["DaemonSecurityGroup"]],
                "assignPublicIp": "DISABLED",
            }
        },
    )["tasks"]
    return task


def container_environment(aws: EmulatedAws, task_definition: str) -> dict[str, str]:
    definition = aws.client("ecs").describe_task_definition(taskDefinition=task_definition)
    [container] = definition["taskDefinition"]["containerDefinitions"]
    return {pair["name"]: pair["value"] for pair in container["environment"]}


def deployed_outputs(aws: EmulatedAws, stack: str) -> dict[str, str]:
    [described] = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in described["Outputs"]}


def example_run_launcher() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())["run_launcher"]


def launch(instance: DagsterInstance, workspace: Any) -> str:
    """Launch a run of the national level's assets as the daemon launches what the sensor, the
    schedule or the UI requests: created from the code location's job, launched by the
    instance's run launcher. (The code location here was loaded with every level on; the run
    task, as configured here, has the other levels off.)"""
    [location_name] = workspace.code_location_names
    repository = workspace.get_code_location(location_name).get_repository("__repository__")
    remote_job = repository.get_full_job(ALL_ASSETS_JOB)
    run = instance.create_run_for_job(
        defs.resolve_implicit_global_asset_job_def(),
        asset_selection={AssetKey(asset) for asset in LINEAGE},
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    instance.launch_run(run.run_id, workspace)
    return run.run_id


@pytest.fixture(scope="module")
def launched(
    moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LaunchedRuns]:
    if not SNAPSHOTS_DIR.is_dir():
        pytest.skip(f"real source snapshots not found at {SNAPSHOTS_DIR}")
    logs = tmp_path_factory.mktemp("run-tasks")
    with pytest.MonkeyPatch.context() as monkeypatch:
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        use_snapshot(monkeypatch, SNAPSHOTS_DIR, "2021-03-18")
        resources, subnets = deploy_runtime(aws)
        daemon_task = start_daemon_task(aws, resources, subnets)
        # The daemon's container: the template's environment, and ECS's metadata endpoint.
        for name, value in container_environment(aws, resources["DaemonTaskDefinition"]).items():
            monkeypatch.setenv(name, value)
        ecs = aws.client("ecs")  # ECS's own reads, kept out of the recording
        # What the image holds besides: its PATH, and (here only) the emulator and the sources.
        image_environment = dict(os.environ)
        account = aws.client("sts").get_caller_identity()["Account"]
        data_outputs = deployed_outputs(aws, "covid-assets")
        with (
            task_metadata_endpoint(daemon_task["clusterArn"], daemon_task["taskArn"]) as metadata,
            instance_for_test({"run_launcher": example_run_launcher()}) as instance,
        ):
            monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", metadata)
            # Where the smoke command finds the instance (its storage; no dagster.yaml there).
            monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
            with recorded_requests(Arns(aws.region, account)) as requests:
                # The launcher's clients are on boto3's default session: a new one, recorded.
                boto3.setup_default_session()
                launcher = instance.run_launcher
                tasks = LocalEcsTasks(launcher.ecs, ecs, image_environment, logs)
                launcher.ecs = tasks
                image = os.environ["DAGSTER_CURRENT_IMAGE"]
                with code_location_workspace(instance, image) as workspace:
                    served_run_id = launch(instance, workspace)
                    served_task = instance.get_run_by_id(served_run_id).tags["ecs/task_arn"]
                    tasks.wait(served_task, RUN_SECONDS)
                    terminated_run_id = launch(instance, workspace)
                    assert launcher.terminate(terminated_run_id)
                health = {
                    run_id: launcher.check_run_worker_health(
                        instance.get_run_by_id(run_id)
                    ).status.value
                    for run_id in (served_run_id, terminated_run_id)
                }
            boto3.setup_default_session()  # and one off the recording for what follows
            [run_task] = ecs.describe_tasks(cluster=daemon_task["clusterArn"], tasks=[served_task])[
                "tasks"
            ]
            run_task_definition = ecs.describe_task_definition(
                taskDefinition=run_task["taskDefinitionArn"]
            )["taskDefinition"]
            yield LaunchedRuns(
                aws=aws,
                account=account,
                instance=instance,
                resources=resources,
                data_outputs=data_outputs,
                served_run_id=served_run_id,
                terminated_run_id=terminated_run_id,
                health=health,
                run_task_definition=run_task_definition,
                run_task=run_task,
                daemon_task=daemon_task,
                requests=requests,
            )


def test_emulator_creates_every_resource_of_the_template_but_the_secret(launched):
    created = set(launched.resources)
    template, errors = decode(str(RUNTIME_TEMPLATE_PATH))
    assert not errors, errors
    assert set(template["Resources"]) - created == {"DatabaseSecret"}


def test_run_launched_as_an_ecs_task_succeeds_and_serves_the_snapshot(launched):
    run = launched.instance.get_run_by_id(launched.served_run_id)
    assert run.status == DagsterRunStatus.SUCCESS, run_messages(
        launched.instance, launched.served_run_id
    )
    assert launched.health[launched.served_run_id] == "SUCCESS"
    days = stored_days(launched.aws)
    assert len(days) == 420
    assert max(days) == "2021-03-16"
    assert glue_export_table(launched.aws)["StorageDescriptor"]["Location"].startswith(
        f"s3://{launched.aws.bucket}/athena/us_daily/"
    )


def test_run_task_has_the_pipeline_role_the_stack_settings_and_the_daemon_network(launched):
    definition = launched.run_task_definition
    assert definition["taskRoleArn"] == launched.data_outputs["PipelineRoleArn"]
    assert (
        definition["executionRoleArn"]
        .rpartition("/")[2]
        .startswith(f"{RUNTIME_STACK}-ExecutionRole")
    )
    [container] = definition["containerDefinitions"]
    assert (
        container["image"]
        == f"{launched.account}.dkr.ecr.{launched.aws.region}.amazonaws.com/covid-assets:latest"
    )
    environment = {pair["name"]: pair["value"] for pair in container["environment"]}
    assert environment["COVID_IO_S3_PREFIX"] == launched.data_outputs["StepOutputsPrefix"]
    assert environment["COVID_SNS_TOPIC_ARN"] == launched.data_outputs["SnsTopicArn"]
    assert [secret["name"] for secret in container["secrets"]] == ["DAGSTER_PG_PASSWORD"]
    logs = container["logConfiguration"]["options"]["awslogs-group"]
    assert logs == launched.resources["RunLogs"]
    network = launched.run_task["attachments"][0]["details"]
    daemon_network = launched.daemon_task["attachments"][0]["details"]
    subnet = next(d["value"] for d in network if d["name"] == "subnetId")
    assert subnet == next(d["value"] for d in daemon_network if d["name"] == "subnetId")


def test_terminated_run_is_stopped_and_found_failed(launched):
    run = launched.instance.get_run_by_id(launched.terminated_run_id)
    assert run.status in (DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED)
    assert launched.health[launched.terminated_run_id] == "FAILED"


def daemon_policy(launched: LaunchedRuns) -> list[dict[str, Any]]:
    """The statements of the daemon's policy, with every reference resolved."""
    iam = launched.aws.client("iam")
    arn = launched.resources["DaemonPolicy"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
    return document["Document"]["Statement"]


def test_daemon_role_grants_every_request_of_the_launcher_and_nothing_else(launched):
    denied, unused = policy_gaps(daemon_policy(launched), launched.requests)
    assert denied == set(), "the launcher needs these, and the daemon's role does not grant them"
    assert unused == set(), "granted but never used"


def run_smoke(
    capsys: pytest.CaptureFixture, ui: tuple[str, ...] = ("--no-ui-request",)
) -> tuple[int, dict[str, str]]:
    """``python -m covid_assets_dev.smoke --stack ...`` on the instance the runs used (by default
    sending the UI no request: the emulator's load balancer answers none): its exit code, and
    each point's line by verdict and name."""
    capsys.readouterr()
    exit_code = main(["--stack", RUNTIME_STACK, *ui])
    lines = capsys.readouterr().out.splitlines()
    return exit_code, dict(line.split(": ", 1) for line in lines)


@contextmanager
def answering_at_the_ui(status: int, location: str | None = None) -> Iterator[str]:
    """An HTTP server standing where the UI is asked for, answering every GET with ``status``
    (and a ``location``): its URL."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOCAL_HOST, 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_smoke_passes_against_the_deployed_stack_after_a_run(launched, capsys):
    exit_code, points = run_smoke(capsys)
    assert set(points) == {
        "PASS  the UI answers only after login",
        "PASS  the latest day's item is in DynamoDB",
        "PASS  each Glue table points at an existing object",
        "PASS  the dashboard page exists",
        "PASS  the last run succeeded",
    }
    assert exit_code == 0
    assert points["PASS  the UI answers only after login"].startswith(
        "HTTPS listener: authenticate-oidc then forward"
    )


def test_smoke_passes_the_ui_when_a_request_is_sent_to_the_identity_provider(launched, capsys):
    sign_in = f"{OIDC_PROVIDER}/authorize?client_id=covid-assets-ui&response_type=code"
    with answering_at_the_ui(302, sign_in) as ui_url:
        exit_code, points = run_smoke(capsys, ("--ui-url", ui_url))
    assert points["PASS  the UI answers only after login"] == (
        f"HTTPS listener: authenticate-oidc then forward; GET {ui_url} answered 302 {sign_in}"
    )
    assert exit_code == 0


def test_smoke_fails_the_ui_when_the_webserver_answers_without_sign_in(launched, capsys):
    with answering_at_the_ui(200) as ui_url:
        exit_code, points = run_smoke(capsys, ("--ui-url", ui_url))
    assert points["FAIL  the UI answers only after login"] == (
        f"HTTPS listener: authenticate-oidc then forward; GET {ui_url} answered 200"
    )
    assert exit_code == 1


def test_smoke_fails_the_ui_when_a_request_is_sent_anywhere_but_the_provider(launched, capsys):
    with answering_at_the_ui(302, "https://elsewhere.example.org/login") as ui_url:
        exit_code, points = run_smoke(capsys, ("--ui-url", ui_url))
    assert exit_code == 1
    assert "FAIL  the UI answers only after login" in points


def test_smoke_fails_naming_the_latest_item_when_it_is_removed(launched, capsys):
    launched.aws.client("dynamodb").delete_item(
        TableName=launched.aws.table_name,
        Key={"region": {"S": "US"}, "date": {"S": "2021-03-16"}},
    )
    exit_code, points = run_smoke(capsys)
    assert exit_code == 1
    assert points["FAIL  the latest day's item is in DynamoDB"] == (
        f"DynamoDB table {launched.aws.table_name} has no item for US 2021-03-16"
    )


def test_smoke_fails_naming_the_export_file_when_it_is_removed(launched, capsys):
    key = glue_export_table(launched.aws)["Parameters"][PARQUET_KEY_PARAMETER]
    launched.aws.client("s3").delete_object(Bucket=launched.aws.bucket, Key=key)
    exit_code, points = run_smoke(capsys)
    assert exit_code == 1
    failed = points["FAIL  each Glue table points at an existing object"]
    assert failed == f"no object at us_daily -> s3://{launched.aws.bucket}/{key}"


def test_smoke_fails_naming_the_dashboard_page_when_it_is_removed(launched, capsys):
    launched.aws.client("s3").delete_object(Bucket=launched.aws.bucket, Key=DASHBOARD_KEY)
    exit_code, points = run_smoke(capsys)
    assert exit_code == 1
    assert points["FAIL  the dashboard page exists"] == (
        f"s3://{launched.aws.bucket}/{DASHBOARD_KEY} does not exist"
    )


def test_smoke_fails_naming_the_ui_when_the_listener_forwards_without_sign_in(launched, capsys):
    elbv2 = launched.aws.client("elbv2")
    listener = launched.resources["HttpsListener"]
    [deployed] = elbv2.describe_listeners(ListenerArns=[listener])["Listeners"]
    elbv2.modify_listener(
        ListenerArn=listener,
        DefaultActions=[
            {"Type": "forward", "TargetGroupArn": launched.resources["WebserverTargetGroup"]}
        ],
    )
    try:
        exit_code, points = run_smoke(capsys)
    finally:  # the module's other tests share the deployment
        elbv2.modify_listener(ListenerArn=listener, DefaultActions=deployed["DefaultActions"])
    assert exit_code == 1
    assert points["FAIL  the UI answers only after login"] == (
        "HTTPS listener's actions are ['forward'], not sign-in first"
    )
