"""The history backfill (job ``history_backfill``) on real NYT versions, as the tests and the
benchmark's replay of every version (``covid_assets_bench.history_replay``) run it: its run config
from a manifest of versions, a JHU file published before them, one run in process, and the
national history read back and queried "as of" a time."""

import csv
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
from dagster import DagsterInstance, ExecuteInProcessResult

from covid_assets.defs.backfills.history_backfill import (
    HISTORY_BACKFILL,
    history_backfill_run_config,
)
from covid_assets.domain.history import as_of_sql
from covid_assets.domain.tables import (
    STATE,
    ServedTable,
    history_table_of,
    revision_days_table_of,
    revisions_table_of,
)
from covid_assets.resources.revision_summaries import view_sql
from covid_assets_dev.current_definitions import current_definitions
from covid_assets_dev.real_files import (
    ManifestVersion,
    history_files,
    national_file_of,
    new_and_revised,
    run_sql,
)

# A run whose console shows failures only: its log lines would bury what is printed, and the
# instance's event log keeps every event whatever the console shows.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# The JHU file of every national version: published before the first NYT version, so that each
# version's publication time is its NYT commit's.
JHU_PUBLISHED = datetime(2020, 4, 1, tzinfo=UTC)
MERGED_VALUES = ("cases", "deaths", "recovered")


def jhu_published_before_nyt(jhu: Path, folder: Path) -> Path:
    """A copy of the JHU file, modified (so published, for a local file) at JHU_PUBLISHED."""
    copy = folder / "jhu-combined.csv"
    shutil.copyfile(jhu, copy)
    os.utime(copy, (JHU_PUBLISHED.timestamp(), JHU_PUBLISHED.timestamp()))
    return copy


def write_manifest(versions: Sequence[ManifestVersion], path: Path) -> Path:
    """A MANIFEST.csv of these versions, in this order."""
    lines = [f"{v.run_day},{v.nyt_commit},{v.committed_utc}\n" for v in versions]
    path.write_text("run_day,nyt_commit,committed_utc\n" + "".join(lines))
    return path


def national_config(manifest: Path, files: Path, jhu: Path) -> dict[str, Any]:
    """The run config of a national backfill of the manifest's versions, each file in ``files``."""
    return history_backfill_run_config(
        "national", str(manifest), f"{files}/{{run_day}}.csv", jhu_url=str(jhu)
    )


def level_config(
    level: ServedTable, manifest: Path, files: Path, upstream: Path | None = None
) -> dict[str, Any]:
    """The run config of a backfill of a level's history, each file in ``files``. The states'
    versions are reconciled with national files written to ``upstream`` (by default ``files``):
    the sums of their states (``real_files.national_file_of``), as NYT's us.csv of the same
    commit is; the counties' reconciliation, a warning, is left out."""
    if level is not STATE:
        return history_backfill_run_config(
            level.name, str(manifest), f"{files}/{{run_day}}.csv", upstream_url=""
        )
    upstream = upstream or files
    upstream.mkdir(parents=True, exist_ok=True)
    for version in manifest_files(manifest, files):
        national_file_of(version, upstream / f"us-{version.stem}.csv")
    return history_backfill_run_config(
        level.name,
        str(manifest),
        f"{files}/{{run_day}}.csv",
        upstream_url=f"{upstream}/us-{{run_day}}.csv",
    )


def manifest_files(manifest: Path, files: Path) -> list[Path]:
    """The files of the manifest's versions in ``files``, named by their run day."""
    with manifest.open(newline="") as lines:
        return [files / f"{row['run_day']}.csv" for row in csv.DictReader(lines)]


def run_history_backfill(
    instance: DagsterInstance, run_config: dict[str, Any], raise_on_error: bool = True
) -> ExecuteInProcessResult:
    job = current_definitions().resolve_job_def(HISTORY_BACKFILL)
    return job.execute_in_process(
        run_config={**run_config, **QUIET_RUN}, instance=instance, raise_on_error=raise_on_error
    )


def national_history() -> pa.Table:
    """The national history's rows, read as Athena reads them (``real_files.history_files``)."""
    return history_files(history_table_of(os.environ["COVID_GLUE_TABLE"]))


def national_as_of(history: pa.Table, at: str) -> dict[str, tuple[int, int, int | None]]:
    """The national history as of ``at``, by the as-of SQL in DuckDB: date -> (cases, deaths,
    recovered)."""
    table = f"covid.{history_table_of(os.environ['COVID_GLUE_TABLE'])}"
    sql = as_of_sql(table, ("date",), MERGED_VALUES, at)
    return {day.isoformat(): tuple(values) for day, *values, _ in run_sql(sql, {table: history})}


def national_revisions() -> list[tuple[Any, ...]]:
    """The national revision summary, read as Athena reads it: (published, days_revised,
    days_added, cases, deaths and recovered net change) per publication, in order."""
    rows = history_files(revisions_table_of(os.environ["COVID_GLUE_TABLE"])).to_pylist()
    columns = ("published", "days_revised", "days_added")
    nets = tuple(f"{column}_net_change" for column in MERGED_VALUES)
    return sorted(tuple(row[column] for column in columns + nets) for row in rows)


def national_revision_days() -> dict[str, tuple[Any, ...]]:
    """The national per-day revision statistics: the SQL of their Glue view run by DuckDB
    over the history, as Athena runs it; date -> (revisions, min_lag, max_lag, ...)."""
    glue_table = os.environ["COVID_GLUE_TABLE"]
    database = os.environ["COVID_GLUE_DATABASE"]
    view = boto3.client("glue").get_table(
        DatabaseName=database, Name=revision_days_table_of(glue_table)
    )["Table"]
    assert view["TableType"] == "VIRTUAL_VIEW", view["TableType"]
    history = {f"{database}.{history_table_of(glue_table)}": national_history()}
    return {day.isoformat(): tuple(rest) for day, *rest in run_sql(view_sql(view), history)}


def csv_revisions(versions: Sequence[tuple[datetime, dict]]) -> list[tuple[Any, ...]]:
    """The revision summary of (published, date -> counts) versions in this order, computed
    from the csv rows alone: per version, the days it revised (held before, with other
    counts) and added, and the change of each count on the latest day both it and the version
    before hold (none for the first, or where either count is blank)."""
    rows, before = [], None
    for published, table in versions:
        common = sorted(table.keys() & (before or {}).keys())
        revised = sum(table[day] != before[day] for day in common)
        nets: tuple[int | None, ...] = (None,) * len(MERGED_VALUES)
        if common:
            latest = common[-1]
            nets = tuple(
                None if now is None or then is None else now - then
                for now, then in zip(table[latest], before[latest], strict=True)
            )
        rows.append((published.replace(tzinfo=None), revised, len(table) - len(common), *nets))
        before = table
    return rows


def changed_in_order(tables: Sequence[dict]) -> int:
    """The rows a history of these tables, in this order, holds: each one's new and revised."""
    before: dict = {}
    changed = 0
    for table in tables:
        new, revised = new_and_revised(table, before)
        changed += len(new) + len(revised)
        before = {**before, **table}
    return changed
