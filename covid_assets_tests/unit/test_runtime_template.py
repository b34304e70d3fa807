"""The runtime template (infra/runtime.yaml), the image (Dockerfile) and the production instance
(infra/dagster.yaml.example) agree: each service has every variable the instance reads, the
runs get the stack's settings, the UI is reached only through the sign-in, and the image runs
the commands the template gives its services. (test_infra lints it; integration/test_runtime
deploys it and launches a run with it.)"""

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode

from covid_assets.settings import SETTINGS
from covid_assets_dev.local_stack import PROJECT_ROOT
from covid_assets_dev.stack import RUNTIME_TEMPLATE_PATH, TEMPLATE_PATH

pytestmark = pytest.mark.unit

EXAMPLE = PROJECT_ROOT / "infra" / "dagster.yaml.example"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
SERVICES = {
    "webserver": "WebserverTaskDefinition",
    "daemon": "DaemonTaskDefinition",
    "code-server": "CodeServerTaskDefinition",
}


def template(path: Path = RUNTIME_TEMPLATE_PATH) -> dict[str, Any]:
    decoded, errors = decode(str(path))
    assert not errors, errors
    return decoded


def resources() -> dict[str, Any]:
    return template()["Resources"]


def container(service: str) -> dict[str, Any]:
    [definition] = resources()[SERVICES[service]]["Properties"]["ContainerDefinitions"]
    return definition


def environment(service: str) -> dict[str, Any]:
    return {pair["Name"]: pair["Value"] for pair in container(service)["Environment"]}


def secrets(service: str) -> dict[str, Any]:
    return {pair["Name"]: pair["ValueFrom"] for pair in container(service)["Secrets"]}


