"""The history backfill (job ``history_backfill``) on every real version:

    python -m covid_assets_bench.history_replay [--data DIR]

The nation: the 276 versions of ``history/nyt-us`` with the 2021-03-17 JHU snapshot, given a
publication time before the first of them. The states: the 7 versions of
``history/nyt-us-states``. Each is one run on a fresh emulated account; then the history "as of"
each version's committed_utc, by the as-of SQL in DuckDB over the history's files, must be that
version's table computed with the csv module (``real_files``), and the history must hold
exactly the new and revised rows of the replay. The tests backfill a subset; this backfills
them all.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from covid_assets.definitions import build_definitions
from covid_assets.domain.tables import STATE, history_table_of
from covid_assets_bench.benchmark import use_fresh_emulator_account
from covid_assets_bench.table import heading, row
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.history_backfill import (
    QUIET_RUN,
    changed_in_order,
    jhu_published_before_nyt,
    level_config,
    national_as_of,
    national_config,
    national_history,
    run_history_backfill,
    write_manifest,
)
from covid_assets_dev.local_stack import moto_server
from covid_assets_dev.real_files import (
    ManifestVersion,
    csv_merged_days,
    csv_place_rows,
    history_files,
    history_place_rows,
    manifest_versions,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def national_mismatches(versions: Sequence[ManifestVersion], jhu: Path) -> list[str]:
    """The versions whose as-of is not their csv merged table, and a wrong history row count."""
    merged = [csv_merged_days(version.file, jhu) for version in versions]
    history = national_history()
    failures = [
        f"national {version.run_day}: the as-of is not the version's merged table"
        for version, table in zip(versions, merged, strict=True)
        if national_as_of(history, version.sql_time) != table
    ]
    rows = history.num_rows
    if rows != changed_in_order(merged):
        failures.append(f"national: {rows} history rows, not {changed_in_order(merged)}")
    return failures


def state_mismatches(versions: Sequence[ManifestVersion]) -> list[str]:
    tables = [csv_place_rows(version.file) for version in versions]
    failures = [
        f"state {version.run_day}: the as-of is not the version's state table"
        for version, table in zip(versions, tables, strict=True)
        if history_place_rows(STATE, version.sql_time) != table
    ]
    rows = history_files(history_table_of(os.environ[STATE.glue_table_setting])).num_rows
    if rows != changed_in_order(tables):
        failures.append(f"state: {rows} history rows, not {changed_in_order(tables)}")
    return failures


@dataclass(frozen=True)
class BackfillFigures:
    versions: int
    seconds: float
    rows_appended: int
    put_objects: int
    update_tables: int
    success: bool


def measured_backfill(
    instance: DagsterInstance, run_config: dict[str, Any], history_asset: str
) -> BackfillFigures:
    """One backfill run, timed, with its AWS calls counted."""
    with recorded_calls() as calls:
        started = time.perf_counter()
        result = run_history_backfill(instance, run_config, raise_on_error=False)
        seconds = time.perf_counter() - started
    progress = [
        {key: value.value for key, value in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string() == history_asset
    ]
    last = progress[-1] if progress else {}
    return BackfillFigures(
        versions=int(str(last.get("versions_done", "0 /")).split(" /")[0]),
        seconds=seconds,
        rows_appended=int(last.get("rows_appended", 0)),
        put_objects=sum(1 for c in calls if (c.service, c.operation) == ("s3", "PutObject")),
        update_tables=sum(1 for c in calls if (c.service, c.operation) == ("glue", "UpdateTable")),
        success=result.success,
    )


def report(name: str, figures: BackfillFigures) -> None:
    row(
        name,
        figures.versions,
        f"{figures.seconds:.1f}",
        f"{figures.versions / figures.seconds:.1f}",
        f"{figures.rows_appended:,}",
        figures.put_objects,
        figures.update_tables,
    )


QUIET_RUN_CALLS = 15


def quiet_run_calls(
    instance: DagsterInstance, version: ManifestVersion, jhu: Path, folder: Path
) -> list[str]:
    """The AWS calls of a run by hand of the newest version's files after a run of them (a
    quiet day): the version's file as a daily run downloads it, modified when NYT published it."""
    newest = folder / "us.csv"
    shutil.copyfile(version.file, newest)
    os.utime(newest, (version.at.timestamp(), version.at.timestamp()))
    os.environ["COVID_NYT_URL"], os.environ["COVID_JHU_URL"] = str(newest), str(jhu)
    job = build_definitions().resolve_implicit_global_asset_job_def()
    job.execute_in_process(instance=instance, run_config=QUIET_RUN)
    with recorded_calls() as calls:
        job.execute_in_process(instance=instance, run_config=QUIET_RUN)
    return sorted(f"{call.service}:{call.operation}" for call in calls)


