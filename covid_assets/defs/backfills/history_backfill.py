"""The backfill: the job ``history_backfill`` loads an archive of versions of any served table
(a manifest of NYT commits, or a list of files such as the yearly county files) into its
history, in order, then serves the newest, by the daily run's path: each version meets the daily
run's checks (``domain.table_checks``) before anything of it is written, is appended with
``append_version``, and the newest is served with ``load_items`` and ``export_rows``. Resumable:
a version the history holds is skipped. See docs/pipeline.md, "Backfill".
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
    IOManager,
    OpExecutionContext,
    ResourceParam,
    build_output_context,
    job,
    op,
)
from pydantic import Field

from covid_assets.defs.history.history_assets import HistoryState, append_version, read_state
from covid_assets.defs.provenance import latest_materialization, reported_version
from covid_assets.defs.serving.athena_export import export_rows
from covid_assets.defs.serving.dynamodb_records import (
    load_items,
    load_metadata,
    notify,
    previous_load,
)
from covid_assets.domain.history import (
    NEWEST_PUBLISHED,
    NEWEST_SHA256,
    PublishedTable,
    SourceVersion,
    Version,
    iso,
    published_time,
    stale_reason,
)
from covid_assets.domain.progress import ProgressLog
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import SourceDataError, jhu_us_rows
from covid_assets.domain.sources import JHU
from covid_assets.domain.table_checks import CheckedVersion, checked_level, checked_national
from covid_assets.domain.tables import TABLES, ServedTable
from covid_assets.resources.downloads import SourceFileDownloader
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.exports import ExportUnreadableError
from covid_assets.resources.parquet_tables import ROW_COUNT_PARAMETER
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource
from covid_assets.resources.sns import SNSResource
from covid_assets.resources.tolerances import ServedTolerancesResource

HISTORY_BACKFILL = "history_backfill"
BACKFILL_OP = "backfill_history"
NYT_COMMIT_FILE = "https://raw.githubusercontent.com/nytimes/covid-19-data/{{nyt_commit}}/{file}"
MANIFEST_COLUMNS = ("run_day", "nyt_commit", "committed_utc")
# Versions between two progress materializations of the history asset.
PROGRESS_EVERY = 25

TableName = Literal["national", "state", "county"]
TABLES_BY_NAME = {table.name: table for table in TABLES}


class HistoryBackfillConfig(Config):
    table: TableName = Field(
        default="national",
        description=(
            "Which served table's history to load: national (us.csv with the JHU file), state "
            "(us-states.csv) or county (us-counties-recent.csv, or the yearly county files); "
            "its level must be on."
        ),
    )
    manifest: str | None = Field(
        default=None,
        description=(
            "The versions to load, in order: an http(s)://, file:// URL or local path of a CSV "
            "with the columns run_day, nyt_commit, committed_utc (committed_utc: when NYT "
            "published the version, ISO, UTC), as shared/data/history/*/MANIFEST.csv. Give "
            "either a manifest or files."
        ),
    )
    file_url: str | None = Field(
        default=None,
        description=(
            "With a manifest: where each version's file is, with {nyt_commit} and/or {run_day} "
            "replaced by the manifest's: a URL or local path. Default: the table's file of that "
            "NYT commit upstream (https://raw.githubusercontent.com/nytimes/covid-19-data/"
            "{nyt_commit}/us.csv, us-states.csv or us-counties-recent.csv)."
        ),
    )
    files: list[str] = Field(
        default_factory=list,
        description=(
            "Instead of a manifest: the versions' files, in order (a later file's rows replace "
            "an earlier one's), each published at its Last-Modified or modification time: "
            "http(s)://, file:// URLs or local paths, e.g. NYT's us-counties-2020.csv ... "
            "us-counties-2023.csv for the county table."
        ),
    )
    upstream_url: str | None = Field(
        default=None,
        description=(
            "A level only: the file of the level above each version is reconciled with (the "
            "states with us.csv, the counties with us-states.csv), with {nyt_commit} and/or "
            "{run_day} replaced. Default: that file of the same NYT commit upstream (with a "
            "manifest), none with files. Empty: none. Without it, the states' versions are "
            "refused (their reconciliation blocks), the counties' reconciliation (a warning) "
            "is not evaluated."
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
    table: TableName = "national",
    manifest: str | None = None,
    file_url: str | None = None,
    files: Sequence[str] = (),
    upstream_url: str | None = None,
    jhu_url: str | None = None,
    jhu_published: str | None = None,
) -> dict[str, Any]:
    """The run config of a backfill, as the launchpad takes it (in YAML)."""
    config = {
        "table": table,
        "manifest": manifest,
        "file_url": file_url,
        "files": list(files) or None,
        "upstream_url": upstream_url,
        "jhu_url": jhu_url,
        "jhu_published": jhu_published,
    }
    given = {name: setting for name, setting in config.items() if setting is not None}
    return {"ops": {BACKFILL_OP: {"config": given}}}


@dataclass(frozen=True)
class ArchivedVersion:
    """One version of the archive: its label in the logs, where its file is, where the file of
    the level above is (if any), and when it was published (None: its file says)."""

    label: str
    url: str
    upstream_url: str | None
    published: datetime | None
    published_from: str


def utc_time(text: str, where: str) -> datetime:
    """An ISO time (``2020-04-15T17:10:18Z``; one without a zone is UTC), as an aware UTC time;
    Failure saying where it was read when it is none."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise Failure(f"{where}: {error}", allow_retries=False) from error
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def url_template(name: str, template: str) -> str:
    """The template, when {nyt_commit} and {run_day} are all it asks for; Failure otherwise."""
    try:
        template.format(nyt_commit="", run_day="")
    except (KeyError, IndexError, ValueError) as error:
        raise Failure(
            f"{name} {template!r}: {error!r}; it may hold {{nyt_commit}} and {{run_day}} only",
            allow_retries=False,
        ) from error
    return template


