"""The real NYT place files read independently of the pipeline, with the csv module only: what
a level's DynamoDB items and Glue rows must be, and which place-days a file adds or revises; and
what is served, read back with boto3 and pyarrow only. The tests and the benchmark's replay of
the levels both check the pipeline against these."""

import csv
import functools
import io
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from covid_assets.domain.history import as_of_sql
from covid_assets.domain.items import PROVENANCE
from covid_assets.domain.rules import USPS_CODES
from covid_assets.domain.tables import ServedTable, history_table_of
from covid_assets_dev.aws_calls import AwsCall

# A place-day: (state, date) for the states, (state, county, date) for the counties.
PlaceDay = tuple[str, ...]
VALUE_COLUMNS = ("fips", "cases", "deaths")


def csv_merged_days(nyt: Path, jhu: Path) -> dict[str, tuple[int, int, int | None]]:
    """The merged table of an NYT and a JHU file, computed with the csv module (independently of
    the pipeline): date -> (cases, deaths, recovered) for the days both have. Recovered is None
    where JHU gives no figure: blank, or 0 once it had counted some (it stopped counting)."""
    with nyt.open(newline="") as nyt_file:
        nyt_days = {
            row["date"]: (int(row["cases"]), int(row["deaths"])) for row in csv.DictReader(nyt_file)
        }
    stat = jhu.stat()
    recovered = csv_us_recovered(jhu, stat.st_mtime_ns, stat.st_size)
    return {day: (*nyt_days[day], recovered[day]) for day in sorted(nyt_days.keys() & recovered)}


# The JHU file is every country's (4 MB) and the same few files are compared with many times:
# read once per file version and process.
@functools.lru_cache(maxsize=8)
def csv_us_recovered(jhu: Path, mtime_ns: int, size: int) -> dict[str, int | None]:
    """JHU's US recovered by date, None where it gives no figure (see ``csv_merged_days``)."""
    with jhu.open(newline="") as jhu_file:
        us_rows = sorted(
            (row["Date"], row["Recovered"])
            for row in csv.DictReader(jhu_file)
            if row["Country/Region"] == "US" and not row["Province/State"]
        )
    recovered: dict[str, int | None] = {}
    counted = False
    for day, text in us_rows:
        count = int(float(text)) if text else None
        recovered[day] = None if count is None or (counted and count == 0) else count
        counted = counted or bool(count)
    return recovered


def csv_place_rows(path: Path) -> dict[PlaceDay, dict[str, Any]]:
    """The file's rows by place and date (a county file's by state, county and date), counts as
    ints and a blank cell left out."""
    with path.open(newline="") as source:
        reader = csv.DictReader(source)
        places = ("state", "county") if "county" in (reader.fieldnames or ()) else ("state",)
        return {
            (*(row[name] for name in places), row["date"]): {
                name: int(row[name]) if name in ("cases", "deaths") else row[name]
                for name in VALUE_COLUMNS
                if row[name] != ""
            }
            for row in reader
        }


def region_of(key: PlaceDay, values: dict[str, Any]) -> str:
    """The DynamoDB region the README's key scheme gives a place."""
    if len(key) == 2:
        return f"US-{USPS_CODES[key[0]]}"
    state, county, _ = key
    return f"US-{USPS_CODES[state]}-{values.get('fips', county)}"


