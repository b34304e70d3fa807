"""A county load against its last load: what it writes, reads and reports, whether the last load
can be joined with the table (the same columns) or is compared item by item (a last load of
other columns, made before a change of the table's schema). DynamoDB is a dict here."""

import math
from datetime import date
from typing import Any

import pandas as pd
import pytest

from covid_assets.defs.serving.dynamodb_records import load_items
from covid_assets.domain.items import ItemKey, item_key, stamped, table_items
from covid_assets.domain.tables import COUNTY
from covid_assets.resources.dynamodb import DYNAMODB_BATCH_SIZE

pytestmark = pytest.mark.unit

PUBLISHED = "2021-03-18T06:00:00Z"
LAST_PUBLISHED = "2021-03-17T06:00:00Z"
KING, PIERCE = ("King", "53033"), ("Pierce", "53053")


class DictTable:
    """The DynamoDB calls ``load_items`` makes, on a dict of items by key."""

    table_name = "covid_daily"

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = {item_key(item): item for item in items}
        self.keys_read = 0

    def get_items(self, keys: list[ItemKey]) -> list[dict[str, Any]]:
        self.keys_read += len(keys)
        return [self.items[key] for key in keys if key in self.items]

    def put_items(self, items: list[dict[str, Any]]) -> int:
        self.items.update({item_key(item): item for item in items})
        return math.ceil(len(items) / DYNAMODB_BATCH_SIZE)


def county_rows(*rows: tuple[date, tuple[str, str], int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [day for day, _, _ in rows],
            "state": pd.array(["Washington"] * len(rows), dtype="string"),
            "county": pd.array([place[0] for _, place, _ in rows], dtype="string"),
            "fips": pd.array([place[1] for _, place, _ in rows], dtype="string"),
            "cases": pd.array([cases for _, _, cases in rows], dtype="Int64"),
            "deaths": pd.array([1] * len(rows), dtype="Int64"),
        }
    )


LAST_LOAD = county_rows(
    (date(2021, 3, 1), KING, 10),
    (date(2021, 3, 1), PIERCE, 5),
    (date(2021, 3, 2), KING, 12),
    (date(2021, 3, 2), PIERCE, 6),
)
# The next window: 2021-03-01 has left it, King's 2021-03-02 is revised, Pierce's has vanished,
# and 2021-03-03 is new.
NEXT_WINDOW = county_rows(
    (date(2021, 3, 2), KING, 13),
    (date(2021, 3, 3), KING, 14),
    (date(2021, 3, 3), PIERCE, 7),
)


@pytest.mark.parametrize(
    "last_load",
    [LAST_LOAD, LAST_LOAD.assign(population=100)],
    ids=["the same columns: joined", "other columns: compared item by item"],
)
def test_a_load_writes_the_new_and_revised_items_and_reports_the_vanished_ones(last_load):
    stored = [stamped(item, None, LAST_PUBLISHED) for item in table_items(COUNTY, LAST_LOAD)]
    dynamodb = DictTable(stored)

    result = load_items(dynamodb, COUNTY, NEXT_WINDOW, last_load, PUBLISHED, lambda _: None)

    assert (result.inserted, result.updated, result.unchanged) == (2, 1, 0)
    assert result.vanished == [("US-WA-53053", "2021-03-02")]
    assert result.mismatched == []
    # Only the items that differ from the last load are read, then read back once written.
    assert dynamodb.keys_read == 3 + 3
    assert {key: item["cases"] for key, item in dynamodb.items.items()} == {
        ("US-WA-53033", "2021-03-01"): 10,
        ("US-WA-53053", "2021-03-01"): 5,
        ("US-WA-53033", "2021-03-02"): 13,
        ("US-WA-53053", "2021-03-02"): 6,
        ("US-WA-53033", "2021-03-03"): 14,
        ("US-WA-53053", "2021-03-03"): 7,
    }