def manifest_versions(
    downloader: SourceFileDownloader, config: HistoryBackfillConfig, table: ServedTable
) -> list[ArchivedVersion]:
    """The manifest's versions, in its order; Failure when it lacks a column, a committed_utc
    is no ISO time, it lists none, or a URL template asks for another placeholder."""
    url = config.manifest
    files = url_template(
        "file_url", config.file_url or NYT_COMMIT_FILE.format(file=table.upstream_file)
    )
    upstream = None
    if table.level is not None and config.upstream_url != "":
        above = next(t for t in TABLES if table.level.reconciliation.against in t.sources)
        default = NYT_COMMIT_FILE.format(file=above.upstream_file)
        upstream = url_template("upstream_url", config.upstream_url or default)
    content = downloader.download(url, "manifest", label=f"History manifest {url}").content
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    missing = [name for name in MANIFEST_COLUMNS if name not in (reader.fieldnames or ())]
    if missing:
        raise Failure(f"{url}: no column {', '.join(missing)}", allow_retries=False)
    versions = []
    for line, row in enumerate(reader, start=2):
        names = {"nyt_commit": row["nyt_commit"], "run_day": row["run_day"]}
        versions.append(
            ArchivedVersion(
                row["run_day"],
                files.format(**names),
                None if upstream is None else upstream.format(**names),
                utc_time(row["committed_utc"], f"{url}, line {line}"),
                "committed_utc (manifest)",
            )
        )
    if not versions:
        raise Failure(f"{url} lists no version: nothing to backfill", allow_retries=False)
    return versions


