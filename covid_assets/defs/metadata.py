"""Metadata shared by the assets: row counts, schemas, previews, and the links to their code."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetsDefinition,
    BetaWarning,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MetadataValue,
    TableColumn,
    TableSchema,
)

from covid_assets.domain import sources, tables

PREVIEW_ROWS = 10

# How the merged table's pandas columns are described in the UI and in the export.
COLUMN_DESCRIPTIONS = {
    "region": ("string", "Where the figures are for; 'US' for the national totals."),
    "date": ("date", "Day of the figures (ISO YYYY-MM-DD)."),
    "cases": ("int64", "Cumulative confirmed US cases (NYT)."),
    "deaths": ("int64", "Cumulative US deaths (NYT)."),
    "recovered": (
        "int64",
        "Cumulative US recoveries (JHU; null where JHU gives no figure, from 2020-12-14 on).",
    ),
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


# Where assets are named: a table's in its declaration, a source's in its.
DECLARATIONS = (Path(tables.__file__), Path(sources.__file__))


def declaration_line(asset: str) -> tuple[str, int] | None:
    """The file and line of the declaration that names ``asset``, if one does."""
    for path in DECLARATIONS:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if f'"{asset}"' in line:
                return str(path), number
    return None


def code_references(asset: str, body: Callable) -> dict[str, Any]:
    """The asset's links to its code in the UI (Dagster's code references): the declaration
    that names it and the function that materializes it. Code references are in beta in
    Dagster 1.13; their warning says nothing to a user of this project, so it is not shown."""
    references = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        declared = declaration_line(asset)
        if declared is not None:
            references.append(
                LocalFileCodeReference(
                    file_path=declared[0], line_number=declared[1], label="declaration"
                )
            )
        references.append(
            LocalFileCodeReference(
                file_path=inspect.getsourcefile(body),
                line_number=inspect.getsourcelines(body)[1],
                label="definition",
            )
        )
        return {"dagster/code_references": CodeReferencesMetadataValue(code_references=references)}


def with_code_references(assets_def: AssetsDefinition) -> AssetsDefinition:
    """``assets_def`` with each asset's ``code_references``, to the function its step runs."""
    compute_fn = assets_def.op.compute_fn
    body = getattr(compute_fn, "decorated_fn", compute_fn)
    return assets_def.map_asset_specs(
        lambda spec: spec.replace_attributes(
            metadata={**spec.metadata, **code_references(spec.key.path[-1], body)}
        )
    )
