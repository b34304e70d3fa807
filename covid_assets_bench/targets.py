"""The targets of issue 6, checked against the benchmark's figures."""

import math
from dataclasses import dataclass

from covid_assets.aws import DYNAMODB_BATCH_SIZE
from covid_assets_bench.figures import RunFigures, ratio
from covid_assets_bench.table import heading

WHOLE_PROCESS_LIMIT = 1.5  # the pipeline's whole process, as a multiple of the baseline's
FEWER_CALLS_WANTED = 50  # on a no-change day, the baseline's calls over the pipeline's


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
    no_change: RunFigures,
    no_change_baseline: RunFigures,
    full_load_rows: int,
) -> list[Target]:
    fewer = ratio(no_change_baseline.total_calls, no_change.total_calls)
    return [
        *(
            exactly(f"no-change day: {service} write calls", 0, no_change.write_calls(service))
            for service in ("dynamodb", "s3", "glue")
        ),
        exactly("next day: DynamoDB items in write calls", 1, next_day.dynamodb_items_written),
        exactly("next day: DynamoDB write calls", 1, next_day.write_calls("dynamodb")),
        exactly(
            f"full load: DynamoDB write calls (ceil({full_load_rows}/{DYNAMODB_BATCH_SIZE}))",
            math.ceil(full_load_rows / DYNAMODB_BATCH_SIZE),
            full_load.write_calls("dynamodb"),
        ),
        Target(
            "no-change day: AWS calls, times fewer than baseline",
            f">= {FEWER_CALLS_WANTED}",
            f"{fewer:.1f}",
            fewer >= FEWER_CALLS_WANTED,
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
        for day, measured in (("next day", next_day), ("no-change day", no_change))
    ]


def print_targets(targets: list[Target]) -> None:
    heading("targets")
    print(f"{'target':<56}{'wanted':>10}{'measured':>10}  result")
    for target in targets:
        print(f"{target.what:<56}{target.wanted:>10}{target.measured:>10}  {target.verdict}")
