"""The benchmark's targets, checked against its figures (``figures``): what each scenario
must cost, and the verdict of each. Here rather than in the benchmark so that the tests can hold
the verdicts to their rules."""

import math
from dataclasses import dataclass

from covid_assets.resources.dynamodb import DYNAMODB_BATCH_SIZE
from covid_assets_dev.figures import RunFigures, ratio

FEWER_CALLS_WANTED = 50  # on a no-change day, the baseline's calls over the tick's
TICK_AWS_CALLS_LIMIT = 5  # a quiet tick reads what is served back, with no scan
RUN_BY_HAND_AWS_CALLS_LIMIT = 15  # a quiet run by hand reads each thing once, whatever the history
TICK_SECONDS_LIMIT = 1.0  # the schedule's evaluation, its own work
# Issue 28: a day costs the day's work at every scale, a first load runs at the emulator's speed.
COUNTY_NEXT_DAY_SECONDS_LIMIT = 12.0  # whole process
COUNTY_NEXT_DAY_MEMORY_LIMIT_MB = 600  # its peak resident memory
LONGER_HISTORY_LIMIT = 1.15  # the next day over a 3x longer history, as a multiple
BARE_LIMIT_MULTIPLE = 2.0  # a first load (and a repair) over a bare BatchWriteItem loop
OWN_SECONDS_ABOVE_FLOOR_LIMIT = 1.0  # the national next day above Dagster's empty job


@dataclass(frozen=True)
class Target:
    what: str
    wanted: str
    measured: str
    met: bool | None  # None: not measured in this mode

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "SKIP"}[self.met]


def exactly(what: str, wanted: int, measured: int) -> Target:
    return Target(what, str(wanted), str(measured), measured == wanted)


def scenario_targets(
    full_load: RunFigures,
    next_day: RunFigures,
    run_by_hand: RunFigures,
    full_load_rows: int,
) -> list[Target]:
    return [
        *(
            exactly(
                f"no-change day, run by hand: {service} write calls",
                0,
                run_by_hand.write_calls(service),
            )
            for service in ("dynamodb", "s3", "glue")
        ),
        Target(
            "no-change day, run by hand: AWS calls",
            f"<= {RUN_BY_HAND_AWS_CALLS_LIMIT}",
            str(run_by_hand.total_calls),
            run_by_hand.total_calls <= RUN_BY_HAND_AWS_CALLS_LIMIT,
        ),
        exactly("next day: DynamoDB items in write calls", 1, next_day.dynamodb_items_written),
        exactly("next day: history objects appended", 1, next_day.history_objects),
        exactly("next day: history Glue write calls", 1, next_day.history_glue_writes),
        exactly(
            "no-change day, run by hand: history objects appended", 0, run_by_hand.history_objects
        ),
        exactly("next day: DynamoDB write calls", 1, next_day.write_calls("dynamodb")),
        exactly(
            f"full load: DynamoDB write calls (ceil({full_load_rows}/{DYNAMODB_BATCH_SIZE}))",
            math.ceil(full_load_rows / DYNAMODB_BATCH_SIZE),
            full_load.write_calls("dynamodb"),
        ),
    ]


def tick_targets(
    tick: RunFigures, answers: list[int], runs_requested: int, baseline: RunFigures
) -> list[Target]:
    """The no-change day is a tick of the schedule that launches no run."""
    fewer = ratio(baseline.total_calls, tick.total_calls)
    return [
        exactly("no-change day, tick: runs launched", 0, runs_requested),
        exactly("no-change day, tick: conditional requests answered 304", 2, answers.count(304)),
        exactly("no-change day, tick: requests answered 200", 0, answers.count(200)),
        Target(
            "no-change day, tick: AWS calls",
            f"<= {TICK_AWS_CALLS_LIMIT}",
            str(tick.total_calls),
            tick.total_calls <= TICK_AWS_CALLS_LIMIT,
        ),
        exactly(
            "no-change day, tick: write calls",
            0,
            sum(tick.write_calls(service) for service in ("dynamodb", "s3", "glue", "sns")),
        ),
        Target(
            "no-change day, tick: seconds of evaluation",
            f"< {TICK_SECONDS_LIMIT}",
            f"{tick.seconds:.2f}",
            tick.seconds < TICK_SECONDS_LIMIT,
        ),
        Target(
            "no-change day: AWS calls, times fewer than baseline",
            f">= {FEWER_CALLS_WANTED}",
            f"{fewer:.1f}",
            fewer >= FEWER_CALLS_WANTED,
        ),
    ]


def revision_targets(runs_requested: int | None, holds_revision: bool | None) -> list[Target]:
    """A same-day revision: one tick of the sensor asks for one run, which loads it."""
    return [
        Target(
            "same-day revision: runs the sensor's tick asks for",
            "1",
            "-" if runs_requested is None else str(runs_requested),
            None if runs_requested is None else runs_requested == 1,
        ),
        Target(
            "same-day revision: the table holds it after the run",
            "yes",
            {None: "-", True: "yes", False: "no"}[holds_revision],
            holds_revision,
        ),
    ]


def at_most(what: str, limit: float, measured: float | None, digits: int = 2) -> Target:
    """``measured`` at most ``limit``; SKIP when not measured (None)."""
    return Target(
        what,
        f"<= {limit:g}",
        "-" if measured is None else f"{measured:.{digits}f}",
        None if measured is None else measured <= limit,
    )


def floor_targets(own_seconds: float | None) -> list[Target]:
    """The national next day's whole process minus Dagster's empty job's, launched the same way
    in the same round (median of rounds): the project's own time."""
    return [
        at_most(
            "national next day: seconds above Dagster's empty job",
            OWN_SECONDS_ABOVE_FLOOR_LIMIT,
            own_seconds,
        )
    ]


def first_load_targets(first_load: float | None, repair: float | None) -> list[Target]:
    """A first load with every level, and its repair after the emulator restarts, as multiples
    of a bare BatchWriteItem loop of the same items with the same writers."""
    return [
        at_most(f"{name} with every level: x bare emulator time", BARE_LIMIT_MULTIPLE, measured)
        for name, measured in (("first load", first_load), ("repair after restart", repair))
    ]


@dataclass(frozen=True)
class NextDayCost:
    """A county next day's whole process over a history of ``days`` days."""

    days: int
    seconds: float
    peak_mb: float


def county_history_targets(short: NextDayCost | None, long: NextDayCost | None) -> list[Target]:
    """The county next day within its limits over the longer history, and costing about the same
    over both: the day's work, whatever the history behind it. SKIP when not measured."""
    both = short is not None and long is not None
    days = f"{long.days} days" if both else "longer history"
    growth = f"{long.days / short.days:g}x" if both else "longer"
    return [
        at_most(
            f"county next day ({days}): whole process, seconds",
            COUNTY_NEXT_DAY_SECONDS_LIMIT,
            long.seconds if both else None,
            digits=1,
        ),
        at_most(
            f"county next day ({days}): peak memory, MB",
            COUNTY_NEXT_DAY_MEMORY_LIMIT_MB,
            long.peak_mb if both else None,
            digits=0,
        ),
        at_most(
            f"county next day, {growth} history: time, x",
            LONGER_HISTORY_LIMIT,
            long.seconds / short.seconds if both else None,
        ),
        at_most(
            f"county next day, {growth} history: peak memory, x",
            LONGER_HISTORY_LIMIT,
            long.peak_mb / short.peak_mb if both else None,
        ),
    ]
