"""A served table's rows as DynamoDB items, and what a load must write: one mapping and one write
plan for every table.

An item is keyed by ``region`` (``ServedTable.region_of``) and ``date`` (ISO). A level's items
also carry ``level`` and ``place`` (for the index ``level-date-index`` and its readers); the
nation's carry neither, so they stay out of that sparse index. A missing value (a blank count, a
blank fips) is no attribute, never 0. Items also record the versions that carried them
(``stamped``).

Plain Python and pandas: no Dagster or AWS.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from covid_assets.domain.history import largest_revisions
from covid_assets.domain.tables import ServedTable

ItemKey = tuple[str, str]
# What an item records of the versions that carried it (see ``stamped``).
PROVENANCE = ("first_published", "last_revised", "revisions")


def item_key(item: dict[str, Any]) -> ItemKey:
    """An item's key in the table: (region, date)."""
    return item["region"], item["date"]


def key_text(table: ServedTable, key: ItemKey) -> str:
    """A key as the checks, notices and metadata name it: its date for the nation (one region),
    ``US-CA 2021-03-16`` for a level."""
    return key[1] if table.level is None else " ".join(key)


def item_columns(table: ServedTable) -> list[str]:
    """The attributes of the table's items, as the materialization's schema lists them."""
    place = ["level", "place"] if table.level else []
    return ["region", "date", *place, *table.value_columns]


def table_items(table: ServedTable, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One DynamoDB item per row: its region and ISO date as the key, the level and the place's
    name for a level, then every value that is known (counts as plain ints)."""
    counts = set(table.count_columns)
    values = table.value_columns
    level = table.level
    items = []
    for row in rows.to_dict("records"):
        item = {"region": table.region_of(row), "date": row["date"].isoformat()}
        if level is not None:
            item["level"] = level.name
            item["place"] = row[level.place_column]
        for column in values:
            value = row[column]
            if not pd.isna(value):
                item[column] = int(value) if column in counts else value
        items.append(item)
    return items


def latest_item(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The item of the latest day (of the last region that day), or {} when there is none."""
    return max(items, key=lambda item: (item["date"], item["region"]), default={})


def values_of(item: dict[str, Any]) -> dict[str, Any]:
    """An item without the attributes that record its versions (PROVENANCE)."""
    return {name: value for name, value in item.items() if name not in PROVENANCE}


def stamped(item: dict[str, Any], stored: dict[str, Any] | None, published: str) -> dict[str, Any]:
    """The item with its versions recorded: first published when its key first appeared, last
    revised when its values last changed (both the publication times of those versions), and
    how many times they changed. An item stored before versions were recorded keeps no first
    publication time: it is not known."""
    if stored is None:
        return {**item, "first_published": published, "last_revised": published, "revisions": 0}
    first = {"first_published": stored["first_published"]} if "first_published" in stored else {}
    revisions = int(stored.get("revisions", 0)) + 1
    return {**item, **first, "last_revised": published, "revisions": revisions}


@dataclass(frozen=True)
class WritePlan:
    """What one load must write: items for new keys, items for revised ones (and the stored
    items they revise), how many are already right, and the keys the table no longer has."""

    inserts: list[dict[str, Any]]
    updates: list[dict[str, Any]]
    unchanged: int
    vanished: list[ItemKey]
    revised_from: list[dict[str, Any]] = field(default_factory=list)

    @property
    def items_to_write(self) -> list[dict[str, Any]]:
        return self.inserts + self.updates

    def largest_revisions(self, fields: Sequence[str], key_of: Callable[[dict], str]) -> list[str]:
        """The largest changes of the revised items (up to five), as ``key field: old → new``."""
        pairs = list(zip(self.revised_from, self.updates, strict=True))
        return [str(revision) for revision in largest_revisions(pairs, fields, key_of)]


def by_date_then_region(key: ItemKey) -> tuple[str, str]:
    return key[1], key[0]


def plan_writes(
    wanted_items: Sequence[dict[str, Any]],
    stored_items: Sequence[dict[str, Any]],
    published: str | None = None,
) -> WritePlan:
    """Compare the wanted items with the stored ones by key (region, date). A stored item whose
    values differ (a count changed, or one gained or lost) is rewritten whole; stored keys that
    are no longer wanted are left alone, and listed as vanished. With ``published`` (the
    version's publication time), the items to write carry their versions (``stamped``)."""
    stored_by_key = {item_key(item): item for item in stored_items}
    inserts, updates, revised_from, unchanged = [], [], [], 0
    for item in wanted_items:
        stored = stored_by_key.get(item_key(item))
        if stored is None:
            inserts.append(item if published is None else stamped(item, None, published))
        elif values_of(stored) != values_of(item):
            updates.append(item if published is None else stamped(item, stored, published))
            revised_from.append(stored)
        else:
            unchanged += 1
    wanted_keys = {item_key(item) for item in wanted_items}
    vanished = sorted(set(stored_by_key) - wanted_keys, key=by_date_then_region)
    return WritePlan(inserts, updates, unchanged, vanished, revised_from)


def differing(
    wanted: Sequence[dict[str, Any]], last_load: dict[ItemKey, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The items of ``wanted`` that differ from the last load's (by key): new or revised, the
    only ones that can need writing."""
    return [item for item in wanted if last_load.get(item_key(item)) != item]
