"""The pipeline's IAM policy in infra/covid_assets.yaml against the code: every AWS action a
replay of the real snapshots performs is allowed, and nothing else is."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from cfnlint.decode import decode

from covid_assets.stack import TEMPLATE_PATH
from covid_assets_tests.conftest import run_daily_job, use_snapshot

# API operations whose IAM action is not "<service>:<operation>".
IAM_ACTION_OF_OPERATION = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:HeadObject": "s3:GetObject",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
}

# Allowed but not performed by a successful replay: the code calls these only when something
# goes wrong (issue 3: quarantining a rejected source file, alerting about a failed run).
FAILURE_PATH_ACTIONS = {
    "sns:Publish",  # alert on a failed run or a rejected source
}


def iam_action(operation_model: Any) -> str:
    """The IAM action of one API call. For the services this pipeline uses, the IAM service
    prefix is the service's signing name (dynamodb, s3, glue, sns)."""
    action = f"{operation_model.service_model.signing_name}:{operation_model.name}"
    return IAM_ACTION_OF_OPERATION.get(action, action)


@contextmanager
def recorded_iam_actions() -> Iterator[set[str]]:
    """The IAM actions of every AWS call made inside the block, by any boto3 client: the
    resources build a new boto3 session per client, so the hook goes on every new botocore
    session (botocore.register_initializer) rather than on one client."""
    actions: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        actions.add(iam_action(model))

    def hook_session(session: botocore.session.Session) -> None:
        session.register("before-call", record)

    botocore.register_initializer(hook_session)
    try:
        yield actions
    finally:
        botocore.unregister_initializer(hook_session)


def policy_actions() -> set[str]:
    template, errors = decode(str(TEMPLATE_PATH))
    assert not errors, errors
    statements = template["Resources"]["PipelinePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    actions: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    return actions


def replay_actions(instance: Any, snapshots_dir: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The IAM actions of a run on each real snapshot in turn."""
    with recorded_iam_actions() as actions:
        for day in sorted(folder.name for folder in snapshots_dir.iterdir() if folder.is_dir()):
            use_snapshot(monkeypatch, snapshots_dir, day)
            assert run_daily_job(instance).success, day
    return actions


def test_recorder_sees_the_calls_of_clients_created_inside_it(aws):
    with recorded_iam_actions() as actions:
        client = boto3.session.Session().client("s3", region_name=aws.region)
        client.list_objects_v2(Bucket=aws.bucket)
    assert actions == {"s3:ListBucket"}


def test_policy_allows_exactly_what_the_replay_does_plus_failure_paths(
    aws, instance, snapshots_dir, monkeypatch
):
    performed = replay_actions(instance, snapshots_dir, monkeypatch)
    allowed = policy_actions()
    assert performed - allowed == set(), "performed but not allowed by the policy"
    assert allowed - performed == FAILURE_PATH_ACTIONS, "allowed but never performed"
