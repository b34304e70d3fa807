"""The raw source assets: the NYT US daily file and the JHU combined time series, as downloaded."""

import csv
import hashlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Backoff,
    DataVersion,
    Failure,
    Jitter,
    MetadataValue,
    Output,
    RetryPolicy,
    asset,
)

from covid_assets.contracts import JHU_DATE, NYT_DATE, Problem, parse_iso_dates
from covid_assets.resources import SourceDownloader, SourceUnavailableError

RAW_GROUP = "raw"

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

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class ExtraFieldsError(ValueError):
    def __init__(self, line: int, found: int, header_fields: int) -> None:
        self.line, self.found = line, found
        self.expected = f"{header_fields} fields, as in the header"
        super().__init__(f"line {line} has {found} fields; expected {self.expected}")


def read_csv_text(content: bytes) -> pd.DataFrame:
    """Every cell as text, blank cells as "", indexed by the row's line number in the file (the
    header is line 1). Blank lines are kept as rows so the numbering stays true. A row with more
    fields than the header is an error: pandas would otherwise shift or drop the extra values."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            table = pd.read_csv(
                io.BytesIO(content),
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
                encoding="utf-8",
            )
        except pd.errors.ParserWarning:
            raise _first_row_with_extra_fields(content) from None
    table.index = pd.RangeIndex(2, len(table) + 2, name="line")
    return table


def _first_row_with_extra_fields(content: bytes) -> ValueError:
    rows = csv.reader(io.StringIO(content.decode("utf-8")))
    header_fields = len(next(rows))
    for line, row in enumerate(rows, start=2):
        if len(row) > header_fields:
            return ExtraFieldsError(line, len(row), header_fields)
    return ValueError("a row has more fields than the header")


def raw_file_output(raw: RawSourceFile, date_column: str) -> Output[RawSourceFile]:
    metadata: dict[str, Any] = {
        "source_url": MetadataValue.url(raw.url),
        "bytes": len(raw.content),
        "sha256": raw.sha256,
    }
    if raw.table is None:
        metadata["read_error"] = "; ".join(map(str, raw.read_problems))
    else:
        metadata["dagster/row_count"] = len(raw.table)
        if date_column in raw.table.columns:
            dates = parse_iso_dates(raw.table[date_column]).dropna()
            if len(dates):
                metadata["first_date"] = str(dates.min())
                metadata["last_date"] = str(dates.max())
    # The content hash is the data version: an unchanged file leaves downstream up to date.
    return Output(raw, metadata=metadata, data_version=DataVersion(raw.sha256))


def raw_source_asset(name: str, description: str, url_field: str, date_column: str) -> Any:
    """One raw asset: download the file at the resource's ``url_field`` and keep it as is."""
    setting_name = f"COVID_{url_field.upper()}"

    @asset(
        name=name,
        group_name=RAW_GROUP,
        description=description,
        kinds={"csv"},
        retry_policy=SOURCE_RETRY_POLICY,
    )
    def _raw_asset(
        context: AssetExecutionContext, sources: SourceDownloader
    ) -> Output[RawSourceFile]:
        url = getattr(sources, url_field)
        try:
            content = sources.download(url, setting_name)
        except SourceUnavailableError as error:
            if error.transient:
                raise
            raise Failure(str(error), allow_retries=False) from error
        raw = RawSourceFile.from_bytes(url, content)
        context.log.info("Downloaded %d bytes from %s", len(raw.content), url)
        return raw_file_output(raw, date_column)

    return _raw_asset


nyt_raw = raw_source_asset(
    "nyt_raw",
    "New York Times US daily totals (us.csv: date, cases, deaths), as downloaded.",
    url_field="nyt_url",
    date_column=NYT_DATE,
)

jhu_raw = raw_source_asset(
    "jhu_raw",
    "Johns Hopkins CSSE combined time series (Date, Country/Region, Province/State, "
    "[Lat, Long], Confirmed, Recovered, Deaths) for every country, as downloaded.",
    url_field="jhu_url",
    date_column=JHU_DATE,
)
