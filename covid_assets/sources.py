"""The raw source assets: the NYT US daily file and the JHU combined time series, as downloaded."""

import contextlib
import csv
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetOut,
    Backoff,
    DagsterInstance,
    DataProvenance,
    DataVersion,
    Failure,
    Jitter,
    MetadataValue,
    Output,
    RetryPolicy,
    multi_asset,
)

from covid_assets.checks import raw_source_check_results, raw_source_check_specs, selected_results
from covid_assets.contracts import (
    JHU_DATE,
    JHU_RULES,
    NYT_DATE,
    NYT_RULES,
    Problem,
    Rule,
    parse_iso_dates,
)
from covid_assets.resources import (
    Download,
    S3BucketResource,
    SNSResource,
    SourceDownloader,
    SourceUnavailableError,
)

RAW_GROUP = "raw"
# The tag in which Dagster records an asset materialization's data version.
DAGSTER_DATA_VERSION_TAG = "dagster/data_version"

# After the downloader's own quick retries, a source that is still down gets two more tries a
# minute or two later; permanent errors (404, a missing file) fail at once instead.
SOURCE_RETRY_POLICY = RetryPolicy(
    max_retries=2, delay=60, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)


@dataclass(frozen=True)
class RawSourceFile:
    """A source file exactly as downloaded, and its CSV read with every cell as text.

    ``table`` is None when the bytes are not a readable CSV (empty, cut, not CSV at all); the
    reason is then in ``read_problems``. The raw assets keep such files instead of failing, so
    that validation can report on them and keep them for inspection.
    """

    url: str
    content: bytes
    table: pd.DataFrame | None = field(repr=False)
    read_problems: list[Problem]

    @classmethod
    def from_bytes(cls, url: str, content: bytes) -> "RawSourceFile":
        try:
            return cls(url, content, read_csv_text(content), [])
        except ExtraFieldsError as error:
            problem = Problem(url, error.line, None, f"{error.found} fields", error.expected)
        except (ValueError, UnicodeDecodeError) as error:  # pandas' parser errors are ValueErrors
            problem = Problem(url, None, None, None, f"a readable CSV file ({error})".strip())
        return cls(url, content, None, [problem])


class ExtraFieldsError(ValueError):
    def __init__(self, line: int, found: int, header_fields: int) -> None:
        self.line, self.found = line, found
        self.expected = f"{header_fields} fields, as in the header"
        super().__init__(f"line {line} has {found} fields; expected {self.expected}")


def has_blank_line(content: bytes) -> bool:
    """A line ending right after another one (or at the very start) makes a blank line, which
    pyarrow's reader would drop, renumbering every line after it. (Byte searches: a regular
    expression takes five times as long on the 4 MB JHU file.)"""
    if content.startswith((b"\n", b"\r")) or b"\n\n" in content:
        return True
    return b"\r" in content and (b"\n\r" in content or b"\r\r" in content)


def read_csv_text(content: bytes) -> pd.DataFrame:
    """Every cell as text, blank cells as "", indexed by the row's line number in the file (the
    header is line 1). Blank lines are kept as rows so the numbering stays true. A row with more
    fields than the header is an error: pandas would otherwise shift or drop the extra values.

    pandas' C parser is the reference. A file without blank lines is first given to pyarrow's
    parser (eight times faster on the 4 MB JHU file, and the same table for every snapshot);
    it rejects every file the two would read differently (rows with too few or too many
    fields, bad UTF-8), and those go to the C parser."""
    table = None
    if not has_blank_line(content):
        with contextlib.suppress(ValueError):  # pandas' and pyarrow's parser errors
            table = pd.read_csv(
                io.BytesIO(content), dtype=str, keep_default_na=False, engine="pyarrow"
            )
    if table is None:
        table = _read_with_c_parser(content)
    table.index = pd.RangeIndex(2, len(table) + 2, name="line")
    return table


def _read_with_c_parser(content: bytes) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(
                io.BytesIO(content),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
                encoding="utf-8",
            )
        except pd.errors.ParserWarning:
            raise _first_row_with_extra_fields(content) from None


def _first_row_with_extra_fields(content: bytes) -> ValueError:
    rows = csv.reader(io.StringIO(content.decode("utf-8")))
    header_fields = len(next(rows))
    for line, row in enumerate(rows, start=2):
        if len(row) > header_fields:
            return ExtraFieldsError(line, len(row), header_fields)
    return ValueError("a row has more fields than the header")


@dataclass(frozen=True)
class Source:
    """One upstream file and the raw asset that keeps it."""

    asset: str
    url_field: str
    date_column: str
    description: str
    rules: Sequence[Rule]

    @property
    def setting_name(self) -> str:
        return f"COVID_{self.url_field.upper()}"


SOURCES = (
    Source(
        "nyt_raw",
        "nyt_url",
        NYT_DATE,
        "New York Times US daily totals (us.csv: date, cases, deaths), as downloaded.",
        NYT_RULES,
    ),
    Source(
        "jhu_raw",
        "jhu_url",
        JHU_DATE,
        "Johns Hopkins CSSE combined time series (Date, Country/Region, Province/State, "
        "[Lat, Long], Confirmed, Recovered, Deaths) for every country, as downloaded.",
        JHU_RULES,
    ),
)