def quiet_run_after(
    endpoint: str, folder: Path, versions: list[ManifestVersion], files: Path, jhu: Path
) -> list[str]:
    """``quiet_run_calls`` after a backfill of ``versions`` on a fresh account."""
    use_fresh_emulator_account(endpoint, folder)
    manifest = write_manifest(versions, folder / "MANIFEST.csv")
    with DagsterInstance.ephemeral() as instance:
        run_history_backfill(instance, national_config(manifest, files, jhu))
        return quiet_run_calls(instance, versions[-1], jhu, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    data = parser.parse_args().data
    national_dir, states_dir = data / "history" / "nyt-us", data / "history" / "nyt-us-states"
    if not national_dir.is_dir() or not states_dir.is_dir():
        sys.exit(f"real history not found at {data / 'history'} (see shared/data/README.md)")
    failures = []
    heading("history backfill: every real version, one run each")
    row("history", "versions", "seconds", "versions/s", "rows", "PutObject", "UpdateTable")
    with tempfile.TemporaryDirectory() as folder, moto_server() as endpoint:
        use_fresh_emulator_account(endpoint, Path(folder) / "national")
        national = manifest_versions(national_dir)
        jhu = jhu_published_before_nyt(
            data / "snapshots" / "2021-03-17" / "jhu-combined.csv", Path(folder)
        )
        config = national_config(national_dir / "MANIFEST.csv", national_dir, jhu)
        with DagsterInstance.ephemeral() as instance:
            figures = measured_backfill(instance, config, "merged_daily_history")
        report("national (history/nyt-us)", figures)
        failures += [] if figures.success else ["national: the run failed"]
        failures += national_mismatches(national, jhu)

        use_fresh_emulator_account(endpoint, Path(folder) / "state")
        states = manifest_versions(states_dir)
        # The state level on; its daily source is not read by the backfill.
        os.environ[STATE.source.url_setting] = str(states[-1].file)
        with DagsterInstance.ephemeral() as instance:
            figures = measured_backfill(
                instance,
                level_config(
                    STATE, states_dir / "MANIFEST.csv", states_dir, Path(folder) / "national"
                ),
                STATE.history_asset,
            )
        report("states (history/nyt-us-states)", figures)
        failures += [] if figures.success else ["state: the run failed"]
        failures += state_mismatches(states)

        heading("a run by hand on a quiet day (national), after a backfill of")
        after = {
            count: quiet_run_after(
                endpoint, Path(folder) / f"quiet-{count}", national[:count], national_dir, jhu
            )
            for count in (3, len(national))
        }
        for count, calls in after.items():
            row(f"{count} versions: AWS calls", len(calls))
        print("  " + ", ".join(after[len(national)]))
        if after[3] != after[len(national)] or len(after[3]) > QUIET_RUN_CALLS:
            failures.append(
                f"quiet run: {len(after[3])} and {len(after[len(national)])} AWS calls after 3 "
                f"and {len(national)} versions, not the same at most {QUIET_RUN_CALLS}"
            )
    heading("history backfill: what must hold")
    for failure in failures:
        print(f"FAIL  {failure}")
    if not failures:
        print("PASS  as of each version's committed_utc, each history is that version's table")
        print("      (csv module), and holds exactly the replay's new and revised rows; a quiet")
        print(f"      run by hand makes as many AWS calls (at most {QUIET_RUN_CALLS}) after 3")
        print("      versions as after every one")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
