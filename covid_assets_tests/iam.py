"""IAM policies held to the calls the code makes: every AWS call made inside a block is recorded
as the IAM requests it needs (action, resource, condition keys), and a policy's statements are
matched against them as IAM does. The pipeline's role (test_least_privilege) and the runtime's
daemon role (test_runtime) are both checked this way."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from covid_assets_dev.aws_calls import on_every_aws_call

# API operations whose IAM action is not "<service>:<operation>".
IAM_ACTION_OF_OPERATION = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:HeadObject": "s3:GetObject",
    # The parts of a multipart upload (boto3's upload_fileobj, above 8 MB) need s3:PutObject.
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
}


@dataclass(frozen=True)
class Request:
    """One IAM authorization a call needs: an action on a resource, with its condition keys."""

    action: str
    resource: str
    conditions: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Arns:
    region: str
    account: str

    def ecs(self, resource: str) -> str:
        """An ECS resource: ``cluster/NAME``, ``task/CLUSTER/ID``, ``task-definition/FAMILY``."""
        return f"arn:aws:ecs:{self.region}:{self.account}:{resource}"

    def ecs_cluster(self, cluster: str) -> str:
        return cluster if cluster.startswith("arn:") else self.ecs(f"cluster/{cluster}")

    def dynamodb_table(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}"

    def glue(self, database: str, table: str | None = None) -> list[str]:
        """A Glue call needs the catalog, the database and, for a table call, the table."""
        prefix = f"arn:aws:glue:{self.region}:{self.account}"
        arns = [f"{prefix}:catalog", f"{prefix}:database/{database}"]
        return [*arns, f"{prefix}:table/{database}/{table}"] if table else arns


def resources_of(action: str, params: dict[str, Any], arns: Arns) -> list[str]:
    """The resources one call with these parameters must be authorized on."""
    match action:
        case "dynamodb:Query" if "IndexName" in params:
            return [f"{arns.dynamodb_table(params['TableName'])}/index/{params['IndexName']}"]
        case (
            "dynamodb:DescribeTable"
            | "dynamodb:Query"
            | "dynamodb:GetItem"
            | "dynamodb:PutItem"
            | "dynamodb:UpdateItem"
            | "dynamodb:DeleteItem"
        ):
            return [arns.dynamodb_table(params["TableName"])]
        case "dynamodb:BatchWriteItem" | "dynamodb:BatchGetItem":
            return [arns.dynamodb_table(table) for table in params["RequestItems"]]
        case "s3:ListBucket":
            return [arns.s3(params["Bucket"])]
        case "s3:PutObject" | "s3:GetObject":
            return [arns.s3(params["Bucket"], params["Key"])]
        case "s3:DeleteObject":
            return [
                arns.s3(params["Bucket"], entry["Key"]) for entry in params["Delete"]["Objects"]
            ]
        case "glue:CreateDatabase":
            return arns.glue(params["DatabaseInput"]["Name"])
        case "glue:GetTable":
            return arns.glue(params["DatabaseName"], params["Name"])
        case "glue:GetTables":
            return arns.glue(params["DatabaseName"], "*")
        case "glue:CreateTable" | "glue:UpdateTable":
            return arns.glue(params["DatabaseName"], params["TableInput"]["Name"])
        case "glue:BatchGetPartition" | "glue:BatchCreatePartition" | "glue:BatchUpdatePartition":
            return arns.glue(params["DatabaseName"], params["TableName"])
        case "sns:Publish":
            return [params["TopicArn"]]
        # The run launcher's (the daemon's and the webserver's).
        case (
            "ecs:DescribeTaskDefinition"
            | "ecs:RegisterTaskDefinition"
            | "ec2:DescribeNetworkInterfaces"
        ):
            return ["*"]  # these actions have no resource-level permissions
        case "ecs:RunTask":
            family = params["taskDefinition"].rpartition("task-definition/")[2]
            return [arns.ecs(f"task-definition/{family}")]
        case "ecs:DescribeTasks":
            return params["tasks"]
        case "ecs:StopTask":
            return [params["task"]]
        case "logs:GetLogEvents":
            group = f"arn:aws:logs:{arns.region}:{arns.account}:log-group:{params['logGroupName']}"
            return [f"{group}:log-stream:{params['logStreamName']}"]
    raise AssertionError(f"the code calls {action}: teach resources_of() its resources")


def condition_keys(action: str, params: dict[str, Any], arns: Arns) -> tuple[tuple[str, str], ...]:
    """The condition keys the templates' policies test: s3:prefix on ListBucket, the partition
    key (dynamodb:LeadingKeys) of a single-item write, and the cluster a task is run in."""
    if action == "ecs:RunTask":
        return (("ecs:cluster", arns.ecs_cluster(params.get("cluster", "default"))),)
    if action == "s3:ListBucket" and "Prefix" in params:
        return (("s3:prefix", params["Prefix"]),)
    if action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        key = params.get("Key") or params["Item"]
        return (("dynamodb:LeadingKeys", key["region"]["S"]),)
    return ()


def iam_action(operation_model: Any) -> str:
    """The IAM action of one API call. For the services this pipeline uses, the IAM service
    prefix is the service's signing name (dynamodb, s3, glue, sns)."""
    action = f"{operation_model.service_model.signing_name}:{operation_model.name}"
    return IAM_ACTION_OF_OPERATION.get(action, action)