def raw_file_output(
    raw: RawSourceFile, source: Source, download: Download
) -> Output[RawSourceFile]:
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


def last_download(instance: DagsterInstance, asset: str) -> dict[str, str]:
    """sha256, etag and last_modified of the asset's latest materialization (empty if none)."""
    entry = instance.get_latest_materialization_event(AssetKey(asset))
    if entry is None or entry.asset_materialization is None:
        return {}
    metadata = entry.asset_materialization.metadata
    return {
        name: str(metadata[name].value)
        for name in ("sha256", "etag", "last_modified")
        if name in metadata
    }


def everything_built_from(
    instance: DagsterInstance, asset_graph: Any, source_versions: dict[AssetKey, str]
) -> bool:
    """True when every asset downstream of the sources was last materialized from exactly the
    current data versions of its parents, all the way from these source versions. A run that
    failed part-way leaves some asset behind, so the next run does the work again."""
    versions = dict(source_versions)
    for key in asset_graph.toposorted_asset_keys:
        parents = asset_graph.get(key).parent_keys
        if key in versions or not parents & versions.keys():
            continue
        entry = instance.get_latest_materialization_event(key)
        if entry is None:
            return False
        provenance = DataProvenance.from_tags(entry.tags or {})
        if provenance is None or any(
            provenance.input_data_versions.get(parent) != DataVersion(versions[parent])
            for parent in parents
            if parent in versions
        ):
            return False
        versions[key] = (entry.tags or {})[DAGSTER_DATA_VERSION_TAG]
    return True


@multi_asset(
    name="raw_sources",
    outs={
        source.asset: AssetOut(
            group_name=RAW_GROUP,
            description=source.description,
            kinds={"csv"},
            is_required=False,
        )
        for source in SOURCES
    },
    check_specs=[
        spec for source in SOURCES for spec in raw_source_check_specs(source.asset, source.rules)
    ],
    can_subset=True,
    retry_policy=SOURCE_RETRY_POLICY,
)
def raw_sources(
    context: AssetExecutionContext,
    sources: SourceDownloader,
    bucket: S3BucketResource,
    alerts: SNSResource,
) -> Iterator[Output | AssetCheckResult]:
    """Fetch both sources, asking each server only for a file newer than the last one, and
    check each file as it arrives. When neither changed and everything downstream was built from
    them, yield nothing: the rest of the run is skipped, and the sources are recorded as observed
    and unchanged. Checks selected without their asset check what the source serves now, and
    store nothing."""

    def checked(raw: RawSourceFile, source: Source) -> Iterator[AssetCheckResult]:
        results = raw_source_check_results(
            source.asset, source.rules, raw, run_id=context.run.run_id, bucket=bucket, alerts=alerts
        )
        yield from selected_results(context.selected_asset_check_keys, results)

    selected = [s for s in SOURCES if AssetKey(s.asset) in context.selected_asset_keys]
    checked_assets = {key.asset_key for key in context.selected_asset_check_keys}
    for source in SOURCES:
        if source not in selected and AssetKey(source.asset) in checked_assets:
            yield from checked(read_raw(sources, source, fetch(sources, source)), source)
    previous = {s.asset: last_download(context.instance, s.asset) for s in selected}
    downloads = {
        s.asset: fetch(
            sources, s, previous[s.asset].get("etag"), previous[s.asset].get("last_modified")
        )
        for s in selected
    }
    unchanged = {
        s.asset
        for s in selected
        if downloads[s.asset].content is None
        or downloads[s.asset].sha256 == previous[s.asset].get("sha256")
    }
    if len(unchanged) == len(SOURCES) and everything_built_from(
        context.instance,
        context.job_def.asset_layer.asset_graph,
        {AssetKey(asset): previous[asset]["sha256"] for asset in unchanged},
    ):
        for source in selected:
            download = downloads[source.asset]
            context.log_event(
                AssetObservation(
                    asset_key=source.asset,
                    metadata={
                        "status": "unchanged",
                        "sha256": previous[source.asset]["sha256"],
                        "bytes_downloaded": len(download.content or b""),
                    },
                )
            )
        context.log.info("Both sources are unchanged and everything is built from them")
        return
    for source in selected:
        download = downloads[source.asset]
        if download.content is None:  # 304, but the other source changed: this one is needed too
            download = fetch(sources, source)
        raw = read_raw(sources, source, download)
        context.log.info("Downloaded %d bytes from %s", len(raw.content), raw.url)
        yield raw_file_output(raw, source, download)
        yield from checked(raw, source)


def read_raw(sources: SourceDownloader, source: Source, download: Download) -> RawSourceFile:
    return RawSourceFile.from_bytes(getattr(sources, source.url_field), download.content)


def fetch(
    sources: SourceDownloader,
    source: Source,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Download:
    """Download one source; errors that retrying cannot fix fail the step without retries."""
    try:
        return sources.download(
            getattr(sources, source.url_field), source.setting_name, etag, last_modified
        )
    except SourceUnavailableError as error:
        if error.transient:
            raise
        raise Failure(str(error), allow_retries=False) from error
