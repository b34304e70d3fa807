"""The CloudFormation stacks: ``infra/covid_assets.yaml``, every AWS resource of the pipeline,
and ``infra/runtime.yaml``, what runs it on ECS (its outputs imported from the first).

The data template's parameters take their values from the settings, and its outputs give the
settings back, so a deployed stack configures the pipeline (locally: the emulator's stack).
"""

from collections.abc import Mapping
from pathlib import Path

import boto3

INFRA = Path(__file__).resolve().parent.parent / "infra"
TEMPLATE_PATH = INFRA / "covid_assets.yaml"
RUNTIME_TEMPLATE_PATH = INFRA / "runtime.yaml"

# Template parameter -> the setting whose value it is given.
PARAMETER_SETTINGS = {
    "TableName": "COVID_DYNAMODB_TABLE",
    "BucketName": "COVID_S3_BUCKET",
    "ExportPrefix": "COVID_S3_PREFIX",
    "GlueDatabaseName": "COVID_GLUE_DATABASE",
    "GlueTableName": "COVID_GLUE_TABLE",
    "StatesExportPrefix": "COVID_S3_STATES_PREFIX",
    "GlueStatesTableName": "COVID_GLUE_STATES_TABLE",
}

# Stack output -> the setting it configures. The other outputs (workgroup, role, policy)
# are for the people and services around the pipeline.
OUTPUT_SETTINGS = {
    "DynamoDbTable": "COVID_DYNAMODB_TABLE",
    "S3Bucket": "COVID_S3_BUCKET",
    "S3Prefix": "COVID_S3_PREFIX",
    "GlueDatabase": "COVID_GLUE_DATABASE",
    "GlueTable": "COVID_GLUE_TABLE",
    "S3StatesPrefix": "COVID_S3_STATES_PREFIX",
    "GlueStatesTable": "COVID_GLUE_STATES_TABLE",
    "AwsDefaultRegion": "AWS_DEFAULT_REGION",
    "SnsTopicArn": "COVID_SNS_TOPIC_ARN",
}


def stack_parameters(settings: Mapping[str, str]) -> dict[str, str]:
    """The template parameters for these setting values; a setting left out keeps the
    parameter's default."""
    return {
        parameter: settings[name]
        for parameter, name in PARAMETER_SETTINGS.items()
        if name in settings
    }


def create_stack(
    stack_name: str, parameters: Mapping[str, str], region: str, template: Path = TEMPLATE_PATH
) -> dict[str, str]:
    """Create the stack from the template, wait until it is complete, and return its outputs.

    The templates name no IAM role or policy, so CAPABILITY_IAM is enough."""
    cloudformation = boto3.client("cloudformation", region_name=region)
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=template.read_text(),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 900}
    )
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def settings_from_outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    """The environment variables that point the pipeline at the stack's resources."""
    return {name: outputs[output] for output, name in OUTPUT_SETTINGS.items()}
