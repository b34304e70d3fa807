"""The step ``raw_sources``: the raw assets (``nyt_raw``, ``jhu_raw`` and those of the levels
that are on; one per source) and their checks.

Each server is asked only for a file newer than the one stored; when it has none, the stored
file is emitted again, so a run downloads only what changed. The checks are blocking: a file
that fails one is kept in quarantine, an alert is published, and nothing downstream is touched.
"""

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    Backoff,
    Failure,
    IOManager,
    Jitter,
    MetadataValue,
    Output,
    ResourceParam,
    RetryPolicy,
    multi_asset,
)

from covid_assets.defs.checks import check_result, rule_check_specs, selected_results
from covid_assets.defs.provenance import stored_download, versioned_output
from covid_assets.defs.step_outputs import stored_output
from covid_assets.domain.reading import RawSourceFile
from covid_assets.domain.rules import Problem, find_problems, parse_iso_dates
from covid_assets.domain.sources import Source
from covid_assets.resources.downloads import Download, SourceFileDownloader, SourceUnavailableError
from covid_assets.resources.quarantine import QuarantineResource
from covid_assets.resources.serving_lock import ServingLockResource

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


@dataclass(frozen=True)
class CurrentFile:
    """A source's current file, and how it was had: downloaded, or (after a 304) the stored one."""

    raw: RawSourceFile
    sha256: str
    etag: str | None
    last_modified: str | None
    bytes_downloaded: int

    def output(self, source: Source) -> Output:
        raw = self.raw
        metadata: dict[str, Any] = {
            "source_url": MetadataValue.url(raw.url),
            "bytes": len(raw.content),
            "bytes_downloaded": self.bytes_downloaded,
            "sha256": self.sha256,
            # Kept so that the next run can ask the server for a newer file only.
            "etag": self.etag or "",
            "last_modified": self.last_modified or "",
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
        return versioned_output(raw, self.sha256, output_name=source.asset, metadata=metadata)


def build_raw_sources(sources: Sequence[Source]) -> AssetsDefinition:
    """The step ``raw_sources``: one raw asset per source, with its checks."""

    @multi_asset(
        name="raw_sources",
        outs={
            source.asset: AssetOut(
                group_name=RAW_GROUP,
                description=source.description,
                kinds={"csv"},
                is_required=False,
            )
            for source in sources
        },
        check_specs=[spec for source in sources for spec in raw_source_check_specs(source)],
        can_subset=True,
        retry_policy=SOURCE_RETRY_POLICY,
    )
    def raw_sources(
        context: AssetExecutionContext,
        downloader: SourceFileDownloader,
        quarantine: QuarantineResource,
        io_manager: ResourceParam[IOManager],
        serving_lock: ServingLockResource,
    ) -> Iterator[Output | AssetCheckResult]:
        """Each selected source's current file, checked as it arrives. A run always emits the
        files it was asked for: whether a run is needed at all is the automation's decision
        (``automation``), made from what it sees upstream and in what is served, not from
        memory. Checks selected without their asset check what the source serves now, and store
        nothing."""
        serving_lock.hold(context)
        selected = [s for s in sources if AssetKey(s.asset) in context.selected_asset_keys]
        checked_assets = {key.asset_key for key in context.selected_asset_check_keys}
        for source in sources:
            if source not in selected and AssetKey(source.asset) in checked_assets:
                raw = read_raw(downloader, source, fetch(downloader, source))
                yield from checked(context, quarantine, source, raw)

        for source in selected:
            current = current_file(context, downloader, io_manager, source)
            context.log.info(
                "%s: %d bytes downloaded from %s",
                source.asset,
                current.bytes_downloaded,
                current.raw.url,
            )
            yield current.output(source)
            yield from checked(context, quarantine, source, current.raw)

    return raw_sources


def current_file(
    context: AssetExecutionContext,
    downloader: SourceFileDownloader,
    io_manager: IOManager,
    source: Source,
) -> CurrentFile:
    """The server is asked only for a file newer than the stored one; when it has none (304),
    the stored file is used, once its hash shows it is the one recorded (else it is downloaded
    again)."""
    stored = stored_download(context.instance, source.asset)
    download = fetch(downloader, source, stored.etag, stored.last_modified)
    if download.content is None:
        kept = stored_file(context, io_manager, source)
        if kept is not None and hashlib.sha256(kept.content).hexdigest() == stored.sha256:
            last_modified = download.last_modified or stored.last_modified
            return CurrentFile(
                dataclasses.replace(kept, last_modified=last_modified),
                stored.sha256,
                download.etag or stored.etag,
                last_modified,
                bytes_downloaded=0,
            )
        context.log.warning("%s: the stored file is gone or differs; downloading it", source.asset)
        download = fetch(downloader, source)
    return CurrentFile(
        read_raw(downloader, source, download),
        download.sha256,
        download.etag,
        download.last_modified,
        bytes_downloaded=len(download.content),
    )


def stored_file(
    context: AssetExecutionContext, io_manager: IOManager, source: Source
) -> RawSourceFile | None:
    """The file the asset's last materialization stored, read back through the IO manager that
    stored it, or None when it cannot be read."""
    try:
        return stored_output(context, io_manager, source.asset)
    except Exception as error:  # whatever the IO manager raises: the file is downloaded instead
        context.log.warning("%s: could not read the stored file: %s", source.asset, error)
        return None


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
        original=lambda: raw.content,
        problems_by_check=problems,
    )
    results = raw_source_check_results(source, raw, problems, location)
    yield from selected_results(context.selected_asset_check_keys, results)


def read_raw(downloader: SourceFileDownloader, source: Source, download: Download) -> RawSourceFile:
    return RawSourceFile.from_bytes(
        downloader.url_of(source), download.content, download.last_modified
    )


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
