"""The step ``raw_sources``: the assets ``nyt_raw`` and ``jhu_raw`` (one per entry of
``SOURCES``) and their checks.

A run plans its downloads (each server is asked only for a file newer than the one stored),
then either skips, when nothing changed and everything downstream is built from the stored
files, or emits each file with its checks. The checks are blocking: a file that fails one is
kept in quarantine, an alert is published, and nothing downstream is touched.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetOut,
    Backoff,
    DataVersion,
    Failure,
    Jitter,
    MetadataValue,
    Output,
    RetryPolicy,
    multi_asset,
)

from covid_assets.checks import check_result, rule_check_specs, selected_results
from covid_assets.contracts import Problem, find_problems, parse_iso_dates
from covid_assets.downloads import Download, SourceFileDownloader, SourceUnavailableError
from covid_assets.provenance import StoredDownload, downstream_built_from, stored_download
from covid_assets.quarantine import QuarantineResource
from covid_assets.reading import RawSourceFile
from covid_assets.sources import SOURCES, Source

RAW_GROUP = "raw"
READABLE_CHECK = "is_readable_csv"

# After the downloader's own quick retries, a source that is still down gets two more tries a
# minute or two later; permanent errors (404, a missing file) fail at once instead.
SOURCE_RETRY_POLICY = RetryPolicy(
    max_retries=2, delay=60, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


def raw_source_check_specs(source: Source) -> list[AssetCheckSpec]:
    """Blocking checks on a raw source: the file is a readable CSV, then one check per rule."""
    return [
        AssetCheckSpec(
            READABLE_CHECK,
            asset=source.asset,
            blocking=True,
            description="UTF-8 CSV with a header line; every row has as many fields as the header.",
        ),
        *rule_check_specs(source.asset, source.rules),
    ]


def raw_source_problems(source: Source, raw: RawSourceFile) -> dict[str, list[Problem]]:
    """The problems of each check that could run, evaluated together on one read."""
    if raw.table is None:
        return {READABLE_CHECK: raw.read_problems}
    return {READABLE_CHECK: [], **find_problems(raw.table, source.rules, raw.url)}


def raw_source_check_results(
    source: Source,
    raw: RawSourceFile,
    problems: dict[str, list[Problem]],
    quarantine: str | None,
) -> list[AssetCheckResult]:
    """Every check's result. A check that could not run (unreadable file, missing columns)
    fails and says what must pass first."""
    gate = READABLE_CHECK if raw.table is None else source.rules[0].name
    not_checked = [Problem(raw.url, None, None, None, f"{gate} to pass before this can be checked")]
    return [
        check_result(source.asset, name, problems.get(name, not_checked), quarantine=quarantine)
        for name in (READABLE_CHECK, *(rule.name for rule in source.rules))
    ]


def raw_file_output(source: Source, raw: RawSourceFile, download: Download) -> Output:
    metadata: dict[str, Any] = {
        "source_url": MetadataValue.url(raw.url),
        "bytes": len(raw.content),
        "sha256": download.sha256,
        # Kept so that the next run can ask the server for a newer file only.
        "etag": download.etag or "",
        "last_modified": download.last_modified or "",
    }
    if raw.table is None:
        metadata["read_error"] = "; ".join(map(str, raw.read_problems))
    else:
        metadata["dagster/row_count"] = len(raw.table)
        if source.date_column in raw.table.columns:
            # Each date once: JHU repeats every date once per place it counts (hundreds).
            dates = parse_iso_dates(raw.table[source.date_column].drop_duplicates()).dropna()
            if len(dates):
                metadata["first_date"] = str(dates.min())
                metadata["last_date"] = str(dates.max())
    # The content hash is the data version: an unchanged file leaves downstream up to date.
    return Output(
        raw, output_name=source.asset, metadata=metadata, data_version=DataVersion(download.sha256)
    )


@dataclass(frozen=True)
class PlannedDownload:
    """A source's conditional download beside what its last materialization stored."""

    source: Source
    stored: StoredDownload
    download: Download

    @property
    def unchanged(self) -> bool:
        """The server answered 304, or sent the very file that is stored."""
        return self.stored.sha256 is not None and (
            self.download.content is None or self.download.sha256 == self.stored.sha256
        )


