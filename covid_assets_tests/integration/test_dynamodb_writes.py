"""DynamoDBResource.put_items and get_items with parallel calls: every item written, one call per
batch of 25 and one more per UnprocessedItems resend, and never more calls in flight than
allowed; a load larger than a chunk still writes whole batches, and reads what is stored only
once the level has an item; a load against its last load reads only the items that differ."""

from datetime import date
from functools import partial
from typing import Any

import pandas as pd
import pytest

from covid_assets.defs.serving import dynamodb_records
from covid_assets.defs.serving.dynamodb_records import load_items
from covid_assets.domain.items import stamped, table_items
from covid_assets.domain.progress import ProgressLog
from covid_assets.domain.tables import COUNTY
from covid_assets.resources.dynamodb import DynamoDBResource
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.real_files import stored_place_items
from covid_assets_tests.fault_proxy import Fault, InFlight, leave_half_unprocessed
from covid_assets_tests.helpers import keys_read

pytestmark = pytest.mark.integration


def county_items(count: int) -> list[dict[str, Any]]:
    """``count`` county items, each of its own county, as a large load writes them."""
    return [
        {"region": f"US-WA-{n:05d}", "date": "2021-03-01", "level": "county", "place": f"C{n}"}
        | {"cases": n}
        for n in range(count)
    ]


def by_key(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (item["region"], item["date"]): {
            k: v for k, v in item.items() if k not in ("region", "date")
        }
        for item in items
    }


def test_parallel_writers_write_every_item_with_one_call_per_batch_of_25(aws):
    items = county_items(500)
    table = DynamoDBResource(table_name=aws.table_name, max_parallel_writers=4)
    assert table.put_items(items) == 20
    assert stored_place_items(COUNTY) == by_key(items)


def test_parallel_writers_resend_unprocessed_items_and_count_each_resend(aws, fault_proxy):
    fault_proxy.inject(Fault("BatchWriteItem", leave_half_unprocessed, times=10))
    items = county_items(500)
    table = DynamoDBResource(table_name=aws.table_name, max_parallel_writers=4)
    assert table.put_items(items) == 20 + 10
    assert fault_proxy.calls["BatchWriteItem"] == 30
    assert stored_place_items(COUNTY) == by_key(items)


def test_no_more_batches_are_in_flight_at_once_than_max_parallel_writers(aws, fault_proxy):
    in_flight = InFlight(pause=0.05)
    fault_proxy.inject(Fault("BatchWriteItem", in_flight))
    table = DynamoDBResource(table_name=aws.table_name, max_parallel_writers=3)
    table.put_items(county_items(300))
    assert in_flight.peak == 3


def test_no_more_reads_are_in_flight_at_once_than_max_parallel_writers(aws, fault_proxy):
    in_flight = InFlight(pause=0.05)
    fault_proxy.inject(Fault("BatchGetItem", in_flight))
    table = DynamoDBResource(table_name=aws.table_name, max_parallel_writers=3)
    table.put_items(county_items(500))
    found = table.get_items([(item["region"], item["date"]) for item in county_items(500)])
    assert (in_flight.peak, by_key(found)) == (3, by_key(county_items(500)))


def test_one_writer_sends_one_batch_after_another(aws, fault_proxy):
    in_flight = InFlight(pause=0.01)
    fault_proxy.inject(Fault("BatchWriteItem", in_flight))
    table = DynamoDBResource(table_name=aws.table_name, max_parallel_writers=1)
    assert table.put_items(county_items(100)) == 4
    assert in_flight.peak == 1


def county_rows(count: int) -> pd.DataFrame:
    """``count`` county-days of the county table, each of its own county."""
    return pd.DataFrame(
        {
            "date": [date(2021, 3, 1)] * count,
            "state": ["Washington"] * count,
            "county": [f"C{n}" for n in range(count)],
            "fips": [f"{53000 + n}" for n in range(count)],
            "cases": range(count),
            "deaths": [0] * count,
        }
    )