def expected_items(rows: dict[PlaceDay, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each place-day's DynamoDB item by (region, date), without its key attributes."""
    return {
        (region_of(key, values), key[-1]): {
            "level": "state" if len(key) == 2 else "county",
            "place": key[-2],
            **values,
        }
        for key, values in rows.items()
    }


def new_and_revised(
    rows: dict[PlaceDay, dict[str, Any]], served: dict[PlaceDay, dict[str, Any]]
) -> tuple[set[PlaceDay], set[PlaceDay]]:
    """The place-days of ``rows`` that ``served`` lacks, and those it holds with other values."""
    new = rows.keys() - served.keys()
    revised = {key for key in rows.keys() & served.keys() if rows[key] != served[key]}
    return new, revised


def written_keys(calls: list[AwsCall]) -> list[tuple[str, str]]:
    """The (region, date) of every item the calls put with BatchWriteItem."""
    return [
        (request["PutRequest"]["Item"]["region"]["S"], request["PutRequest"]["Item"]["date"]["S"])
        for call in calls
        if call.operation == "BatchWriteItem"
        for requests in call.params["RequestItems"].values()
        for request in requests
    ]


def place_file_subset(source: Path, states: set[str], target: Path) -> Path:
    """The rows of a real state or county file whose state is one of ``states``, with the
    file's header, line for line."""
    with source.open(newline="") as original, target.open("w", newline="") as subset:
        reader = csv.DictReader(original)
        writer = csv.DictWriter(subset, reader.fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row for row in reader if row["state"] in states)
    return target


def national_file_of(states_file: Path, target: Path) -> Path:
    """A national us.csv equal to the sum of the file's states: the NYT files of one commit
    match exactly (see the data README), so this is what NYT's us.csv would say of them."""
    totals: dict[str, list[int]] = {}
    with states_file.open(newline="") as source:
        for row in csv.DictReader(source):
            day = totals.setdefault(row["date"], [0, 0])
            day[0] += int(row["cases"])
            day[1] += int(row["deaths"])
    target.write_text(
        "date,cases,deaths\n" + "".join(f"{d},{c},{x}\n" for d, (c, x) in sorted(totals.items()))
    )
    return target


def with_partitions(
    level: ServedTable, rows: dict[PlaceDay, dict[str, Any]]
) -> dict[PlaceDay, dict[str, Any]]:
    """The rows as a partitioned Glue table shows them: with their partition's values."""
    if level.export_partitions is None:
        return rows
    return {
        key: {**values, "usps": USPS_CODES[key[0]], "month": key[-1][:7]}
        for key, values in rows.items()
    }


def exported_place_rows(level: ServedTable) -> dict[PlaceDay, dict[str, Any]]:
    """The level's Glue table read the way Athena reads it: the table's location, or each
    partition's, then every data file there; a row's values with its partition's."""
    glue, s3 = boto3.client("glue"), boto3.client("s3")
    database, name = os.environ["COVID_GLUE_DATABASE"], os.environ[level.glue_table_setting]
    bucket = os.environ["COVID_S3_BUCKET"]
    table = glue.get_table(DatabaseName=database, Name=name)["Table"]
    names = [key["Name"] for key in table.get("PartitionKeys", [])]
    if names:
        pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name)
        partitions = [
            (p["StorageDescriptor"]["Location"], p["Values"])
            for page in pages
            for p in page["Partitions"]
        ]
    else:
        partitions = [(table["StorageDescriptor"]["Location"], [])]
    rows = {}
    for location, values in partitions:
        prefix = location.removeprefix(f"s3://{bucket}/")
        listing = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for key in (entry["Key"] for page in listing for entry in page.get("Contents", [])):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for record in pq.read_table(io.BytesIO(body)).to_pylist():
                places = [record[column] for column in level.key_columns[1:]]
                rows[(*places, record["date"].isoformat())] = {
                    **{c: record[c] for c in VALUE_COLUMNS if record[c] is not None},
                    **dict(zip(names, values, strict=True)),
                }
    return rows


def stored_place_items(level: ServedTable) -> dict[tuple[str, str], dict[str, Any]]:
    """The level's DynamoDB items, read with a Scan (not the pipeline's index), by (region,
    date), each as its attributes other than the key and the versions it records
    (``first_published``, ``last_revised``, ``revisions``), numbers as ints."""
    pages = (
        boto3.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=os.environ["COVID_DYNAMODB_TABLE"])
    )
    return {
        (item["region"]["S"], item["date"]["S"]): {
            name: int(value["N"]) if "N" in value else value["S"]
            for name, value in item.items()
            if name not in ("region", "date", *PROVENANCE)
        }
        for page in pages
        for item in page["Items"]
        if item.get("level", {}).get("S") == level.name
    }


def history_files(glue_table: str) -> pa.Table:
    """A history table's rows, read as Athena reads them: the Parquet files at its Glue table's
    location, through pyarrow's S3 filesystem, with their Hive partition (``published_day``)."""
    database = os.environ["COVID_GLUE_DATABASE"]
    table = boto3.client("glue").get_table(DatabaseName=database, Name=glue_table)["Table"]
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    filesystem = pafs.S3FileSystem(
        region=os.environ["AWS_DEFAULT_REGION"],
        endpoint_override=endpoint.split("://", 1)[-1] or None,
        scheme=endpoint.split("://", 1)[0] if endpoint else "https",
    )
    location = table["StorageDescriptor"]["Location"].removeprefix("s3://")
    return pads.dataset(
        location, filesystem=filesystem, format="parquet", partitioning="hive"
    ).to_table()


def run_sql(sql: str, tables: dict[str, pa.Table]) -> list[tuple[Any, ...]]:
    """``sql`` run by DuckDB, each of ``tables`` under its (``database.table``) name."""
    with duckdb.connect() as connection:
        for number, (name, rows) in enumerate(tables.items()):
            if "." in name:
                connection.execute(f"CREATE SCHEMA IF NOT EXISTS {name.split('.')[0]}")
            connection.register(f"rows_{number}", rows)
            connection.execute(f"CREATE VIEW {name} AS SELECT * FROM rows_{number}")
        return connection.sql(sql).fetchall()


@dataclass(frozen=True)
class ManifestVersion:
    """One row of a history folder's MANIFEST.csv: a run day's file and when NYT published it."""

    run_day: str
    nyt_commit: str
    committed_utc: str
    file: Path

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.committed_utc.replace("Z", "+00:00"))

    @property
    def sql_time(self) -> str:
        """The publication time as the as-of SQL takes it (``history.as_of_sql``)."""
        return f"{self.at:%Y-%m-%d %H:%M:%S}"


def manifest_versions(folder: Path) -> list[ManifestVersion]:
    """The versions of a history folder (``history/nyt-us``), in the manifest's order."""
    with (folder / "MANIFEST.csv").open(newline="") as source:
        return [
            ManifestVersion(
                row["run_day"],
                row["nyt_commit"],
                row["committed_utc"],
                folder / f"{row['run_day']}.csv",
            )
            for row in csv.DictReader(source)
        ]


def history_place_rows(level: ServedTable, at: str) -> dict[PlaceDay, dict[str, Any]]:
    """The level's table as of ``at`` (``YYYY-MM-DD HH:MM:SS``, UTC), by the as-of SQL run in
    DuckDB over its history's files, as ``csv_place_rows`` gives a file's rows."""
    name = f"covid.{history_table_of(os.environ[level.glue_table_setting])}"
    values = level.columns[len(level.key_columns) :]
    sql = as_of_sql(name, level.key_columns, values, at)
    rows = {}
    for record in run_sql(sql, {name: history_files(name.split(".", 1)[1])}):
        by_column = dict(zip([*level.key_columns, *values], record, strict=False))
        places = [by_column[column] for column in level.key_columns[1:]]
        rows[(*places, by_column["date"].isoformat())] = {
            column: by_column[column] for column in VALUE_COLUMNS if by_column[column] is not None
        }
    return rows
