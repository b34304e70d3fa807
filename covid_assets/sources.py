"""The raw source assets: the NYT US daily file and the JHU combined time series, as downloaded."""

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, DataVersion, MetadataValue, Output, asset

from covid_assets.resources import SourceDownloader
from covid_assets.transform import JHU_DATE, NYT_DATE, Problem, parse_iso_dates

RAW_GROUP = "raw"


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
            table = read_csv_text(content)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
            reason = "a readable CSV file with a header line"
            return cls(url, content, None, [Problem(url, None, None, None, f"{reason} ({error})")])
        return cls(url, content, table, [])

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def read_csv_text(content: bytes) -> pd.DataFrame:
    """Every cell as text, blank cells as "", indexed by the row's line number in the file (the
    header is line 1). Blank lines are kept as rows so the numbering stays true."""
    table = pd.read_csv(
        io.BytesIO(content),
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=False,
        encoding="utf-8",
    )
    table.index = pd.RangeIndex(2, len(table) + 2, name="line")
    return table


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

    @asset(name=name, group_name=RAW_GROUP, description=description, kinds={"csv"})
    def _raw_asset(
        context: AssetExecutionContext, sources: SourceDownloader
    ) -> Output[RawSourceFile]:
        url = getattr(sources, url_field)
        raw = RawSourceFile.from_bytes(url, sources.download(url, setting_name))
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
