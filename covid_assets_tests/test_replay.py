"""Replay the real daily snapshots in date order, as the schedule would have run on those days."""

import datetime as dt
from pathlib import Path

import pytest

from covid_assets_bench.real_files import csv_merged_days
from covid_assets_tests.helpers import (
    exported_days,
    materialization_metadata,
    run_daily_job,
    stored_days,
    use_snapshot,
)

# (snapshot day, items written, of which new days, of which revised days), from the data README.
REPLAY = [
    ("2020-10-09", 261, 261, 0),
    ("2021-03-14", 262, 156, 106),
    ("2021-03-15", 1, 1, 0),
    ("2021-03-16", 1, 1, 0),
    ("2021-03-17", 1, 1, 0),
    ("2021-03-18", 1, 0, 1),  # NYT revised 2021-03-16; JHU had not updated
]


def expected_days(snapshot: Path) -> dict[str, tuple[int, int, int]]:
    """The merged table computed independently of the pipeline, with the csv module."""
    return csv_merged_days(snapshot / "nyt-us.csv", snapshot / "jhu-combined.csv")


def test_replaying_the_snapshots_keeps_dynamodb_and_the_export_equal_to_each_days_merged_table(
    aws, instance, snapshots_dir, monkeypatch
):
    for day, written, inserted, updated in REPLAY:
        use_snapshot(monkeypatch, snapshots_dir, day)
        metadata = materialization_metadata(run_daily_job(instance), "dynamodb_records")
        expected = expected_days(snapshots_dir / day)
        assert (metadata["items_written"], metadata["inserted"], metadata["updated"]) == (
            written,
            inserted,
            updated,
        ), day
        assert stored_days(aws) == expected, day
        assert exported_days(aws) == expected, day
    # The last run took in NYT's revision of 2021-03-16 (29,573,180 -> 29,573,186 cases).
    assert stored_days(aws)["2021-03-16"] == (29_573_186, 536_472, 0)


@pytest.mark.parametrize("day", ["2020-10-09", "2021-03-18"])
def test_a_second_run_of_the_same_snapshot_writes_nothing(
    aws, instance, snapshots_dir, monkeypatch, day
):
    use_snapshot(monkeypatch, snapshots_dir, day)
    run_daily_job(instance)
    before = stored_days(aws)
    result = run_daily_job(instance)
    assert result.success
    assert materialization_metadata(result, "dynamodb_records")["items_written"] == 0
    assert materialization_metadata(result, "athena_export")["status"] == "unchanged"
    assert stored_days(aws) == before


def test_first_snapshot_ends_on_2020_10_08(aws, instance, snapshots_dir, monkeypatch):
    use_snapshot(monkeypatch, snapshots_dir, "2020-10-09")
    result = run_daily_job(instance)
    assert stored_days(aws)["2020-10-08"] == (7_638_362, 212_678, 3_021_252)
    merged = materialization_metadata(result, "merged_daily_table")
    assert (merged["first_date"], merged["last_date"]) == (str(dt.date(2020, 1, 22)), "2020-10-08")


def test_the_load_notice_lists_the_days_largest_revisions(
    aws, instance, snapshots_dir, monkeypatch, alert_inbox
):
    for day in ("2021-03-17", "2021-03-18"):
        use_snapshot(monkeypatch, snapshots_dir, day)
        run_daily_job(instance)
    *_, (subject, message) = alert_inbox.messages()
    assert subject == "covid_assets: 1 day(s) updated in covid_daily"
    assert message.endswith("Largest revisions:\n- 2021-03-16 cases: 29,573,180 → 29,573,186")
