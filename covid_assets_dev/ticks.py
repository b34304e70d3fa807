"""One evaluation of a schedule or a sensor of the project's definitions, as the daemon's code
server makes it, through Dagster's public API: a context from ``build_schedule_context`` or
``build_sensor_context`` with the definitions' resources, and the definition invoked with it (the
way Dagster's testing guide invokes a sensor). The tests read what a tick decided; the benchmark
also times it."""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dagster import (
    DagsterInstance,
    RunRequest,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
)

from covid_assets_dev.current_definitions import current_definitions


@dataclass(frozen=True)
class TickResult:
    """What one evaluation decided: the runs it asks for, why it skipped (when it did), the
    asset events it reports, and the cursor it leaves (a sensor's; None for a schedule)."""

    run_requests: list[RunRequest]
    skip_reason: str | None
    asset_events: list[Any]
    cursor: str | None


def tick_result(returned: Any, cursor: str | None) -> TickResult:
    """A tick's result from whatever the schedule or sensor function returned (a run request,
    a skip reason, a ``SensorResult``, several run requests, or nothing)."""
    if isinstance(returned, SensorResult):
        skip = returned.skip_reason
        return TickResult(
            list(returned.run_requests or []),
            skip.skip_message if skip else None,
            list(returned.asset_events or []),
            returned.cursor if returned.cursor is not None else cursor,
        )
    if isinstance(returned, SkipReason):
        return TickResult([], returned.skip_message, [], cursor)
    if isinstance(returned, RunRequest):
        return TickResult([returned], None, [], cursor)
    requests = list(returned) if isinstance(returned, Iterable) else []
    return TickResult(requests, None, [], cursor)


def evaluate(
    instance: DagsterInstance, name: str, cursor: str | None = None
) -> tuple[TickResult, float]:
    """One evaluation of the schedule or the sensor ``name`` (from a sensor's ``cursor``) on
    ``instance``, and the seconds the evaluation itself took (the definitions are loaded
    before, as in the daemon's code server)."""
    defs = current_definitions()
    if name in {schedule.name for schedule in defs.schedules or []}:
        context = build_schedule_context(
            instance=instance, resources=defs.resources, repository_def=defs.get_repository_def()
        )
        definition = defs.resolve_schedule_def(name)
    else:
        context = build_sensor_context(
            instance=instance, definitions=defs, resources=defs.resources, cursor=cursor
        )
        definition = defs.resolve_sensor_def(name)
    with context:
        started = time.perf_counter()
        returned = definition(context)
        seconds = time.perf_counter() - started
        after = getattr(context, "cursor", None)
    return tick_result(returned, after), seconds
