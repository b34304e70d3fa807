"""Materialization metadata shared by the assets: row counts, schemas, previews, content hashes."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

PREVIEW_ROWS = 10

# How the merged table's pandas columns are described in the UI and in the export.
COLUMN_DESCRIPTIONS = {
    "region": ("string", "Where the figures are for; 'US' for the national totals."),
    "date": ("date", "Day of the figures (ISO YYYY-MM-DD)."),
    "cases": ("int64", "Cumulative confirmed US cases (NYT)."),
    "deaths": ("int64", "Cumulative US deaths (NYT)."),
    "recovered": ("int64", "Cumulative US recoveries (JHU; 0 where JHU reports none)."),
}


def column_schema(columns: list[str]) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name, *COLUMN_DESCRIPTIONS.get(name, ("string", ""))) for name in columns
        ]
    )


def markdown_preview(table: pd.DataFrame, rows: int = PREVIEW_ROWS) -> MetadataValue:
    """The last rows as a markdown table (dates as ISO strings, counts with separators)."""
    tail = table.tail(rows)
    # A missing value (an unknown count) is an empty cell.
    tail = tail.astype(object).where(tail.notna(), "").astype(str)
    header = "| " + " | ".join(tail.columns) + " |"
    rule = "| " + " | ".join("---" for _ in tail.columns) + " |"
    body = ["| " + " | ".join(row) + " |" for row in tail.itertuples(index=False)]
    return MetadataValue.md("\n".join([header, rule, *body]))


def daily_table_metadata(table: pd.DataFrame) -> dict[str, Any]:
    """Row count, date range, column schema and a preview of a table with a ``date`` column."""
    metadata: dict[str, Any] = {
        "dagster/row_count": len(table),
        "dagster/column_schema": column_schema(list(table.columns)),
        "preview": markdown_preview(table),
    }
    if len(table):
        metadata["first_date"] = str(table["date"].min())
        metadata["last_date"] = str(table["date"].max())
    return metadata


def table_sha256(table: pd.DataFrame) -> str:
    """A content hash that changes exactly when a value, a column or the row order changes."""
    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()
