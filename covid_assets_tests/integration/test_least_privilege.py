"""The pipeline's IAM policy (infra/covid_assets.yaml, as the deployed stack resolved it) against
the code: every AWS request a replay of the real snapshots makes is allowed, on the resource it
names, and the policy allows nothing the code never does."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from covid_assets.defs.backfills.history_backfill import (
    HISTORY_BACKFILL,
    history_backfill_run_config,
)
from covid_assets.domain.tables import COUNTY, STATE
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.local_stack import LOCAL_STACK_NAME
from covid_assets_tests.helpers import (
    COUNTIES_THREE_DAYS,
    JHU_FOUR_DAYS,
    JHU_THREE_DAYS,
    NYT_FOUR_DAYS,
    NYT_THREE_DAYS,
    STATES_THREE_DAYS,
    published_at,
    run_daily_job,
    sensor_tick,
    use_level_source,
    use_snapshot,
)
from covid_assets_tests.iam import Arns, Request, policy_gaps, recorded_requests

pytestmark = pytest.mark.integration


def deployed_stack(aws: Any) -> dict[str, Any]:
    [stack] = aws.client("cloudformation").describe_stacks(StackName=LOCAL_STACK_NAME)["Stacks"]
    return stack


def deployed_policy(aws: Any) -> list[dict[str, Any]]:
    """The statements of the stack's pipeline policy, with every reference resolved."""
    stack = deployed_stack(aws)
    policy_arn = next(
        o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "PipelinePolicyArn"
    )
    iam = aws.client("iam")
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]
    statements = document["Document"]["Statement"]
    assert all(statement["Effect"] == "Allow" for statement in statements)
    return statements


@pytest.fixture
def arns(aws) -> Arns:
    account = aws.client("sts").get_caller_identity()["Account"]
    return Arns(aws.region, account)


def replay_requests(
    aws: Any,
    arns: Arns,
    instance: Any,
    snapshots_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_sources: Callable[[str, str], None],
    tmp_path: Path,
) -> list[Request]:
    """The IAM requests of two small runs with the state and county levels on (their first
    load, then a next day's), of a run on each real snapshot in turn, of the sensor's tick
    after the last, then of a run whose input is rejected (the quarantine and alert path),
    configured as deployed on ECS: steps hand their outputs over in S3, under the stack's
    prefix for them. The serving lock's lease is 1 s, so that every run renews it (every third
    of the lease) as a long run does."""
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in deployed_stack(aws)["Parameters"]}
    monkeypatch.setenv("COVID_IO_S3_PREFIX", parameters["StepOutputsPrefix"])
    monkeypatch.setenv("COVID_SERVING_LOCK_LEASE_SECONDS", "1")
    with recorded_requests(arns) as requests:
        # The state level's calls, on a first load and a next day's of small state files that
        # add up to their national files (a whole real level is tens of thousands of items).
        states_file, counties_file = tmp_path / "us-states.csv", tmp_path / "us-counties.csv"
        use_level_source(monkeypatch, STATE, states_file)
        use_level_source(monkeypatch, COUNTY, counties_file)
        for nyt, jhu, states, counties in (
            (NYT_THREE_DAYS, JHU_THREE_DAYS, STATES_THREE_DAYS, COUNTIES_THREE_DAYS),
            (
                NYT_FOUR_DAYS,
                JHU_FOUR_DAYS,
                STATES_THREE_DAYS + STATES_FOURTH_DAY,
                # The window moves on: its first day leaves it, a fourth arrives.
                "\n".join(
                    COUNTIES_THREE_DAYS.splitlines()[:1] + COUNTIES_THREE_DAYS.splitlines()[4:]
                )
                + "\n"
                + COUNTIES_FOURTH_DAY,
            ),
        ):
            write_sources(nyt, jhu)
            states_file.write_text(states)
            counties_file.write_text(counties)
            # Published before the snapshots, which are loaded after them as newer versions.
            published_at(EARLY_MARCH_2020, *tmp_path.glob("*.csv"))
            assert run_daily_job(instance).success
        use_level_source(monkeypatch, STATE, "")
        for day in sorted(folder.name for folder in snapshots_dir.iterdir() if folder.is_dir()):
            use_snapshot(monkeypatch, snapshots_dir, day)
            assert run_daily_job(instance).success, day
        assert sensor_tick(instance).run_requests == []
        # A backfill of an older national version: it reads the history's files.
        backfill_one_older_version(instance, snapshots_dir, tmp_path)
        write_sources(NYT_THREE_DAYS.replace(",20,", ",-20,"), JHU_THREE_DAYS)
        assert not run_daily_job(instance, raise_on_error=False).success
    return requests


EARLY_MARCH_2020 = dt.datetime(2020, 3, 5, tzinfo=dt.UTC)


def backfill_one_older_version(instance: Any, snapshots_dir: Path, folder: Path) -> None:
    """The 2020-10-09 snapshot's us.csv, as a version NYT committed then, backfilled with its
    JHU file: older than the history's newest, it is appended, not served."""
    snapshot = snapshots_dir / "2020-10-09"
    manifest = folder / "MANIFEST.csv"
    manifest.write_text(
        "run_day,nyt_commit,committed_utc\n2020-10-09,d01d5d8,2020-10-09T05:30:00Z\n"
    )
    config = history_backfill_run_config(
        "national",
        str(manifest),
        f"{snapshot}/nyt-us.csv",
        jhu_url=str(snapshot / "jhu-combined.csv"),
        jhu_published="2020-10-09T05:00:00Z",
    )
    job = current_definitions().resolve_job_def(HISTORY_BACKFILL)
    assert job.execute_in_process(run_config=config, instance=instance).success


# The fourth day of STATES_THREE_DAYS, adding up to NYT_FOUR_DAYS's 2020-03-04.
STATES_FOURTH_DAY = "2020-03-04,Washington,53,28,4\n2020-03-04,Puerto Rico,72,12,0\n"
COUNTIES_FOURTH_DAY = (
    "2020-03-04,King,Washington,53033,20,4\n2020-03-04,Unknown,Washington,,8,0\n"
    "2020-03-04,San Juan,Puerto Rico,72127,12,\n"
)


def test_recorder_sees_the_calls_of_clients_created_inside_it(aws, arns):
    with recorded_requests(arns) as requests:
        client = boto3.session.Session().client("s3", region_name=aws.region)
        client.list_objects_v2(Bucket=aws.bucket, Prefix="athena/")
    assert requests == [
        Request("s3:ListBucket", f"arn:aws:s3:::{aws.bucket}", (("s3:prefix", "athena/"),))
    ]


# A long replay of real files: `make replays`, outside `make test`'s timed suite.
@pytest.mark.replay
def test_policy_grants_every_request_of_the_replay_and_nothing_else(
    aws, arns, instance, snapshots_dir, monkeypatch, write_sources, tmp_path
):
    performed = replay_requests(
        aws, arns, instance, snapshots_dir, monkeypatch, write_sources, tmp_path
    )
    denied, unused = policy_gaps(deployed_policy(aws), performed)
    assert denied == set(), "the replay needs these, and the policy does not grant them"
    assert unused == set(), "granted but never used"
