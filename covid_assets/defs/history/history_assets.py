"""The history assets, ``merged_daily_history``, ``state_daily_history`` and
``county_daily_history`` (declared in ``domain.tables``): each appends a table's version to its
append-only history and hands on what to serve, the newest version's table and the history's
revisions (its revision summary's totals per publication). ``append_version`` is the one way a
version gets into a history, for the daily run and the backfill alike, and the one way the
summary and its totals follow it. See docs/pipeline.md, "History".
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    AssetsDefinition,
    IOManager,
    MetadataValue,
    Output,
    ResourceParam,
    multi_asset,
)

from covid_assets.defs.metadata import column_schema, markdown_preview
from covid_assets.defs.provenance import versioned_output
from covid_assets.defs.step_outputs import stored_output
from covid_assets.domain.hashing import table_sha256
from covid_assets.domain.history import (
    NEWEST_OBJECT,
    NEWEST_PUBLISHED,
    NEWEST_SHA256,
    PUBLISHED,
    REVISIONS_SHA256,
    VALID_FROM,
    PublishedTable,
    Version,
    as_of_sql,
    changed_rows,
    history_schema,
    iso,
    no_revisions,
    publication_totals,
    revision_summary,
    source_version,
    stale_reason,
    totals_columns,
    version_rows,
    version_summary,
    with_totals,
)
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.tables import ServedTable
from covid_assets.resources.histories import HistoryStore, Newest, StoredHistory
from covid_assets.resources.parquet_tables import ROW_COUNT_PARAMETER
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.resources.serving_lock import ServingLockResource

HISTORY_GROUP = "history"

Log = Callable[[str], None]


@dataclass(frozen=True)
class HistoryState:
    """A history as a run finds it: what its Glue table records (``current``), the newest
    version's table (None: no history yet) and the history's revisions (its summary's totals
    per publication), how they were had, and every row when they were read from the history's
    files."""

    current: dict[str, Any] | None
    table: pd.DataFrame | None
    revisions: pd.DataFrame
    note: str
    stored: StoredHistory | None = None

    @property
    def recorded(self) -> dict[str, str]:
        return HistoryStore.parameters(self.current)


def read_state(store: HistoryStore, current: dict[str, Any] | None, why: str) -> HistoryState:
    """The state from the history's files: the newest version as of every version, and the
    totals of the revision summary recomputed from every version."""
    stored = store.read()
    table = None
    if stored.version_times:
        table = store.table.latest_window(stored.newest_rows(store.table))
    note = f"read from the history's {len(stored.version_times)} versions ({why})"
    summary = revision_summary(stored.rows, stored.version_times, store.table)
    return HistoryState(current, table, publication_totals(summary, store.table), note, stored)


def last_output_problem(
    last: PublishedTable, recorded: dict[str, str], table: ServedTable
) -> str | None:
    """Why a history asset's last output is not the history's state its Glue table records
    (``recorded``), or None when it is: its table's hash, the columns of its revisions (older
    code handed on the summary's rows per place) and their hash."""
    if table_sha256(last.table) != recorded.get(NEWEST_SHA256):
        return "the last output is not the newest version the Glue table records"
    if list(last.revisions.columns) != totals_columns(table):
        return "the last output's revisions are not the revision summary's totals"
    if table_sha256(last.revisions) != recorded.get(REVISIONS_SHA256):
        return "the last output's revisions are not those the Glue table records"
    return None


def history_state(
    store: HistoryStore, last_output: Callable[[], PublishedTable], log: Log
) -> HistoryState:
    """The history's state: the asset's last output, when its table's and revisions' hashes
    are the ones the Glue table records and the history's files are those it records; else
    the history's files, read."""
    current = store.current()
    if current is None:
        totals = publication_totals(no_revisions(store.table), store.table)
        return HistoryState(None, None, totals, "no history yet")
    recorded = store.parameters(current)
    problem = store.newest_problem(current)
    if problem is None:
        try:
            last = last_output()
        except Exception as error:  # whatever the IO manager raises: the history is read
            problem = f"the last output is unreadable ({error})"
        else:
            problem = last_output_problem(last, recorded, store.table)
            if problem is None:
                note = "the last output, as the Glue table records it"
                return HistoryState(current, last.table, last.revisions, note)
    log(f"{store.table.history_asset}: {problem}; reading the history")
    return read_state(store, current, problem)


