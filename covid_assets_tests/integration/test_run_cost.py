"""What a run costs in AWS calls does not grow with the history: a run by hand on a quiet day
makes at most 15 calls, as many after 12 published versions as after 3, and no run reads a Glue
table or an S3 object twice (unless it wrote it in between)."""

import datetime as dt
import os
from pathlib import Path

import pytest

from covid_assets.defs.backfills.history_backfill import (
    HISTORY_BACKFILL,
    history_backfill_run_config,
)
from covid_assets_dev.aws_calls import AwsCall, recorded_calls
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_tests.helpers import generated_sources, run_daily_job, use_sources

pytestmark = pytest.mark.integration

QUIET_RUN_CALLS = 15
FIRST_COMMIT = dt.datetime(2020, 4, 15, 17, tzinfo=dt.UTC)
# The reads that name what they read, and the writes that change it.
READS = {
    "GetTable": lambda p: ("table", p["Name"]),
    "GetObject": lambda p: ("object", p["Key"]),
    "HeadObject": lambda p: ("object", p["Key"]),
    "ListObjectsV2": lambda p: ("listing", p["Prefix"], p.get("StartAfter", "")),
}
WRITES = {
    "UpdateTable": lambda p: ("table", p["TableInput"]["Name"]),
    "CreateTable": lambda p: ("table", p["TableInput"]["Name"]),
    "PutObject": lambda p: ("object", p["Key"]),
}


def publish_versions(folder: Path, first: int, last: int) -> Path:
    """National versions ``first`` to ``last``: version n has 10 + n days and was committed n
    days after FIRST_COMMIT; a manifest of them, and the JHU file of every day, published
    before the first."""
    nyt_files = folder / "nyt"
    nyt_files.mkdir(exist_ok=True)
    rows = []
    for number in range(first, last + 1):
        nyt, _ = generated_sources(10 + number)
        (nyt_files / f"v{number}.csv").write_text(nyt)
        committed = FIRST_COMMIT + dt.timedelta(days=number)
        rows.append(f"v{number},c{number},{committed:%Y-%m-%dT%H:%M:%SZ}\n")
    jhu_file = folder / "jhu.csv"
    jhu_file.write_text(generated_sources(10 + last)[1])
    published = (FIRST_COMMIT - dt.timedelta(days=1)).timestamp()
    os.utime(jhu_file, (published, published))
    manifest = folder / f"manifest-{first}-{last}.csv"
    manifest.write_text("run_day,nyt_commit,committed_utc\n" + "".join(rows))
    return manifest


def backfill_versions(instance, folder: Path, first: int, last: int) -> None:
    manifest = publish_versions(folder, first, last)
    config = history_backfill_run_config(
        "national",
        str(manifest),
        f"{folder}/nyt/{{run_day}}.csv",
        jhu_url=str(folder / "jhu.csv"),
    )
    job = current_definitions().resolve_job_def(HISTORY_BACKFILL)
    assert job.execute_in_process(run_config=config, instance=instance).success


def quiet_run_by_hand(instance, folder: Path, newest: int, monkeypatch) -> list[AwsCall]:
    """The newest version as a daily run downloads it, loaded once; then the calls of a second
    run by hand of the same files."""
    newest_file = folder / "nyt" / f"v{newest}.csv"
    committed = (FIRST_COMMIT + dt.timedelta(days=newest)).timestamp()
    os.utime(newest_file, (committed, committed))
    use_sources(monkeypatch, newest_file, folder / "jhu.csv")
    run_daily_job(instance)
    with recorded_calls() as calls:
        run_daily_job(instance)
    return calls


def reads_again(calls: list[AwsCall]) -> list[tuple]:
    """The Glue tables, S3 objects and listings read again with no write of them between."""
    read, again = set(), []
    for call in calls:
        if call.operation in WRITES:
            written = WRITES[call.operation](call.params)
            read = {what for what in read if what[:2] != written and what[0] != "listing"}
        elif call.operation in READS:
            what = READS[call.operation](call.params)
            if what in read:
                again.append(what)
            read.add(what)
    return again


def test_a_quiet_run_by_hand_makes_at_most_15_aws_calls_after_3_versions_as_after_12(
    aws, instance, tmp_path, monkeypatch
):
    backfill_versions(instance, tmp_path, 1, 3)
    after_three = quiet_run_by_hand(instance, tmp_path, 3, monkeypatch)
    backfill_versions(instance, tmp_path, 4, 12)
    after_twelve = quiet_run_by_hand(instance, tmp_path, 12, monkeypatch)

    assert len(after_three) <= QUIET_RUN_CALLS, [c.operation for c in after_three]
    assert sorted(c.operation for c in after_twelve) == sorted(c.operation for c in after_three)


def test_a_quiet_run_reads_no_glue_table_and_no_s3_object_twice(
    aws, instance, tmp_path, monkeypatch
):
    backfill_versions(instance, tmp_path, 1, 3)
    calls = quiet_run_by_hand(instance, tmp_path, 3, monkeypatch)
    assert reads_again(calls) == []


def test_a_next_day_run_reads_nothing_twice_that_it_did_not_write_between(
    aws, instance, tmp_path, monkeypatch
):
    backfill_versions(instance, tmp_path, 1, 3)
    quiet_run_by_hand(instance, tmp_path, 3, monkeypatch)
    publish_versions(tmp_path, 4, 4)
    next_day = tmp_path / "nyt" / "v4.csv"
    committed = (FIRST_COMMIT + dt.timedelta(days=4)).timestamp()
    os.utime(next_day, (committed, committed))
    use_sources(monkeypatch, next_day, tmp_path / "jhu.csv")
    with recorded_calls() as calls:
        assert run_daily_job(instance).success
    assert any(call.operation == "PutObject" for call in calls)
    assert reads_again(calls) == []


def test_the_read_checker_sees_a_second_read_and_forgets_what_was_written():
    get = AwsCall("glue", "GetTable", {"Name": "t"})
    put = AwsCall("glue", "UpdateTable", {"TableInput": {"Name": "t"}})
    assert reads_again([get, get]) == [("table", "t")]
    assert reads_again([get, put, get]) == []
