"""The original serverless system's load, as a baseline: every run reads both files, merges them,
and puts every row with one conditional PutItem that never overwrites a day already stored.

    python -m covid_assets_bench.baseline NYT_CSV JHU_CSV TABLE   # one run, as a whole process
"""

import argparse
from pathlib import Path

import boto3
import pandas as pd

from covid_assets.transform import merge_daily

REGION = "US"


def create_baseline_table(table_name: str) -> None:
    """The original's table (the same key schema as the pipeline's), created once before the
    first run: not part of any run."""
    # Imported here: the resources import Dagster, which the timed baseline process must not.
    from covid_assets.resources import DynamoDBResource

    DynamoDBResource(table_name=table_name).ensure_table()


def read_text_table(csv_file: Path) -> pd.DataFrame:
    """Every cell as text, as merge_daily wants it (no Dagster import: the original had none)."""
    return pd.read_csv(csv_file, dtype=str, keep_default_na=False)


def merged_table(nyt_csv: Path, jhu_csv: Path) -> pd.DataFrame:
    return merge_daily(read_text_table(nyt_csv), read_text_table(jhu_csv))


def load_like_the_original(nyt_csv: Path, jhu_csv: Path, table_name: str) -> int:
    """One run of the original load; returns how many days were new (actually written)."""
    dynamodb = boto3.session.Session().client("dynamodb")  # a run starts with a new session
    written = 0
    for row in merged_table(nyt_csv, jhu_csv).itertuples(index=False):
        try:
            dynamodb.put_item(
                TableName=table_name,
                Item={
                    "region": {"S": REGION},
                    "date": {"S": row.date.isoformat()},
                    "cases": {"N": str(row.cases)},
                    "deaths": {"N": str(row.deaths)},
                    "recovered": {"N": str(row.recovered)},
                },
                ConditionExpression="attribute_not_exists(#d)",
                ExpressionAttributeNames={"#d": "date"},
            )
            written += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # the original never rewrites a day it already has, revised or not
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("nyt_csv", type=Path)
    parser.add_argument("jhu_csv", type=Path)
    parser.add_argument("table")
    arguments = parser.parse_args()
    written = load_like_the_original(arguments.nyt_csv, arguments.jhu_csv, arguments.table)
    print(f"{written} new day(s) written to {arguments.table}")


if __name__ == "__main__":
    main()
