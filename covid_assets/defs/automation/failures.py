"""Why a step failed, said first: the pipeline's own error inside the ones Dagster wraps around
it (step-execution errors, and ``RetryRequestedFromPolicy`` once a RetryPolicy's retries are
spent, whose message says only that)."""

from typing import Protocol

# Dagster's own errors start with "Dagster"; RetryRequestedFromPolicy does not.
WRAPPERS = ("Dagster", "RetryRequestedFromPolicy")


class ErrorInfo(Protocol):
    """What is read of Dagster's SerializableErrorInfo (not exported by Dagster)."""

    cls_name: str | None
    message: str
    cause: "ErrorInfo | None"


def root_cause(error: ErrorInfo) -> ErrorInfo:
    """The innermost error that is not one of Dagster's wrappers. Its own causes (such as the
    OSError behind a failed download) are already in its message."""
    while error.cause is not None and (error.cls_name or "").startswith(WRAPPERS):
        error = error.cause
    return error


def failure_reason(error: ErrorInfo) -> str:
    """The root cause's message, without the ``module.Class: `` Dagster puts before it, and
    then its class."""
    cause = root_cause(error)
    message = cause.message.strip()
    head, separator, rest = message.partition(": ")
    if separator and cause.cls_name and head.split(".")[-1] == cause.cls_name:
        message = rest
    return f"{message} ({cause.cls_name})"
