"""What one run cost: AWS calls by operation, DynamoDB items written, bytes downloaded, time."""

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dagster import DagsterEventType, DagsterInstance

from covid_assets.resources.serving_lock import LOCK_KEY
from covid_assets_dev.aws_calls import AwsCall, calls_by_operation

# Operations that change state, by name prefix; everything else (Get, Describe, List, Query,
# Head, Publish, ...) only reads or notifies.
WRITE_PREFIXES = (
    "Put",
    "BatchWrite",
    "TransactWrite",
    "Update",
    "Delete",
    "Create",
    "BatchCreate",
    "BatchUpdate",
    "BatchDelete",
    "UploadPart",
    "CompleteMultipartUpload",
    "Copy",
)

STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
}
RUN_EVENTS = {
    DagsterEventType.RUN_START,
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE,
}
ASSET_EVENTS = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION}


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, infinite when the denominator is 0."""
    return numerator / denominator if denominator else math.inf


def median_ratio(rounds: list[tuple[float, float]]) -> float:
    """The median over rounds of pipeline/baseline, each pair measured back to back."""
    return statistics.median(ratio(pipeline, baseline) for pipeline, baseline in rounds)


def median_difference(rounds: list[tuple[float, float]]) -> float:
    """The median over rounds of first minus second, each pair measured in the same round."""
    return statistics.median(first - second for first, second in rounds)


def is_write(operation: str) -> bool:
    return operation.startswith(WRITE_PREFIXES)


def is_serving_lock_call(call: AwsCall) -> bool:
    """A call on the serving lock's item, which every run takes and releases (two writes)
    whatever it does to the data."""
    item = call.params.get("Key") or call.params.get("Item") or {}
    return call.service == "dynamodb" and item.get("region") == LOCK_KEY["region"]


def is_data_write(call: AwsCall) -> bool:
    """A write of what is served or kept: any write but the serving lock's."""
    return is_write(call.operation) and not is_serving_lock_call(call)


def items_written(call: AwsCall) -> int:
    """DynamoDB items one call writes (or deletes)."""
    match call.operation:
        case "BatchWriteItem":
            return sum(len(requests) for requests in call.params["RequestItems"].values())
        case "TransactWriteItems":
            return len(call.params["TransactItems"])
        case "PutItem" | "UpdateItem" | "DeleteItem":
            return 1
    return 0


@dataclass
class RunFigures:
    calls: Counter[tuple[str, str]]  # every call but the serving lock's
    dynamodb_items_written: int
    seconds: float  # the whole call or process, measured by the benchmark
    bytes_downloaded: dict[str, int] = field(default_factory=dict)  # by asset
    step_seconds: dict[str, float | str] = field(default_factory=dict)  # by step; str: no time
    run_seconds: float | None = None  # RUN_START to RUN_SUCCESS/FAILURE in the event log
    succeeded: bool = True
    items_stored: int | None = None  # of the items written, those a condition let through
    serving_lock_calls: int = 0
    history_objects: int = 0  # Parquet objects appended to the histories
    history_bytes: int = 0
    history_glue_writes: int = 0  # write calls on the histories' Glue tables

    @classmethod
    def timed(cls, seconds: float) -> "RunFigures":
        """Figures of a run whose AWS calls were not recorded (another process's)."""
        return cls(calls=Counter(), dynamodb_items_written=0, seconds=seconds)

    @property
    def seconds_between_steps(self) -> float | None:
        """The run's time outside its steps: with a subprocess per step, mostly their start-up."""
        if self.run_seconds is None:
            return None
        in_steps = (seconds for seconds in self.step_seconds.values() if isinstance(seconds, float))
        return self.run_seconds - sum(in_steps)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values()) + self.serving_lock_calls

    def write_calls(self, service: str) -> int:
        return sum(
            count
            for (s, operation), count in self.calls.items()
            if s == service and is_write(operation)
        )


def is_history_object_write(call: AwsCall) -> bool:
    """A Parquet object appended to a history (its keys start with ``history/``)."""
    return call.operation == "PutObject" and call.params.get("Key", "").startswith("history/")


def is_history_glue_write(call: AwsCall) -> bool:
    table = call.params.get("TableInput", {}).get("Name", call.params.get("TableName", ""))
    return call.service == "glue" and is_write(call.operation) and table.endswith("_history")


def body_size(body: Any) -> int:
    """The bytes of a PutObject's body, which botocore has by then wrapped in a file object."""
    return len(body) if isinstance(body, bytes | bytearray) else body.getbuffer().nbytes


def figures_from_calls(calls: list[AwsCall], seconds: float) -> RunFigures:
    """The calls by operation and the items written, the serving lock's calls counted apart,
    and what the histories' appends cost."""
    data_calls = [call for call in calls if not is_serving_lock_call(call)]
    appended = [call for call in data_calls if is_history_object_write(call)]
    return RunFigures(
        calls=calls_by_operation(data_calls),
        dynamodb_items_written=sum(items_written(c) for c in data_calls if c.service == "dynamodb"),
        seconds=seconds,
        serving_lock_calls=len(calls) - len(data_calls),
        history_objects=len(appended),
        history_bytes=sum(body_size(call.params.get("Body", b"")) for call in appended),
        history_glue_writes=sum(map(is_history_glue_write, data_calls)),
    )


def add_run_events(figures: RunFigures, instance: DagsterInstance, run_id: str) -> RunFigures:
    """Step times, run time and bytes downloaded, from the run's events in the instance."""
    started: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=STEP_EVENTS):
        event_type = entry.dagster_event.event_type
        if event_type == DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif event_type == DagsterEventType.STEP_SKIPPED:
            figures.step_seconds[entry.step_key] = "skipped"
        else:
            figures.step_seconds[entry.step_key] = entry.timestamp - started[entry.step_key]
            if event_type == DagsterEventType.STEP_FAILURE:
                figures.succeeded = False
    run_events = {
        entry.dagster_event.event_type: entry.timestamp
        for entry in instance.all_logs(run_id, of_type=RUN_EVENTS)
    }
    finished = run_events.get(
        DagsterEventType.RUN_SUCCESS, run_events.get(DagsterEventType.RUN_FAILURE)
    )
    if DagsterEventType.RUN_START in run_events and finished is not None:
        figures.run_seconds = finished - run_events[DagsterEventType.RUN_START]
    figures.succeeded = figures.succeeded and DagsterEventType.RUN_SUCCESS in run_events
    for entry in instance.all_logs(run_id, of_type=ASSET_EVENTS):
        event = entry.asset_materialization or entry.asset_observation
        downloaded = bytes_downloaded(event.metadata)
        if downloaded is not None:
            figures.bytes_downloaded[event.asset_key.to_user_string()] = downloaded
    return figures


def bytes_downloaded(metadata: dict[str, Any]) -> int | None:
    """A raw asset's download size: ``bytes_downloaded`` when the asset reports it (a
    conditional request answered 304 downloads nothing), else the file's ``bytes``."""
    for key in ("bytes_downloaded", "bytes"):
        if key in metadata:
            return int(metadata[key].value)
    return None