def archived_versions(
    downloader: SourceFileDownloader, config: HistoryBackfillConfig, table: ServedTable
) -> list[ArchivedVersion]:
    """The versions the config names: a manifest's or a list of files."""
    if bool(config.manifest) == bool(config.files):
        raise Failure(
            "Give either a manifest or files (the config has "
            + ("both" if config.manifest else "neither")
            + "): nothing was backfilled.",
            allow_retries=False,
        )
    if config.manifest:
        return manifest_versions(downloader, config, table)
    upstream = config.upstream_url or None
    return [
        ArchivedVersion(url.rsplit("/", 1)[-1], url, upstream, None, "") for url in config.files
    ]


def refuse_shared_publication_times(
    versions: Sequence[ArchivedVersion], jhu: SourceVersion | None
) -> None:
    """Fail, before anything is written, when two versions would be published at the same
    time: the later of a version's files stamps it, so a JHU file published after NYT's
    commits would stamp them all alike, and "as of" could not tell them apart."""
    seen: dict[pd.Timestamp, ArchivedVersion] = {}
    for version in versions:
        if version.published is None:
            continue
        moment = max(version.published, jhu.published) if jhu else version.published
        earlier = seen.setdefault(pd.Timestamp(moment).floor("ms"), version)
        if earlier is version:
            continue
        cause = (
            f": the JHU file was published at {iso(jhu.published)}, after both commits; give a "
            "jhu_url published before the first version, or its jhu_published"
            if jhu and jhu.published >= max(earlier.published, version.published)
            else ""
        )
        raise Failure(
            f"The versions of {earlier.label} and {version.label} would both be published "
            f"at {iso(moment)}{cause}.",
            allow_retries=False,
        )


@dataclass(frozen=True)
class FetchedVersion:
    """One archived version's files, downloaded, and the version they make."""

    raw: RawSourceFile
    upstream: RawSourceFile | None
    version: Version


def downloaded(
    downloader: SourceFileDownloader, url: str, setting: str, label: str
) -> RawSourceFile:
    fetched = downloader.download(url, setting, label=label)
    return RawSourceFile.from_bytes(url, fetched.content, fetched.last_modified)


def fetch_version(
    downloader: SourceFileDownloader,
    table: ServedTable,
    archived: ArchivedVersion,
    jhu: SourceVersion | None,
) -> FetchedVersion:
    """The version's files, downloaded, and the version: published at its commit time (an
    archive's files are all written on the day of the archive), or at its file's own time; and
    with the JHU file's when there is one."""
    [source] = [s for s in table.sources if s != JHU]
    label = f"{source.label} of {archived.label} ({archived.url})"
    raw = downloaded(downloader, archived.url, "file_url", label)
    upstream = None
    if archived.upstream_url:
        above = table.level.reconciliation.against
        upstream = downloaded(
            downloader,
            archived.upstream_url,
            "upstream_url",
            f"{above.label} of {archived.label} ({archived.upstream_url})",
        )
    published = archived.published or published_time(raw.last_modified) or datetime.now(UTC)
    nyt = SourceVersion(
        source.asset,
        published,
        archived.published_from or "Last-Modified or file time",
        hashlib.sha256(raw.content).hexdigest(),
    )
    version = Version((nyt, jhu) if jhu else (nyt,))
    return FetchedVersion(raw, upstream, version)


def checked(
    table: ServedTable,
    fetched: FetchedVersion,
    jhu: RawSourceFile | None,
    served: pd.DataFrame | None,
    tolerances: ServedTolerancesResource,
) -> CheckedVersion:
    """The version's table, made and checked as the daily run makes and checks it."""
    if table.level is None:
        return checked_national(fetched.raw, jhu, served, tolerances.tolerances)
    return checked_level(table, fetched.raw, fetched.upstream)


def progress(
    table: ServedTable,
    state: HistoryState,
    done: int,
    total: int,
    appended: int,
    skipped: int,
    started: float,
) -> AssetMaterialization:
    """A materialization of the history asset saying how far the backfill has got."""
    return AssetMaterialization(
        table.history_asset,
        description=f"History backfill, version {done} / {total}",
        metadata={
            "versions_done": f"{done} / {total}",
            "rows_appended": appended,
            "versions_skipped": skipped,
            "seconds": round(time.monotonic() - started, 1),
            "dagster/row_count": int(state.recorded.get(ROW_COUNT_PARAMETER, 0)),
        },
        tags=reported_version(state.recorded.get(NEWEST_SHA256)),
    )


