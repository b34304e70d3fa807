"""The benchmark: what a day costs, in AWS calls, DynamoDB writes, bytes downloaded and time,
beside the original system's load of the same snapshots.

    python -m covid_assets_bench [--quick] [--check] [--every-level] [--county-days N]

It starts its own moto server, deploys infra/covid_assets.yaml into it, serves the snapshots
over HTTP on 127.0.0.1, and runs the scenarios in order on that emulator and one Dagster
instance; then the schedule's tick on the no-change day, and a same-day revision of the real
history picked up by the sensor; then the whole processes (the national next day beside
Dagster's empty job) and the first load with every level against the emulator's bare limit.
``--quick`` skips the whole processes and the first load with every level (CI runs it so;
``--every-level`` runs that load even then); ``--county-days N`` adds the county next days over
histories of N and 3N days; ``--check`` exits non-zero when a target is missed.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import boto3
import pandas as pd
from dagster import (
    DagsterInstance,
    RunsFilter,
)

from covid_assets.definitions import build_definitions
from covid_assets.defs.automation.triggers import ALL_ASSETS_JOB
from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.tables import LEVELS
from covid_assets.domain.transform import merge_daily
from covid_assets.settings import SETTINGS
from covid_assets_bench.baseline import create_baseline_table, load_like_the_original, merged_table
from covid_assets_bench.county_scale import (
    COUNTED_MODULE,
    LONGER_HISTORY,
    PARALLEL_WRITERS,
    CountyHistoryFigures,
    ProcessFigures,
    backfill,
    counted_run,
    county_files,
    county_next_day_process,
    history_days,
    history_end,
    measured_run,
    next_day_targets,
    print_backfills,
    print_next_days,
    use_county_files,
)
from covid_assets_bench.first_load import (
    EVERY_LEVEL_SNAPSHOT,
    LoadFigures,
    bare_limit,
    every_level_sources,
    print_first_loads,
    served_items,
)
from covid_assets_bench.multiprocess_definitions import MULTIPROCESS_JOB
from covid_assets_bench.table import heading, print_targets, row
from covid_assets_dev.aws_calls import recorded_calls
from covid_assets_dev.empty_job import EMPTY_JOB
from covid_assets_dev.figures import (
    RunFigures,
    add_run_events,
    figures_from_calls,
    median_difference,
    median_ratio,
    ratio,
)
from covid_assets_dev.history_backfill import QUIET_RUN
from covid_assets_dev.local_stack import (
    EMULATOR_CREDENTIALS,
    PROJECT_ROOT,
    moto_server,
    prepare_dagster_home,
    provision,
)
from covid_assets_dev.run_worker import run_worker_command
from covid_assets_dev.targets import (
    county_history_targets,
    exactly,
    first_load_targets,
    floor_targets,
    revision_targets,
    scenario_targets,
    tick_targets,
)
from covid_assets_dev.ticks import evaluate
from covid_assets_dev.web_sources import ServedFolder, served_folder

SNAPSHOTS_DIR = PROJECT_ROOT.parent / "shared" / "data" / "snapshots"
HISTORY_DIR = PROJECT_ROOT.parent / "shared" / "data" / "history"
# A same-day revision of the real NYT history: the 2020-05-08 version revised 41 past days.
REVISION_DAYS = ("2020-05-07", "2020-05-08")
BASELINE_TABLE = "covid_daily_original_baseline"
JOB = ALL_ASSETS_JOB
# Resetting an emulator that holds a county history of a million items takes tens of seconds.
RESET_TIMEOUT_SECONDS = 120
NEXT_DAY_PROCESS = "next day (2021-03-15)"
NO_CHANGE_PROCESS = "no-change day, run by hand (2021-03-15 again)"
EMPTY_JOB_PROCESS = "Dagster's floor: an empty job"
IDLE_PIPELINE_PROCESS = "the pipeline's steps and checks, idle"
IDLE_STEPS_PROCESS = "the pipeline's steps, idle, no check"


@dataclass(frozen=True)
class Scenario:
    name: str
    snapshot: str


SCENARIOS = [
    Scenario("full load", "2021-03-14"),
    Scenario("next day", "2021-03-15"),
    Scenario("revision day", "2021-03-18"),
    Scenario("no-change day, run by hand", "2021-03-18"),
]


@dataclass(frozen=True)
class Snapshot:
    nyt: Path
    jhu: Path

    @classmethod
    def of(cls, snapshots_dir: Path, day: str) -> "Snapshot":
        return cls(snapshots_dir / day / "nyt-us.csv", snapshots_dir / day / "jhu-combined.csv")

    def use(self) -> None:
        """Point the pipeline's sources at this snapshot (read when a run is launched)."""
        os.environ["COVID_NYT_URL"] = self.nyt.as_uri()
        os.environ["COVID_JHU_URL"] = self.jhu.as_uri()

    def publish(self, web: ServedFolder, published: float) -> None:
        """Serve this snapshot over HTTP as published at ``published``, and point the sources
        at it, so that a day with nothing new is answered 304."""
        os.environ["COVID_NYT_URL"] = web.publish("us.csv", self.nyt, published)
        os.environ["COVID_JHU_URL"] = web.publish("jhu.csv", self.jhu, published)


