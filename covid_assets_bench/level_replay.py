"""The state and county levels replayed on the whole real files, day by day:

    python -m covid_assets_bench.level_replay [--data DIR]

The states: the 7 files of ``history/nyt-us-states`` and then the 2021-03-18 snapshot, each
with a national file that is the sum of its states. The counties: the 2 files of
``history/nyt-us-counties-recent`` and the 5 snapshot windows, against the 2021-03-18 state and
national files. After each run it checks, against the csv module's reading of the files
(``real_files``), that the run wrote exactly the new and revised place-days, and that the Glue
table holds every place-day served; at the end, that DynamoDB holds every one (a Scan). The
tests replay the same files cut down to a few states; this replays them whole, which takes
minutes on the emulator.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dagster import AssetKey, DagsterInstance

from covid_assets.definitions import build_definitions
from covid_assets.domain.tables import COUNTY, STATE, ServedTable
from covid_assets_bench.benchmark import use_fresh_emulator_account
from covid_assets_bench.table import heading, row
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.history_backfill import QUIET_RUN
from covid_assets_dev.local_stack import moto_server
from covid_assets_dev.real_files import (
    PlaceDay,
    csv_place_rows,
    expected_items,
    exported_place_rows,
    national_file_of,
    new_and_revised,
    stored_place_items,
    with_partitions,
    written_keys,
)

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
ReplayedDay = tuple[str, Path, Path]  # the day, its level file, the national file beside it
# The examples, from comparing consecutive real files row by row.
EXPECTED_REVISIONS = {
    ("state", "2021-02-10"): 148,
    ("state", "2021-02-14"): 113,
    ("county", "2021-03-10"): 1_195,
}


def level_assets(level: ServedTable) -> list[str]:
    reconciled_with = [level.level.reconciliation.against.asset, level.source.asset]
    return [*reconciled_with, *level.assets]


def run_level(instance: DagsterInstance, level: ServedTable) -> tuple[Any, list, float]:
    job = build_definitions().resolve_implicit_global_asset_job_def()
    with recorded_calls() as calls:
        started = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[AssetKey(asset) for asset in level_assets(level)],
            run_config=QUIET_RUN,
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
    return result, calls, seconds


def replay(instance: DagsterInstance, level: ServedTable, days: list[ReplayedDay]) -> list[str]:
    """Run each day in turn; returns what did not hold."""
    failures = []
    served: dict[PlaceDay, dict[str, Any]] = {}
    heading(f"{level.name} level: the real files day by day")
    row("day", "rows", "new", "revised", "written", "seconds")
    for day, path, national in days:
        os.environ[level.source.url_setting] = str(path)
        os.environ["COVID_NYT_URL"] = str(national)
        result, calls, seconds = run_level(instance, level)
        rows = csv_place_rows(path)
        new, revised = new_and_revised(rows, served)
        served = {**served, **rows}
        written = written_keys(calls)
        row(
            day,
            *(f"{n:,}" for n in (len(rows), len(new), len(revised), len(written))),
            f"{seconds:.1f}",
        )
        expected = expected_items({key: served[key] for key in new | revised})
        if not result.success:
            failures.append(f"{level.name} {day}: the run failed")
        if sorted(written) != sorted(expected):
            failures.append(f"{level.name} {day}: wrote {len(written)} items, not {len(expected)}")
        wanted = EXPECTED_REVISIONS.get((level.name, day))
        if wanted is not None and len(revised) != wanted:
            failures.append(f"{level.name} {day}: {len(revised)} revised, not {wanted}")
        if exported_place_rows(level) != with_partitions(level, served):
            failures.append(f"{level.name} {day}: the Glue table is not every place-day served")
    if stored_place_items(level) != expected_items(served):
        failures.append(f"{level.name}: DynamoDB does not hold every place-day served")
    row(f"served at the end: {len(served):,} {level.name}-days")
    return failures


def replayed_days(data: Path, folder: Path) -> dict[ServedTable, list[ReplayedDay]]:
    """Each level's real files in order, each with the national file it is run with: a state
    file with the sum of its states (the history has no us.csv of its days, and NYT's files of
    one commit add up exactly), a county window with the 2021-03-18 files."""
    snapshots, history = data / "snapshots", data / "history"
    latest = snapshots / "2021-03-18"
    states = [
        *((path.stem, path) for path in sorted((history / "nyt-us-states").glob("20*.csv"))),
        ("2021-03-18", latest / "nyt-us-states.csv"),
    ]
    counties = [
        *((p.stem, p) for p in sorted((history / "nyt-us-counties-recent").glob("20*.csv"))),
        *(
            (day.name, day / "nyt-us-counties-recent.csv")
            for day in sorted(snapshots.iterdir())
            if (day / "nyt-us-counties-recent.csv").is_file()
        ),
    ]
    return {
        STATE: [
            (day, path, national_file_of(path, folder / f"us-{day}.csv")) for day, path in states
        ],
        COUNTY: [(day, path, latest / "nyt-us.csv") for day, path in counties],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    data = parser.parse_args().data
    if not (data / "snapshots").is_dir() or not (data / "history").is_dir():
        sys.exit(f"real files not found at {data} (see shared/data/README.md)")
    failures = []
    with tempfile.TemporaryDirectory() as folder, moto_server() as endpoint:
        for level, days in replayed_days(data, Path(folder)).items():
            use_fresh_emulator_account(endpoint, Path(folder) / level.name)
            # Every level this one is reconciled with is on, from the 2021-03-18 files.
            os.environ[STATE.source.url_setting] = str(
                data / "snapshots" / "2021-03-18" / "nyt-us-states.csv"
            )
            with DagsterInstance.ephemeral() as instance:
                failures += replay(instance, level, days)
    heading("level replay: what must hold")
    for failure in failures:
        print(f"FAIL  {failure}")
    if not failures:
        examples = ", ".join(f"{n:,} on {day}" for (_, day), n in EXPECTED_REVISIONS.items())
        print("PASS  every day wrote exactly its new and revised place-days; DynamoDB and the")
        print(f"      Glue tables hold every place-day served; the revisions are real ({examples})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