@dataclass(frozen=True)
class AppendedVersion:
    """What one version did to a history: the rows it appended (none when the history held
    it already), what is served after it, why it is not served when it is older than the
    newest, the revision summary's rows it wrote (its own and, for an older one, the next
    version's), where its object is, the history's row count, and the history's state after
    it."""

    rows: pd.DataFrame
    served: PublishedTable
    stale: str | None
    summary_rows: pd.DataFrame
    location: str
    total_rows: int
    state: HistoryState

    @property
    def appended(self) -> bool:
        return bool(self.location)


def append_version(
    store: HistoryStore, state: HistoryState, version: Version, table: pd.DataFrame
) -> AppendedVersion:
    """Append ``version`` (its ``table``) to the history. A version newer than the newest adds
    its new and changed rows, and becomes what is served; an older one adds what the history
    lacks at its time (``history.version_rows``) and leaves the newest served. The same version
    again appends nothing, unless the history lost part of it. The revision summary gets the
    version's rows (against the version before it) and, for an older one, the next version's
    again (against it): the summary is the one the versions in order would have made. The
    revisions handed on get those publications' totals in place of theirs."""
    served_table = store.table
    keys, columns = list(served_table.key_columns), served_table.columns
    recorded = state.recorded
    key = store.object_key(version)
    stale = stale_reason(state.current, version)
    stored = state.stored
    summary_rows = no_revisions(served_table)
    if stale is not None:
        stored = stored or store.read()
        history = stored.rows[[*columns, VALID_FROM]]
        rows = version_rows(history, table, version.valid_from, stored.version_times, keys)
        appended = not rows.empty or version.valid_from not in stored.version_times
        if appended:
            times = sorted({*stored.version_times, version.valid_from})
            later = [time for time in times if time > version.valid_from][:1]
            summary_rows = revision_summary(
                pd.concat([history, rows], ignore_index=True),
                times,
                served_table,
                [version.valid_from, *later],
            )
        served = PublishedTable(state.table, recorded[NEWEST_PUBLISHED])
        newest_table = None
    else:
        before = state.table
        reaches_back = (
            before is not None
            and not before.empty
            and not table.empty
            and table["date"].min() < before["date"].min()
        )
        if reaches_back:
            # The state holds the newest version's latest window only (``latest_window``): a
            # version reaching further back is compared with the history's newest rows.
            stored = stored or store.read()
            before = stored.newest_rows(served_table)
        rows = changed_rows(before, table, keys).assign(**{VALID_FROM: version.valid_from})
        appended = recorded.get(NEWEST_OBJECT) != key or not rows.empty
        if appended:
            summary_rows = version_summary(before, table, version.valid_from, served_table)
        # What is handed on, and recorded as the newest table: for a window, its latest days,
        # so that the day after a backfill does not carry a whole year of it.
        newest_table = served_table.latest_window(table)
        served = PublishedTable(newest_table, iso(version.published))
    revisions = with_totals(state.revisions, publication_totals(summary_rows, served_table))
    served = replace(served, stale_reason=stale, revisions=revisions)
    total = int(recorded.get(ROW_COUNT_PARAMETER, 0))
    location = ""
    current = state.current
    if appended:
        newest = Newest(
            None if newest_table is None else table_sha256(newest_table),
            table_sha256(revisions),
        )
        written = store.append(current, rows, version, newest, summary_rows)
        location, total, current = written.location, written.total_rows, written.current
    else:
        rows = rows.head(0)
    if stored is not None and appended:
        stored = StoredHistory(
            pd.concat([stored.rows, rows], ignore_index=True),
            sorted({*stored.version_times, version.valid_from}),
        )
    after = replace(
        state,
        current=current,
        table=served.table,
        revisions=revisions,
        stored=stored if state.stored is not None else None,
    )
    return AppendedVersion(rows, served, stale, summary_rows, location, total, after)


