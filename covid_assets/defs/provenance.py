"""What the instance remembers of the raw sources: the last file each one stored, and whether
every asset downstream was built from exactly those files.

Only Dagster's public records are read: each materialization's metadata, its data version and
the input data versions Dagster records with it (its provenance).
"""

import warnings
from dataclasses import dataclass
from typing import Any, TypeVar

from dagster import (
    AssetKey,
    BetaWarning,
    DagsterInstance,
    DataProvenance,
    DataVersion,
    EventLogEntry,
    Output,
    RepositoryDefinition,
)

# The tag in which Dagster records an asset materialization's data version.
DATA_VERSION_TAG = "dagster/data_version"
T = TypeVar("T")
# Materializations read at a time while looking for the latest one a step built.
PAGE = 20


def versioned_output(value: T, data_version: str, **kwargs: Any) -> Output[T]:
    """An output with its data version (a content hash), from which Dagster records the
    provenance of what is built from it. ``data_version`` is in beta in Dagster 1.13; its
    warning, printed at every output of every run, says nothing to a user of this project."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return Output(value, data_version=DataVersion(data_version), **kwargs)


@dataclass(frozen=True)
class StoredDownload:
    """What the latest materialization of a raw source recorded of its file (None if never)."""

    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    materialized_at: float | None = None


def latest_materialization(
    instance: DagsterInstance, asset: str
) -> tuple[dict[str, Any], float | None]:
    """The plain values of the asset's latest materialization metadata, and when it was made
    (empty and None if it never was)."""
    entry = instance.get_latest_materialization_event(AssetKey(asset))
    if entry is None or entry.asset_materialization is None:
        return {}, None
    metadata = entry.asset_materialization.metadata
    return {name: value.value for name, value in metadata.items()}, entry.timestamp


def stored_download(instance: DagsterInstance, asset: str) -> StoredDownload:
    metadata, materialized_at = latest_materialization(instance, asset)
    recorded = {
        name: str(metadata[name]) or None
        for name in ("sha256", "etag", "last_modified")
        if name in metadata
    }
    return StoredDownload(**recorded, materialized_at=materialized_at)


def latest_built(instance: DagsterInstance, key: AssetKey) -> EventLogEntry | None:
    """The asset's latest materialization that a step of the asset graph built, which is what
    carries Dagster's provenance; None if none did. The backfill's materializations (reported by
    its op, after it served the history's newest version by the same functions) are passed
    over: what a step built before them is still what the graph's inputs say."""
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=PAGE, cursor=cursor)
        for record in page.records:
            if DataProvenance.from_tags(record.event_log_entry.tags or {}) is not None:
                return record.event_log_entry
        if not page.has_more:
            return None
        cursor = page.cursor


def reported_version(data_version: str | None) -> dict[str, str] | None:
    """The tags of a materialization an op reports (the backfill's) that give its data version,
    so that what a step builds from it afterwards records that version as its input."""
    return {DATA_VERSION_TAG: data_version} if data_version else None


def current_versions(instance: DagsterInstance, key: AssetKey, built: EventLogEntry) -> set[str]:
    """The data versions of what the asset holds now: the one of the latest materialization a
    step built, and the one reported after it by an op that serves by the same functions (the
    backfill). What is built from either is current."""
    latest = instance.get_latest_materialization_event(key)
    reported = (latest.tags or {}).get(DATA_VERSION_TAG) if latest is not None else None
    return {(built.tags or {})[DATA_VERSION_TAG], *([reported] if reported else [])}


def downstream_built_from(
    instance: DagsterInstance,
    repository: RepositoryDefinition,
    source_versions: dict[AssetKey, str],
) -> bool:
    """True when every asset of ``repository`` downstream of the sources was last materialized from
    current data versions of its parents (``current_versions``), all the way from these source
    versions (``latest_built``). A run that failed part-way leaves some asset behind, so the
    next run does the work again."""
    asset_graph = repository.asset_graph
    versions = {key: {version} for key, version in source_versions.items()}
    for key in asset_graph.toposorted_asset_keys:
        parents = asset_graph.get(key).parent_keys
        if key in versions or not parents & versions.keys():
            continue
        entry = latest_built(instance, key)
        if entry is None:
            return False
        provenance = DataProvenance.from_tags(entry.tags or {})
        if provenance is None or any(
            provenance.input_data_versions.get(parent, DataVersion("")).value
            not in versions[parent]
            for parent in parents
            if parent in versions
        ):
            return False
        versions[key] = current_versions(instance, key, entry)
    return True
