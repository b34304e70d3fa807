"""The benchmark's targets, checked against its figures (``figures``): what each scenario
must cost, and the verdict of each. Here rather than in the benchmark so that the tests can hold
the verdicts to their rules."""

import math
from dataclasses import dataclass

from covid_assets.resources.dynamodb import DYNAMODB_BATCH_SIZE
from covid_assets_dev.figures import RunFigures, ratio

WHOLE_PROCESS_LIMIT = 1.5  # the pipeline's whole process, as a multiple of the baseline's
FEWER_CALLS_WANTED = 50  # on a no-change day, the baseline's calls over the tick's
TICK_AWS_CALLS_LIMIT = 5  # a quiet tick reads what is served back, with no scan
RUN_BY_HAND_AWS_CALLS_LIMIT = 15  # a quiet run by hand reads each thing once, whatever the history
TICK_SECONDS_LIMIT = 1.0  # the schedule's evaluation, its own work


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


def process_targets(next_day: float | None, no_change: float | None) -> list[Target]:
    """Whole-process ratios (pipeline/baseline) of each day; None when not measured."""
    return [
        Target(
            f"whole process, {day}: pipeline/baseline",
            f"<= {WHOLE_PROCESS_LIMIT}",
            "-" if measured is None else f"{measured:.2f}",
            None if measured is None else measured <= WHOLE_PROCESS_LIMIT,
        )
        for day, measured in (("next day", next_day), ("no-change day by hand", no_change))
    ]
