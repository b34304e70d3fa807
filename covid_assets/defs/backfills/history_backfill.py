"""The history backfill: the job ``history_backfill``, launched from the UI, loads an archive of
published versions of one served table (the nation's, the states' or the counties') into its
history, in the order of a manifest, and leaves the served tables equal to the newest version.

The manifest is a CSV with the columns ``run_day, nyt_commit, committed_utc`` (the format of
``shared/data/history/*/MANIFEST.csv``). Each row is one NYT version: its file is fetched from the
config's ``file_url`` template (by default the file of that commit on raw.githubusercontent.com),
and it was published at its ``committed_utc``, not at the file's Last-Modified (an archive's
files are all written on the day of the archive). The nation's table also needs the JHU file,
fetched once (its publication time is its Last-Modified or modification time, or the config's
``jhu_published``): a version was published when the later of its two files was, as in the daily
runs, and two versions that would be published at the same time are refused.

Each version is checked with its source's rules and its table's before anything of it is
written (a bad file fails the run, naming its file, line and column). A version newer than the
newest in the history appends its new and changed rows; an older one what the history lacks at
its time (``history.version_rows``), as the history asset does. The history is read once, at
the start; what the backfill appends is kept in memory.

Resumable: a version whose object (named by its publication time and its files' hashes) is in
the history already is skipped, so a run again after a failure appends only what did not get in,
and a run again after a success appends nothing.

At the end, when the newest version in the history is one of the manifest's, it is served: the
history asset's output is stored where the next daily run reads it (so that run diffs against
it), and the served tables (DynamoDB and the export) are written where they differ (for the
county window, also its county-days that left it, as last seen). A history
whose newest version is newer than every version of the manifest keeps what is served.

Progress: a log line per version ("version 12 / 276 (2020-04-27, 3 rows appended)"), and a
materialization of the history asset every PROGRESS_EVERY versions and at the end, with the
versions done out of the total (the Events tab of the asset's page).
"""

import csv
import hashlib
import io
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from dagster import (
    AssetKey,
    AssetMaterialization,
    Config,
    Failure,
    JobDefinition,
    OpExecutionContext,
    build_output_context,
    job,
    op,
)
from pydantic import Field

from covid_assets.defs.automation.provenance import latest_materialization
from covid_assets.defs.history.history_assets import (
    NATIONAL_HISTORY,
    history_resource_keys,
    level_history,
)
from covid_assets.defs.history.history_store import HistoryStore
from covid_assets.defs.metadata import table_sha256
from covid_assets.defs.serving.athena_export import EXPORT, ROW_COUNT_PARAMETER, write_export
from covid_assets.defs.serving.dynamodb_records import DYNAMODB_RECORDS, load_national_items
from covid_assets.defs.serving.partitioned_export import write_partitioned_export
from covid_assets.defs.tables.level_assets import (
    bucket_resource_key,
    glue_resource_key,
    plan_level_writes,
    previous_load,
    records_metadata,
)
from covid_assets.domain.history import (
    VALID_FROM,
    HistoryOf,
    PublishedTable,
    SourceVersion,
    Version,
    as_of,
    changed_rows,
    iso,
    source_version,
    version_rows,
)
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import (
    MERGED_BLOCKING_RULES,
    Rule,
    SourceDataError,
    find_problems,
    jhu_us_rows,
)
from covid_assets.domain.sources import JHU, NYT, Source
from covid_assets.domain.tables import COUNTY, STATE, Level
from covid_assets.domain.transform import merge_daily
from covid_assets.resources.downloads import SourceFileDownloader

HISTORY_BACKFILL = "history_backfill"
BACKFILL_OP = "backfill_history"
NYT_COMMIT_FILE = "https://raw.githubusercontent.com/nytimes/covid-19-data/{{nyt_commit}}/{file}"
MANIFEST_COLUMNS = ("run_day", "nyt_commit", "committed_utc")
# Versions between two progress materializations of the history asset.
PROGRESS_EVERY = 25

HistoryName = Literal["national", "state", "county"]


@dataclass(frozen=True)
class BackfilledTable:
    """A served table a backfill can load: its history, its NYT source, the rules its table
    must follow, and its level (None for the nation's table)."""

    history: HistoryOf
    source: Source
    upstream_file: str
    table_rules: Sequence[Rule]
    level: Level | None = None


BACKFILLED_TABLES: dict[str, BackfilledTable] = {
    "national": BackfilledTable(NATIONAL_HISTORY, NYT, "us.csv", MERGED_BLOCKING_RULES),
    "state": BackfilledTable(
        level_history(STATE), STATE.source, "us-states.csv", STATE.table_rules, STATE
    ),
    "county": BackfilledTable(
        level_history(COUNTY), COUNTY.source, "us-counties-recent.csv", COUNTY.table_rules, COUNTY
    ),
}


