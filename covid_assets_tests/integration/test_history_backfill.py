"""The history backfill (job history_backfill) on the real NYT versions: the first 24 national
versions of ``history/nyt-us`` (to 2020-05-09, whose 8 May revises dozens of days) with the
2021-03-17 JHU snapshot published before them, and the 7 versions of ``history/nyt-us-states``
cut down to three states. The history "as of" each version's committed_utc must be that version's
table computed with the csv module, queried with the as-of SQL in DuckDB over the history's
files; what is served must be the newest version; a run again appends nothing; and a bad file
fails the run, which a run again after the fix finishes. The benchmark
(``python -m covid_assets_bench.history_replay``) backfills every version whole."""

import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, validate_run_config

from covid_assets.defs.automation.failures import failure_reason
from covid_assets.defs.backfills.history_backfill import (
    HISTORY_BACKFILL,
    history_backfill_run_config,
)
from covid_assets.defs.dashboard.dashboard import DASHBOARD
from covid_assets.domain.tables import COUNTY, NATIONAL, STATE
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.history_backfill import (
    changed_in_order,
    csv_revisions,
    jhu_published_before_nyt,
    level_config,
    national_as_of,
    national_config,
    national_history,
    national_revisions,
    run_history_backfill,
    write_manifest,
)
from covid_assets_dev.real_files import (
    ManifestVersion,
    csv_merged_days,
    csv_place_rows,
    expected_items,
    exported_place_rows,
    history_place_rows,
    manifest_versions,
    place_file_subset,
    stored_place_items,
    with_partitions,
)
from covid_assets_tests.helpers import (
    HISTORY_DIR,
    README,
    STATES_THREE_DAYS,
    blank_emulated_account,
    exported_days,
    materialization_metadata,
    run_assets,
    run_daily_job,
    s3_keys,
    sensor_tick,
    stored_days,
    use_level_source,
    use_sources,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("integration/test_history_backfill")]

NATIONAL_DIR = HISTORY_DIR / "nyt-us"
STATES_DIR = HISTORY_DIR / "nyt-us-states"
COUNTIES_DIR = HISTORY_DIR / "nyt-us-counties-recent"
LAST_BACKFILLED_DAY = "2020-05-09"
# The states' versions cut down to the two whose past days NYT revised in them (Alaska on
# 2021-02-10, Nebraska on 2021-02-14) and one it did not.
STATES = {"Alaska", "Nebraska", "Washington"}
# The county windows cut down to Iowa, where NYT revised 1,195 county-days on 2021-03-10, and
# the Virgin Islands, which it did not.
COUNTY_STATES = {"Iowa", "Virgin Islands"}
# Before the first national version (2020-04-15T17:10:18Z).
JHU_PUBLISHED_AT = "2020-04-01T00:00:00Z"
MergedDays = dict[str, tuple[int, int, int]]


def real_versions(folder: Path) -> list[ManifestVersion]:
    if not folder.is_dir():
        pytest.skip(f"real NYT history not found at {folder} (see shared/data/README.md)")
    return manifest_versions(folder)


def national_subset() -> list[ManifestVersion]:
    return [v for v in real_versions(NATIONAL_DIR) if v.run_day <= LAST_BACKFILLED_DAY]


