"""Which written items the check after a load reads back: the last of each batch."""

import pytest

from covid_assets.defs.serving.dynamodb_records import last_of_each_batch

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("written", "read_back"),
    [
        (0, []),
        (1, [0]),
        (25, [24]),
        (26, [24, 25]),
        (60, [24, 49, 59]),
    ],
)
def test_the_last_item_of_each_batch_of_25_is_read_back(written: int, read_back: list[int]):
    items = [{"n": n} for n in range(written)]
    assert last_of_each_batch(items) == [{"n": n} for n in read_back]