class HistoryBackfillConfig(Config):
    history: HistoryName = Field(
        default="national",
        description=(
            "Which served table's history to load: national (us.csv with the JHU file), state "
            "(us-states.csv) or county (us-counties-recent.csv); its level must be on."
        ),
    )
    manifest: str = Field(
        description=(
            "The versions to load, in order: an http(s)://, file:// URL or local path of a CSV "
            "with the columns run_day, nyt_commit, committed_utc (committed_utc: when NYT "
            "published the version, ISO, UTC), as shared/data/history/*/MANIFEST.csv."
        )
    )
    file_url: str | None = Field(
        default=None,
        description=(
            "Where each version's file is, with {nyt_commit} and/or {run_day} replaced by the "
            "manifest's: a URL or local path. Default: the table's file of that NYT commit "
            "upstream (https://raw.githubusercontent.com/nytimes/covid-19-data/{nyt_commit}/"
            "us.csv, us-states.csv or us-counties-recent.csv)."
        ),
    )
    jhu_url: str | None = Field(
        default=None,
        description=(
            "National only: the JHU file every version is merged with, published (by its "
            "Last-Modified or modification time) before the first version. Default: the "
            "configured COVID_JHU_URL."
        ),
    )
    jhu_published: str | None = Field(
        default=None,
        description=(
            "National only: when the JHU file was published (ISO, UTC, e.g. "
            "2020-04-01T00:00:00Z), for a file whose Last-Modified or modification time is not "
            "(a snapshot copied later). Default: its Last-Modified or modification time."
        ),
    )


def history_backfill_run_config(
    manifest: str,
    history: HistoryName = "national",
    file_url: str | None = None,
    jhu_url: str | None = None,
    jhu_published: str | None = None,
) -> dict[str, Any]:
    """The run config of a backfill, as the launchpad takes it (in YAML)."""
    config = {
        "history": history,
        "manifest": manifest,
        "file_url": file_url,
        "jhu_url": jhu_url,
        "jhu_published": jhu_published,
    }
    given = {name: setting for name, setting in config.items() if setting is not None}
    return {"ops": {BACKFILL_OP: {"config": given}}}


@dataclass(frozen=True)
class ManifestEntry:
    run_day: str
    nyt_commit: str
    committed: datetime

    def file_url(self, template: str) -> str:
        return template.format(nyt_commit=self.nyt_commit, run_day=self.run_day)


def read_manifest(downloader: SourceFileDownloader, url: str) -> list[ManifestEntry]:
    """The manifest's versions, in its order; Failure when it lacks a column, a committed_utc
    is no ISO time, or it lists none."""
    content = downloader.download(url, "manifest", label=f"History manifest {url}").content
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    missing = [name for name in MANIFEST_COLUMNS if name not in (reader.fieldnames or ())]
    if missing:
        raise Failure(f"{url}: no column {', '.join(missing)}", allow_retries=False)
    entries = [
        ManifestEntry(
            row["run_day"], row["nyt_commit"], utc_time(row["committed_utc"], f"{url}, line {line}")
        )
        for line, row in enumerate(reader, start=2)
    ]
    if not entries:
        raise Failure(f"{url} lists no version: nothing to backfill", allow_retries=False)
    return entries


def file_url_template(template: str) -> str:
    """The template, when {nyt_commit} and {run_day} are all it asks for; Failure otherwise."""
    try:
        template.format(nyt_commit="", run_day="")
    except (KeyError, IndexError, ValueError) as error:
        raise Failure(
            f"file_url {template!r}: {error!r}; it may hold {{nyt_commit}} and {{run_day}} only",
            allow_retries=False,
        ) from error
    return template


def utc_time(text: str, where: str) -> datetime:
    """An ISO time (``2020-04-15T17:10:18Z``; one without a zone is UTC), as an aware UTC time;
    Failure saying where it was read when it is none."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise Failure(f"{where}: {error}", allow_retries=False) from error
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def checked_raw(raw: RawSourceFile, source: Source) -> RawSourceFile:
    """The file, when it is a readable CSV that follows its source's rules; SourceDataError
    with every problem (file, line, column) otherwise."""
    if raw.read_problems:
        raise SourceDataError(raw.read_problems)
    found = find_problems(raw.table, source.rules, raw.url)
    problems = [problem for rule_problems in found.values() for problem in rule_problems]
    if problems:
        raise SourceDataError(problems)
    return raw


def checked_table(
    target: BackfilledTable, raw: RawSourceFile, jhu: RawSourceFile | None
) -> pd.DataFrame:
    """The version's served table, built as the daily run builds it and checked with its
    table's rules; SourceDataError when its file or its table breaks them."""
    if target.level is None:
        if raw.read_problems:
            raise SourceDataError(raw.read_problems)
        # merge_daily checks both files with their sources' rules.
        table = merge_daily(raw.table, jhu.table, raw.url, jhu.url)
    else:
        table = target.level.build_table(checked_raw(raw, target.source).table, raw.url)
    name = target.history.table_asset
    problems = [p for rule in target.table_rules for p in rule.find_problems(table, name)]
    if problems:
        raise SourceDataError(problems)
    return table


