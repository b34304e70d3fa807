"""The original serverless system's load, as a baseline: every run reads both files, merges them,
puts every row with one conditional PutItem that never overwrites a day already stored, and
sends the SNS message with the number of rows updated.

    python -m covid_assets_bench.baseline NYT_CSV JHU_CSV TABLE TOPIC_ARN   # one run, as a process
"""

import argparse
from pathlib import Path

import boto3
import pandas as pd

from covid_assets.domain.transform import merge_daily

REGION = "US"


def create_baseline_table(table_name: str) -> None:
    """The original's table (the same key schema as the pipeline's), created once before the
    first run: not part of any run."""
    # Imported here: the resources import Dagster, which the timed baseline process must not.
    from covid_assets.resources.dynamodb import DynamoDBResource

    DynamoDBResource(table_name=table_name).ensure_table()


def read_text_table(csv_file: Path) -> pd.DataFrame:
    """Every cell as text, as merge_daily wants it (no Dagster import: the original had none)."""
    return pd.read_csv(csv_file, dtype=str, keep_default_na=False)


def merged_table(nyt_csv: Path, jhu_csv: Path) -> pd.DataFrame:
    return merge_daily(read_text_table(nyt_csv), read_text_table(jhu_csv))


def load_like_the_original(nyt_csv: Path, jhu_csv: Path, table_name: str, topic_arn: str) -> int:
    """One run of the original load; returns how many days were new (actually written)."""
    session = boto3.session.Session()  # a run starts with a new session
    dynamodb = session.client("dynamodb")
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
                    # The original's transform made a blank recovered 0.
                    "recovered": {"N": str(0 if pd.isna(row.recovered) else row.recovered)},
                },
                ConditionExpression="attribute_not_exists(#d)",
                ExpressionAttributeNames={"#d": "date"},
            )
            written += 1
        except dynamodb.exceptions.ConditionalCheckFailedException:
            pass  # the original never rewrites a day it already has, revised or not
    session.client("sns").publish(
        TopicArn=topic_arn,
        Subject=f"COVID-19 data: {written} row(s) updated",
        Message=f"{written} row(s) updated in {table_name}.",
    )
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("nyt_csv", type=Path)
    parser.add_argument("jhu_csv", type=Path)
    parser.add_argument("table")
    parser.add_argument("topic_arn")
    arguments = parser.parse_args()
    written = load_like_the_original(
        arguments.nyt_csv, arguments.jhu_csv, arguments.table, arguments.topic_arn
    )
    print(f"{written} new day(s) written to {arguments.table}")


if __name__ == "__main__":
    main()