@contextmanager
def recorded_requests(arns: Arns) -> Iterator[list[Request]]:
    """The IAM requests of every AWS call made inside the block, by any boto3 client."""
    requests: list[Request] = []

    def record(model: Any, params: dict[str, Any]) -> None:
        action = iam_action(model)
        conditions = condition_keys(action, params, arns)
        requests.extend(
            Request(action, resource, conditions) for resource in resources_of(action, params, arns)
        )
        requests.extend(implied_requests(action, params, arns))

    with on_every_aws_call(record):
        yield requests


def implied_requests(action: str, params: dict[str, Any], arns: Arns) -> list[Request]:
    """What IAM also authorizes for a call: a task definition that names roles passes them to
    ECS (iam:PassRole), and a task run with tags is tagged as it is created (ecs:TagResource)."""
    if action == "ecs:RegisterTaskDefinition":
        roles = [params[name] for name in ("taskRoleArn", "executionRoleArn") if name in params]
        to_ecs = (("iam:PassedToService", "ecs-tasks.amazonaws.com"),)
        return [Request("iam:PassRole", role, to_ecs) for role in roles]
    if action == "ecs:RunTask" and params.get("tags"):
        cluster = arns.ecs_cluster(params.get("cluster", "default")).rpartition("/")[2]
        new_task = arns.ecs(f"task/{cluster}/new")
        return [Request("ecs:TagResource", new_task, (("ecs:CreateAction", "RunTask"),))]
    return []


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


# The condition operators the template uses: a value matches a pattern as IAM compares them.
# (ForAllValues: every value of the key in the request; a single-item write has one.)
CONDITION_MATCHES = {
    "StringLike": fnmatchcase,
    "StringEquals": str.__eq__,
    "ArnEquals": str.__eq__,
    "ForAllValues:StringEquals": str.__eq__,
}


def allows(statement: dict[str, Any], request: Request) -> bool:
    """Whether an Allow statement grants the request: IAM wildcard matching of action and
    resource, and the conditions (a request without the condition's key is not granted)."""
    if not any(fnmatchcase(request.action, action) for action in as_list(statement["Action"])):
        return False
    if not any(fnmatchcase(request.resource, arn) for arn in as_list(statement["Resource"])):
        return False
    context = dict(request.conditions)
    for operator, conditions in statement.get("Condition", {}).items():
        assert operator in CONDITION_MATCHES, f"teach allows() the {operator} operator"
        matches = CONDITION_MATCHES[operator]
        for key, patterns in conditions.items():
            value = context.get(key)
            if value is None or not any(matches(value, p) for p in as_list(patterns)):
                return False
    return True


def policy_gaps(
    statements: list[dict[str, Any]], performed: list[Request]
) -> tuple[set[Request], set[tuple[str, str]]]:
    """The requests no statement allows, and the (statement Sid, action) pairs that no request
    used: a least-privilege policy has neither."""
    denied = {request for request in performed if not any(allows(s, request) for s in statements)}
    used = {
        (statement["Sid"], request.action)
        for statement in statements
        for request in performed
        if allows(statement, request)
    }
    granted = {
        (statement["Sid"], action)
        for statement in statements
        for action in as_list(statement["Action"])
    }
    return denied, granted - used