def env_references(node: Any) -> set[str]:
    """The variables a Dagster config reads with ``{env: NAME}``."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(env_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(env_references(value) for value in node))
    return set()


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_sets_every_variable_the_instance_reads(service):
    provided = set(environment(service)) | set(secrets(service))
    assert env_references(example()) - provided == set()


def test_runs_get_every_variable_the_launcher_hands_on_from_the_daemon():
    handed_on = set(example()["run_launcher"]["config"]["env_vars"])
    assert handed_on - set(environment("daemon")) == set()


def test_runs_get_every_setting_the_stack_configures():
    settings_of_the_stack = {name for name in environment("daemon") if name in SETTINGS}
    handed_on = set(example()["run_launcher"]["config"]["env_vars"])
    assert settings_of_the_stack - handed_on == set()


def test_code_server_and_daemon_run_the_pipeline_with_one_environment():
    assert environment("code-server") == environment("daemon")
    assert secrets("code-server") == secrets("daemon")


def test_every_covid_variable_of_the_services_is_a_setting():
    names = {name for service in SERVICES for name in environment(service)}
    assert {name for name in names if name.startswith("COVID_")} - set(SETTINGS) == set()


def imported_outputs(node: Any) -> set[str]:
    """The data stack's outputs the template imports (``${DataStackName}-OUTPUT``)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::ImportValue"}:
            match = re.fullmatch(r"\$\{DataStackName\}-(\w+)", node["Fn::ImportValue"]["Fn::Sub"])
            assert match, node
            return {match.group(1)}
        return set().union(*(imported_outputs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(imported_outputs(value) for value in node))
    return set()


def test_every_imported_output_is_exported_by_the_data_stack_under_its_name():
    outputs = template(TEMPLATE_PATH)["Outputs"]
    imported = imported_outputs(template())
    assert imported, "the runtime imports nothing from the data stack"
    for name in imported:
        assert outputs[name]["Export"]["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}


def test_runs_and_the_code_server_have_the_pipeline_role():
    pipeline_role = {"Fn::ImportValue": {"Fn::Sub": "${DataStackName}-PipelineRoleArn"}}
    assert environment("daemon")["DAGSTER_RUN_TASK_ROLE_ARN"] == pipeline_role
    code_server = resources()["CodeServerTaskDefinition"]["Properties"]
    assert code_server["TaskRoleArn"] == pipeline_role


def test_https_listener_signs_users_in_before_it_forwards_to_the_webserver():
    listener = resources()["HttpsListener"]["Properties"]
    actions = sorted(listener["DefaultActions"], key=lambda action: action["Order"])
    assert [action["Type"] for action in actions] == ["authenticate-oidc", "forward"]
    assert actions[0]["AuthenticateOidcConfig"]["OnUnauthenticatedRequest"] == "authenticate"
    assert actions[1]["TargetGroupArn"] == {"Ref": "WebserverTargetGroup"}


def test_plain_http_is_redirected_to_https():
    [action] = resources()["HttpListener"]["Properties"]["DefaultActions"]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"]["Protocol"] == "HTTPS"


def ingress_sources(group: str) -> dict[int, set[str]]:
    """Port -> the security groups (or address ranges) a group lets in."""
    rules = resources()[group]["Properties"].get("SecurityGroupIngress", [])
    sources: dict[int, set[str]] = {}
    for rule in rules:
        assert rule["FromPort"] == rule["ToPort"]
        source = rule.get("SourceSecurityGroupId", {}).get("Ref") or rule["CidrIp"]["Ref"]
        sources.setdefault(rule["FromPort"], set()).add(source)
    return sources


def test_only_the_load_balancer_reaches_the_webserver():
    assert ingress_sources("WebserverSecurityGroup") == {3000: {"LoadBalancerSecurityGroup"}}
    assert ingress_sources("LoadBalancerSecurityGroup") == {
        443: {"AllowedCidr"},
        80: {"AllowedCidr"},
    }


def test_only_the_webserver_and_the_daemon_reach_the_code_server():
    assert ingress_sources("CodeServerSecurityGroup") == {
        4000: {"WebserverSecurityGroup", "DaemonSecurityGroup"}
    }
    assert ingress_sources("DaemonSecurityGroup") == {}


def test_only_the_services_reach_the_database():
    assert ingress_sources("DatabaseSecurityGroup") == {
        5432: {"WebserverSecurityGroup", "DaemonSecurityGroup", "CodeServerSecurityGroup"}
    }
    database = resources()["Database"]["Properties"]
    assert database["PubliclyAccessible"] is False
    assert database["VPCSecurityGroups"] == [{"Ref": "DatabaseSecurityGroup"}]


def test_database_password_is_generated_in_secrets_manager_and_given_as_a_secret():
    generated = resources()["DatabaseSecret"]["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password"
    password = resources()["Database"]["Properties"]["MasterUserPassword"]
    assert "{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}" in str(password)
    for service in SERVICES:
        assert secrets(service)["DAGSTER_PG_PASSWORD"] == {
            "Fn::Sub": "${DatabaseSecret}:password::"
        }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0], line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_image_installs_the_pinned_dependencies_with_the_deploy_extra():
    runs = [
        arguments for instruction, arguments in dockerfile_instructions() if instruction == "RUN"
    ]
    assert any(".[deploy]" in run and "uv pip install" in run for run in runs)
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["deploy"]:
        assert "==" in requirement, f"{requirement} is not pinned"


def test_image_holds_the_instance_and_the_workspace_the_services_use():
    instructions = dockerfile_instructions()
    environment_lines = [
        arguments for instruction, arguments in instructions if instruction == "ENV"
    ]
    assert "DAGSTER_HOME=/opt/dagster/home" in environment_lines
    copies = {
        tuple(arguments.split()) for instruction, arguments in instructions if instruction == "COPY"
    }
    assert ("infra/dagster.yaml.example", "/opt/dagster/home/dagster.yaml") in copies
    workdir = next(arguments for instruction, arguments in instructions if instruction == "WORKDIR")
    workspace = f"{workdir}/infra/workspace.yaml"
    assert ("infra/workspace.yaml", "./infra/workspace.yaml") in copies
    for service in ("webserver", "daemon"):
        assert workspace in container(service)["Command"]


def test_image_runs_the_code_server_as_the_template_does_and_the_workspace_finds_it():
    [cmd] = [
        arguments for instruction, arguments in dockerfile_instructions() if instruction == "CMD"
    ]
    code_server = container("code-server")
    assert yaml.safe_load(cmd) == code_server["Command"]
    [location] = yaml.safe_load((PROJECT_ROOT / "infra" / "workspace.yaml").read_text())[
        "load_from"
    ]
    grpc = location["grpc_server"]
    [alias] = resources()["CodeServerService"]["Properties"]["ServiceConnectConfiguration"][
        "Services"
    ][0]["ClientAliases"]
    assert (grpc["host"], grpc["port"]) == (alias["DnsName"], alias["Port"])
    assert [mapping["ContainerPort"] for mapping in code_server["PortMappings"]] == [grpc["port"]]
    command = shlex.join(code_server["Command"])
    assert f"--location-name {grpc['location_name']}" in command
    assert "--module-name covid_assets.code_location" in command