@dataclass(frozen=True)
class FetchedVersion:
    """One manifest version's file, downloaded, and the version it makes."""

    position: int
    entry: ManifestEntry
    raw: RawSourceFile
    version: Version


class HistoryInMemory:
    """The history as read once at the start, with what the backfill appends: its rows (served
    columns and valid_from), its versions' times and object keys, and the newest version's
    table."""

    def __init__(self, store: HistoryStore) -> None:
        history = store.history
        self.key_columns = list(history.key_columns)
        self.served_columns = history.served_schema.names
        self.keys = {key for key in store.bucket.list_keys(store.root)}
        stored = store.read()
        self.rows = stored.rows[[*self.served_columns, VALID_FROM]]
        self.version_times = list(stored.version_times)
        self.newest_table = self.kept_rows() if self.version_times else None

    @property
    def newest_time(self) -> pd.Timestamp | None:
        return max(self.version_times, default=None)

    def kept_rows(self) -> pd.DataFrame:
        """Every key as of the newest version, as last seen (a key it lacks is kept)."""
        return as_of(self.rows, self.newest_time, self.key_columns)[self.served_columns]

    def rows_of(self, version: Version, table: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
        """What the version appends, and whether it becomes the newest version."""
        newest = self.newest_time
        if newest is None or version.valid_from > newest:
            added = changed_rows(self.newest_table, table, self.key_columns)
            return added.assign(**{VALID_FROM: version.valid_from}), True
        added = version_rows(
            self.rows, table, version.valid_from, self.version_times, self.key_columns
        )
        return added, False

    def add(
        self, key: str, version: Version, rows: pd.DataFrame, table: pd.DataFrame | None
    ) -> None:
        """Keep what was appended; ``table``: the version's, when it became the newest."""
        self.keys.add(key)
        self.rows = pd.concat([self.rows, rows[self.rows.columns]], ignore_index=True)
        self.version_times.append(version.valid_from)
        if table is not None:
            self.newest_table = table


def backfill(
    context: OpExecutionContext, config: HistoryBackfillConfig
) -> Iterator[AssetMaterialization]:
    """The backfill's op: every version of the manifest into the history, then the newest
    served (see the module)."""
    resources = context.resources
    target = BACKFILLED_TABLES[config.history]
    history = target.history
    glue_key, bucket_key = history_resource_keys(history)
    if not hasattr(resources, glue_key):
        raise Failure(
            f"The {config.history} level is off ({target.source.url_setting} is empty): "
            "turn it on to backfill its history.",
            allow_retries=False,
        )
    resources.serving_lock.hold(context)
    downloader: SourceFileDownloader = resources.downloader
    store = HistoryStore(history, getattr(resources, glue_key), getattr(resources, bucket_key))
    entries = read_manifest(downloader, config.manifest)
    template = file_url_template(
        config.file_url or NYT_COMMIT_FILE.format(file=target.upstream_file)
    )
    jhu = jhu_version = None
    if target.level is None:
        jhu_url = config.jhu_url or downloader.url_of(JHU)
        download = downloader.download(jhu_url, "jhu_url", label=f"{JHU.label} {jhu_url}")
        jhu = RawSourceFile.from_bytes(jhu_url, download.content, download.last_modified)
        jhu_version = source_version(checked_raw(jhu, JHU), JHU.asset, datetime.now(UTC))
        if config.jhu_published:
            published = utc_time(config.jhu_published, "jhu_published")
            jhu_version = replace(jhu_version, published=published, published_from="config")
        # Checked whole once: each version is merged with its US rows only (the JHU rules are
        # about those rows), which spares re-reading every country's rows for each version.
        jhu = replace(jhu, table=jhu_us_rows(jhu.table))
    refuse_shared_publication_times(entries, jhu_version)

    memory = HistoryInMemory(store)
    total = len(entries)
    started = time.monotonic()
    appended_rows = skipped = 0
    newest_of_manifest: FetchedVersion | None = None
    newest_table_of_manifest: pd.DataFrame | None = None
    for position, entry in enumerate(entries, start=1):
        fetched = fetch_version(downloader, entry, position, template, target.source, jhu_version)
        version, key = fetched.version, store.object_key(fetched.version)
        label = f"version {position} / {total} ({entry.run_day})"
        is_newest_of_manifest = (
            newest_of_manifest is None or version.valid_from > newest_of_manifest.version.valid_from
        )
        if key in memory.keys:
            skipped += 1
            context.log.info("%s: in the history already (%s), skipped", label, key)
            if is_newest_of_manifest:
                newest_of_manifest, newest_table_of_manifest = fetched, None
            continue
        table = checked_table(target, fetched.raw, jhu)
        rows, becomes_newest = memory.rows_of(version, table)
        newest_sha256 = table_sha256(table) if becomes_newest else None
        location, _ = store.append(store.table(), rows, version, newest_sha256)
        memory.add(key, version, rows, table if becomes_newest else None)
        appended_rows += len(rows)
        if is_newest_of_manifest:
            newest_of_manifest, newest_table_of_manifest = fetched, table
        context.log.info(
            "%s, %d rows appended%s at %s",
            label,
            len(rows),
            "" if becomes_newest else " (older than the newest in the history)",
            location,
        )
        if position % PROGRESS_EVERY == 0 and position < total:
            yield progress(history, store, position, total, appended_rows, skipped, started)
    yield progress(history, store, total, total, appended_rows, skipped, started)

    if newest_of_manifest is None or newest_of_manifest.version.valid_from != memory.newest_time:
        context.log.info(
            "The newest version in the history (%s) is newer than every version of the "
            "manifest: what is served stays as it is",
            memory.newest_time,
        )
        return
    table = newest_table_of_manifest
    if table is None:
        table = checked_table(target, newest_of_manifest.raw, jhu)
    published = iso(newest_of_manifest.version.published)
    io_manager = resources.io_manager
    output = build_output_context(asset_key=AssetKey(history.asset), instance=context.instance)
    io_manager.handle_output(output, PublishedTable(table, published, None))
    context.log.info(
        "Serving version %d / %d (%s), published %s",
        newest_of_manifest.position,
        total,
        newest_of_manifest.entry.run_day,
        published,
    )
    if target.level is None:
        yield from serve_national(context, table, published)
    else:
        # A window's version holds its last days only; the place-days that left the window are
        # served too, as last seen, as the daily loads leave them.
        kept = memory.kept_rows() if target.level.source_is_window else table
        yield from serve_level(context, target.level, table, kept, published)


def refuse_shared_publication_times(
    entries: Sequence[ManifestEntry], jhu: SourceVersion | None
) -> None:
    """Fail, before anything is written, when two versions would be published at the same
    time: the later of a version's files stamps it, so a JHU file published after NYT's
    commits would stamp them all alike, and "as of" could not tell them apart."""
    seen: dict[pd.Timestamp, ManifestEntry] = {}
    for entry in entries:
        moment = max(entry.committed, jhu.published) if jhu else entry.committed
        stamp = pd.Timestamp(moment).floor("ms")
        earlier = seen.setdefault(stamp, entry)
        if earlier is entry:
            continue
        cause = (
            f": the JHU file was published at {iso(jhu.published)}, after both commits; give a "
            "jhu_url published before the first version, or its jhu_published"
            if jhu and jhu.published >= max(earlier.committed, entry.committed)
            else ""
        )
        raise Failure(
            f"The versions of {earlier.run_day} and {entry.run_day} would both be published "
            f"at {iso(moment)}{cause}.",
            allow_retries=False,
        )


def fetch_version(
    downloader: SourceFileDownloader,
    entry: ManifestEntry,
    position: int,
    template: str,
    source: Source,
    jhu: SourceVersion | None,
) -> FetchedVersion:
    """The version's file, downloaded, and the version: published at its commit time (the
    file's Last-Modified is the archive's, not NYT's), and with the JHU file's when there is
    one."""
    url = entry.file_url(template)
    download = downloader.download(
        url, "file_url", label=f"{source.label} of {entry.run_day} ({url})"
    )
    raw = RawSourceFile.from_bytes(url, download.content, download.last_modified)
    nyt = SourceVersion(
        source.asset,
        entry.committed,
        "committed_utc (manifest)",
        hashlib.sha256(download.content).hexdigest(),
    )
    return FetchedVersion(position, entry, raw, Version((nyt, jhu) if jhu else (nyt,)))


def progress(
    history: HistoryOf,
    store: HistoryStore,
    done: int,
    total: int,
    appended_rows: int,
    skipped: int,
    started: float,
) -> AssetMaterialization:
    """A materialization of the history asset saying how far the backfill has got."""
    recorded = store.parameters(store.table())
    return AssetMaterialization(
        history.asset,
        description=f"History backfill, version {done} / {total}",
        metadata={
            "versions_done": f"{done} / {total}",
            "rows_appended": appended_rows,
            "versions_skipped": skipped,
            "seconds": round(time.monotonic() - started, 1),
            "glue_table": f"{store.glue.database}.{store.glue.table_name}",
            "dagster/row_count": int(recorded.get(ROW_COUNT_PARAMETER, 0)),
        },
    )


def serve_national(
    context: OpExecutionContext, table: pd.DataFrame, published: str
) -> Iterator[AssetMaterialization]:
    """The nation's DynamoDB items and export written where they differ from ``table``."""
    resources = context.resources
    served = PublishedTable(table, published)
    _, metadata = load_national_items(context, resources.dynamodb, served)
    yield AssetMaterialization(
        DYNAMODB_RECORDS, description="History backfill: the newest version", metadata=metadata
    )
    export = write_export(context, table, resources.bucket, resources.glue)
    yield AssetMaterialization(
        EXPORT,
        description="History backfill: the newest version",
        metadata={**export, **served.metadata},
    )


def serve_level(
    context: OpExecutionContext,
    level: Level,
    table: pd.DataFrame,
    kept: pd.DataFrame,
    published: str,
) -> Iterator[AssetMaterialization]:
    """The level's DynamoDB items and export written where they differ from ``kept`` (every
    place-day to serve), and the newest version's ``table`` left as the records asset's last
    load (the next daily load diffs against it)."""
    resources = context.resources
    dynamodb, io_manager = resources.dynamodb, resources.io_manager
    created = dynamodb.ensure_level_index()
    previous = None if created else previous_load(context, io_manager, dynamodb, level)
    plan, read = plan_level_writes(dynamodb, level, kept, previous, published)
    batch_calls = dynamodb.put_items(plan.items_to_write)
    served_before = (
        latest_materialization(context.instance, level.records_asset)[0].get("dagster/row_count")
        if previous is not None
        else None
    )
    records = AssetKey(level.records_asset)
    io_manager.handle_output(
        build_output_context(asset_key=records, instance=context.instance), table
    )
    served = {"published": published, "stale_version": ""}
    metadata = records_metadata(level, dynamodb, table, plan, batch_calls, served_before)
    if served_before is None:
        metadata["dagster/row_count"] = len(kept) + len(plan.vanished)
    yield AssetMaterialization(
        level.records_asset,
        description="History backfill: the newest version",
        metadata={**metadata, "read": read, **served},
    )
    glue = getattr(resources, glue_resource_key(level))
    bucket = getattr(resources, bucket_resource_key(level))
    if level.export_partitions is None:
        export = write_export(context, kept, bucket, glue, level.export_schema)
    else:
        export = write_partitioned_export(context, kept, bucket, glue, level)
    yield AssetMaterialization(
        level.export_asset,
        description="History backfill: the newest version",
        metadata={**export, **served},
    )


def build_history_backfill(levels: Sequence[Level]) -> JobDefinition:
    """The job, needing the resources of the nation's history and of each level that is on."""
    histories = [NATIONAL_HISTORY, *(level_history(level) for level in levels)]
    level_keys = [
        key(level) for level in levels for key in (glue_resource_key, bucket_resource_key)
    ]

    @op(
        name=BACKFILL_OP,
        out={},
        description=(
            "Load each version of the config's manifest, in order, into the chosen table's "
            "history (skipping those it holds), then serve the newest version."
        ),
        # The histories' and levels' own resources, so the resources cannot be typed parameters.
        required_resource_keys={
            "downloader",
            "dynamodb",
            "glue",
            "bucket",
            "serving_lock",
            "io_manager",
            *level_keys,
            *(key for history in histories for key in history_resource_keys(history)),
        },
    )
    def backfill_history(
        context: OpExecutionContext, config: HistoryBackfillConfig
    ) -> Iterator[AssetMaterialization]:
        yield from backfill(context, config)

    @job(
        name=HISTORY_BACKFILL,
        description=(
            "Load an archive of published versions (a manifest: run_day, nyt_commit, "
            "committed_utc) into the history of the national, state or county table, in order, "
            "and serve the newest. Holds the serving lock; skips the versions the history "
            "holds, so it can be run again after a failure."
        ),
    )
    def history_backfill() -> None:
        backfill_history()

    return history_backfill