def test_a_load_of_several_chunks_into_an_empty_level_writes_whole_batches_and_reads_nothing(
    aws, monkeypatch
):
    # Chunks of 40 rows: a batch of 25 would end short at the end of each chunk if not carried.
    monkeypatch.setattr(dynamodb_records, "CHUNK_ROWS", 40)
    table = DynamoDBResource(table_name=aws.table_name)
    rows = county_rows(110)
    load = load_items(table, COUNTY, rows, None, "2021-03-02T00:00:00Z", lambda message: None)
    assert (load.inserted, load.batch_write_calls, load.items_read_back) == (110, 5, 5)
    assert load.read == "none of the 110 item(s): the level has no item yet (a Query of its index)"
    assert len(stored_place_items(COUNTY)) == 110


def test_a_load_without_a_last_load_reads_every_item_by_key_once_the_level_has_one(aws):
    table = DynamoDBResource(table_name=aws.table_name)
    table.put_items([{"region": "US-WA-53000", "date": "2021-03-01", "level": "county"}])
    load = load_items(
        table, COUNTY, county_rows(110), None, "2021-03-02T00:00:00Z", lambda message: None
    )
    assert (load.inserted, load.updated) == (109, 1)
    assert load.read == "the 110 item(s) of the table (BatchGetItem)"


def test_a_long_load_logs_how_far_it_has_got(aws, monkeypatch):
    # A line every 50 rows instead of every 50,000: here once the second chunk of 40 is read
    # and compared, before its writes (the first chunk wrote one whole batch, 25 items).
    monkeypatch.setattr(dynamodb_records, "CHUNK_ROWS", 40)
    monkeypatch.setattr(dynamodb_records, "ProgressLog", partial(ProgressLog, items=50))
    table = DynamoDBResource(table_name=aws.table_name)
    messages: list[str] = []

    load_items(table, COUNTY, county_rows(110), None, "2021-03-02T00:00:00Z", messages.append)

    assert messages == ["county_dynamodb_records: 80 of 110 rows compared, 25 item(s) written"]


KING, PIERCE = ("King", "53033"), ("Pierce", "53053")


def washington_rows(*rows: tuple[date, tuple[str, str], int]) -> pd.DataFrame:
    """County rows of Washington: (day, (county, fips), cases), one death each."""
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


LAST_LOAD = washington_rows(
    (date(2021, 3, 1), KING, 10),
    (date(2021, 3, 1), PIERCE, 5),
    (date(2021, 3, 2), KING, 12),
    (date(2021, 3, 2), PIERCE, 6),
)
# The next window: 2021-03-01 has left it, King's 2021-03-02 is revised, Pierce's has vanished,
# and 2021-03-03 is new.
NEXT_WINDOW = washington_rows(
    (date(2021, 3, 2), KING, 13),
    (date(2021, 3, 3), KING, 14),
    (date(2021, 3, 3), PIERCE, 7),
)


@pytest.mark.parametrize(
    "last_load",
    [LAST_LOAD, LAST_LOAD.assign(population=100)],
    ids=["the same columns: joined", "other columns: compared item by item"],
)
def test_a_load_against_its_last_load_reads_and_writes_only_the_items_that_differ(aws, last_load):
    """A last load of other columns (made before a change of the table's schema) cannot be
    joined with the table: it is compared item by item, to the same result."""
    table = DynamoDBResource(table_name=aws.table_name)
    table.put_items(
        [stamped(item, None, "2021-03-17T06:00:00Z") for item in table_items(COUNTY, LAST_LOAD)]
    )

    with recorded_calls() as calls:
        load = load_items(
            table, COUNTY, NEXT_WINDOW, last_load, "2021-03-18T06:00:00Z", lambda message: None
        )

    assert (load.inserted, load.updated, load.unchanged) == (2, 1, 0)
    assert load.vanished == [("US-WA-53053", "2021-03-02")]
    assert load.mismatched == []
    # The 3 items that differ from the last load are read, then the last of their one batch is
    # read back once written.
    assert keys_read(calls) == 3 + 1
    assert {key: item["cases"] for key, item in stored_place_items(COUNTY).items()} == {
        ("US-WA-53033", "2021-03-01"): 10,
        ("US-WA-53053", "2021-03-01"): 5,
        ("US-WA-53033", "2021-03-02"): 13,
        ("US-WA-53053", "2021-03-02"): 6,
        ("US-WA-53033", "2021-03-03"): 14,
        ("US-WA-53053", "2021-03-03"): 7,
    }
