"""The history assets: ``merged_daily_history`` and one per level (``state_daily_history``,
``county_daily_history``), each the append-only record of every published version of its
served table (``history``, ``history_store``).

A history asset sits between its table and the assets that serve it: it appends the version's
new and changed rows, then hands on the table to serve (``PublishedTable``). A version older
than the newest one in the history (a stale copy, a version loaded late) only adds to the
history what it lacks: the assets downstream then serve the newest version again, so what is
served is never replaced by an older version. The newest version is read from the history's
Glue table each run, not from the run's memory.
"""

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    DataVersion,
    MetadataValue,
    Output,
    build_input_context,
    multi_asset,
)

from covid_assets.defs.history.history_store import HistoryStore
from covid_assets.defs.metadata import column_schema, markdown_preview, table_sha256
from covid_assets.defs.serving.athena_export import EXPORT_SCHEMA, ROW_COUNT_PARAMETER
from covid_assets.defs.tables.merged_daily_table import MERGED
from covid_assets.domain.history import (
    NEWEST_OBJECT,
    NEWEST_PUBLISHED,
    NEWEST_SHA256,
    VALID_FROM,
    HistoryOf,
    PublishedTable,
    Version,
    as_of,
    as_of_sql,
    changed_rows,
    history_prefix_of,
    history_table_of,
    iso,
    source_version,
    stale_reason,
    version_rows,
)
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.sources import JHU, NYT
from covid_assets.domain.tables import Level
from covid_assets.resources.glue import GlueCatalogResource
from covid_assets.resources.s3 import S3BucketResource
from covid_assets.settings import configured, value

HISTORY_GROUP = "history"

NATIONAL_HISTORY = HistoryOf(
    table_asset=MERGED,
    sources=(NYT, JHU),
    key_columns=("date",),
    served_schema=EXPORT_SCHEMA,
    glue_table_setting="COVID_GLUE_TABLE",
    export_prefix_setting="COVID_S3_PREFIX",
)


def level_history(level: Level) -> HistoryOf:
    return HistoryOf(
        table_asset=level.table_asset,
        sources=(level.source,),
        key_columns=level.key_columns,
        served_schema=level.export_schema,
        glue_table_setting=level.glue_table_setting,
        export_prefix_setting=level.export_prefix_setting,
    )


def history_resource_keys(history: HistoryOf) -> tuple[str, str]:
    """The resource keys of the history's Glue table and of the bucket with its prefix."""
    return f"{history.asset}_glue", f"{history.asset}_bucket"


def history_resources(history: HistoryOf, region: str) -> dict[str, Any]:
    """The history's Glue table and folder, named after the served export's: the settings'
    values as the definitions are loaded."""
    glue_key, bucket_key = history_resource_keys(history)
    return {
        glue_key: GlueCatalogResource(
            database=configured("COVID_GLUE_DATABASE"),
            table_name=history_table_of(value(history.glue_table_setting)),
            region_name=region,
        ),
        bucket_key: S3BucketResource(
            bucket=configured("COVID_S3_BUCKET"),
            export_prefix=history_prefix_of(value(history.export_prefix_setting)),
            region_name=region,
        ),
    }


def run_started(context: AssetExecutionContext) -> datetime:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = record.start_time if record is not None else None
    return datetime.fromtimestamp(started, UTC) if started else datetime.now(UTC)


def served_rows(history: HistoryOf, rows: pd.DataFrame) -> pd.DataFrame:
    """History rows as the served table has them (no valid_from, no hashes)."""
    return rows[history.served_schema.names]


def newest_state(
    context: AssetExecutionContext, store: HistoryStore, glue_table: dict[str, Any] | None
) -> tuple[pd.DataFrame | None, str]:
    """The newest version's table, which a newer version is compared with, and how it was had:
    the asset's last output, when its hash is the one the Glue table records and the history's
    files are those it records; else the history's files read as of the newest version; None
    when there is no history yet."""
    if glue_table is None:
        return None, "no history yet"
    history, recorded = store.history, store.parameters(glue_table)
    problem = store.newest_problem(glue_table)
    if problem is None:
        try:
            last = context.resources.io_manager.load_input(
                build_input_context(asset_key=AssetKey(history.asset), instance=context.instance)
            )
        except Exception as error:  # whatever the IO manager raises: the history is read
            problem = f"the last output is unreadable ({error})"
        else:
            if table_sha256(last.table) == recorded.get(NEWEST_SHA256):
                return last.table, "the last output, as the Glue table records it"
            problem = "the last output is not the newest version the Glue table records"
    context.log.warning("%s: %s; reading the history", history.asset, problem)
    stored = store.read()
    state = as_of(
        stored.rows, max(stored.version_times, default=pd.Timestamp.max), history.key_columns
    )
    return served_rows(
        history, state
    ), f"read from the history's {len(stored.version_times)} versions ({problem})"