def history_metadata(
    store: HistoryStore, version: Version, appended: AppendedVersion, state_note: str
) -> dict[str, Any]:
    """What a history materialization says of the version it saw, and its revisions: its rows
    of the revision summary (one per place) when it was appended, else its totals."""
    table, revisions = store.table, appended.served.revisions
    if appended.appended:
        summary_rows = appended.summary_rows
        of_version = summary_rows[summary_rows[PUBLISHED] == version.valid_from]
    else:
        of_version = revisions[revisions[PUBLISHED] == version.valid_from]
    status = ("stale: " if appended.stale else "") + (
        "appended" if appended.appended else "unchanged"
    )
    return {
        "glue_table": store.label,
        "dagster/row_count": appended.total_rows,
        "dagster/column_schema": column_schema(history_schema(table).names),
        "status": status,
        "stale_version": appended.stale or "",
        "rows_appended": len(appended.rows),
        "appended_object": appended.location,
        "published": iso(version.published),
        "newest_compared_with": state_note,
        "revision_publications": len(revisions),
        "revision_summary_of_this_version": markdown_preview(of_version),
        **{
            f"{source.asset}_published": f"{iso(source.published)} ({source.published_from})"
            for source in version.sources
        },
        **{f"{source.asset}_sha256": source.sha256 for source in version.sources},
        "appended_rows_preview": markdown_preview(appended.rows),
        "as_of_query": MetadataValue.md(
            "```sql\n"
            + as_of_sql(
                store.label,
                table.key_columns,
                table.value_columns,
                f"{version.valid_from:%Y-%m-%d %H:%M:%S}",
            )
            + "\n```"
        ),
    }


def run_started(context: AssetExecutionContext) -> datetime:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = record.start_time if record is not None else None
    return datetime.fromtimestamp(started, UTC) if started else datetime.now(UTC)


def last_published(
    context: AssetExecutionContext, io_manager: IOManager, table: ServedTable
) -> Callable[[], PublishedTable]:
    """Reads the history asset's last output back through the IO manager that stored it."""
    return lambda: stored_output(context, io_manager, table.history_asset)


def build_history_asset(table: ServedTable) -> AssetsDefinition:
    """The history asset of one served table."""

    @multi_asset(
        name=table.history_asset,
        outs={
            table.history_asset: AssetOut(
                group_name=HISTORY_GROUP,
                description=(
                    f"Every published version of {table.table_asset}, append-only: one row per "
                    "key whose values a version made new or changed, with valid_from (when "
                    "that version was published, UTC) and its source files' sha256. Parquet "
                    f"under s3://$COVID_S3_BUCKET/history/${table.export_prefix_setting}, "
                    "partitioned by published_day, catalogued in Glue as "
                    f"${table.glue_table_setting}_history. Hands on the table to serve (the "
                    "newest version's) and the history's revisions."
                ),
                kinds={"s3", "parquet", "athena"},
            )
        },
        ins={
            "version_table": AssetIn(table.table_asset),
            **{source.asset: AssetIn(source.asset) for source in table.sources},
        },
    )
    def history(
        context: AssetExecutionContext,
        version_table: pd.DataFrame,
        served: ServedTablesResource,
        serving_lock: ServingLockResource,
        io_manager: ResourceParam[IOManager],
        **raw_files: RawSourceFile,
    ) -> Output[PublishedTable]:
        serving_lock.hold(context)
        store = served.history(table)
        started = run_started(context)
        version = Version(
            tuple(
                source_version(raw_files[source.asset], source.asset, started)
                for source in table.sources
            )
        )
        state = history_state(
            store,
            last_published(context, io_manager, table),
            context.log.warning,
        )
        appended = append_version(store, state, version, version_table)
        if appended.stale:
            context.log.warning(
                "%s: %s; the newest version stays served", table.history_asset, appended.stale
            )
        if appended.appended:
            context.log.info(
                "%s: %d row(s) appended at %s",
                table.history_asset,
                len(appended.rows),
                appended.location,
            )
        recorded = appended.state.recorded
        return versioned_output(
            appended.served,
            recorded[NEWEST_SHA256],
            output_name=table.history_asset,
            metadata=history_metadata(store, version, appended, state.note),
        )

    return history