def served_table(table: ServedTable, state: HistoryState) -> pd.DataFrame:
    """What the history serves: the newest version's table, and, for a window, every key it
    has left as last seen, as the daily loads leave them."""
    if not table.source_is_window:
        return state.table
    return state.stored.newest_rows(table)


def jhu_file(
    downloader: SourceFileDownloader, config: HistoryBackfillConfig
) -> tuple[RawSourceFile, SourceVersion]:
    """The JHU file the nation's versions are merged with (its US rows: the JHU rules are about
    those rows, and this spares reading every country's rows again for each version), and
    when it was published."""
    url = config.jhu_url or downloader.url_of(JHU)
    jhu = downloaded(downloader, url, "jhu_url", f"{JHU.label} {url}")
    if jhu.read_problems:
        raise SourceDataError(jhu.read_problems)
    published = published_time(jhu.last_modified) or datetime.now(UTC)
    how = "Last-Modified or file time"
    if config.jhu_published:
        published, how = utc_time(config.jhu_published, "jhu_published"), "config"
    version = SourceVersion(JHU.asset, published, how, hashlib.sha256(jhu.content).hexdigest())
    return replace(jhu, table=jhu_us_rows(jhu.table)), version


@op(
    name=BACKFILL_OP,
    out={},
    description=(
        "Load each version of the config's archive, in order, into the chosen table's history "
        "(skipping those it holds), then serve the newest version."
    ),
)
def backfill_history(
    context: OpExecutionContext,
    config: HistoryBackfillConfig,
    downloader: SourceFileDownloader,
    dynamodb: DynamoDBResource,
    served: ServedTablesResource,
    tolerances: ServedTolerancesResource,
    alerts: SNSResource,
    serving_lock: ServingLockResource,
    io_manager: ResourceParam[IOManager],
) -> Iterator[AssetMaterialization]:
    """Every version of the archive into the history, then the newest served (see the
    module)."""
    serving_lock.hold(context)
    table = TABLES_BY_NAME[config.table]
    if not all(source.asset in downloader.urls for source in table.sources):
        raise Failure(
            f"The {table.name} level is off ({table.sources[0].url_setting} is empty): turn it "
            "on to backfill its history.",
            allow_retries=False,
        )
    archived = archived_versions(downloader, config, table)
    jhu = jhu_version = None
    if table.level is None:
        jhu, jhu_version = jhu_file(downloader, config)
    refuse_shared_publication_times(archived, jhu_version)
    store = served.history(table)
    held = set(store.keys())
    state = read_state(store, store.current(), "the backfill reads it once")
    baseline = None
    if table.level is None and state.table is None:
        try:
            baseline = served.export(table).read(table.columns)[0]
        except ExportUnreadableError:
            baseline = None
    total = len(archived)
    started = time.monotonic()
    appended_rows = skipped = 0
    newest_of_archive = None
    # A line per version would be hundreds: the versions' progress is logged every few seconds.
    say = ProgressLog(context.log.info)
    for position, entry in enumerate(archived, start=1):
        fetched = fetch_version(downloader, table, entry, jhu_version)
        version = fetched.version
        label = f"version {position} / {total} ({entry.label})"
        newest_of_archive = max(newest_of_archive or version.valid_from, version.valid_from)
        if store.object_key(version) in held:
            skipped += 1
            say(appended_rows, f"{label}: in the history already, skipped", position == total)
            continue
        stale = stale_reason(state.current, version)
        compared = None if stale else (state.table if state.table is not None else baseline)
        version_checks = checked(table, fetched, jhu, compared, tolerances)
        rows = version_checks.table_or_refusal()
        for name, problems in version_checks.warnings.items():
            if problems:
                context.log.warning("%s: %s: %s", label, name, problems[0])
        appended = append_version(store, state, version, rows)
        state = appended.state
        appended_rows += len(appended.rows)
        say(
            appended_rows,
            f"{label}, {len(appended.rows)} rows appended"
            f"{' (older than the newest in the history)' if appended.stale else ''} at "
            f"{appended.location or '(nothing new)'}; {appended_rows:,} rows in all so far",
            position == total,
        )
        if position % PROGRESS_EVERY == 0 and position < total:
            yield progress(table, state, position, total, appended_rows, skipped, started)
    yield progress(table, state, total, total, appended_rows, skipped, started)

    newest_time = max(state.stored.version_times, default=None)
    if newest_of_archive != newest_time:
        context.log.info(
            "The newest version in the history (%s) is newer than every version of the "
            "archive: what is served stays as it is",
            newest_time,
        )
        return
    yield from serve_newest(context, table, state, dynamodb, served, alerts, io_manager)