def build_history_asset(history: HistoryOf) -> AssetsDefinition:
    """The history asset of one served table."""
    glue_key, bucket_key = history_resource_keys(history)

    @multi_asset(
        name=history.asset,
        outs={
            history.asset: AssetOut(
                group_name=HISTORY_GROUP,
                description=(
                    f"Every published version of {history.table_asset}, append-only: one row per "
                    "key whose values a version made new or changed, with valid_from (when "
                    "that version was published, UTC) and its source files' sha256. Parquet "
                    f"under s3://$COVID_S3_BUCKET/history/${history.export_prefix_setting}, "
                    "partitioned by published_day, catalogued in Glue as "
                    f"${history.glue_table_setting}_history. Hands on the table to serve: the "
                    "newest version's."
                ),
                kinds={"s3", "parquet", "athena"},
            )
        },
        ins={
            "table": AssetIn(history.table_asset),
            **{source.asset: AssetIn(source.asset) for source in history.sources},
        },
        required_resource_keys={glue_key, bucket_key, "serving_lock", "io_manager"},
    )
    def history_asset(
        context: AssetExecutionContext, table: pd.DataFrame, **raw_files: RawSourceFile
    ) -> Output[PublishedTable]:
        context.resources.serving_lock.hold(context)
        store = HistoryStore(
            history, getattr(context.resources, glue_key), getattr(context.resources, bucket_key)
        )
        started = run_started(context)
        version = Version(
            tuple(
                source_version(raw_files[source.asset], source.asset, started)
                for source in history.sources
            )
        )
        glue_table = store.table()
        stale = stale_reason(glue_table, version)
        state, state_note = newest_state(context, store, glue_table)
        recorded = store.parameters(glue_table)
        key = store.object_key(version)
        if stale is not None:
            stored = store.read()
            rows = version_rows(
                stored.rows[[*history.served_schema.names, VALID_FROM]],
                table,
                version.valid_from,
                stored.version_times,
                history.key_columns,
            )
            served = PublishedTable(state, recorded[NEWEST_PUBLISHED], stale)
            context.log.warning("%s: %s; the newest version stays served", history.asset, stale)
            newest_sha256 = None
            appended = not rows.empty or version.valid_from not in stored.version_times
        else:
            rows = changed_rows(state, table, history.key_columns).assign(
                **{VALID_FROM: version.valid_from}
            )
            served = PublishedTable(table, iso(version.published), None)
            newest_sha256 = table_sha256(table)
            # The same version again appends nothing, unless the history lost some of it.
            appended = recorded.get(NEWEST_OBJECT) != key or not rows.empty
        total = int(recorded.get(ROW_COUNT_PARAMETER, 0))
        location = ""
        if appended:
            location, total = store.append(glue_table, rows, version, newest_sha256)
            context.log.info("%s: %d row(s) appended at %s", history.asset, len(rows), location)
        else:
            rows = rows.head(0)
        metadata = {
            "glue_table": f"{store.glue.database}.{store.glue.table_name}",
            "dagster/row_count": total,
            "dagster/column_schema": column_schema(history.schema.names),
            "status": ("stale: " if stale else "") + ("appended" if appended else "unchanged"),
            "stale_version": stale or "",
            "rows_appended": len(rows),
            "appended_object": location,
            "published": iso(version.published),
            "newest_compared_with": state_note,
            **{
                f"{source.asset}_published": f"{iso(source.published)} ({source.published_from})"
                for source in version.sources
            },
            **{f"{source.asset}_sha256": source.sha256 for source in version.sources},
            "appended_rows_preview": markdown_preview(rows),
            "as_of_query": MetadataValue.md(
                "```sql\n"
                + as_of_sql(
                    f"{store.glue.database}.{store.glue.table_name}",
                    history.key_columns,
                    history.value_columns,
                    f"{version.valid_from:%Y-%m-%d %H:%M:%S}",
                )
                + "\n```"
            ),
        }
        return Output(
            served,
            output_name=history.asset,
            metadata=metadata,
            data_version=DataVersion(newest_sha256 or recorded[NEWEST_SHA256]),
        )

    return history_asset