@multi_asset(
    name="raw_sources",
    outs={
        source.asset: AssetOut(
            group_name=RAW_GROUP, description=source.description, kinds={"csv"}, is_required=False
        )
        for source in SOURCES
    },
    check_specs=[spec for source in SOURCES for spec in raw_source_check_specs(source)],
    can_subset=True,
    retry_policy=SOURCE_RETRY_POLICY,
)
def raw_sources(
    context: AssetExecutionContext,
    downloader: SourceFileDownloader,
    quarantine: QuarantineResource,
) -> Iterator[Output | AssetCheckResult]:
    """Fetch the sources, asking each server only for a file newer than the last one, and
    check each file as it arrives. When none changed and everything downstream was built from
    them, yield nothing: the rest of the run is skipped, and the sources are recorded as observed
    and unchanged. Checks selected without their asset check what the source serves now, and
    store nothing."""
    selected = [s for s in SOURCES if AssetKey(s.asset) in context.selected_asset_keys]
    checked_assets = {key.asset_key for key in context.selected_asset_check_keys}
    for source in SOURCES:
        if source not in selected and AssetKey(source.asset) in checked_assets:
            raw = read_raw(downloader, source, fetch(downloader, source))
            yield from checked(context, quarantine, source, raw)

    plan = plan_downloads(context, downloader, selected)
    if nothing_to_do(context, plan):
        observe_unchanged(context, plan)
        return
    for planned in plan:
        source, download = planned.source, planned.download
        if download.content is None:  # 304, but another source changed: this one is needed too
            download = fetch(downloader, source)
        raw = read_raw(downloader, source, download)
        context.log.info("Downloaded %d bytes from %s", len(raw.content), raw.url)
        yield raw_file_output(source, raw, download)
        yield from checked(context, quarantine, source, raw)


def plan_downloads(
    context: AssetExecutionContext, downloader: SourceFileDownloader, selected: list[Source]
) -> list[PlannedDownload]:
    """Each selected source asked only for a file newer than the one its asset stored."""
    plan = []
    for source in selected:
        stored = stored_download(context.instance, source.asset)
        download = fetch(downloader, source, stored.etag, stored.last_modified)
        plan.append(PlannedDownload(source, stored, download))
    return plan


def nothing_to_do(context: AssetExecutionContext, plan: list[PlannedDownload]) -> bool:
    """Every source is selected and unchanged, and everything downstream is built from them."""
    return (
        len(plan) == len(SOURCES)
        and all(planned.unchanged for planned in plan)
        and downstream_built_from(
            context.instance,
            context.job_def,
            {AssetKey(planned.source.asset): planned.stored.sha256 for planned in plan},
        )
    )


def observe_unchanged(context: AssetExecutionContext, plan: list[PlannedDownload]) -> None:
    """Record that each source was looked at and found unchanged, so the UI shows the check."""
    for planned in plan:
        context.log_event(
            AssetObservation(
                asset_key=planned.source.asset,
                metadata={
                    "status": "unchanged",
                    "sha256": planned.stored.sha256,
                    "bytes_downloaded": len(planned.download.content or b""),
                },
            )
        )
    context.log.info("No source changed and everything is built from them")


def checked(
    context: AssetExecutionContext,
    quarantine: QuarantineResource,
    source: Source,
    raw: RawSourceFile,
) -> Iterator[AssetCheckResult]:
    """The source's selected check results; a file that fails any is quarantined first."""
    problems = raw_source_problems(source, raw)
    location = quarantine.keep_failed_input(
        run_id=context.run.run_id,
        asset_name=source.asset,
        file_name=PurePosixPath(urlparse(raw.url).path).name or f"{source.asset}.csv",
        original=raw.content,
        problems_by_check=problems,
    )
    results = raw_source_check_results(source, raw, problems, location)
    yield from selected_results(context.selected_asset_check_keys, results)


def read_raw(downloader: SourceFileDownloader, source: Source, download: Download) -> RawSourceFile:
    return RawSourceFile.from_bytes(downloader.url_of(source), download.content)


def fetch(
    downloader: SourceFileDownloader,
    source: Source,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Download:
    """Download one source; errors that retrying cannot fix fail the step without retries."""
    try:
        return downloader.download_source(source, etag, last_modified)
    except SourceUnavailableError as error:
        if error.transient:
            raise
        raise Failure(str(error), allow_retries=False) from error