def history_asset_metadata(result: ExecuteInProcessResult, asset: str) -> list[dict[str, Any]]:
    """The plain metadata of each materialization of ``asset`` in the run, in order."""
    return [
        {key: value.value for key, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey(asset)
    ]


def history_puts(calls: list) -> list[str]:
    """The keys of the history objects the calls wrote."""
    return [
        call.params["Key"]
        for call in calls
        if call.operation == "PutObject" and call.params["Key"].startswith("history/")
    ]


@dataclass
class NationalBackfill:
    versions: list[ManifestVersion]
    merged: dict[str, MergedDays]
    as_of: dict[str, MergedDays]
    history_rows: int
    progress: list[dict[str, Any]]
    logs: list[str]
    served: MergedDays
    exported: MergedDays
    revisions: list[tuple]
    served_metadata: dict[str, dict[str, Any]]
    again_progress: dict[str, Any]
    again_history_puts: list[str]
    again_history_rows: int


@pytest.fixture(scope="module")
def national_backfill(moto_endpoint, snapshots_dir, tmp_path_factory) -> NationalBackfill:
    """The national subset backfilled once, then run again: one backfill for the module."""
    versions = national_subset()
    folder = tmp_path_factory.mktemp("national")
    jhu = jhu_published_before_nyt(snapshots_dir / "2021-03-17" / "jhu-combined.csv", folder)
    config = national_config(write_manifest(versions, folder / "MANIFEST.csv"), NATIONAL_DIR, jhu)
    with pytest.MonkeyPatch.context() as monkeypatch, DagsterInstance.ephemeral() as instance:
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        result = run_history_backfill(instance, config)
        merged = {v.run_day: csv_merged_days(v.file, jhu) for v in versions}
        history = national_history()
        backfilled = NationalBackfill(
            versions=versions,
            merged=merged,
            as_of={v.run_day: national_as_of(history, v.sql_time) for v in versions},
            history_rows=history.num_rows,
            progress=history_asset_metadata(result, NATIONAL.history_asset),
            logs=[entry.user_message for entry in instance.all_logs(result.run_id)],
            served=stored_days(aws),
            exported=exported_days(aws),
            revisions=national_revisions(),
            served_metadata={
                asset: materialization_metadata(result, asset)
                for asset in ("dynamodb_records", "athena_export")
            },
            again_progress={},
            again_history_puts=[],
            again_history_rows=0,
        )
        with recorded_calls() as calls:
            again = run_history_backfill(instance, config)
        backfilled.again_progress = history_asset_metadata(again, NATIONAL.history_asset)[-1]
        backfilled.again_history_puts = history_puts(calls)
        backfilled.again_history_rows = national_history().num_rows
        return backfilled


def test_the_history_as_of_each_versions_commit_time_is_that_versions_merged_table(
    national_backfill,
):
    for version in national_backfill.versions:
        day = version.run_day
        assert national_backfill.as_of[day] == national_backfill.merged[day], day


def test_the_history_holds_exactly_the_new_and_revised_rows_of_the_versions(national_backfill):
    merged = [national_backfill.merged[v.run_day] for v in national_backfill.versions]
    assert national_backfill.history_rows == changed_in_order(merged)
    assert national_backfill.progress[-1]["rows_appended"] == changed_in_order(merged)


def test_the_backfill_fills_the_revision_summary_as_the_daily_runs_do(national_backfill):
    """What test_dashboard's daily runs hold theirs to: each version against the one before,
    computed from the csv files."""
    merged = national_backfill.merged
    expected = csv_revisions([(v.at, merged[v.run_day]) for v in national_backfill.versions])
    assert national_backfill.revisions == expected


def test_the_served_tables_are_the_newest_version(national_backfill):
    newest = national_backfill.merged[LAST_BACKFILLED_DAY]
    assert national_backfill.served == newest
    assert national_backfill.exported == newest
    records = national_backfill.served_metadata["dynamodb_records"]
    assert records["published"] == f"{national_backfill.versions[-1].committed_utc[:-1]}.000Z"
    assert records["items_written"] == len(newest)


def test_the_backfill_reports_versions_done_out_of_the_total(national_backfill):
    total = len(national_backfill.versions)
    assert national_backfill.progress[-1]["versions_done"] == f"{total} / {total}"
    assert national_backfill.progress[-1]["versions_skipped"] == 0
    history_rows = national_backfill.history_rows
    [last] = [m for m in national_backfill.logs if m.startswith(f"version {total} / {total} (")]
    assert last.startswith(f"version {total} / {total} ({LAST_BACKFILLED_DAY}), ")
    assert last.endswith(f"; {history_rows:,} rows in all so far")


def test_the_backfill_logs_its_progress_not_a_line_per_version(national_backfill):
    """A line at least every 10 s (ProgressLog), and the last version's: here, far fewer than
    one per version."""
    lines = [m for m in national_backfill.logs if "rows appended" in m]
    assert 1 <= len(lines) < len(national_backfill.versions) / 2, lines


def test_a_backfill_run_again_writes_no_history_object_and_appends_no_row(national_backfill):
    total = len(national_backfill.versions)
    assert national_backfill.again_history_puts == []
    assert national_backfill.again_progress["rows_appended"] == 0
    assert national_backfill.again_progress["versions_skipped"] == total
    assert national_backfill.again_history_rows == national_backfill.history_rows


def test_a_bad_file_fails_the_backfill_naming_its_line_and_a_run_again_finishes_without_duplicates(
    aws, instance, snapshots_dir, tmp_path
):
    versions = national_subset()[:5]
    files = tmp_path / "files"
    files.mkdir()
    for version in versions:
        shutil.copyfile(version.file, files / version.file.name)
    bad = files / versions[2].file.name
    lines = bad.read_text().splitlines(keepends=True)
    day, _, deaths = lines[3].rstrip("\n").split(",")
    lines[3] = f"{day},many,{deaths}\n"
    bad.write_text("".join(lines))
    jhu = jhu_published_before_nyt(snapshots_dir / "2021-03-17" / "jhu-combined.csv", tmp_path)
    config = national_config(write_manifest(versions, tmp_path / "MANIFEST.csv"), files, jhu)

    failed = run_history_backfill(instance, config, raise_on_error=False)
    assert not failed.success
    [failure] = [event for event in failed.all_events if event.is_step_failure]
    assert f"{bad}, line 4, column 'cases': found 'many'" in failure_reason(
        failure.step_failure_data.error
    )
    merged = [csv_merged_days(version.file, jhu) for version in versions]
    assert national_history().num_rows == changed_in_order(merged[:2])

    shutil.copyfile(versions[2].file, bad)
    again = run_history_backfill(instance, config)
    progress = history_asset_metadata(again, NATIONAL.history_asset)[-1]
    assert (progress["versions_done"], progress["versions_skipped"]) == ("5 / 5", 2)
    history = national_history()
    assert history.num_rows == changed_in_order(merged)
    for version, table in zip(versions, merged, strict=True):
        assert national_as_of(history, version.sql_time) == table, version.run_day
    assert stored_days(aws) == merged[-1]


def test_versions_older_than_the_newest_in_the_history_leave_what_is_served(
    aws, instance, snapshots_dir, tmp_path
):
    versions = national_subset()[:4]
    jhu = jhu_published_before_nyt(snapshots_dir / "2021-03-17" / "jhu-combined.csv", tmp_path)
    newer = write_manifest(versions[2:], tmp_path / "newer.csv")
    older = write_manifest(versions[:2], tmp_path / "older.csv")
    run_history_backfill(instance, national_config(newer, NATIONAL_DIR, jhu))

    result = run_history_backfill(instance, national_config(older, NATIONAL_DIR, jhu))
    served = {
        event.asset_key.to_user_string() for event in result.get_asset_materialization_events()
    }
    assert served == {NATIONAL.history_asset}
    merged = [csv_merged_days(version.file, jhu) for version in versions]
    assert stored_days(aws) == exported_days(aws) == merged[-1]
    history = national_history()
    for version, table in zip(versions, merged, strict=True):
        assert national_as_of(history, version.sql_time) == table, version.run_day
    in_order = [(version.at, table) for version, table in zip(versions, merged, strict=True)]
    assert national_revisions() == csv_revisions(in_order)


def test_the_states_history_as_of_each_versions_commit_time_is_that_versions_state_table(
    aws, instance, monkeypatch, tmp_path
):
    versions = [
        replace(version, file=place_file_subset(version.file, STATES, tmp_path / version.file.name))
        for version in real_versions(STATES_DIR)
    ]
    # The state level on; the backfill reads the manifest's files, not its daily source.
    use_level_source(monkeypatch, STATE, versions[-1].file)
    result = run_history_backfill(
        instance, level_config(STATE, STATES_DIR / "MANIFEST.csv", tmp_path)
    )

    tables = [csv_place_rows(version.file) for version in versions]
    for version, table in zip(versions, tables, strict=True):
        assert history_place_rows(STATE, version.sql_time) == table, version.run_day
    progress = history_asset_metadata(result, STATE.history_asset)[-1]
    assert progress["versions_done"] == "7 / 7"
    assert progress["rows_appended"] == changed_in_order(tables)
    assert stored_place_items(STATE) == expected_items(tables[-1])
    assert exported_place_rows(STATE) == tables[-1]


def test_the_counties_history_as_of_each_version_is_its_window_over_the_days_that_left_it(
    aws, instance, monkeypatch, tmp_path
):
    versions = [
        replace(v, file=place_file_subset(v.file, COUNTY_STATES, tmp_path / v.file.name))
        for v in real_versions(COUNTIES_DIR)
    ]
    # The county level on (with the state level, which it needs); the backfill reads the
    # manifest's files, not the daily sources.
    use_level_source(monkeypatch, STATE, STATES_DIR / "2021-02-14.csv")
    use_level_source(monkeypatch, COUNTY, versions[-1].file)
    result = run_history_backfill(
        instance, level_config(COUNTY, COUNTIES_DIR / "MANIFEST.csv", tmp_path)
    )

    windows = [csv_place_rows(version.file) for version in versions]
    # A county-day that left the window is kept as last seen.
    kept = [{**windows[0]}, {**windows[0], **windows[1]}]
    assert len(kept[1]) > len(windows[1])
    for version, table in zip(versions, kept, strict=True):
        assert history_place_rows(COUNTY, version.sql_time) == table, version.run_day
    progress = history_asset_metadata(result, COUNTY.history_asset)[-1]
    assert progress["rows_appended"] == changed_in_order(windows)
    assert stored_place_items(COUNTY) == expected_items(kept[-1])
    assert exported_place_rows(COUNTY) == with_partitions(COUNTY, kept[-1])


def test_a_daily_run_of_the_newest_version_after_the_backfill_appends_and_writes_nothing(
    aws, instance, snapshots_dir, tmp_path, monkeypatch
):
    versions = national_subset()[:3]
    jhu = jhu_published_before_nyt(snapshots_dir / "2021-03-17" / "jhu-combined.csv", tmp_path)
    manifest = write_manifest(versions, tmp_path / "MANIFEST.csv")
    run_history_backfill(instance, national_config(manifest, NATIONAL_DIR, jhu))
    # The newest version as a daily run downloads it: modified when NYT published it.
    newest = tmp_path / "us.csv"
    shutil.copyfile(versions[-1].file, newest)
    os.utime(newest, (versions[-1].at.timestamp(), versions[-1].at.timestamp()))
    use_sources(monkeypatch, newest, jhu)

    result = run_daily_job(instance)
    history = materialization_metadata(result, NATIONAL.history_asset)
    assert (history["status"], history["rows_appended"]) == ("unchanged", 0)
    assert history["newest_compared_with"] == "the last output, as the Glue table records it"
    assert materialization_metadata(result, "dynamodb_records")["items_written"] == 0
    assert materialization_metadata(result, "athena_export")["status"] == "unchanged"


def daily_run_then_backfill_to_a_newer_version(
    instance: DagsterInstance, snapshots_dir: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ManifestVersion, Path]:
    """A daily run of the first of three versions, as a daily run downloads it, then a backfill
    of the three: the version served last, and the JHU file."""
    versions = national_subset()[:3]
    jhu = jhu_published_before_nyt(snapshots_dir / "2021-03-17" / "jhu-combined.csv", folder)
    first = folder / "us.csv"
    shutil.copyfile(versions[0].file, first)
    os.utime(first, (versions[0].at.timestamp(), versions[0].at.timestamp()))
    use_sources(monkeypatch, first, jhu)
    run_daily_job(instance)
    manifest = write_manifest(versions, folder / "MANIFEST.csv")
    run_history_backfill(instance, national_config(manifest, NATIONAL_DIR, jhu))
    return versions[-1], jhu


def test_the_sensor_after_a_backfill_that_served_a_newer_version_requests_no_run(
    aws, instance, snapshots_dir, tmp_path, monkeypatch
):
    newest, jhu = daily_run_then_backfill_to_a_newer_version(
        instance, snapshots_dir, tmp_path, monkeypatch
    )

    tick = sensor_tick(instance)

    assert tick.run_requests == []
    assert stored_days(aws) == csv_merged_days(newest.file, jhu)


def test_a_dashboard_materialized_by_hand_after_a_backfill_leaves_the_sensor_quiet(
    aws, instance, snapshots_dir, tmp_path, monkeypatch
):
    daily_run_then_backfill_to_a_newer_version(instance, snapshots_dir, tmp_path, monkeypatch)
    # Its input is now the history as the backfill left it, not as the last daily run built it.
    run_assets(instance, [DASHBOARD])

    assert sensor_tick(instance).run_requests == []


def test_a_jhu_file_published_after_the_versions_is_refused_before_anything_is_written(
    aws, instance, snapshots_dir, tmp_path
):
    versions = national_subset()[:2]
    manifest = write_manifest(versions, tmp_path / "MANIFEST.csv")
    # A copy made now: by its modification time, published after both NYT versions.
    jhu = tmp_path / "jhu-combined.csv"
    shutil.copyfile(snapshots_dir / "2021-03-17" / "jhu-combined.csv", jhu)

    result = run_history_backfill(
        instance, national_config(manifest, NATIONAL_DIR, jhu), raise_on_error=False
    )
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert (
        f"The versions of {versions[0].run_day} and {versions[1].run_day} would both be published"
        in failure_reason(failure.step_failure_data.error)
    )
    assert not s3_keys(aws, "history/")


def test_a_jhu_publication_time_in_the_config_stamps_the_versions(
    aws, instance, snapshots_dir, tmp_path
):
    versions = national_subset()[:2]
    manifest = write_manifest(versions, tmp_path / "MANIFEST.csv")
    jhu = tmp_path / "jhu-combined.csv"
    shutil.copyfile(snapshots_dir / "2021-03-17" / "jhu-combined.csv", jhu)
    config = history_backfill_run_config(
        "national",
        str(manifest),
        f"{NATIONAL_DIR}/{{run_day}}.csv",
        jhu_url=str(jhu),
        jhu_published=JHU_PUBLISHED_AT,
    )

    run_history_backfill(instance, config)
    history = national_history()
    for version in versions:
        assert national_as_of(history, version.sql_time) == csv_merged_days(version.file, jhu)


def test_the_readmes_backfill_configs_are_the_jobs(aws):
    examples = re.findall(
        r"```yaml\n(ops:\n  backfill_history:.*?)```", README.read_text(), re.DOTALL
    )
    assert len(examples) == 2, "README: a manifest's and a list of files' backfill config"
    job = current_definitions().resolve_job_def(HISTORY_BACKFILL)
    manifest, files = (
        validate_run_config(job, yaml.safe_load(example))["ops"]["backfill_history"]["config"]
        for example in examples
    )
    assert manifest["manifest"] == "../shared/data/history/nyt-us/MANIFEST.csv"
    assert (files["table"], len(files["files"])) == ("county", 4)


def test_a_backfill_of_a_level_that_is_off_fails_saying_which_setting_turns_it_on(
    aws, instance, tmp_path
):
    states = tmp_path / "us-states.csv"
    states.write_text(STATES_THREE_DAYS)
    config = history_backfill_run_config(STATE.name, files=[str(states)])
    result = run_history_backfill(instance, config, raise_on_error=False)
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert "The state level is off (COVID_NYT_STATES_URL is empty)" in failure_reason(
        failure.step_failure_data.error
    )
    assert not s3_keys(aws, "history/")


def test_a_file_url_with_another_placeholder_fails_before_anything_is_written(
    aws, instance, tmp_path
):
    manifest = write_manifest(national_subset()[:1], tmp_path / "MANIFEST.csv")
    config = history_backfill_run_config("national", str(manifest), f"{NATIONAL_DIR}/{{day}}.csv")
    result = run_history_backfill(instance, config, raise_on_error=False)
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert "it may hold {nyt_commit} and {run_day} only" in failure_reason(
        failure.step_failure_data.error
    )
    assert not s3_keys(aws, "history/")
