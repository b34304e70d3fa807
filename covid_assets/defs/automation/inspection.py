"""What a tick looks at before it decides whether a run is needed.

Three questions, each answered from the world rather than from memory alone: has a source
published a newer file (a conditional request, or a file's hash); was everything downstream
built from the files the raw assets stored (Dagster's recorded provenance); and is what is
served of every table still what the last run wrote: one BatchGetItem of every load's latest
item, one GetTables of every export's Glue table, one HeadObject of each export's last file and
one of the dashboard page (no scans, no writes; ``serving.served_check``). Dagster's records say
what to expect; the services say whether it is there. What is served is looked at on every
inspection, so that what a tick finds missing is failed on the serving asset at once, even when a
run is due for another reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetObservation,
    DagsterInstance,
    RepositoryDefinition,
)

from covid_assets.defs.provenance import DATA_VERSION_TAG, StoredDownload, downstream_built_from
from covid_assets.defs.provenance import stored_download as stored_download_of
from covid_assets.defs.serving.served_check import (
    NEVER_MATERIALIZED,
    failed_served_check,
    served_assets,
    served_problems,
)
from covid_assets.domain.sources import Source
from covid_assets.resources.downloads import Download, SourceFileDownloader
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets.resources.served_tables import ServedTablesResource
from covid_assets.settings import enabled_tables


@dataclass(frozen=True)
class SourceLook:
    """One source's newest file, asked for with the validators of the one stored."""

    source: Source
    stored: StoredDownload
    download: Download

    @property
    def changed(self) -> bool:
        """Nothing stored yet, or the server sent a file other than the stored one."""
        if self.stored.sha256 is None:
            return True
        return self.download.content is not None and self.download.sha256 != self.stored.sha256

    @property
    def data_version(self) -> str | None:
        return self.download.sha256 if self.changed else self.stored.sha256

    def observation(self) -> AssetObservation:
        """What the tick saw, as an event of the raw asset with the version it saw."""
        metadata = {
            "status": "changed" if self.changed else "unchanged",
            "bytes_downloaded": len(self.download.content or b""),
            "last_modified": self.download.last_modified or self.stored.last_modified or "",
        }
        tags = {DATA_VERSION_TAG: self.data_version} if self.data_version else None
        return AssetObservation(asset_key=self.source.asset, metadata=metadata, tags=tags)


@dataclass(frozen=True)
class Inspection:
    """What a tick saw: each source, what is served (each serving asset's problems, none
    when it is as written), and the reasons (if any) a run is needed."""

    looks: Sequence[SourceLook]
    served: dict[str, list[str]]
    reasons: Sequence[str]

    @property
    def needs_run(self) -> bool:
        return bool(self.reasons)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def skip_reason(self) -> str:
        *others, last = [look.source.name for look in self.looks]
        names = f"{', '.join(others)} and {last}" if others else last
        stored_at = [look.stored.materialized_at for look in self.looks]
        since = datetime.fromtimestamp(max(t for t in stored_at if t is not None), UTC)
        return (
            f"{names} unchanged since {since:%Y-%m-%d %H:%M} UTC; DynamoDB and the export verified"
        )

    def observations(self) -> list[AssetObservation]:
        return [look.observation() for look in self.looks]

    def failed_checks(self, seen_by: str) -> list[AssetCheckEvaluation]:
        """The check ``served_as_last_written`` failed on each serving asset the tick found
        missing or different (an asset never materialized shows as such already)."""
        return [
            failed_served_check(asset, problems, seen_by)
            for asset, problems in self.served.items()
            if problems and problems != [NEVER_MATERIALIZED]
        ]

    def asset_events(self, seen_by: str) -> list[AssetObservation | AssetCheckEvaluation]:
        """What a tick that asks for a run reports: what it saw of each source, and each
        serving asset it found wrong."""
        return [*self.observations(), *self.failed_checks(seen_by)]


def inspect_world(
    instance: DagsterInstance,
    repository: RepositoryDefinition,
    downloader: SourceFileDownloader,
    dynamodb: DynamoDBResource,
    served: ServedTablesResource,
) -> Inspection:
    looks = [look_at(instance, downloader, source) for source in downloader.sources]
    reasons = [f"{look.source.name} published a new file" for look in looks if look.changed]
    if not reasons and not downstream_built_from(
        instance, repository, {AssetKey(look.source.asset): look.stored.sha256 for look in looks}
    ):
        reasons.append("an earlier run did not finish building from the current files")
    problems = served_problems(instance, dynamodb, served, served_assets(enabled_tables()))
    if not reasons:
        reasons += [f"{asset}: {problem}" for asset, found in problems.items() for problem in found]
    return Inspection(looks, problems, reasons)


def look_at(
    instance: DagsterInstance, downloader: SourceFileDownloader, source: Source
) -> SourceLook:
    stored = stored_download_of(instance, source.asset)
    download = downloader.download_source(source, stored.etag, stored.last_modified)
    return SourceLook(source, stored, download)