def published_at(day: str) -> float:
    """A snapshot day's files as published at 06:00 UTC that day."""
    return datetime.fromisoformat(f"{day}T06:00:00+00:00").timestamp()


@dataclass(frozen=True)
class TickFigures:
    """What one evaluation of the schedule or the sensor did and decided."""

    figures: RunFigures
    answers: list[int]
    runs_requested: int
    skip_reason: str | None


def evaluate_tick(instance: DagsterInstance, web: ServedFolder, name: str) -> TickFigures:
    """``evaluate``, with every AWS call and HTTP answer of the evaluation recorded."""
    web.answers.clear()
    with recorded_calls() as calls:
        tick, seconds = evaluate(instance, name)
    return TickFigures(
        figures_from_calls(calls, seconds),
        web.statuses,
        len(tick.run_requests),
        tick.skip_reason,
    )


def use_fresh_emulator_account(endpoint: str, dagster_home: Path) -> None:
    """A blank emulated account with the stack deployed, the settings pointing at it, the
    baseline's table beside it, and a new Dagster instance home."""
    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"),
        timeout=RESET_TIMEOUT_SECONDS,
    ).close()
    os.environ.update({setting.name: setting.default for setting in SETTINGS.values()})
    # The national pipeline's figures: the levels below it are off.
    os.environ.update({level.source.url_setting: "" for level in LEVELS})
    os.environ.update(EMULATOR_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    os.environ.update(provision())
    create_baseline_table(BASELINE_TABLE)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    prepare_dagster_home()


def run_pipeline_in_process(instance: DagsterInstance) -> RunFigures:
    """The daily job in this process (the way the tests run it), every AWS call recorded."""
    with recorded_calls() as calls:
        started = time.perf_counter()
        job = build_definitions().resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            run_config=QUIET_RUN, instance=instance, raise_on_error=False
        )
        seconds = time.perf_counter() - started
    return add_run_events(figures_from_calls(calls, seconds), instance, result.run_id)


def run_baseline_in_process(snapshot: Snapshot) -> RunFigures:
    with recorded_calls() as calls:
        started = time.perf_counter()
        stored = load_like_the_original(
            snapshot.nyt, snapshot.jhu, BASELINE_TABLE, os.environ["COVID_SNS_TOPIC_ARN"]
        )
        seconds = time.perf_counter() - started
    figures = figures_from_calls(calls, seconds)
    figures.items_stored = stored
    figures.bytes_downloaded = {
        "files read": snapshot.nyt.stat().st_size + snapshot.jhu.stat().st_size
    }
    return figures


def timed_process(command: list[str]) -> float:
    """Seconds from launch to exit of a whole process (interpreter start, imports, run)."""
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(
            f"{command} failed:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}"
        )
    return seconds