def serve_newest(
    context: OpExecutionContext,
    table: ServedTable,
    state: HistoryState,
    dynamodb: DynamoDBResource,
    served: ServedTablesResource,
    alerts: SNSResource,
    io_manager: IOManager,
) -> Iterator[AssetMaterialization]:
    """Serve the history's newest version as a daily run does: the history asset's output is
    stored where the next daily run reads it, the load writes what differs, and the export too,
    read back as its checks read it; their materializations say so."""
    published = state.recorded[NEWEST_PUBLISHED]
    newest = PublishedTable(state.table, published, None, state.revisions)
    instance = context.instance
    io_manager.handle_output(
        build_output_context(asset_key=AssetKey(table.history_asset), instance=instance), newest
    )
    rows = served_table(table, state)
    context.log.info("Serving the newest version, published %s: %d rows", published, len(rows))
    log = context.log.info
    created = dynamodb.ensure_table()
    previous = (
        None
        if created or table.load_reads_stored
        else previous_load(context, io_manager, dynamodb, table, log)
    )
    # Not read back: the backfill job reports no check of the load (the daily load's check reads
    # back a batch's last item); the next daily run's check reads back what it writes.
    load = load_items(dynamodb, table, rows, previous, published, log, read_back=False)
    notify(alerts, dynamodb, table, load, str(rows["date"].max()))
    served_before = (
        latest_materialization(instance, table.records_asset)[0].get("dagster/row_count")
        if previous is not None
        else None
    )
    io_manager.handle_output(
        build_output_context(asset_key=AssetKey(table.records_asset), instance=instance),
        table.latest_window(rows),
    )
    metadata = load_metadata(dynamodb, table, rows, load, served_before) | newest.metadata
    # What is served is the history's newest version: its data version is theirs.
    served_version = reported_version(state.recorded[NEWEST_SHA256])
    yield AssetMaterialization(
        table.records_asset,
        description="History backfill: the newest version",
        metadata=metadata,
        tags=served_version,
    )
    store = served.export(table)
    written, export = export_rows(store, rows, log)
    problems = store.check(rows, written)
    if problems.schema or problems.rows:
        first = (problems.schema or problems.rows)[0]
        raise Failure(f"The export read back otherwise: {first}", allow_retries=False)
    yield AssetMaterialization(
        table.export_asset,
        description="History backfill: the newest version",
        metadata={**export, **newest.metadata},
        tags=served_version,
    )


@job(
    name=HISTORY_BACKFILL,
    description=(
        "Load an archive of published versions (a manifest of NYT commits, or a list of files "
        "such as the yearly county files) into the history of the national, state or county "
        "table, in order, checked as the daily run checks them, and serve the newest. Holds the "
        "serving lock; skips the versions the history holds, so it can be run again after a "
        "failure."
    ),
)
def history_backfill() -> None:
    backfill_history()
