"""How fresh what is served must be, and the one alert when it is not.

The serving assets carry Dagster's time-window freshness policy: they turn stale when no run has
materialized them for ``COVID_FRESHNESS_HOURS``. A run starts whenever a source publishes or what
is served needs repair, so "no run for that long" means no source change was loaded, or the
sensor and the schedule could not check (a quiet day that was checked is not a run, and stays
fresh as long as the sources publish within the window). Dagster's freshness daemon evaluates the
policy and the UI marks the assets; ``covid_freshness_alert`` sends one SNS alert when they turn
stale, and none again until they have been fresh.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    AssetKey,
    DagsterInstance,
    DefaultSensorStatus,
    FreshnessPolicy,
    RepositoryDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

# FreshnessState is not exported by dagster 1.13; it is the state the freshness daemon records.
from dagster._core.definitions.freshness import FreshnessState

from covid_assets.resources.sns import SNSResource
from covid_assets.settings import value

FRESHNESS_HOURS_SETTING = "COVID_FRESHNESS_HOURS"


def served_freshness_policy() -> FreshnessPolicy:
    """The policy of every serving asset, from ``COVID_FRESHNESS_HOURS`` when the definitions
    are built."""
    return FreshnessPolicy.time_window(
        fail_window=timedelta(hours=float(value(FRESHNESS_HOURS_SETTING)))
    )


def assets_with_freshness_policy(repository: RepositoryDefinition) -> list[AssetKey]:
    """The assets whose freshness the daemon evaluates: those carrying a policy."""
    return [
        node.key for node in repository.asset_graph.asset_nodes if node.freshness_policy is not None
    ]


@sensor(
    name="covid_freshness_alert",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=300,
    description=(
        "Publishes one SNS alert when what is served turns stale (no run for "
        f"{FRESHNESS_HOURS_SETTING}), and none again until it has been fresh."
    ),
)
def covid_freshness_alert(context: SensorEvaluationContext, alerts: SNSResource) -> SkipReason:
    assets = assets_with_freshness_policy(context.repository_def)
    records = context.instance.get_freshness_state_records(assets)
    stale = names_in(records, FreshnessState.FAIL)
    # The cursor holds the stale assets already alerted on, so one episode is one alert.
    if not stale:
        context.update_cursor(None)
        return SkipReason(
            not_stale(context.instance, assets, names_in(records, FreshnessState.PASS))
        )
    if context.cursor:
        return SkipReason(f"Stale ({', '.join(stale)}); the alert was already sent")
    alerts.publish(
        subject="covid_assets: what is served is stale", message=stale_message(context, stale)
    )
    context.update_cursor(",".join(stale))
    return SkipReason(f"Stale ({', '.join(stale)}); alert sent")


def names_in(records: Mapping[AssetKey, Any], state: FreshnessState) -> list[str]:
    """The assets whose freshness state the daemon last recorded as ``state``, by name."""
    return sorted(k.to_user_string() for k, r in records.items() if r.freshness_state == state)


def not_stale(instance: DagsterInstance, assets: Sequence[AssetKey], fresh: list[str]) -> str:
    """What is true when nothing is stale: all is fresh, or nothing was ever served, or which
    assets are fresh, never built, or not evaluated yet by the freshness daemon."""
    if len(fresh) == len(assets):
        return "What is served is fresh"
    never = sorted(
        key.to_user_string()
        for key in assets
        if instance.get_latest_materialization_event(key) is None
    )
    if len(never) == len(assets):
        return "Nothing is served yet: no run has built what is served, so nothing can be stale"
    unknown = sorted({key.to_user_string() for key in assets} - {*fresh, *never})
    parts = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("fresh", fresh),
            ("never built", never),
            ("not evaluated yet by the freshness daemon", unknown),
        )
        if names
    ]
    return "Nothing is stale; " + "; ".join(parts)


def stale_message(context: SensorEvaluationContext, stale: list[str]) -> str:
    lines = []
    for name in stale:
        event = context.instance.get_latest_materialization_event(AssetKey(name))
        built = (
            f"last built {datetime.fromtimestamp(event.timestamp, UTC):%Y-%m-%d %H:%M} UTC"
            if event
            else "never built"
        )
        lines.append(f"{name}: {built}")
    hours = value(FRESHNESS_HOURS_SETTING)
    return (
        f"No run has built what is served for more than {hours} h ({FRESHNESS_HOURS_SETTING}):\n"
        + "\n".join(lines)
        + "\n\nNo source change was loaded in that time, or the sensor covid_sources_sensor and "
        "the schedule covid_daily_schedule could not check: see their ticks under Automation."
    )