def pipeline_process(
    snapshot: Snapshot,
    module: str = "covid_assets.code_location",
    job: str = JOB,
    attribute: str = "defs",
) -> float:
    """The daily job's run in a process of its own, as a run launcher starts one
    (``run_worker_command``), on the instance at DAGSTER_HOME."""
    snapshot.use()
    return timed_process(run_worker_command(module, job, attribute))


def latest_run_figures(job: str, process_seconds: float) -> RunFigures:
    """Step and run times of the job's latest run in the instance at DAGSTER_HOME."""
    with DagsterInstance.get() as instance:
        [run] = instance.get_runs(filters=RunsFilter(job_name=job), limit=1)
        return add_run_events(RunFigures.timed(process_seconds), instance, run.run_id)


def baseline_process(snapshot: Snapshot) -> float:
    return timed_process(
        [
            sys.executable,
            "-m",
            "covid_assets_bench.baseline",
            str(snapshot.nyt),
            str(snapshot.jhu),
            BASELINE_TABLE,
            os.environ["COVID_SNS_TOPIC_ARN"],
        ]
    )


def import_probe() -> dict:
    """Import the definitions in a fresh interpreter with AWS pointed at a closed port."""
    environment = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    finished = subprocess.run(
        [sys.executable, "-m", "covid_assets_bench.import_probe"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def seconds_text(seconds: float | str | None) -> str:
    if seconds is None:
        return "-"
    return seconds if isinstance(seconds, str) else f"{seconds:.3f}"


def print_scenario(scenario: Scenario, pipeline: RunFigures, baseline: RunFigures) -> None:
    title = f"{scenario.name} (snapshot {scenario.snapshot})"
    heading(title)
    row("AWS API calls", "pipeline", "baseline")
    for service, operation in sorted(set(pipeline.calls) | set(baseline.calls)):
        key = (service, operation)
        row(f"  {service}:{operation}", pipeline.calls[key], baseline.calls[key])
    row("  serving lock (take and release)", pipeline.serving_lock_calls, "")
    row("  total", pipeline.total_calls, baseline.total_calls)
    fewer = (
        f"{ratio(baseline.total_calls, pipeline.total_calls):.1f}x fewer"
        if pipeline.total_calls
        else "no call at all"
    )
    print(
        f"baseline ratio (pipeline/baseline AWS calls): "
        f"{ratio(pipeline.total_calls, baseline.total_calls):.3f} ({fewer})"
    )
    row(
        "DynamoDB items in write calls",
        pipeline.dynamodb_items_written,
        baseline.dynamodb_items_written,
    )
    if baseline.items_stored is not None:
        row("  of which stored (the rest failed the condition)", "", baseline.items_stored)
    for service in ("dynamodb", "s3", "glue"):
        row(f"{service} write calls", pipeline.write_calls(service), baseline.write_calls(service))
    row("history appended: Parquet objects", pipeline.history_objects)
    row("  their bytes", pipeline.history_bytes)
    row("  Glue write calls", pipeline.history_glue_writes)
    row(
        "bytes downloaded (baseline: files read)",
        sum(pipeline.bytes_downloaded.values()),
        sum(baseline.bytes_downloaded.values()),
    )
    for asset, size in sorted(pipeline.bytes_downloaded.items()):
        row(f"  {asset}", size)
    row("wall time, seconds", "pipeline", "baseline")
    for step, seconds in pipeline.step_seconds.items():
        row(f"  step {step}", seconds_text(seconds))
    row("  run (RUN_START to RUN_SUCCESS)", seconds_text(pipeline.run_seconds))
    row(
        "  whole call (definitions + run)",
        seconds_text(pipeline.seconds),
        seconds_text(baseline.seconds),
    )
    if not pipeline.succeeded:
        print("  !! the pipeline run FAILED")


def print_tick(title: str, tick: TickFigures, baseline: RunFigures | None = None) -> None:
    heading(title)
    row("AWS API calls", "tick", "baseline" if baseline else "")
    for key in sorted(set(tick.figures.calls) | set(baseline.calls if baseline else ())):
        row(
            f"  {key[0]}:{key[1]}", tick.figures.calls[key], baseline.calls[key] if baseline else ""
        )
    row("  total", tick.figures.total_calls, baseline.total_calls if baseline else "")
    for service in ("dynamodb", "s3", "glue"):
        row(f"{service} write calls", tick.figures.write_calls(service))
    row("HTTP answers to the conditional requests", " ".join(map(str, tick.answers)))
    row("runs requested", tick.runs_requested)
    row("evaluation, seconds", seconds_text(tick.figures.seconds))
    if tick.skip_reason:
        print(f"  skip reason: {tick.skip_reason}")


def same_day_revision(
    endpoint: str, workdir: Path, history_dir: Path, snapshots_dir: Path
) -> tuple[TickFigures, bool]:
    """NYT publishes a revision during the day: the version of the first run day, loaded by a
    run, then the next version at its real publication time. The sensor's next tick, and
    whether the run it asked for leaves the table holding the revision."""
    use_fresh_emulator_account(endpoint, workdir / "revision")
    published = {
        row["run_day"]: datetime.fromisoformat(row["committed_utc"].replace("Z", "+00:00"))
        for row in csv.DictReader((history_dir / "nyt-us" / "MANIFEST.csv").open())
    }
    jhu = snapshots_dir / "2021-03-18" / "jhu-combined.csv"
    first, revised = (history_dir / "nyt-us" / f"{day}.csv" for day in REVISION_DAYS)
    with served_folder(workdir / "revision-web") as web, DagsterInstance.get() as instance:
        os.environ["COVID_JHU_URL"] = web.publish("jhu.csv", jhu, published_at("2021-03-18"))
        os.environ["COVID_NYT_URL"] = web.publish(
            "us.csv", first, published[REVISION_DAYS[0]].timestamp()
        )
        run_pipeline_in_process(instance)
        web.publish("us.csv", revised, published[REVISION_DAYS[1]].timestamp())
        tick = evaluate_tick(instance, web, "covid_sources_sensor")
        run_pipeline_in_process(instance)
    expected = merge_daily(read_csv_text(revised.read_bytes()), read_csv_text(jhu.read_bytes()))
    return tick, stored_items(os.environ["COVID_DYNAMODB_TABLE"]) == {
        row.date.isoformat(): (
            row.cases,
            row.deaths,
            None if pd.isna(row.recovered) else row.recovered,
        )
        for row in expected.itertuples()
    }


def stored_items(table: str) -> dict[str, tuple[int | None, ...]]:
    """The table's items as date -> (cases, deaths, recovered), read with a Scan; None where an
    item has no such attribute (no figure)."""
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return {
        item["date"]["S"]: tuple(
            int(item[name]["N"]) if name in item else None
            for name in ("cases", "deaths", "recovered")
        )
        for page in pages
        for item in page["Items"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="skip the whole-process timing and the first load with every level",
    )
    parser.add_argument(
        "--every-level",
        action="store_true",
        help="the first load with every level and its repair, even with --quick (minutes)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="whole-process rounds, each on a fresh account; the median counts (default 3)",
    )
    parser.add_argument(
        "--county-days",
        type=history_days,
        metavar="N",
        help=f"also the county next day over synthetic histories of N and {LONGER_HISTORY}N days "
        "ending on the same day (N at least 150: about 15 min; 1100, NYT's length: hours), each "
        "loaded by the county backfill on a blank emulator",
    )
    parser.add_argument("--snapshots", type=Path, default=SNAPSHOTS_DIR)
    parser.add_argument(
        "--every-level-snapshot",
        type=Path,
        help=f"the folder of the first load with every level (default: {EVERY_LEVEL_SNAPSHOT} "
        "of --snapshots); the tests give it a few states",
    )
    parser.add_argument("--history", type=Path, default=HISTORY_DIR)
    arguments = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # keep the tables in order with stderr
    if not arguments.snapshots.is_dir():
        sys.exit(
            f"real source snapshots not found at {arguments.snapshots} (see shared/data/README.md)"
        )

    probe = import_probe()
    print(
        f"import covid_assets.code_location: {probe['seconds']:.2f} s in a fresh interpreter; "
        f"{len(probe['aws_calls'])} AWS call(s), {len(probe['connections'])} network attempt(s)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="covid-benchmark-") as workdir,
        moto_server() as endpoint,
    ):
        use_fresh_emulator_account(endpoint, Path(workdir) / "scenarios")
        scenarios: dict[str, tuple[RunFigures, RunFigures]] = {}
        with (
            DagsterInstance.get() as instance,
            served_folder(Path(workdir) / "web") as web,
        ):
            for scenario in SCENARIOS:
                snapshot = Snapshot.of(arguments.snapshots, scenario.snapshot)
                snapshot.publish(web, published_at(scenario.snapshot))
                scenarios[scenario.name] = (
                    run_pipeline_in_process(instance),
                    run_baseline_in_process(snapshot),
                )
                print_scenario(scenario, *scenarios[scenario.name])
            quiet_tick = evaluate_tick(instance, web, "covid_daily_schedule")
            print_tick(
                "no-change day: the schedule's tick (snapshot 2021-03-18)",
                quiet_tick,
                run_baseline_in_process(snapshot),
            )
        revision = None
        if (arguments.history / "nyt-us").is_dir():
            revision = same_day_revision(
                endpoint, Path(workdir), arguments.history, arguments.snapshots
            )
            print_tick(
                f"same-day revision: NYT {REVISION_DAYS[0]} then {REVISION_DAYS[1]}, the sensor's "
                "tick",
                revision[0],
            )
            print(f"  the table holds the revision after the run: {'yes' if revision[1] else 'NO'}")
        processes = None
        if not arguments.quick:
            processes = whole_process_rounds(
                endpoint, Path(workdir), arguments.snapshots, arguments.rounds
            )
            print_whole_processes(processes)
            print_executors(*executor_times(Snapshot.of(arguments.snapshots, "2021-03-15")))
        first_loads: tuple[LoadFigures | None, LoadFigures | None] = (None, None)
        if not arguments.quick or arguments.every_level:
            every_level = arguments.every_level_snapshot or (
                arguments.snapshots / EVERY_LEVEL_SNAPSHOT
            )
            first_loads = first_load_and_repair(Path(workdir) / "every-level", every_level)
            print_first_loads(every_level, *first_loads)
        county_targets, county_costs = [], (None, None)
        if arguments.county_days:
            histories = county_scale_scenarios(
                arguments.county_days, endpoint, Path(workdir), arguments.snapshots
            )
            county_targets = [target for h in histories for target in next_day_targets(h)]
            county_costs = tuple(history.cost for history in histories)

    full_load = Snapshot.of(arguments.snapshots, SCENARIOS[0].snapshot)
    targets = [
        exactly("import of the definitions: AWS calls", 0, len(probe["aws_calls"])),
        exactly("import of the definitions: network attempts", 0, len(probe["connections"])),
        *scenario_targets(
            full_load=scenarios["full load"][0],
            next_day=scenarios["next day"][0],
            run_by_hand=scenarios["no-change day, run by hand"][0],
            full_load_rows=len(merged_table(full_load.nyt, full_load.jhu)),
        ),
        *tick_targets(
            quiet_tick.figures,
            quiet_tick.answers,
            quiet_tick.runs_requested,
            scenarios["no-change day, run by hand"][1],
        ),
        *revision_targets(
            None if revision is None else revision[0].runs_requested,
            None if revision is None else revision[1],
        ),
        *floor_targets(
            None if processes is None else median_difference(next_day_and_floor(processes))
        ),
        *first_load_targets(*(load.times_bare if load else None for load in first_loads)),
        *county_history_targets(*county_costs),
        *county_targets,
    ]
    print_targets(targets)
    if arguments.check and any(target.met is False for target in targets):
        sys.exit(1)


def whole_process_times(snapshots_dir: Path) -> dict[str, tuple[float, float]]:
    """Seconds of the pipeline's and the baseline's whole process, per day, on a fresh account:
    a full load (2021-03-14), the next day (2021-03-15), and that day again (no change); then
    Dagster's floor, an empty job launched the same way, the pipeline's steps and checks doing
    nothing (``idle_pipeline``) and its steps alone doing nothing, each beside one more baseline
    process."""
    full, next_day = (Snapshot.of(snapshots_dir, day) for day in ("2021-03-14", "2021-03-15"))
    processes = {
        name: (pipeline_process(snapshot), baseline_process(snapshot))
        for name, snapshot in (
            ("full load (2021-03-14)", full),
            (NEXT_DAY_PROCESS, next_day),
            (NO_CHANGE_PROCESS, next_day),
        )
    }
    processes[EMPTY_JOB_PROCESS] = (
        pipeline_process(next_day, "covid_assets_dev.empty_job", EMPTY_JOB),
        baseline_process(next_day),
    )
    processes[IDLE_PIPELINE_PROCESS] = (
        pipeline_process(next_day, "covid_assets_dev.idle_pipeline", JOB),
        baseline_process(next_day),
    )
    processes[IDLE_STEPS_PROCESS] = (
        pipeline_process(next_day, "covid_assets_dev.idle_pipeline", JOB, "defs_without_checks"),
        baseline_process(next_day),
    )
    return processes


def whole_process_rounds(
    endpoint: str, workdir: Path, snapshots_dir: Path, rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """The whole-process days, measured `rounds` times from a blank account each time: one
    process timing moves by a third with the machine's load, a median of rounds much less."""
    measured: dict[str, list[tuple[float, float]]] = {}
    for number in range(rounds):
        use_fresh_emulator_account(endpoint, workdir / f"processes-{number}")
        for name, seconds in whole_process_times(snapshots_dir).items():
            measured.setdefault(name, []).append(seconds)
    return measured


def print_whole_processes(processes: dict[str, list[tuple[float, float]]]) -> None:
    rounds = len(next(iter(processes.values())))
    heading(f"whole process (interpreter start, imports, run), seconds, median of {rounds}")
    row("day", "pipeline", "baseline", "ratio")
    for name, measured in processes.items():
        pipeline, baseline = (statistics.median(column) for column in zip(*measured, strict=True))
        row(name, f"{pipeline:.2f}", f"{baseline:.2f}", f"{median_ratio(measured):.2f}")
        print("    ratio of each round: " + ", ".join(f"{ratio(*pair):.2f}" for pair in measured))
    differences = {
        "national next day above the empty job (the project's own time)": next_day_and_floor(
            processes
        ),
        "  of it, the work: above the pipeline's steps and checks idle": next_day_and_floor(
            processes, floor=IDLE_PIPELINE_PROCESS
        ),
        "  of it, the shape: the idle steps and checks (imports, definitions, Dagster's events of "
        "their steps and checks) above the empty job": next_day_and_floor(
            processes, measured=IDLE_PIPELINE_PROCESS
        ),
        "    of the shape, the checks: the idle steps and checks above the idle steps alone": (
            next_day_and_floor(processes, floor=IDLE_STEPS_PROCESS, measured=IDLE_PIPELINE_PROCESS)
        ),
        "    of the shape, the steps: the idle steps alone (imports, definitions, Dagster's "
        "events of the steps) above the empty job": next_day_and_floor(
            processes, measured=IDLE_STEPS_PROCESS
        ),
    }
    for what, pairs in differences.items():
        print(
            f"{what}: median {median_difference(pairs):.2f} s; each round: "
            + ", ".join(f"{above - below:.2f}" for above, below in pairs)
        )


def next_day_and_floor(
    processes: dict[str, list[tuple[float, float]]],
    floor: str = EMPTY_JOB_PROCESS,
    measured: str = NEXT_DAY_PROCESS,
) -> list[tuple[float, float]]:
    """Each round's ``measured`` process (the national next day) and ``floor`` (Dagster's empty
    job), both the pipeline's processes."""
    return [
        (above, below)
        for (above, _), (below, _) in zip(processes[measured], processes[floor], strict=True)
    ]


def executor_times(no_change: Snapshot) -> tuple[RunFigures, RunFigures]:
    """The no-change day once more as a whole process under each executor: the project's
    in-process one and Dagster's default multiprocess one (a subprocess per step)."""
    in_process = latest_run_figures(JOB, pipeline_process(no_change))
    seconds = pipeline_process(
        no_change, "covid_assets_bench.multiprocess_definitions", MULTIPROCESS_JOB
    )
    return in_process, latest_run_figures(MULTIPROCESS_JOB, seconds)


def print_executors(in_process: RunFigures, multiprocess: RunFigures) -> None:
    heading("executor: no-change day, run by hand (2021-03-15 again), as a whole process")
    row("wall time, seconds", "in process", "multiprocess")
    for step, seconds in in_process.step_seconds.items():
        row(
            f"  step {step}",
            seconds_text(seconds),
            seconds_text(multiprocess.step_seconds.get(step)),
        )
    row(
        "  run (RUN_START to RUN_SUCCESS)",
        seconds_text(in_process.run_seconds),
        seconds_text(multiprocess.run_seconds),
    )
    row(
        "  run minus its steps: start-up, hand-overs",
        seconds_text(in_process.seconds_between_steps),
        seconds_text(multiprocess.seconds_between_steps),
    )
    row("  whole process", seconds_text(in_process.seconds), seconds_text(multiprocess.seconds))


def first_load_and_repair(workdir: Path, snapshot: Path) -> tuple[LoadFigures, LoadFigures]:
    """The run of every asset with every level on, on a new blank emulator (the first run of
    ``make run``), then on another one with the same Dagster instance (the repair after a
    restart), each as a whole process; after each, the bare limit of the items the first load
    wrote (read back once: a Scan of moto pages from the first item every time, minutes)."""
    loads, items = [], None
    for name in ("first load", "repair"):
        with moto_server() as endpoint:
            use_fresh_emulator_account(endpoint, workdir)  # the same DAGSTER_HOME both times
            run = counted_run(
                COUNTED_MODULE, JOB, workdir / f"{name}-calls.json", **every_level_sources(snapshot)
            )
            items = items or served_items(os.environ["COVID_DYNAMODB_TABLE"])
            loads.append(bare_limit((run, latest_run_figures(JOB, run.seconds)), items))
    return loads[0], loads[1]


def county_scale_scenarios(
    days: int, endpoint: str, workdir: Path, snapshots_dir: Path
) -> list[CountyHistoryFigures]:
    """The national next day on a blank account, as a whole process; then, for a synthetic
    history of ``days`` days and one LONGER_HISTORY times longer that ends on the same day (the
    same next day, the same months rewritten by the export), each on a new moto server (a
    reset of millions of items outlasts any sensible timeout): the county history backfill
    with the parallel writers, then the county level's NEXT_DAYS next days over the table it
    loaded, one after the other, each as a whole process."""
    use_fresh_emulator_account(endpoint, workdir / "national-next-day")
    for day in ("2021-03-14", "2021-03-15"):  # a full load, then its next day
        Snapshot.of(snapshots_dir, day).use()
        national = ProcessFigures(*measured_run("covid_assets.code_location", JOB))
    recent = snapshots_dir / "2021-03-18" / "nyt-us-counties-recent.csv"
    histories = []
    for length in (days, LONGER_HISTORY * days):
        files = county_files(recent, workdir / f"counties-{length}", length, history_end(days))
        with moto_server() as county_endpoint:
            use_fresh_emulator_account(county_endpoint, workdir / f"county-{length}")
            use_county_files(files.next_days[0])
            with DagsterInstance.get() as instance:
                loaded = backfill(instance, files.history, PARALLEL_WRITERS)
            next_days = []
            for number, day in enumerate(files.next_days, start=1):
                use_county_files(day)
                calls_file = workdir / f"county-{length}" / f"next-day-{number}-calls.json"
                next_days.append(county_next_day_process(calls_file))
        histories.append(CountyHistoryFigures(files, loaded, next_days))
    print_backfills(histories)
    print_next_days(histories, national)
    return histories
